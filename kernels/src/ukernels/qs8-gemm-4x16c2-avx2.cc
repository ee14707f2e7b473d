// Stem int8 GEMM microkernel, 4x16 tile, AVX2 (kbnn/stem_ukernel.h), weights in k-pairs (KR = 2).
//
// Per pair of k: the two int16 values of each A row are broadcast as one 32-bit lane pattern and
// VPMADDWD multiplies them with 16 channels x 2 k of weights, adding each channel's two products
// into an int32 lane. |a|, |w| <= 127, so no product or pair sum saturates: exact.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/stem_ukernel.h"
#include "ukernels.h"

namespace kbnn {

void kbnn_qs8_gemm_4x16c2__avx2(size_t mr, size_t nr, size_t kc, const int16_t* a, size_t a_stride,
                                const int16_t* w, int32_t* c, size_t c_stride) {
  const int16_t* a0 = a;
  const int16_t* a1 = mr > 1 ? a0 + a_stride : a0;
  const int16_t* a2 = mr > 2 ? a1 + a_stride : a1;
  const int16_t* a3 = mr > 3 ? a2 + a_stride : a2;
  __m256i c0l = _mm256_setzero_si256(), c0h = _mm256_setzero_si256();
  __m256i c1l = _mm256_setzero_si256(), c1h = _mm256_setzero_si256();
  __m256i c2l = _mm256_setzero_si256(), c2h = _mm256_setzero_si256();
  __m256i c3l = _mm256_setzero_si256(), c3h = _mm256_setzero_si256();
  for (size_t k = 0; k < kc; k += 2) {
    const __m256i wl = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
    const __m256i wh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16));
    w += 32;
    int32_t p0, p1, p2, p3;
    std::memcpy(&p0, a0 + k, 4);
    std::memcpy(&p1, a1 + k, 4);
    std::memcpy(&p2, a2 + k, 4);
    std::memcpy(&p3, a3 + k, 4);
    const __m256i x0 = _mm256_set1_epi32(p0);
    const __m256i x1 = _mm256_set1_epi32(p1);
    const __m256i x2 = _mm256_set1_epi32(p2);
    const __m256i x3 = _mm256_set1_epi32(p3);
    c0l = _mm256_add_epi32(c0l, _mm256_madd_epi16(x0, wl));
    c0h = _mm256_add_epi32(c0h, _mm256_madd_epi16(x0, wh));
    c1l = _mm256_add_epi32(c1l, _mm256_madd_epi16(x1, wl));
    c1h = _mm256_add_epi32(c1h, _mm256_madd_epi16(x1, wh));
    c2l = _mm256_add_epi32(c2l, _mm256_madd_epi16(x2, wl));
    c2h = _mm256_add_epi32(c2h, _mm256_madd_epi16(x2, wh));
    c3l = _mm256_add_epi32(c3l, _mm256_madd_epi16(x3, wl));
    c3h = _mm256_add_epi32(c3h, _mm256_madd_epi16(x3, wh));
  }
  const __m256i rows[4][2] = {{c0l, c0h}, {c1l, c1h}, {c2l, c2h}, {c3l, c3h}};
  for (size_t m = 0; m < mr; ++m) {
    int32_t* cm = c + m * c_stride;
    if (nr == 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(cm), rows[m][0]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(cm + 8), rows[m][1]);
    } else {
      alignas(32) int32_t tmp[16];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), rows[m][0]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8), rows[m][1]);
      for (size_t n = 0; n < nr; ++n) cm[n] = tmp[n];
    }
  }
}

}  // namespace kbnn
