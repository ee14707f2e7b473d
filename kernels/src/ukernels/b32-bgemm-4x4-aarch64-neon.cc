// Binary GEMM microkernel, 4x4 tile, AArch64 Advanced SIMD (NEON is baseline on AArch64).
//
//   c[m * c_stride + n] = sum_{k < k_words} popcount(a[m][k] ^ b[n * k_words + k])
//
// Technique: per 128-bit step (4 words) each of the 16 (m, n) pairs does XOR -> CNT (per-byte
// popcount, <= 8) -> ADD into a u8x16 accumulator. A byte lane can take 31 steps (31 * 8 = 248 <=
// 255) before it could wrap, so every kU8Steps steps the bytes are widened (UADDLP, <= 496 per u16
// lane) and pairwise-added (UADALP) into u32x4 totals that live in memory (one load/store per pair
// per block). Keeping the per-step accumulation a plain ADD rather than UADALP matters on cores
// where UADALP issues on a single vector pipe (e.g. Cortex-A76 / Neoverse-N1) while ADD/CNT/EOR
// issue on two. 16 accumulators + 8 operands + temporaries share the 32 vector registers. A tail
// of 1..3 words is loaded as 64-bit halves (scalar memcpy loads, no over-read) and zero extended,
// so it adds nothing but its own popcount; it is added after the main loop. Rows m >= mr reuse the
// last valid A row pointer (results discarded); B rows n >= nr are the zero-filled rows of the
// panel that the ABI guarantees, so reading them is valid.

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototype: checks that the definition matches the dispatch table

#if !defined(__aarch64__)
#error "b32-bgemm-4x4-aarch64-neon.cc must be compiled for AArch64"
#endif

namespace kbnn {
namespace {

constexpr size_t kU8Steps = 31;  // 128-bit steps per u8 accumulation block: 31 * 8 = 248 <= 255

inline uint8x16_t LoadTail(const uint8_t* p, size_t words) {
  // 1..3 words, loaded without reading past the last one; the rest is zero.
  uint64_t lo = 0;
  uint64_t hi = 0;
  std::memcpy(&lo, p, (words >= 2 ? 2 : 1) * sizeof(uint32_t));
  if (words == 3) std::memcpy(&hi, p + 2 * sizeof(uint32_t), sizeof(uint32_t));
  return vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)));
}

// total[0..3] += pairwise sums of the byte counts (each byte <= 255).
inline void Flush(uint32_t* total, uint8x16_t bytes) {
  vst1q_u32(total, vpadalq_u16(vld1q_u32(total), vpaddlq_u8(bytes)));
}

}  // namespace

void kbnn_b32_bgemm_4x4__aarch64_neon(size_t mr, size_t nr, size_t k_words,
                                      const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                      size_t c_stride) {
  const uint8_t* a0 = reinterpret_cast<const uint8_t*>(a[0]);
  const uint8_t* a1 = mr > 1 ? reinterpret_cast<const uint8_t*>(a[1]) : a0;
  const uint8_t* a2 = mr > 2 ? reinterpret_cast<const uint8_t*>(a[2]) : a1;
  const uint8_t* a3 = mr > 3 ? reinterpret_cast<const uint8_t*>(a[3]) : a2;
  const uint8_t* b0 = reinterpret_cast<const uint8_t*>(b);
  const uint8_t* b1 = b0 + k_words * sizeof(uint32_t);
  const uint8_t* b2 = b1 + k_words * sizeof(uint32_t);
  const uint8_t* b3 = b2 + k_words * sizeof(uint32_t);

  // wide[m * 4 + n]: four u32 partial sums of pair (m, n), in memory across the main loop.
  uint32_t wide[16][4] = {};

#define KBNN_XCA(ACC, VA, VB) ACC = vaddq_u8(ACC, vcntq_u8(veorq_u8(VA, VB)))
  for (size_t steps = k_words / 4; steps != 0;) {
    uint8x16_t c00 = vdupq_n_u8(0), c01 = vdupq_n_u8(0), c02 = vdupq_n_u8(0), c03 = vdupq_n_u8(0);
    uint8x16_t c10 = vdupq_n_u8(0), c11 = vdupq_n_u8(0), c12 = vdupq_n_u8(0), c13 = vdupq_n_u8(0);
    uint8x16_t c20 = vdupq_n_u8(0), c21 = vdupq_n_u8(0), c22 = vdupq_n_u8(0), c23 = vdupq_n_u8(0);
    uint8x16_t c30 = vdupq_n_u8(0), c31 = vdupq_n_u8(0), c32 = vdupq_n_u8(0), c33 = vdupq_n_u8(0);
    size_t block = steps < kU8Steps ? steps : kU8Steps;
    steps -= block;
    do {
      const uint8x16_t vb0 = vld1q_u8(b0);
      b0 += 16;
      const uint8x16_t vb1 = vld1q_u8(b1);
      b1 += 16;
      const uint8x16_t vb2 = vld1q_u8(b2);
      b2 += 16;
      const uint8x16_t vb3 = vld1q_u8(b3);
      b3 += 16;
      uint8x16_t va = vld1q_u8(a0);
      a0 += 16;
      KBNN_XCA(c00, va, vb0);
      KBNN_XCA(c01, va, vb1);
      KBNN_XCA(c02, va, vb2);
      KBNN_XCA(c03, va, vb3);
      va = vld1q_u8(a1);
      a1 += 16;
      KBNN_XCA(c10, va, vb0);
      KBNN_XCA(c11, va, vb1);
      KBNN_XCA(c12, va, vb2);
      KBNN_XCA(c13, va, vb3);
      va = vld1q_u8(a2);
      a2 += 16;
      KBNN_XCA(c20, va, vb0);
      KBNN_XCA(c21, va, vb1);
      KBNN_XCA(c22, va, vb2);
      KBNN_XCA(c23, va, vb3);
      va = vld1q_u8(a3);
      a3 += 16;
      KBNN_XCA(c30, va, vb0);
      KBNN_XCA(c31, va, vb1);
      KBNN_XCA(c32, va, vb2);
      KBNN_XCA(c33, va, vb3);
    } while (--block != 0);
    Flush(wide[0], c00);
    Flush(wide[1], c01);
    Flush(wide[2], c02);
    Flush(wide[3], c03);
    Flush(wide[4], c10);
    Flush(wide[5], c11);
    Flush(wide[6], c12);
    Flush(wide[7], c13);
    Flush(wide[8], c20);
    Flush(wide[9], c21);
    Flush(wide[10], c22);
    Flush(wide[11], c23);
    Flush(wide[12], c30);
    Flush(wide[13], c31);
    Flush(wide[14], c32);
    Flush(wide[15], c33);
  }
#undef KBNN_XCA

  const size_t tail = k_words % 4;
  if (tail != 0) {
    const uint8x16_t vb[4] = {LoadTail(b0, tail), LoadTail(b1, tail), LoadTail(b2, tail),
                              LoadTail(b3, tail)};
    const uint8_t* const rows[4] = {a0, a1, a2, a3};
    for (size_t m = 0; m < 4; ++m) {
      const uint8x16_t va = LoadTail(rows[m], tail);
      for (size_t n = 0; n < 4; ++n) Flush(wide[m * 4 + n], vcntq_u8(veorq_u8(va, vb[n])));
    }
  }

  for (size_t m = 0; m < mr; ++m) {
    // Row m: [sum(wide[m][0]), sum(wide[m][1]), sum(wide[m][2]), sum(wide[m][3])].
    const uint32x4_t s01 = vpaddq_u32(vld1q_u32(wide[m * 4 + 0]), vld1q_u32(wide[m * 4 + 1]));
    const uint32x4_t s23 = vpaddq_u32(vld1q_u32(wide[m * 4 + 2]), vld1q_u32(wide[m * 4 + 3]));
    const uint32x4_t row = vpaddq_u32(s01, s23);
    int32_t* c_row = c + m * c_stride;
    if (nr == 4) {
      vst1q_s32(c_row, vreinterpretq_s32_u32(row));
    } else {
      int32_t tmp[4];
      vst1q_s32(tmp, vreinterpretq_s32_u32(row));
      for (size_t n = 0; n < nr; ++n) c_row[n] = tmp[n];
    }
  }
}

}  // namespace kbnn
