// Binary GEMM microkernel, 4x4 tile, ARMv7-A NEON (build with -mfpu=neon -mfloat-abi=hard).
//
//   c[m * c_stride + n] = sum_{k < k_words} popcount(a[m][k] ^ b[n * k_words + k])
//
// ARMv7 NEON has 16 q registers, too few for 16 accumulators plus operands, so the 4x4 tile is
// computed as two 2x4 passes over K (rows {0,1} then {2,3}; the second pass is skipped when mr <=
// 2): 8 u16x8 accumulators + 2 A vectors + B vectors + temporaries stay in registers (GCC 12 -O2:
// no spills in the inner loop); the B panel is streamed twice (it is small and cache resident). Per
// 128-bit step: VEOR -> VCNT.8 (per-byte popcount, <= 8) -> VPADAL.U8 into u16x8 (<= +16 per lane
// per step); u16 lanes are folded into u32 totals every kChunkSteps steps (overflow would need
// 4095). A tail of 1..3 words is loaded as 64-bit halves (scalar memcpy loads, no over-read), zero
// extended, and added after the main loop. Rows m >= mr reuse the last valid A row pointer (results
// discarded); B rows n >= nr are the zero-filled rows of the panel that the ABI guarantees.

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototype: checks that the definition matches the dispatch table

#if !defined(__ARM_NEON) || defined(__aarch64__)
#error "b32-bgemm-4x4-armv7-neon.cc must be compiled for 32-bit ARM with -mfpu=neon"
#endif

namespace kbnn {
namespace {

constexpr size_t kChunkSteps = 2048;  // 128-bit steps per u16 accumulation block (< 4095)

inline uint8x16_t LoadTail(const uint8_t* p, size_t words) {
  // 1..3 words, loaded without reading past the last one; the rest is zero.
  uint64_t lo = 0;
  uint64_t hi = 0;
  std::memcpy(&lo, p, (words >= 2 ? 2 : 1) * sizeof(uint32_t));
  if (words == 3) std::memcpy(&hi, p + 2 * sizeof(uint32_t), sizeof(uint32_t));
  return vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)));
}

// Horizontal sums of four u16x8 accumulators -> [sum(p0), sum(p1), sum(p2), sum(p3)].
inline uint32x4_t ReduceRow(uint16x8_t p0, uint16x8_t p1, uint16x8_t p2, uint16x8_t p3) {
  const uint32x4_t w0 = vpaddlq_u16(p0);
  const uint32x4_t w1 = vpaddlq_u16(p1);
  const uint32x4_t w2 = vpaddlq_u16(p2);
  const uint32x4_t w3 = vpaddlq_u16(p3);
  const uint32x2_t h0 = vadd_u32(vget_low_u32(w0), vget_high_u32(w0));
  const uint32x2_t h1 = vadd_u32(vget_low_u32(w1), vget_high_u32(w1));
  const uint32x2_t h2 = vadd_u32(vget_low_u32(w2), vget_high_u32(w2));
  const uint32x2_t h3 = vadd_u32(vget_low_u32(w3), vget_high_u32(w3));
  return vcombine_u32(vpadd_u32(h0, h1), vpadd_u32(h2, h3));
}

// Two rows of A against the four rows of the B panel; writes row totals to *t0, *t1.
inline void Rows2x4(const uint8_t* a0, const uint8_t* a1, const uint8_t* b, size_t k_words,
                    uint32x4_t* t0, uint32x4_t* t1) {
  const size_t row_bytes = k_words * sizeof(uint32_t);
  const uint8_t* b0 = b;
  const uint8_t* b1 = b0 + row_bytes;
  const uint8_t* b2 = b1 + row_bytes;
  const uint8_t* b3 = b2 + row_bytes;

  uint32x4_t s0 = vdupq_n_u32(0);
  uint32x4_t s1 = vdupq_n_u32(0);
  for (size_t steps = k_words / 4; steps != 0;) {
    uint16x8_t c00 = vdupq_n_u16(0), c01 = vdupq_n_u16(0), c02 = vdupq_n_u16(0),
               c03 = vdupq_n_u16(0);
    uint16x8_t c10 = vdupq_n_u16(0), c11 = vdupq_n_u16(0), c12 = vdupq_n_u16(0),
               c13 = vdupq_n_u16(0);
    size_t block = steps < kChunkSteps ? steps : kChunkSteps;
    steps -= block;
    do {
      const uint8x16_t va0 = vld1q_u8(a0);
      a0 += 16;
      const uint8x16_t va1 = vld1q_u8(a1);
      a1 += 16;
      uint8x16_t vb = vld1q_u8(b0);
      b0 += 16;
      c00 = vpadalq_u8(c00, vcntq_u8(veorq_u8(va0, vb)));
      c10 = vpadalq_u8(c10, vcntq_u8(veorq_u8(va1, vb)));
      vb = vld1q_u8(b1);
      b1 += 16;
      c01 = vpadalq_u8(c01, vcntq_u8(veorq_u8(va0, vb)));
      c11 = vpadalq_u8(c11, vcntq_u8(veorq_u8(va1, vb)));
      vb = vld1q_u8(b2);
      b2 += 16;
      c02 = vpadalq_u8(c02, vcntq_u8(veorq_u8(va0, vb)));
      c12 = vpadalq_u8(c12, vcntq_u8(veorq_u8(va1, vb)));
      vb = vld1q_u8(b3);
      b3 += 16;
      c03 = vpadalq_u8(c03, vcntq_u8(veorq_u8(va0, vb)));
      c13 = vpadalq_u8(c13, vcntq_u8(veorq_u8(va1, vb)));
    } while (--block != 0);
    s0 = vaddq_u32(s0, ReduceRow(c00, c01, c02, c03));
    s1 = vaddq_u32(s1, ReduceRow(c10, c11, c12, c13));
  }
  const size_t tail = k_words % 4;
  if (tail != 0) {
    const uint8x16_t va0 = LoadTail(a0, tail);
    const uint8x16_t va1 = LoadTail(a1, tail);
    const uint8x16_t vb0 = LoadTail(b0, tail);
    const uint8x16_t vb1 = LoadTail(b1, tail);
    const uint8x16_t vb2 = LoadTail(b2, tail);
    const uint8x16_t vb3 = LoadTail(b3, tail);
    s0 = vaddq_u32(s0, ReduceRow(vpaddlq_u8(vcntq_u8(veorq_u8(va0, vb0))),
                                 vpaddlq_u8(vcntq_u8(veorq_u8(va0, vb1))),
                                 vpaddlq_u8(vcntq_u8(veorq_u8(va0, vb2))),
                                 vpaddlq_u8(vcntq_u8(veorq_u8(va0, vb3)))));
    s1 = vaddq_u32(s1, ReduceRow(vpaddlq_u8(vcntq_u8(veorq_u8(va1, vb0))),
                                 vpaddlq_u8(vcntq_u8(veorq_u8(va1, vb1))),
                                 vpaddlq_u8(vcntq_u8(veorq_u8(va1, vb2))),
                                 vpaddlq_u8(vcntq_u8(veorq_u8(va1, vb3)))));
  }
  *t0 = s0;
  *t1 = s1;
}

inline void StoreRow(int32_t* c, uint32x4_t t, size_t nr) {
  if (nr == 4) {
    vst1q_s32(c, vreinterpretq_s32_u32(t));
  } else {
    int32_t row[4];
    vst1q_s32(row, vreinterpretq_s32_u32(t));
    for (size_t n = 0; n < nr; ++n) c[n] = row[n];
  }
}

}  // namespace

void kbnn_b32_bgemm_4x4__armv7_neon(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                                    const uint32_t* b, int32_t* c, size_t c_stride) {
  const uint8_t* bp = reinterpret_cast<const uint8_t*>(b);
  const uint8_t* a0 = reinterpret_cast<const uint8_t*>(a[0]);
  const uint8_t* a1 = mr > 1 ? reinterpret_cast<const uint8_t*>(a[1]) : a0;
  uint32x4_t t0, t1;
  Rows2x4(a0, a1, bp, k_words, &t0, &t1);
  StoreRow(c, t0, nr);
  if (mr > 1) StoreRow(c + c_stride, t1, nr);
  if (mr > 2) {
    const uint8_t* a2 = reinterpret_cast<const uint8_t*>(a[2]);
    const uint8_t* a3 = mr > 3 ? reinterpret_cast<const uint8_t*>(a[3]) : a2;
    Rows2x4(a2, a3, bp, k_words, &t0, &t1);
    StoreRow(c + 2 * c_stride, t0, nr);
    if (mr > 3) StoreRow(c + 3 * c_stride, t1, nr);
  }
}

}  // namespace kbnn
