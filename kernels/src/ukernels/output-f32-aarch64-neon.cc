// bconv2d float output transform, AArch64 Advanced SIMD: popcounts -> dot products ->
// Activate(multiplier * float(dot) + bias), 32 channels per block (multipliers and biases stay in
// registers while the rows stream through), a block tail of n % 32 channels run through the same
// code on zero-padded copies. Bit-exact with FloatOutput() of src/common.h (separate multiply and
// add, no FMA; activations as in output-neon-impl.h).
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "ukernels/output-neon-impl.h"
#include "ukernels/ukernels.h"

#if !defined(__aarch64__)
#error "output-f32-aarch64-neon.cc must be compiled for AArch64"
#endif

namespace kbnn {
namespace {

using namespace neon_output;  // NOLINT(build/namespaces): this file's helpers

constexpr size_t kBlock = 32;

template <bool kCorr, class Act>
inline void Block(const int32_t* a, const int32_t* c, int32x4_t vk, const BlockScale<kBlock>& s,
                  const Act& act, float* out) {
  for (size_t v = 0; v < kBlock / 4; ++v) {
    vst1q_f32(out + 4 * v,
              FloatOut<kCorr>(a + 4 * v, c + (kCorr ? 4 * v : 0), vk, s.m[v], s.b[v], act));
  }
}

template <class Act>
void OutputF32(size_t rows, size_t n, size_t channel, const int32_t* acc,
               const int32_t* const* corr, float* y, const OutputUkernelParams& p, Act act) {
  const int32x4_t vk = vdupq_n_s32(p.k);
  for (size_t j = 0; j < n; j += kBlock) {
    const size_t len = std::min(kBlock, n - j);
    const BlockScale<kBlock> s(p.multiplier + channel + j, p.bias + channel + j, len);
    const int32_t* a = acc + j;
    float* out = y + channel + j;
    if (len == kBlock) {  // no calls in this loop: the block's scales stay in registers
      for (size_t i = 0; i < rows; ++i, a += p.acc_stride, out += p.out_stride) {
        const int32_t* c = RowCorr(corr, i, channel + j);
        if (c != nullptr) Block<true>(a, c, vk, s, act, out);
        else Block<false>(a, c, vk, s, act, out);
      }
      continue;
    }
    for (size_t i = 0; i < rows; ++i, a += p.acc_stride, out += p.out_stride) {
      const int32_t* c = RowCorr(corr, i, channel + j);
      PaddedRow<kBlock> pad;
      pad.Fill(a, c, len);
      float tmp[kBlock];
      if (c != nullptr) Block<true>(pad.acc, pad.corr, vk, s, act, tmp);
      else Block<false>(pad.acc, nullptr, vk, s, act, tmp);
      std::memcpy(out, tmp, len * sizeof(float));
    }
  }
}

}  // namespace

void kbnn_output_f32__aarch64_neon(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                   const int32_t* const* corr, float* y,
                                   const OutputUkernelParams& p) {
  WithActivation(p.output,
                 [&](const auto& act) { OutputF32(rows, n, channel, acc, corr, y, p, act); });
}

}  // namespace kbnn
