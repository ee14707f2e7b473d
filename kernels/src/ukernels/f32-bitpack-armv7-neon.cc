// Float -> bitpacked words with ARMv7-A NEON (build with -mfpu=neon -mfloat-abi=hard):
//   out[w] bit b = (x[32 * w + b] < 0)
// ARMv7 Advanced SIMD flushes denormal operands to zero, so the compare is done on the float bits
// as integers, exactly as IEEE 754 orders them: with i the bits as int32, x is negative, not -0.0f
// and not NaN exactly when INT32_MIN < i <= bits(-inf) = -0x800000, i.e. (i - 1) < -0x800000 with
// a wrapping subtract (INT32_MIN - 1 wraps to INT32_MAX: -0.0f gives 0). Then the masks to a word
// (bitpack-neon-impl.h: narrow, bit weights, three VPADD).

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bitpack-neon-impl.h"
#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototype: checks that the definition matches the dispatch table

#if !defined(__ARM_NEON) || defined(__aarch64__)
#error "f32-bitpack-armv7-neon.cc must be compiled for 32-bit ARM with -mfpu=neon"
#endif

namespace kbnn {

void kbnn_f32_bitpack__armv7_neon(size_t words, const float* x, uint32_t* out) {
  const uint8x8_t weights = bitpack_neon::BitWeights();
  const int32x4_t one = vdupq_n_s32(1);
  const int32x4_t neg_inf = vdupq_n_s32(-0x800000);  // bits of -inf as int32
  for (size_t w = 0; w < words; ++w, x += 32) {
    uint32x4_t m[8];
    for (int j = 0; j < 8; ++j) {
      m[j] = vcltq_s32(vsubq_s32(bitpack_neon::LoadBits(x + 4 * j), one), neg_inf);
    }
    const uint32_t bits = bitpack_neon::MasksToWord(m, weights);
    std::memcpy(out + w, &bits, sizeof(bits));
  }
}

}  // namespace kbnn
