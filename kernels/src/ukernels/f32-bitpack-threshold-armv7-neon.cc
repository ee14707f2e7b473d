// Float -> bitpacked words against per-channel thresholds with ARMv7-A NEON (build with
// -mfpu=neon -mfloat-abi=hard):
//   out[w] bit b = (x[32 * w + b] < t[32 * w + b])   (ordered: NaN on either side gives 0)
// ARMv7 Advanced SIMD flushes denormal operands to zero, so the compare is done on the float bits
// as integers: the sign-magnitude bits i map to a two's complement key (k = i for i >= 0,
// INT32_MIN - i otherwise: -0.0f and +0.0f both give 0) that orders like the floats; NaNs are the
// keys with |k| > bits(+inf), and a NaN on either side clears the bit. Then the masks to a word
// (bitpack-neon-impl.h: narrow, bit weights, three VPADD).

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bitpack-neon-impl.h"
#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototype: checks that the definition matches the dispatch table

#if !defined(__ARM_NEON) || defined(__aarch64__)
#error "f32-bitpack-threshold-armv7-neon.cc must be compiled for 32-bit ARM with -mfpu=neon"
#endif

namespace kbnn {
namespace {

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

}  // namespace

void kbnn_f32_bitpack_threshold__armv7_neon(size_t words, const float* x, const float* t,
                                            uint32_t* out) {
  const uint8x8_t weights = bitpack_neon::BitWeights();
  const int32x4_t int_min = vdupq_n_s32(INT32_MIN);
  const int32x4_t inf = vdupq_n_s32(0x7f800000);
  for (size_t w = 0; w < words; ++w, x += 32, t += 32) {
    uint32x4_t m[8];
    for (int j = 0; j < 8; ++j) {
      m[j] = LessMask(bitpack_neon::LoadBits(x + 4 * j), bitpack_neon::LoadBits(t + 4 * j), int_min,
                      inf);
    }
    const uint32_t bits = bitpack_neon::MasksToWord(m, weights);
    std::memcpy(out + w, &bits, sizeof(bits));
  }
}

}  // namespace kbnn
