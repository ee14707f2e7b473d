#pragma once
// The helpers the NEON float bitpacking microkernels (f32-bitpack[-threshold]-{aarch64,armv7}-
// neon.cc) share: 8 lane masks of 4 channels (0 / ~0 per lane) -> one 32-bit word, bit i =
// lane i: the masks are narrowed to 32 bytes, AND'ed with the bit weights 1, 2, ..., 128 of each
// byte's position in its group of 8, and summed per group of 8 by three pairwise byte adds, whose
// first 4 bytes are the word's bits 0-7, ..., 24-31. ARMv7 also gets the exact integer compares of
// float bits (ARMv7 Advanced SIMD flushes denormal operands to zero, so its float compares would
// call -1e-45f non-negative where IEEE 754 and every other ISA call it negative).
#include <arm_neon.h>

#include <cstdint>

namespace kbnn {
namespace bitpack_neon {

#if defined(__aarch64__)

inline uint8x16_t BitWeights() {
  static const uint8_t kWeights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  return vld1q_u8(kWeights);
}

// UZP1 .8h then .16b narrow, AND, three ADDP.
inline uint32_t MasksToWord(const uint32x4_t m[8], uint8x16_t weights) {
  const uint16x8_t h0 = vuzp1q_u16(vreinterpretq_u16_u32(m[0]), vreinterpretq_u16_u32(m[1]));
  const uint16x8_t h1 = vuzp1q_u16(vreinterpretq_u16_u32(m[2]), vreinterpretq_u16_u32(m[3]));
  const uint16x8_t h2 = vuzp1q_u16(vreinterpretq_u16_u32(m[4]), vreinterpretq_u16_u32(m[5]));
  const uint16x8_t h3 = vuzp1q_u16(vreinterpretq_u16_u32(m[6]), vreinterpretq_u16_u32(m[7]));
  const uint8x16_t b0 =
      vandq_u8(vuzp1q_u8(vreinterpretq_u8_u16(h0), vreinterpretq_u8_u16(h1)), weights);
  const uint8x16_t b1 =
      vandq_u8(vuzp1q_u8(vreinterpretq_u8_u16(h2), vreinterpretq_u8_u16(h3)), weights);
  uint8x16_t s = vpaddq_u8(b0, b1);  // byte j: channels 2j, 2j + 1
  s = vpaddq_u8(s, s);               // byte j < 8: channels 4j..4j+3
  s = vpaddq_u8(s, s);               // byte j < 4: channels 8j..8j+7
  return vgetq_lane_u32(vreinterpretq_u32_u8(s), 0);
}

#else  // ARMv7

inline uint8x8_t BitWeights() {
  static const uint8_t kWeights[8] = {1, 2, 4, 8, 16, 32, 64, 128};
  return vld1_u8(kWeights);
}

// VMOVN twice, AND, three VPADD.
inline uint32_t MasksToWord(const uint32x4_t m[8], uint8x8_t weights) {
  const uint16x8_t h0 = vcombine_u16(vmovn_u32(m[0]), vmovn_u32(m[1]));
  const uint16x8_t h1 = vcombine_u16(vmovn_u32(m[2]), vmovn_u32(m[3]));
  const uint16x8_t h2 = vcombine_u16(vmovn_u32(m[4]), vmovn_u32(m[5]));
  const uint16x8_t h3 = vcombine_u16(vmovn_u32(m[6]), vmovn_u32(m[7]));
  const uint8x8_t b0 = vand_u8(vmovn_u16(h0), weights);  // channels 0..7
  const uint8x8_t b1 = vand_u8(vmovn_u16(h1), weights);  // 8..15
  const uint8x8_t b2 = vand_u8(vmovn_u16(h2), weights);  // 16..23
  const uint8x8_t b3 = vand_u8(vmovn_u16(h3), weights);  // 24..31
  uint8x8_t s = vpadd_u8(vpadd_u8(b0, b1), vpadd_u8(b2, b3));  // byte j: channels 4j..4j+3
  s = vpadd_u8(s, s);                                           // byte j < 4: channels 8j..8j+7
  return vget_lane_u32(vreinterpret_u32_u8(s), 0);
}

inline int32x4_t LoadBits(const float* p) { return vreinterpretq_s32_f32(vld1q_f32(p)); }

#endif

}  // namespace bitpack_neon
}  // namespace kbnn
