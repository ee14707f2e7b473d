// Float -> bitpacked words with AArch64 NEON (Advanced SIMD is baseline on AArch64).
//
//   out[w] bit b = (x[32 * w + b] < 0)          kbnn_f32_bitpack__aarch64_neon
//   out[w] bit b = (x[32 * w + b] < t[32w + b])  kbnn_f32_bitpack_threshold__aarch64_neon
//
// Per word: 8 x 4 floats, an ordered compare per vector (FCMLT #0 / FCMGT: false for NaN and for
// -0.0f < 0; AArch64 Linux runs with FPCR.FZ = 0, so denormals compare exactly), the 0 / ~0 lane
// masks narrowed to 32 bytes (UZP1 .8h then .16b), AND'ed with the bit weights 1, 2, ..., 128 of
// each byte's position in its group of 8, and three pairwise byte adds (ADDP) that sum each group
// of 8 into one byte: bytes 0..3 of the result are the word's bits 0-7, ..., 24-31.

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototypes: checks that the definitions match the dispatch table

#if !defined(__aarch64__)
#error "f32-bitpack-aarch64-neon.cc is for AArch64 only"
#endif

namespace kbnn {
namespace {

// 8 lane masks (4 lanes each, channels 4j..4j+3 in m[j]) -> one 32-bit word, bit i = lane i.
inline uint32_t MasksToWord(uint32x4_t m0, uint32x4_t m1, uint32x4_t m2, uint32x4_t m3,
                            uint32x4_t m4, uint32x4_t m5, uint32x4_t m6, uint32x4_t m7,
                            uint8x16_t weights) {
  const uint16x8_t h0 = vuzp1q_u16(vreinterpretq_u16_u32(m0), vreinterpretq_u16_u32(m1));
  const uint16x8_t h1 = vuzp1q_u16(vreinterpretq_u16_u32(m2), vreinterpretq_u16_u32(m3));
  const uint16x8_t h2 = vuzp1q_u16(vreinterpretq_u16_u32(m4), vreinterpretq_u16_u32(m5));
  const uint16x8_t h3 = vuzp1q_u16(vreinterpretq_u16_u32(m6), vreinterpretq_u16_u32(m7));
  const uint8x16_t b0 =
      vandq_u8(vuzp1q_u8(vreinterpretq_u8_u16(h0), vreinterpretq_u8_u16(h1)), weights);
  const uint8x16_t b1 =
      vandq_u8(vuzp1q_u8(vreinterpretq_u8_u16(h2), vreinterpretq_u8_u16(h3)), weights);
  uint8x16_t s = vpaddq_u8(b0, b1);  // byte j: channels 2j, 2j + 1
  s = vpaddq_u8(s, s);               // byte j < 8: channels 4j..4j+3
  s = vpaddq_u8(s, s);               // byte j < 4: channels 8j..8j+7
  return vgetq_lane_u32(vreinterpretq_u32_u8(s), 0);
}

inline uint8x16_t BitWeights() {
  static const uint8_t kWeights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  return vld1q_u8(kWeights);
}

}  // namespace

void kbnn_f32_bitpack__aarch64_neon(size_t words, const float* x, uint32_t* out) {
  const uint8x16_t weights = BitWeights();
  for (size_t w = 0; w < words; ++w, x += 32) {
    const uint32_t bits =
        MasksToWord(vcltzq_f32(vld1q_f32(x)), vcltzq_f32(vld1q_f32(x + 4)),
                    vcltzq_f32(vld1q_f32(x + 8)), vcltzq_f32(vld1q_f32(x + 12)),
                    vcltzq_f32(vld1q_f32(x + 16)), vcltzq_f32(vld1q_f32(x + 20)),
                    vcltzq_f32(vld1q_f32(x + 24)), vcltzq_f32(vld1q_f32(x + 28)), weights);
    std::memcpy(out + w, &bits, sizeof(bits));
  }
}

void kbnn_f32_bitpack_threshold__aarch64_neon(size_t words, const float* x, const float* t,
                                              uint32_t* out) {
  const uint8x16_t weights = BitWeights();
  for (size_t w = 0; w < words; ++w, x += 32, t += 32) {
    const uint32_t bits = MasksToWord(vcltq_f32(vld1q_f32(x), vld1q_f32(t)),
                                      vcltq_f32(vld1q_f32(x + 4), vld1q_f32(t + 4)),
                                      vcltq_f32(vld1q_f32(x + 8), vld1q_f32(t + 8)),
                                      vcltq_f32(vld1q_f32(x + 12), vld1q_f32(t + 12)),
                                      vcltq_f32(vld1q_f32(x + 16), vld1q_f32(t + 16)),
                                      vcltq_f32(vld1q_f32(x + 20), vld1q_f32(t + 20)),
                                      vcltq_f32(vld1q_f32(x + 24), vld1q_f32(t + 24)),
                                      vcltq_f32(vld1q_f32(x + 28), vld1q_f32(t + 28)), weights);
    std::memcpy(out + w, &bits, sizeof(bits));
  }
}

}  // namespace kbnn
