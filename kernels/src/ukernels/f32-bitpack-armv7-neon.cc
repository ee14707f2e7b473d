// Float -> bitpacked words with ARMv7-A NEON (build with -mfpu=neon -mfloat-abi=hard).
//
//   out[w] bit b = (x[32 * w + b] < 0)          kbnn_f32_bitpack__armv7_neon
//   out[w] bit b = (x[32 * w + b] < t[32w + b])  kbnn_f32_bitpack_threshold__armv7_neon
//
// ARMv7 Advanced SIMD always flushes denormal operands to zero, so a NEON float compare would call
// -1e-45f non-negative where the scalar (VFP, IEEE) compare and every other ISA call it negative.
// The compares are therefore done on the float bits as integers, exactly as IEEE 754 orders them:
//   x < 0:  with i the bits as int32, x is negative, not -0.0f and not NaN exactly when
//           INT32_MIN < i <= bits(-inf) = -0x800000, i.e. (i - 1) < -0x800000 with a wrapping
//           subtract (INT32_MIN - 1 wraps to INT32_MAX: -0.0f gives 0).
//   x < t:  the sign-magnitude bits map to a two's complement key (k = i for i >= 0, INT32_MIN - i
//           otherwise: -0.0f and +0.0f both give 0) that orders like the floats; NaNs are the keys
//           with |k| > bits(+inf), and a NaN on either side gives 0 (ordered compare).
// The 0 / ~0 lane masks are narrowed to 32 bytes (VMOVN twice), AND'ed with the bit weights 1..128
// and summed per group of 8 bytes by three pairwise adds (VPADD) into the word's 4 bytes.

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototypes: checks that the definitions match the dispatch table

#if !defined(__ARM_NEON) || defined(__aarch64__)
#error "f32-bitpack-armv7-neon.cc must be compiled for 32-bit ARM with -mfpu=neon"
#endif

namespace kbnn {
namespace {

inline int32x4_t LoadBits(const float* p) { return vreinterpretq_s32_f32(vld1q_f32(p)); }

// (x < 0) per lane from the bits of x (see above).
inline uint32x4_t NegativeMask(int32x4_t i, int32x4_t one, int32x4_t neg_inf) {
  return vcltq_s32(vsubq_s32(i, one), neg_inf);
}

// The order-preserving integer key of a float's bits (see above).
inline int32x4_t OrderKey(int32x4_t i, int32x4_t int_min) {
  const uint32x4_t negative = vreinterpretq_u32_s32(vshrq_n_s32(i, 31));
  return vbslq_s32(negative, vsubq_s32(int_min, i), i);
}

// (x < t) per lane, ordered, from the bits of x and t (see above).
inline uint32x4_t LessMask(int32x4_t xi, int32x4_t ti, int32x4_t int_min, int32x4_t inf) {
  const int32x4_t kx = OrderKey(xi, int_min);
  const int32x4_t kt = OrderKey(ti, int_min);
  const uint32x4_t nan = vorrq_u32(vcgtq_s32(vabsq_s32(kx), inf), vcgtq_s32(vabsq_s32(kt), inf));
  return vbicq_u32(vcltq_s32(kx, kt), nan);
}

// 8 lane masks (channels 4j..4j+3 in m[j]) -> one 32-bit word, bit i = lane i.
inline uint32_t MasksToWord(uint32x4_t m0, uint32x4_t m1, uint32x4_t m2, uint32x4_t m3,
                            uint32x4_t m4, uint32x4_t m5, uint32x4_t m6, uint32x4_t m7,
                            uint8x8_t weights) {
  const uint16x8_t h0 = vcombine_u16(vmovn_u32(m0), vmovn_u32(m1));
  const uint16x8_t h1 = vcombine_u16(vmovn_u32(m2), vmovn_u32(m3));
  const uint16x8_t h2 = vcombine_u16(vmovn_u32(m4), vmovn_u32(m5));
  const uint16x8_t h3 = vcombine_u16(vmovn_u32(m6), vmovn_u32(m7));
  const uint8x8_t b0 = vand_u8(vmovn_u16(h0), weights);  // channels 0..7
  const uint8x8_t b1 = vand_u8(vmovn_u16(h1), weights);  // 8..15
  const uint8x8_t b2 = vand_u8(vmovn_u16(h2), weights);  // 16..23
  const uint8x8_t b3 = vand_u8(vmovn_u16(h3), weights);  // 24..31
  uint8x8_t s = vpadd_u8(vpadd_u8(b0, b1), vpadd_u8(b2, b3));  // byte j: channels 4j..4j+3
  s = vpadd_u8(s, s);                                           // byte j < 4: channels 8j..8j+7
  return vget_lane_u32(vreinterpret_u32_u8(s), 0);
}

inline uint8x8_t BitWeights() {
  static const uint8_t kWeights[8] = {1, 2, 4, 8, 16, 32, 64, 128};
  return vld1_u8(kWeights);
}

}  // namespace

void kbnn_f32_bitpack__armv7_neon(size_t words, const float* x, uint32_t* out) {
  const uint8x8_t weights = BitWeights();
  const int32x4_t one = vdupq_n_s32(1);
  const int32x4_t neg_inf = vdupq_n_s32(-0x800000);  // bits of -inf as int32
  for (size_t w = 0; w < words; ++w, x += 32) {
    const uint32_t bits = MasksToWord(NegativeMask(LoadBits(x), one, neg_inf),
                                      NegativeMask(LoadBits(x + 4), one, neg_inf),
                                      NegativeMask(LoadBits(x + 8), one, neg_inf),
                                      NegativeMask(LoadBits(x + 12), one, neg_inf),
                                      NegativeMask(LoadBits(x + 16), one, neg_inf),
                                      NegativeMask(LoadBits(x + 20), one, neg_inf),
                                      NegativeMask(LoadBits(x + 24), one, neg_inf),
                                      NegativeMask(LoadBits(x + 28), one, neg_inf), weights);
    std::memcpy(out + w, &bits, sizeof(bits));
  }
}

void kbnn_f32_bitpack_threshold__armv7_neon(size_t words, const float* x, const float* t,
                                            uint32_t* out) {
  const uint8x8_t weights = BitWeights();
  const int32x4_t int_min = vdupq_n_s32(INT32_MIN);
  const int32x4_t inf = vdupq_n_s32(0x7f800000);
  for (size_t w = 0; w < words; ++w, x += 32, t += 32) {
    uint32x4_t m[8];
    for (int j = 0; j < 8; ++j)
      m[j] = LessMask(LoadBits(x + 4 * j), LoadBits(t + 4 * j), int_min, inf);
    const uint32_t bits = MasksToWord(m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], weights);
    std::memcpy(out + w, &bits, sizeof(bits));
  }
}

}  // namespace kbnn
