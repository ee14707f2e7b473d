#pragma once
// Output epilogue of the optimized bconv2d: popcount accumulators of a task's block -> the
// requested output (float / int8 / int32 dot / bitpacked), plus the fused Bi-Real residual add
// and sign output. Everything per op (multiplier, bias, bitpacked thresholds, strides) is one
// OutputUkernelParams filled at Create; a block picks the ISA's output microkernel when it has
// one for it, else the portable one (ukernels/output-scalar.cc).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kbnn/dispatch.h"
#include "kbnn/ukernel.h"
#include "ops/bconv2d/padding_correction.h"
#include "ops/bconv2d_internal.h"

namespace kbnn {
namespace internal {

// The fused epilogue's extra tensors (nullptr: not fused).
struct FusedOutputs {
  const float* residual;
  uint32_t* sign;
};

class OutputEpilogue {
 public:
  OutputEpilogue() = default;
  OutputEpilogue(const OutputEpilogue&) = delete;  // params_ points into the vectors
  OutputEpilogue& operator=(const OutputEpilogue&) = delete;

  // multiplier, bias: channels_out floats each, nullptr = 1.0f / 0.0f.
  void Init(const BConv2DParams& p, const ConvGeometry& geo, const IsaConfig& isa,
            const float* multiplier, const float* bias);
  // int32 accumulators per row of a task's block (set with the tiling).
  void set_acc_stride(size_t stride) { params_.acc_stride = stride; }

  // GEMM rows [r0, r0 + count) x channels [c0, c0 + nc) from acc (row i at i * acc_stride).
  void Emit(size_t r0, size_t count, int c0, int nc, const int32_t* acc,
            const PaddingCorrection& correction, void* out, const FusedOutputs& fused) const;

 private:
  // + residual, then the sign bits (bit = y < 0, as QuantizeFloat), on rows [r, r + rows) of
  // the float output while they are still in L1.
  void FusedPass(size_t r, size_t rows, int c0, int nc, float* out,
                 const FusedOutputs& fused) const;

  size_t output_height_ = 0, output_width_ = 0, channels_out_ = 0, cout_words_ = 0;
  OutputUkernelParams params_;
  std::vector<float> multiplier_, bias_;
  // Bitpacked output: bit c = (dot < bit_threshold_[c]) ^ bit c of bit_flip_.
  std::vector<int32_t> bit_threshold_;
  std::vector<uint32_t> bit_flip_;
  // The ISA's microkernels (nullptr: none).
  OutputF32UkernelFn isa_f32_ = nullptr;
  OutputInt8UkernelFn isa_int8_ = nullptr;
  OutputBitsUkernelFn isa_bits_ = nullptr;
  OutputF32ResidualUkernelFn isa_f32_residual_ = nullptr;
  F32BitpackUkernelFn bitpack_f32_ = nullptr;  // the sign output's full words
};

}  // namespace internal
}  // namespace kbnn
