// Binary GEMM microkernel, 6x4 tile, AArch64 Advanced SIMD (NEON is baseline on AArch64).
//
//   c[m * c_stride + n] = sum_{k < k_words} popcount(a[m][k] ^ b[n * k_words + k])
//
// Row-major weight panel [4][k_words]. Per 128-bit step (4 words) the kernel loads one vector of
// each of the 6 A rows and of the 4 B rows and does XOR -> CNT (per-byte popcount, <= 8) -> ADD
// for each of the 24 (m, n) pairs into a u8x16 accumulator that stays in a register: 10 loads +
// 72 vector ops per 24 x 128 binary MACs, i.e. 3.42 instructions per 128 MACs with the loop
// control of a 2-step unrolled loop (24 accumulators + 4 B + 1 A + 2 temporaries = 31 of the 32
// vector registers). A byte lane can take 31 steps (31 * 8 = 248 <= 255): k_words <= 124 is one
// block, and each block's first step writes the accumulators (no zeroing). At the end of a block
// each row's 4 accumulators are reduced with ADDP / UADDLP into the row's four u32 sums [c0 c1 c2
// c3] (5 to 8 instructions per row: pairwise byte adds as long as they cannot wrap); only when
// k_words > 124 do the sums of a block go through a small stack array. A tail of 1..3 words is
// loaded without over-read (zero extended: it adds only its own popcount) and is the first step of
// the first block, so short K (k_words = 18 at C_in = 64 3x3) pays one partial step, not a flush.
// Rows m >= mr reuse the last valid A row pointer (results not stored); B rows n >= nr are the
// zero-filled rows of the panel that the ABI guarantees, so reading them is valid.

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototype: checks that the definition matches the dispatch table

#if !defined(__aarch64__)
#error "b32-bgemm-6x4-aarch64-neon.cc must be compiled for AArch64"
#endif

namespace kbnn {
namespace {

constexpr size_t kU8Steps = 31;  // 128-bit steps per u8 accumulation block: 31 * 8 = 248 <= 255

// T = 1..3 words, loaded without reading past the last one; the rest of the vector is zero.
template <size_t T>
inline uint8x16_t LoadTail(const uint8_t* p) {
  if (T == 1) {
    uint32_t w;
    std::memcpy(&w, p, sizeof(w));
    return vreinterpretq_u8_u32(vsetq_lane_u32(w, vdupq_n_u32(0), 0));
  }
  uint64_t lo;
  std::memcpy(&lo, p, sizeof(lo));
  uint64_t hi = 0;
  if (T == 3) {
    uint32_t w;
    std::memcpy(&w, p + 8, sizeof(w));
    hi = w;
  }
  return vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)));
}

// The four byte accumulators of one row -> [sum(c0), sum(c1), sum(c2), sum(c3)] after S <= 31
// steps (bytes <= 8 * S). The first pairwise adds stay in bytes while they cannot wrap: S <= 7
// (k_words <= 28) three byte ADDPs (<= 224), S <= 15 (k_words <= 60) two (<= 240); otherwise all
// widening (u16 lanes <= 1984).
template <size_t kMaxSteps>
inline uint32x4_t ReduceRow(uint8x16_t c0, uint8x16_t c1, uint8x16_t c2, uint8x16_t c3) {
  if (kMaxSteps <= 7) {
    const uint8x16_t s = vpaddq_u8(vpaddq_u8(c0, c1), vpaddq_u8(c2, c3));  // 4 bytes per sum
    return vpaddlq_u16(vpaddlq_u8(s));
  }
  if (kMaxSteps <= 15) {
    const uint16x8_t s01 = vpaddlq_u8(vpaddq_u8(c0, c1));  // [c0 x4, c1 x4]
    const uint16x8_t s23 = vpaddlq_u8(vpaddq_u8(c2, c3));
    return vpaddlq_u16(vpaddq_u16(s01, s23));
  }
  const uint16x8_t s01 = vpaddq_u16(vpaddlq_u8(c0), vpaddlq_u8(c1));
  const uint16x8_t s23 = vpaddq_u16(vpaddlq_u8(c2), vpaddlq_u8(c3));
  return vpaddlq_u16(vpaddq_u16(s01, s23));
}

inline void StoreRow(int32_t* c, size_t nr, uint32x4_t v) {
  const int32x4_t s = vreinterpretq_s32_u32(v);
  switch (nr) {
    case 4: vst1q_s32(c, s); break;
    case 3:
      vst1_s32(c, vget_low_s32(s));
      vst1q_lane_s32(c + 2, s, 2);
      break;
    case 2: vst1_s32(c, vget_low_s32(s)); break;
    default: vst1q_lane_s32(c, s, 0); break;
  }
}

}  // namespace

void kbnn_b32_bgemm_6x4__aarch64_neon(size_t mr, size_t nr, size_t k_words,
                                      const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                      size_t c_stride) {
  if (k_words == 0) {
    for (size_t m = 0; m < mr; ++m) StoreRow(c + m * c_stride, nr, vdupq_n_u32(0));
    return;
  }
  const uint8_t* a0 = reinterpret_cast<const uint8_t*>(a[0]);
  const uint8_t* a1 = mr > 1 ? reinterpret_cast<const uint8_t*>(a[1]) : a0;
  const uint8_t* a2 = mr > 2 ? reinterpret_cast<const uint8_t*>(a[2]) : a1;
  const uint8_t* a3 = mr > 3 ? reinterpret_cast<const uint8_t*>(a[3]) : a2;
  const uint8_t* a4 = mr > 4 ? reinterpret_cast<const uint8_t*>(a[4]) : a3;
  const uint8_t* a5 = mr > 5 ? reinterpret_cast<const uint8_t*>(a[5]) : a4;
  const size_t row_bytes = k_words * sizeof(uint32_t);
  const uint8_t* b0 = reinterpret_cast<const uint8_t*>(b);
  const uint8_t* b1 = b0 + row_bytes;
  const uint8_t* b2 = b1 + row_bytes;
  const uint8_t* b3 = b2 + row_bytes;

  size_t steps = k_words / 4;
  const size_t tail = k_words % 4;

  // The accumulators are bound to v8..v31 for the asm steps (GCC's own choice of registers adds
  // moves between the steps), leaving v0..v7 to the operands and temporaries.
  register uint8x16_t c00 __asm__("v8");
  register uint8x16_t c01 __asm__("v9");
  register uint8x16_t c02 __asm__("v10");
  register uint8x16_t c03 __asm__("v11");
  register uint8x16_t c10 __asm__("v12");
  register uint8x16_t c11 __asm__("v13");
  register uint8x16_t c12 __asm__("v14");
  register uint8x16_t c13 __asm__("v15");
  register uint8x16_t c20 __asm__("v16");
  register uint8x16_t c21 __asm__("v17");
  register uint8x16_t c22 __asm__("v18");
  register uint8x16_t c23 __asm__("v19");
  register uint8x16_t c30 __asm__("v20");
  register uint8x16_t c31 __asm__("v21");
  register uint8x16_t c32 __asm__("v22");
  register uint8x16_t c33 __asm__("v23");
  register uint8x16_t c40 __asm__("v24");
  register uint8x16_t c41 __asm__("v25");
  register uint8x16_t c42 __asm__("v26");
  register uint8x16_t c43 __asm__("v27");
  register uint8x16_t c50 __asm__("v28");
  register uint8x16_t c51 __asm__("v29");
  register uint8x16_t c52 __asm__("v30");
  register uint8x16_t c53 __asm__("v31");

  // A block's first step writes the accumulators (no zeroing, no add).
#define KBNN_XC(VA, VB) vcntq_u8(veorq_u8(VA, VB))
#define KBNN_ROW_FIRST(m, LOAD) \
  {                             \
    const uint8x16_t va = LOAD; \
    c##m##0 = KBNN_XC(va, vb0); \
    c##m##1 = KBNN_XC(va, vb1); \
    c##m##2 = KBNN_XC(va, vb2); \
    c##m##3 = KBNN_XC(va, vb3); \
  }
// A row of a later step, as one asm block: the compiler must neither fuse two steps' counts
// (GCC re-associates the intrinsic form into cnt + cnt + add, which needs more registers and
// spills accumulators) nor schedule the loads of the next step early.
#define KBNN_ROW_ASM(m, PA)                                                               \
  {                                                                                       \
    uint8x16_t va, t0, t1;                                                                \
    __asm__(                                                                              \
        "ldr %q[va], [%[pa]], #16\n\t"                                                    \
        "eor %[t0].16b, %[va].16b, %[b0].16b\n\t"                                         \
        "eor %[t1].16b, %[va].16b, %[b1].16b\n\t"                                         \
        "cnt %[t0].16b, %[t0].16b\n\t"                                                    \
        "cnt %[t1].16b, %[t1].16b\n\t"                                                    \
        "add %[c0].16b, %[c0].16b, %[t0].16b\n\t"                                         \
        "add %[c1].16b, %[c1].16b, %[t1].16b\n\t"                                         \
        "eor %[t0].16b, %[va].16b, %[b2].16b\n\t"                                         \
        "eor %[t1].16b, %[va].16b, %[b3].16b\n\t"                                         \
        "cnt %[t0].16b, %[t0].16b\n\t"                                                    \
        "cnt %[t1].16b, %[t1].16b\n\t"                                                    \
        "add %[c2].16b, %[c2].16b, %[t0].16b\n\t"                                         \
        "add %[c3].16b, %[c3].16b, %[t1].16b"                                             \
        : [c0] "+w"(c##m##0), [c1] "+w"(c##m##1), [c2] "+w"(c##m##2), [c3] "+w"(c##m##3), \
          [pa] "+r"(PA), [va] "=&w"(va), [t0] "=&w"(t0), [t1] "=&w"(t1)                   \
        : [b0] "w"(vb0), [b1] "w"(vb1), [b2] "w"(vb2), [b3] "w"(vb3)                      \
        : "memory");                                                                      \
  }
#define KBNN_STEP_ASM                                                                    \
  {                                                                                      \
    uint8x16_t vb0, vb1, vb2, vb3;                                                       \
    __asm__(                                                                             \
        "ldr %q[v0], [%[p0]], #16\n\t"                                                   \
        "ldr %q[v1], [%[p1]], #16\n\t"                                                   \
        "ldr %q[v2], [%[p2]], #16\n\t"                                                   \
        "ldr %q[v3], [%[p3]], #16"                                                       \
        : [v0] "=w"(vb0), [v1] "=w"(vb1), [v2] "=w"(vb2), [v3] "=w"(vb3), [p0] "+r"(b0), \
          [p1] "+r"(b1), [p2] "+r"(b2), [p3] "+r"(b3)                                    \
        :                                                                                \
        : "memory");                                                                     \
    KBNN_ROW_ASM(0, a0)                                                                  \
    KBNN_ROW_ASM(1, a1)                                                                  \
    KBNN_ROW_ASM(2, a2)                                                                  \
    KBNN_ROW_ASM(3, a3)                                                                  \
    KBNN_ROW_ASM(4, a4)                                                                  \
    KBNN_ROW_ASM(5, a5)                                                                  \
  }
#define KBNN_STEP_FIRST                  \
  {                                      \
    const uint8x16_t vb0 = vld1q_u8(b0); \
    const uint8x16_t vb1 = vld1q_u8(b1); \
    const uint8x16_t vb2 = vld1q_u8(b2); \
    const uint8x16_t vb3 = vld1q_u8(b3); \
    b0 += 16;                            \
    b1 += 16;                            \
    b2 += 16;                            \
    b3 += 16;                            \
    KBNN_ROW_FIRST(0, vld1q_u8(a0))      \
    KBNN_ROW_FIRST(1, vld1q_u8(a1))      \
    KBNN_ROW_FIRST(2, vld1q_u8(a2))      \
    KBNN_ROW_FIRST(3, vld1q_u8(a3))      \
    KBNN_ROW_FIRST(4, vld1q_u8(a4))      \
    KBNN_ROW_FIRST(5, vld1q_u8(a5))      \
    a0 += 16;                            \
    a1 += 16;                            \
    a2 += 16;                            \
    a3 += 16;                            \
    a4 += 16;                            \
    a5 += 16;                            \
  }

  // The tail (the last k_words % 4 words) first: it starts the first block.
  size_t block;  // later steps of the current block (with its first step: <= kU8Steps)
  if (tail != 0) {
    const size_t off = steps * 16;
#define KBNN_TAIL(T)                              \
  {                                               \
    const uint8x16_t vb0 = LoadTail<T>(b0 + off); \
    const uint8x16_t vb1 = LoadTail<T>(b1 + off); \
    const uint8x16_t vb2 = LoadTail<T>(b2 + off); \
    const uint8x16_t vb3 = LoadTail<T>(b3 + off); \
    KBNN_ROW_FIRST(0, LoadTail<T>(a0 + off))      \
    KBNN_ROW_FIRST(1, LoadTail<T>(a1 + off))      \
    KBNN_ROW_FIRST(2, LoadTail<T>(a2 + off))      \
    KBNN_ROW_FIRST(3, LoadTail<T>(a3 + off))      \
    KBNN_ROW_FIRST(4, LoadTail<T>(a4 + off))      \
    KBNN_ROW_FIRST(5, LoadTail<T>(a5 + off))      \
  }
    switch (tail) {
      case 1: KBNN_TAIL(1) break;
      case 2: KBNN_TAIL(2) break;
      default: KBNN_TAIL(3) break;
    }
#undef KBNN_TAIL
    block = steps < kU8Steps - 1 ? steps : kU8Steps - 1;
  } else {
    KBNN_STEP_FIRST
    --steps;
    block = steps < kU8Steps - 1 ? steps : kU8Steps - 1;
  }
  // Sums of the blocks before the current one (only touched when k_words > 124).
  uint32_t wide[6][4] = {};
  bool widened = false;
  for (;;) {
    steps -= block;
    for (size_t pairs = block / 2; pairs != 0; --pairs) {
      KBNN_STEP_ASM
      KBNN_STEP_ASM
    }
    if (block % 2 != 0) KBNN_STEP_ASM
    if (steps == 0) break;
    // Block boundary: bank the sums, start the next block with its first step.
    const uint32x4_t r0 = ReduceRow<kU8Steps>(c00, c01, c02, c03);
    const uint32x4_t r1 = ReduceRow<kU8Steps>(c10, c11, c12, c13);
    const uint32x4_t r2 = ReduceRow<kU8Steps>(c20, c21, c22, c23);
    const uint32x4_t r3 = ReduceRow<kU8Steps>(c30, c31, c32, c33);
    const uint32x4_t r4 = ReduceRow<kU8Steps>(c40, c41, c42, c43);
    const uint32x4_t r5 = ReduceRow<kU8Steps>(c50, c51, c52, c53);
    if (widened) {
      vst1q_u32(wide[0], vaddq_u32(vld1q_u32(wide[0]), r0));
      vst1q_u32(wide[1], vaddq_u32(vld1q_u32(wide[1]), r1));
      vst1q_u32(wide[2], vaddq_u32(vld1q_u32(wide[2]), r2));
      vst1q_u32(wide[3], vaddq_u32(vld1q_u32(wide[3]), r3));
      vst1q_u32(wide[4], vaddq_u32(vld1q_u32(wide[4]), r4));
      vst1q_u32(wide[5], vaddq_u32(vld1q_u32(wide[5]), r5));
    } else {
      vst1q_u32(wide[0], r0);
      vst1q_u32(wide[1], r1);
      vst1q_u32(wide[2], r2);
      vst1q_u32(wide[3], r3);
      vst1q_u32(wide[4], r4);
      vst1q_u32(wide[5], r5);
      widened = true;
    }
    KBNN_STEP_FIRST
    --steps;
    block = steps < kU8Steps - 1 ? steps : kU8Steps - 1;
  }
#undef KBNN_STEP_FIRST
#undef KBNN_STEP_ASM
#undef KBNN_ROW_ASM
#undef KBNN_ROW_FIRST
#undef KBNN_XC

  uint32x4_t r0, r1, r2, r3, r4, r5;
#define KBNN_REDUCE(S)                   \
  r0 = ReduceRow<S>(c00, c01, c02, c03); \
  r1 = ReduceRow<S>(c10, c11, c12, c13); \
  r2 = ReduceRow<S>(c20, c21, c22, c23); \
  r3 = ReduceRow<S>(c30, c31, c32, c33); \
  r4 = ReduceRow<S>(c40, c41, c42, c43); \
  r5 = ReduceRow<S>(c50, c51, c52, c53);
  if (k_words <= 28) {  // one block of <= 7 steps
    KBNN_REDUCE(7)
  } else if (k_words <= 60) {  // one block of <= 15 steps
    KBNN_REDUCE(15)
  } else {
    KBNN_REDUCE(kU8Steps)
  }
#undef KBNN_REDUCE
  if (widened) {
    r0 = vaddq_u32(r0, vld1q_u32(wide[0]));
    r1 = vaddq_u32(r1, vld1q_u32(wide[1]));
    r2 = vaddq_u32(r2, vld1q_u32(wide[2]));
    r3 = vaddq_u32(r3, vld1q_u32(wide[3]));
    r4 = vaddq_u32(r4, vld1q_u32(wide[4]));
    r5 = vaddq_u32(r5, vld1q_u32(wide[5]));
  }
  if (nr == 4) {  // full rows: one store each
    vst1q_s32(c, vreinterpretq_s32_u32(r0));
    if (mr < 2) return;
    vst1q_s32(c += c_stride, vreinterpretq_s32_u32(r1));
    if (mr < 3) return;
    vst1q_s32(c += c_stride, vreinterpretq_s32_u32(r2));
    if (mr < 4) return;
    vst1q_s32(c += c_stride, vreinterpretq_s32_u32(r3));
    if (mr < 5) return;
    vst1q_s32(c += c_stride, vreinterpretq_s32_u32(r4));
    if (mr < 6) return;
    vst1q_s32(c + c_stride, vreinterpretq_s32_u32(r5));
    return;
  }
  const uint32x4_t rows[6] = {r0, r1, r2, r3, r4, r5};
  for (size_t m = 0; m < mr; ++m) StoreRow(c + m * c_stride, nr, rows[m]);
}

}  // namespace kbnn
