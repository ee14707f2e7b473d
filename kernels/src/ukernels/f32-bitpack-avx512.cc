// Float -> bitpacked words with AVX-512F: two ordered less-than compares against zero per
// 32 floats, straight into mask registers. Compiled with -mavx512f only.
#include <immintrin.h>

#include "ukernels/ukernels.h"

namespace kbnn {

void kbnn_f32_bitpack__avx512(size_t words, const float* x, uint32_t* out) {
  const __m512 zero = _mm512_setzero_ps();
  for (size_t w = 0; w < words; ++w, x += 32) {
    // _CMP_LT_OQ is false for NaN and for -0.0f < 0: both map to +1 (bit 0), as sign(0) = +1.
    const uint32_t lo = _mm512_cmp_ps_mask(_mm512_loadu_ps(x), zero, _CMP_LT_OQ);
    const uint32_t hi = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + 16), zero, _CMP_LT_OQ);
    out[w] = lo | (hi << 16);
  }
}

}  // namespace kbnn
