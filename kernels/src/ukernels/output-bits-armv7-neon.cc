// bconv2d bitpacked output transform (per-channel integer thresholds), ARMv7 NEON (this file only
// is compiled with -mfpu=neon; the dispatcher checks HWCAP_NEON): 32 channels = one output word per
// block and row; the kernel is neon_output::OutputBits (output-neon-impl.h, shared with
// output-bits-aarch64-neon.cc). Integer only, so bit-exact with ThresholdBit() of src/common.h.
//
// ARMv7 has only this output kernel: its NEON float arithmetic always flushes subnormal inputs and
// results to zero (the Advanced SIMD unit of ARMv7 ignores FPSCR.FZ and runs in flush-to-zero
// mode), so a NEON float / int8 / fused residual transform would not be bit-exact with the scalar
// VFP formula for subnormal multipliers, biases or results; those stay on the portable kernels.
#include "ukernels/output-neon-impl.h"
#include "ukernels/ukernels.h"

#if !defined(__arm__) || defined(__aarch64__) || !defined(__ARM_NEON)
#error "output-bits-armv7-neon.cc must be compiled for 32-bit ARM with -mfpu=neon"
#endif

namespace kbnn {

void kbnn_output_bits__armv7_neon(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                  const int32_t* const* corr, uint32_t* out,
                                  const OutputUkernelParams& p) {
  neon_output::OutputBits(rows, n, channel, acc, corr, out, p);
}

}  // namespace kbnn
