// bconv2d bitpacked output transform (per-channel integer thresholds), AArch64 Advanced SIMD:
// 32 channels = one output word per block and row; the kernel is neon_output::OutputBits
// (output-neon-impl.h, shared with output-bits-armv7-neon.cc; integer only, bit-exact with
// ThresholdBit() of src/common.h).
#include "ukernels/output-neon-impl.h"
#include "ukernels/ukernels.h"

#if !defined(__aarch64__)
#error "output-bits-aarch64-neon.cc must be compiled for AArch64"
#endif

namespace kbnn {

void kbnn_output_bits__aarch64_neon(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                    const int32_t* const* corr, uint32_t* out,
                                    const OutputUkernelParams& p) {
  neon_output::OutputBits(rows, n, channel, acc, corr, out, p);
}

}  // namespace kbnn
