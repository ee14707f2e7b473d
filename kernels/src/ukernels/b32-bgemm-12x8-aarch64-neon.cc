// Binary GEMM microkernel, 12x8 tile, k-major weight panel, AArch64 Advanced SIMD.
//
//   c[m * c_stride + n] = sum_{k < k_words} popcount(a[m][k] ^ b[k * 8 + n])
//
// The panel is k-major ([k_words][8]: word k of the 8 weight rows is one LDP of two q registers),
// so there is no k tail: every k_words runs whole 32-bit steps, which is what short K needs
// (k_words = 18 at C_in = 64 3x3 would leave the 6x4 row-major kernel a half-empty 128-bit step).
// Per word, each of the 12 A rows is broadcast (LD1R) against the 2 weight vectors: EOR + CNT + ADD
// into 24 u8x16 accumulators (v8..v31; 4 bytes per output column) that stay in registers: 1 LDP +
// 12 LD1R + 72 vector ops per 24 x 128 binary MACs (3.54 instructions per 128 MACs). A byte lane
// takes 31 words (31 * 8 = 248 <= 255); longer K is cut into blocks of 31 words whose column sums
// (UADDLP u8 -> u16 -> u32: 4 bytes per column) go through a small stack array. Rows m >= mr reuse
// the last valid A row pointer (results not stored); panel columns n >= nr are zero (the ABI).

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototype: checks that the definition matches the dispatch table

#if !defined(__aarch64__)
#error "b32-bgemm-12x8-aarch64-neon.cc must be compiled for AArch64"
#endif

namespace kbnn {
namespace {

constexpr size_t kU8Words = 31;  // words per u8 accumulation block: 31 * 8 = 248 <= 255

// 4 byte counts per u32 column -> the column's sum (<= 4 * 248).
inline uint32x4_t Columns(uint8x16_t c) { return vpaddlq_u16(vpaddlq_u8(c)); }

inline void StoreRow(int32_t* c, size_t nr, uint32x4_t lo, uint32x4_t hi) {
  if (nr == 8) {
    vst1q_s32(c, vreinterpretq_s32_u32(lo));
    vst1q_s32(c + 4, vreinterpretq_s32_u32(hi));
    return;
  }
  int32_t tmp[8];
  vst1q_s32(tmp, vreinterpretq_s32_u32(lo));
  vst1q_s32(tmp + 4, vreinterpretq_s32_u32(hi));
  for (size_t n = 0; n < nr; ++n) c[n] = tmp[n];
}

}  // namespace

void kbnn_b32_bgemm_12x8__aarch64_neon(size_t mr, size_t nr, size_t k_words,
                                       const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                       size_t c_stride) {
  if (k_words == 0) {
    for (size_t m = 0; m < mr; ++m) StoreRow(c + m * c_stride, nr, vdupq_n_u32(0), vdupq_n_u32(0));
    return;
  }
  const uint32_t* ap[12];
  ap[0] = a[0];
  for (size_t m = 1; m < 12; ++m) ap[m] = m < mr ? a[m] : ap[m - 1];
  const uint32_t *a0 = ap[0], *a1 = ap[1], *a2 = ap[2], *a3 = ap[3], *a4 = ap[4], *a5 = ap[5];
  const uint32_t *a6 = ap[6], *a7 = ap[7], *a8 = ap[8], *a9 = ap[9], *a10 = ap[10], *a11 = ap[11];

  // Accumulators bound to v8..v31 for the asm rows; v0..v7 hold the operands and temporaries.
  register uint8x16_t c0l __asm__("v8");
  register uint8x16_t c0h __asm__("v9");
  register uint8x16_t c1l __asm__("v10");
  register uint8x16_t c1h __asm__("v11");
  register uint8x16_t c2l __asm__("v12");
  register uint8x16_t c2h __asm__("v13");
  register uint8x16_t c3l __asm__("v14");
  register uint8x16_t c3h __asm__("v15");
  register uint8x16_t c4l __asm__("v16");
  register uint8x16_t c4h __asm__("v17");
  register uint8x16_t c5l __asm__("v18");
  register uint8x16_t c5h __asm__("v19");
  register uint8x16_t c6l __asm__("v20");
  register uint8x16_t c6h __asm__("v21");
  register uint8x16_t c7l __asm__("v22");
  register uint8x16_t c7h __asm__("v23");
  register uint8x16_t c8l __asm__("v24");
  register uint8x16_t c8h __asm__("v25");
  register uint8x16_t c9l __asm__("v26");
  register uint8x16_t c9h __asm__("v27");
  register uint8x16_t c10l __asm__("v28");
  register uint8x16_t c10h __asm__("v29");
  register uint8x16_t c11l __asm__("v30");
  register uint8x16_t c11h __asm__("v31");

// One row of one word: broadcast a<m>[k], XOR with both weight vectors, count, add.
#define KBNN_ROW(m)                                                                                \
  {                                                                                                \
    uint8x16_t va, t0, t1;                                                                         \
    __asm__(                                                                                       \
        "ld1r {%[va].4s}, [%[pa]], #4\n\t"                                                         \
        "eor %[t0].16b, %[va].16b, %[b0].16b\n\t"                                                  \
        "eor %[t1].16b, %[va].16b, %[b1].16b\n\t"                                                  \
        "cnt %[t0].16b, %[t0].16b\n\t"                                                             \
        "cnt %[t1].16b, %[t1].16b\n\t"                                                             \
        "add %[cl].16b, %[cl].16b, %[t0].16b\n\t"                                                  \
        "add %[ch].16b, %[ch].16b, %[t1].16b"                                                      \
        : [cl] "+w"(c##m##l), [ch] "+w"(c##m##h), [pa] "+r"(a##m), [va] "=&w"(va), [t0] "=&w"(t0), \
          [t1] "=&w"(t1)                                                                           \
        : [b0] "w"(vb0), [b1] "w"(vb1)                                                             \
        : "memory");                                                                               \
  }
#define KBNN_WORD                                          \
  {                                                        \
    uint8x16_t vb0, vb1;                                   \
    __asm__("ldp %q[b0], %q[b1], [%[pb]], #32"             \
            : [b0] "=w"(vb0), [b1] "=w"(vb1), [pb] "+r"(b) \
            :                                              \
            : "memory");                                   \
    KBNN_ROW(0)                                            \
    KBNN_ROW(1)                                            \
    KBNN_ROW(2)                                            \
    KBNN_ROW(3)                                            \
    KBNN_ROW(4)                                            \
    KBNN_ROW(5)                                            \
    KBNN_ROW(6)                                            \
    KBNN_ROW(7)                                            \
    KBNN_ROW(8)                                            \
    KBNN_ROW(9)                                            \
    KBNN_ROW(10)                                           \
    KBNN_ROW(11)                                           \
  }
// A block's first word writes the accumulators (no zeroing).
#define KBNN_FIRST_ROW(m)                                              \
  {                                                                    \
    const uint8x16_t va = vreinterpretq_u8_u32(vld1q_dup_u32(a##m++)); \
    c##m##l = vcntq_u8(veorq_u8(va, vb0));                             \
    c##m##h = vcntq_u8(veorq_u8(va, vb1));                             \
  }

  // Column sums of the blocks before the current one (only touched when k_words > 31).
  uint32_t wide[12][8];
  bool widened = false;
  size_t left = k_words;
  for (;;) {
    {
      const uint8x16_t vb0 = vreinterpretq_u8_u32(vld1q_u32(b));
      const uint8x16_t vb1 = vreinterpretq_u8_u32(vld1q_u32(b + 4));
      b += 8;
      KBNN_FIRST_ROW(0)
      KBNN_FIRST_ROW(1)
      KBNN_FIRST_ROW(2)
      KBNN_FIRST_ROW(3)
      KBNN_FIRST_ROW(4)
      KBNN_FIRST_ROW(5)
      KBNN_FIRST_ROW(6)
      KBNN_FIRST_ROW(7)
      KBNN_FIRST_ROW(8)
      KBNN_FIRST_ROW(9)
      KBNN_FIRST_ROW(10)
      KBNN_FIRST_ROW(11)
    }
    const size_t block = (left < kU8Words ? left : kU8Words) - 1;  // after the first word
    left -= block + 1;
    for (size_t pairs = block / 2; pairs != 0; --pairs) {
      KBNN_WORD
      KBNN_WORD
    }
    if (block % 2 != 0) KBNN_WORD
    if (left == 0) break;
    if (!widened) std::memset(wide, 0, sizeof(wide));
#define KBNN_BANK(m)                                                   \
  vst1q_u32(wide[m], vaddq_u32(vld1q_u32(wide[m]), Columns(c##m##l))); \
  vst1q_u32(wide[m] + 4, vaddq_u32(vld1q_u32(wide[m] + 4), Columns(c##m##h)));
    KBNN_BANK(0)
    KBNN_BANK(1)
    KBNN_BANK(2)
    KBNN_BANK(3)
    KBNN_BANK(4)
    KBNN_BANK(5)
    KBNN_BANK(6)
    KBNN_BANK(7)
    KBNN_BANK(8)
    KBNN_BANK(9)
    KBNN_BANK(10)
    KBNN_BANK(11)
#undef KBNN_BANK
    widened = true;
  }
#undef KBNN_FIRST_ROW
#undef KBNN_WORD
#undef KBNN_ROW

  // Final block + banked sums, row by row (rows >= mr are not stored).
#define KBNN_OUT(m)                                          \
  if (m < mr) {                                              \
    uint32x4_t lo = Columns(c##m##l), hi = Columns(c##m##h); \
    if (widened) {                                           \
      lo = vaddq_u32(lo, vld1q_u32(wide[m]));                \
      hi = vaddq_u32(hi, vld1q_u32(wide[m] + 4));            \
    }                                                        \
    StoreRow(c + m * c_stride, nr, lo, hi);                  \
  }
  KBNN_OUT(0)
  KBNN_OUT(1)
  KBNN_OUT(2)
  KBNN_OUT(3)
  KBNN_OUT(4)
  KBNN_OUT(5)
  KBNN_OUT(6)
  KBNN_OUT(7)
  KBNN_OUT(8)
  KBNN_OUT(9)
  KBNN_OUT(10)
  KBNN_OUT(11)
#undef KBNN_OUT
}

}  // namespace kbnn
