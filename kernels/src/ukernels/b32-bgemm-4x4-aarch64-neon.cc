// Binary GEMM microkernel, 4x4 tile, AArch64 Advanced SIMD (NEON is baseline on AArch64).
//
//   c[m * c_stride + n] = sum_{k < k_words} popcount(a[m][k] ^ b[n * k_words + k])
//
// Technique: per 128-bit step (4 words) each of the 16 (m, n) pairs does XOR -> CNT (per-byte
// popcount, <= 8) -> UADALP into a u16x8 accumulator (<= +16 per lane per step). The u16 lanes are
// folded into u32 totals every kChunkSteps steps, long before they could overflow (65535 / 16 = 4095
// steps). 16 accumulators + 8 operand registers + temporaries fit the 32 vector registers.
// A tail of 1..3 words is loaded as 64-bit halves (scalar memcpy loads, no over-read) and zero
// extended, so it adds nothing but its own popcount; it is added after the main loop.
// Rows m >= mr reuse the last valid A row pointer (results discarded); B rows n >= nr are the
// zero-filled rows of the panel that the ABI guarantees, so reading them is valid.

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

constexpr size_t kChunkSteps = 2048;  // 128-bit steps per u16 accumulation block (< 4095)

inline uint8x16_t LoadTail(const uint32_t* p, size_t words) {
  // 1..3 words, loaded without reading past p[words - 1]; the rest is zero.
  uint64_t lo = 0;
  uint64_t hi = 0;
  std::memcpy(&lo, p, (words >= 2 ? 2 : 1) * sizeof(uint32_t));
  if (words == 3) std::memcpy(&hi, p + 2, sizeof(uint32_t));
  return vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)));
}

// Sum each u16x8 accumulator of one row into one u32 lane: [sum(p0), sum(p1), sum(p2), sum(p3)].
inline uint32x4_t ReduceRow(uint16x8_t p0, uint16x8_t p1, uint16x8_t p2, uint16x8_t p3) {
  const uint32x4_t w0 = vpaddlq_u16(p0);
  const uint32x4_t w1 = vpaddlq_u16(p1);
  const uint32x4_t w2 = vpaddlq_u16(p2);
  const uint32x4_t w3 = vpaddlq_u16(p3);
  return vpaddq_u32(vpaddq_u32(w0, w1), vpaddq_u32(w2, w3));
}

}  // namespace

void kbnn_b32_bgemm_4x4__aarch64_neon(size_t mr, size_t nr, size_t k_words,
                                      const uint32_t* const* a, const uint32_t* b,
                                      int32_t* c, size_t c_stride) {
  const uint8_t* a0 = reinterpret_cast<const uint8_t*>(a[0]);
  const uint8_t* a1 = mr > 1 ? reinterpret_cast<const uint8_t*>(a[1]) : a0;
  const uint8_t* a2 = mr > 2 ? reinterpret_cast<const uint8_t*>(a[2]) : a1;
  const uint8_t* a3 = mr > 3 ? reinterpret_cast<const uint8_t*>(a[3]) : a2;
  const uint8_t* b0 = reinterpret_cast<const uint8_t*>(b);
  const uint8_t* b1 = b0 + k_words * sizeof(uint32_t);
  const uint8_t* b2 = b1 + k_words * sizeof(uint32_t);
  const uint8_t* b3 = b2 + k_words * sizeof(uint32_t);

  // Row totals (lanes n = 0..3), kept in memory across the main loop so that the 16 accumulators,
  // 8 operands and the XOR/CNT temporaries get all 32 vector registers (no spills with GCC 12 -O2).
  uint32_t totals[4][4] = {};

#define KBNN_XCP(ACC, VA, VB) ACC = vpadalq_u8(ACC, vcntq_u8(veorq_u8(VA, VB)))
  for (size_t steps = k_words / 4; steps != 0;) {
    uint16x8_t c00 = vdupq_n_u16(0), c01 = vdupq_n_u16(0), c02 = vdupq_n_u16(0), c03 = vdupq_n_u16(0);
    uint16x8_t c10 = vdupq_n_u16(0), c11 = vdupq_n_u16(0), c12 = vdupq_n_u16(0), c13 = vdupq_n_u16(0);
    uint16x8_t c20 = vdupq_n_u16(0), c21 = vdupq_n_u16(0), c22 = vdupq_n_u16(0), c23 = vdupq_n_u16(0);
    uint16x8_t c30 = vdupq_n_u16(0), c31 = vdupq_n_u16(0), c32 = vdupq_n_u16(0), c33 = vdupq_n_u16(0);
    size_t block = steps < kChunkSteps ? steps : kChunkSteps;
    steps -= block;
    do {
      const uint8x16_t vb0 = vld1q_u8(b0); b0 += 16;
      const uint8x16_t vb1 = vld1q_u8(b1); b1 += 16;
      const uint8x16_t vb2 = vld1q_u8(b2); b2 += 16;
      const uint8x16_t vb3 = vld1q_u8(b3); b3 += 16;
      uint8x16_t va = vld1q_u8(a0); a0 += 16;
      KBNN_XCP(c00, va, vb0); KBNN_XCP(c01, va, vb1); KBNN_XCP(c02, va, vb2); KBNN_XCP(c03, va, vb3);
      va = vld1q_u8(a1); a1 += 16;
      KBNN_XCP(c10, va, vb0); KBNN_XCP(c11, va, vb1); KBNN_XCP(c12, va, vb2); KBNN_XCP(c13, va, vb3);
      va = vld1q_u8(a2); a2 += 16;
      KBNN_XCP(c20, va, vb0); KBNN_XCP(c21, va, vb1); KBNN_XCP(c22, va, vb2); KBNN_XCP(c23, va, vb3);
      va = vld1q_u8(a3); a3 += 16;
      KBNN_XCP(c30, va, vb0); KBNN_XCP(c31, va, vb1); KBNN_XCP(c32, va, vb2); KBNN_XCP(c33, va, vb3);
    } while (--block != 0);
    vst1q_u32(totals[0], vaddq_u32(vld1q_u32(totals[0]), ReduceRow(c00, c01, c02, c03)));
    vst1q_u32(totals[1], vaddq_u32(vld1q_u32(totals[1]), ReduceRow(c10, c11, c12, c13)));
    vst1q_u32(totals[2], vaddq_u32(vld1q_u32(totals[2]), ReduceRow(c20, c21, c22, c23)));
    vst1q_u32(totals[3], vaddq_u32(vld1q_u32(totals[3]), ReduceRow(c30, c31, c32, c33)));
  }
#undef KBNN_XCP

  const size_t tail = k_words % 4;
  if (tail != 0) {
    const uint8x16_t vb0 = LoadTail(reinterpret_cast<const uint32_t*>(b0), tail);
    const uint8x16_t vb1 = LoadTail(reinterpret_cast<const uint32_t*>(b1), tail);
    const uint8x16_t vb2 = LoadTail(reinterpret_cast<const uint32_t*>(b2), tail);
    const uint8x16_t vb3 = LoadTail(reinterpret_cast<const uint32_t*>(b3), tail);
    const uint8_t* const rows[4] = {a0, a1, a2, a3};
    for (int m = 0; m < 4; ++m) {
      const uint8x16_t va = LoadTail(reinterpret_cast<const uint32_t*>(rows[m]), tail);
      const uint32x4_t t = ReduceRow(vpaddlq_u8(vcntq_u8(veorq_u8(va, vb0))),
                                     vpaddlq_u8(vcntq_u8(veorq_u8(va, vb1))),
                                     vpaddlq_u8(vcntq_u8(veorq_u8(va, vb2))),
                                     vpaddlq_u8(vcntq_u8(veorq_u8(va, vb3))));
      vst1q_u32(totals[m], vaddq_u32(vld1q_u32(totals[m]), t));
    }
  }

  for (size_t m = 0; m < mr; ++m) {
    int32_t* c_row = c + m * c_stride;
    if (nr == 4) {
      vst1q_s32(c_row, vreinterpretq_s32_u32(vld1q_u32(totals[m])));
    } else {
      for (size_t n = 0; n < nr; ++n) c_row[n] = static_cast<int32_t>(totals[m][n]);
    }
  }
}

}  // namespace kbnn
