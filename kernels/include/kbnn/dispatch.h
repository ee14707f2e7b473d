#pragma once
// Run-time selection of the optimized kernels (one table of ISAs, see src/dispatch.cc).
#include <string>
#include <vector>

#include "kbnn/status.h"
#include "kbnn/stem_ukernel.h"
#include "kbnn/types.h"
#include "kbnn/ukernel.h"

namespace kbnn {

// One row of the dispatch table (src/dispatch.cc sets each row's fields by name).
struct IsaConfig {
  const char* isa = "";               // "avx512", "avx2", "scalar", "neon", ...
  bool (*available)() = nullptr;      // run-time CPU check
  BgemmUkernel bgemm;                 // default binary GEMM microkernel
  BgemmUkernel bgemm_small_k;         // used when k_words <= small_k_max_words
  int small_k_max_words = 0;
  // Optional float bitpacking microkernel (QuantizeFloat's full words); nullptr: portable loop.
  F32BitpackUkernelFn bitpack_f32 = nullptr;
  // Optional per-channel threshold bitpacking (QuantizeFloatThreshold's full words).
  F32BitpackThresholdUkernelFn bitpack_f32_threshold = nullptr;
  // Optional output transform microkernels (bconv2d); nullptr: the portable loops.
  OutputF32UkernelFn output_f32 = nullptr;
  OutputInt8UkernelFn output_int8 = nullptr;
  OutputBitsUkernelFn output_bits = nullptr;
  // Optional fused residual / sign output transform (BConv2DParams residual, sign_output).
  OutputF32ResidualUkernelFn output_f32_residual = nullptr;

  // Stem convolution int8 GEMM (StemConv2D); fn nullptr: the portable 2x8 scalar microkernel.
  StemGemmUkernel stem_gemm;
};

// ISAs compiled in and supported by this CPU, best first ("scalar" is always last).
std::vector<std::string> AvailableIsas();

// All microkernels usable on this CPU (for the microkernel tester and the benchmark).
std::vector<BgemmUkernel> AvailableBgemmUkernels();

// The stem int8 GEMM microkernels usable on this CPU, the portable one first (for the tester).
std::vector<StemGemmUkernel> AvailableStemGemmUkernels();
// The stem microkernel of an ISA row (config nullptr: none, i.e. the reference).
const StemGemmUkernel* StemGemmOf(const IsaConfig* config);

// The ISA that KernelChoice::kAuto resolves to right now ("reference" when forced so).
const char* SelectedIsa();

// Test hook: forces what kAuto resolves to. isa is "reference", "scalar", "avx2", "avx512", "neon"
// or "auto"/""/nullptr (clears the override). Returns an error when the ISA is unknown or not
// available on this CPU/build.
Status SetForcedIsa(const char* isa);

// Resolves a KernelChoice. *config is nullptr when the reference implementation is chosen.
Status ResolveKernel(KernelChoice choice, const IsaConfig** config);

}  // namespace kbnn
