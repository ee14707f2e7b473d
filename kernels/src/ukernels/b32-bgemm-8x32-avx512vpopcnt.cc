// x86-64 AVX-512 binary GEMM, 8x32 tile, k-major weight panel (built with -mavx512f
// -mavx512vl -mavx512bw -mavx512vpopcntdq).
//
// The panel is stored k-major ([k_words][32]: word k of the 32 weight rows is one pair of
// zmm registers), so every 32-bit A word is broadcast (an embedded {1to16} memory operand of
// VPXORD) against 16 weight rows at once and VPOPCNTD counts each lane. The 8 x 2 accumulators
// hold c[m][n] directly in their int32 lanes: no horizontal reduction, no byte-counter flushes,
// and no k tail, so short k (1x1 layers, 3x3x64) runs at the same rate as long k. Per A word
// and weight vector the inner loop is XOR + VPOPCNTD + VPADDD on 512 bits.
// The _seg entry reads each A row as `segments` runs (indirection: one pointer per filter row
// into the padded input, no im2col copy).
#include <immintrin.h>

#include "ukernels.h"

namespace kbnn {
namespace {

constexpr size_t kNR = 32;

// One row of the tile: c<m><v> += popcount(broadcast(a<m>[k]) ^ b<v>) (written out per row
// with named accumulators: GCC keeps them in registers, unlike an array of __m512i).
#define KBNN_AVX512_ROW(m)                                                                 \
  if constexpr (M > m) {                                                                   \
    const __m512i va = _mm512_set1_epi32(static_cast<int>(a##m[k]));                       \
    c##m##0 = _mm512_add_epi32(_mm512_popcnt_epi32(_mm512_xor_si512(va, vb0)), c##m##0);   \
    if constexpr (V > 1)                                                                   \
      c##m##1 = _mm512_add_epi32(_mm512_popcnt_epi32(_mm512_xor_si512(va, vb1)), c##m##1); \
  }

// M rows (1..8) x V vectors of 16 weight rows (1 or 2). Row m is the concatenation of
// `segments` runs of seg_words words, run s at a[m * segments + s] (segments == 1: plain rows).
template <int M, int V>
__attribute__((noinline)) void Tile(size_t nr, size_t segments, size_t seg_words,
                                    const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                    size_t c_stride) {
  __m512i c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
  c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = _mm512_setzero_si512();
  c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = _mm512_setzero_si512();
  for (size_t s = 0; s < segments; ++s) {
    const uint32_t* a0 = a[s];
    const uint32_t* a1 = a[(M > 1 ? 1 : 0) * segments + s];
    const uint32_t* a2 = a[(M > 2 ? 2 : 0) * segments + s];
    const uint32_t* a3 = a[(M > 3 ? 3 : 0) * segments + s];
    const uint32_t* a4 = a[(M > 4 ? 4 : 0) * segments + s];
    const uint32_t* a5 = a[(M > 5 ? 5 : 0) * segments + s];
    const uint32_t* a6 = a[(M > 6 ? 6 : 0) * segments + s];
    const uint32_t* a7 = a[(M > 7 ? 7 : 0) * segments + s];
    for (size_t k = 0; k < seg_words; ++k, b += kNR) {
      const __m512i vb0 = _mm512_loadu_si512(b);
      const __m512i vb1 = V > 1 ? _mm512_loadu_si512(b + 16) : vb0;
      KBNN_AVX512_ROW(0)
      KBNN_AVX512_ROW(1)
      KBNN_AVX512_ROW(2)
      KBNN_AVX512_ROW(3)
      KBNN_AVX512_ROW(4)
      KBNN_AVX512_ROW(5)
      KBNN_AVX512_ROW(6)
      KBNN_AVX512_ROW(7)
    }
  }
  // Lanes >= nr are not stored (masked stores never touch masked-off memory).
  const __mmask16 m0 =
      nr >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << nr) - 1u);
  const __mmask16 m1 = nr >= 32  ? static_cast<__mmask16>(0xffff)
                       : nr > 16 ? static_cast<__mmask16>((1u << (nr - 16)) - 1u)
                                 : static_cast<__mmask16>(0);
  if (nr == 16 * V) {  // full tile: plain stores
#define KBNN_AVX512_STORE(m)                                                  \
  if constexpr (M > m) {                                                      \
    _mm512_storeu_si512(c + m * c_stride, c##m##0);                           \
    if constexpr (V > 1) _mm512_storeu_si512(c + m * c_stride + 16, c##m##1); \
  }
    KBNN_AVX512_STORE(0)
    KBNN_AVX512_STORE(1)
    KBNN_AVX512_STORE(2)
    KBNN_AVX512_STORE(3)
    KBNN_AVX512_STORE(4)
    KBNN_AVX512_STORE(5)
    KBNN_AVX512_STORE(6)
    KBNN_AVX512_STORE(7)
#undef KBNN_AVX512_STORE
    return;
  }
#define KBNN_AVX512_STORE(m)                                                           \
  if constexpr (M > m) {                                                               \
    _mm512_mask_storeu_epi32(c + m * c_stride, m0, c##m##0);                           \
    if constexpr (V > 1) _mm512_mask_storeu_epi32(c + m * c_stride + 16, m1, c##m##1); \
  }
  KBNN_AVX512_STORE(0)
  KBNN_AVX512_STORE(1)
  KBNN_AVX512_STORE(2)
  KBNN_AVX512_STORE(3)
  KBNN_AVX512_STORE(4)
  KBNN_AVX512_STORE(5)
  KBNN_AVX512_STORE(6)
  KBNN_AVX512_STORE(7)
#undef KBNN_AVX512_STORE
}
#undef KBNN_AVX512_ROW

template <int V>
inline void Rows(size_t mr, size_t nr, size_t segments, size_t seg_words, const uint32_t* const* a,
                 const uint32_t* b, int32_t* c, size_t c_stride) {
  switch (mr) {
    case 1: return Tile<1, V>(nr, segments, seg_words, a, b, c, c_stride);
    case 2: return Tile<2, V>(nr, segments, seg_words, a, b, c, c_stride);
    case 3: return Tile<3, V>(nr, segments, seg_words, a, b, c, c_stride);
    case 4: return Tile<4, V>(nr, segments, seg_words, a, b, c, c_stride);
    case 5: return Tile<5, V>(nr, segments, seg_words, a, b, c, c_stride);
    case 6: return Tile<6, V>(nr, segments, seg_words, a, b, c, c_stride);
    case 7: return Tile<7, V>(nr, segments, seg_words, a, b, c, c_stride);
    default: return Tile<8, V>(nr, segments, seg_words, a, b, c, c_stride);
  }
}

}  // namespace

void kbnn_b32_bgemm_8x32__avx512vpopcnt(size_t mr, size_t nr, size_t k_words,
                                        const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                        size_t c_stride) {
  if (nr <= 16) return Rows<1>(mr, nr, 1, k_words, a, b, c, c_stride);
  Rows<2>(mr, nr, 1, k_words, a, b, c, c_stride);
}

void kbnn_b32_bgemm_8x32__avx512vpopcnt_seg(size_t mr, size_t nr, size_t segments, size_t seg_words,
                                            const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                            size_t c_stride) {
  if (nr <= 16) return Rows<1>(mr, nr, segments, seg_words, a, b, c, c_stride);
  Rows<2>(mr, nr, segments, seg_words, a, b, c, c_stride);
}

}  // namespace kbnn
