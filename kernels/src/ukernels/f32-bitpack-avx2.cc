// Float -> bitpacked words with AVX2: an ordered less-than compare against zero per 8 floats
// and a movemask, four of them per 32-bit word. Compiled with -mavx2 only.
#include <immintrin.h>

#include "ukernels/ukernels.h"

namespace kbnn {

void kbnn_f32_bitpack__avx2(size_t words, const float* x, uint32_t* out) {
  const __m256 zero = _mm256_setzero_ps();
  for (size_t w = 0; w < words; ++w, x += 32) {
    // _CMP_LT_OQ is false for NaN and for -0.0f < 0: both map to +1 (bit 0), as sign(0) = +1.
    const uint32_t b0 = static_cast<uint32_t>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x), zero, _CMP_LT_OQ)));
    const uint32_t b1 = static_cast<uint32_t>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + 8), zero, _CMP_LT_OQ)));
    const uint32_t b2 = static_cast<uint32_t>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + 16), zero, _CMP_LT_OQ)));
    const uint32_t b3 = static_cast<uint32_t>(
        _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + 24), zero, _CMP_LT_OQ)));
    out[w] = b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
  }
}

}  // namespace kbnn
