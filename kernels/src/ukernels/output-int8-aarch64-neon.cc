// bconv2d int8 output transform, AArch64 Advanced SIMD: popcounts -> dot products -> the float
// output (as output-f32-aarch64-neon.cc) -> Int8FromFloat() of src/common.h, 16 channels per block
// (multipliers and biases in registers, rows inner), a tail of n % 16 channels on zero-padded
// copies.
//
// Int8FromFloat, exactly: x = y / scale (FDIV, IEEE); std::round's half-away-from-zero rounding is
// FCVTAS (round to nearest, ties away), which also gives 0 for NaN (Int8FromFloat's NaN -> 0) and
// saturates out-of-range values to INT32_MIN / INT32_MAX; the zero point is added with saturation
// (SQADD) and the clamp to [-128, 127] is the two saturating narrows (SQXTN). Every x with
// |x| > 1024, which Int8FromFloat first clamps to +-1024, ends at the same bound: |round(x) + zp|
// > 1024 - 128 > 127.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "ukernels/output-neon-impl.h"
#include "ukernels/ukernels.h"

#if !defined(__aarch64__)
#error "output-int8-aarch64-neon.cc must be compiled for AArch64"
#endif

namespace kbnn {
namespace {

using namespace neon_output;  // NOLINT(build/namespaces): this file's helpers

constexpr size_t kBlock = 16;

inline int32x4_t Quantize(float32x4_t y, float32x4_t scale, int32x4_t zero_point) {
  return vqaddq_s32(vcvtaq_s32_f32(vdivq_f32(y, scale)), zero_point);
}

template <bool kCorr, class Act>
inline int8x16_t Block(const int32_t* a, const int32_t* c, int32x4_t vk,
                       const BlockScale<kBlock>& s, const Act& act, float32x4_t scale,
                       int32x4_t zp) {
  int16x4_t h[4];
  for (size_t v = 0; v < 4; ++v) {
    const float32x4_t f =
        FloatOut<kCorr>(a + 4 * v, c + (kCorr ? 4 * v : 0), vk, s.m[v], s.b[v], act);
    h[v] = vqmovn_s32(Quantize(f, scale, zp));
  }
  return vcombine_s8(vqmovn_s16(vcombine_s16(h[0], h[1])), vqmovn_s16(vcombine_s16(h[2], h[3])));
}

template <class Act>
void OutputInt8(size_t rows, size_t n, size_t channel, const int32_t* acc,
                const int32_t* const* corr, int8_t* y, const OutputUkernelParams& p, Act act) {
  const int32x4_t vk = vdupq_n_s32(p.k);
  const float32x4_t scale = vdupq_n_f32(p.output.int8_scale);
  const int32x4_t zp = vdupq_n_s32(p.output.int8_zero_point);
  for (size_t j = 0; j < n; j += kBlock) {
    const size_t len = std::min(kBlock, n - j);
    const BlockScale<kBlock> s(p.multiplier + channel + j, p.bias + channel + j, len);
    const int32_t* a = acc + j;
    int8_t* out = y + channel + j;
    if (len == kBlock) {  // no calls in this loop: the block's scales stay in registers
      for (size_t i = 0; i < rows; ++i, a += p.acc_stride, out += p.out_stride) {
        const int32_t* c = RowCorr(corr, i, channel + j);
        vst1q_s8(out, c != nullptr ? Block<true>(a, c, vk, s, act, scale, zp)
                                   : Block<false>(a, c, vk, s, act, scale, zp));
      }
      continue;
    }
    for (size_t i = 0; i < rows; ++i, a += p.acc_stride, out += p.out_stride) {
      const int32_t* c = RowCorr(corr, i, channel + j);
      PaddedRow<kBlock> pad;
      pad.Fill(a, c, len);
      int8_t tmp[kBlock];
      vst1q_s8(tmp, c != nullptr ? Block<true>(pad.acc, pad.corr, vk, s, act, scale, zp)
                                 : Block<false>(pad.acc, nullptr, vk, s, act, scale, zp));
      std::memcpy(out, tmp, len);
    }
  }
}

}  // namespace

void kbnn_output_int8__aarch64_neon(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                    const int32_t* const* corr, int8_t* y,
                                    const OutputUkernelParams& p) {
  WithActivation(p.output,
                 [&](const auto& act) { OutputInt8(rows, n, channel, acc, corr, y, p, act); });
}

}  // namespace kbnn
