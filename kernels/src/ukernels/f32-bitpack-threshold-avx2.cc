// Float -> bitpacked words against per-channel thresholds with AVX2: an ordered less-than compare
// of 8 floats with their 8 thresholds and a movemask, four of them per 32-bit word. Compiled with
// -mavx2 only.
//   out[w] bit b = (x[32 * w + b] < t[32 * w + b])   (NaN on either side gives 0)
#include <immintrin.h>

#include "ukernels/ukernels.h"

namespace kbnn {

void kbnn_f32_bitpack_threshold__avx2(size_t words, const float* x, const float* t, uint32_t* out) {
  for (size_t w = 0; w < words; ++w, x += 32, t += 32) {
    uint32_t bits = 0;
    for (int j = 0; j < 4; ++j) {
      const __m256 lt =
          _mm256_cmp_ps(_mm256_loadu_ps(x + 8 * j), _mm256_loadu_ps(t + 8 * j), _CMP_LT_OQ);
      bits |= static_cast<uint32_t>(_mm256_movemask_ps(lt)) << (8 * j);
    }
    out[w] = bits;
  }
}

}  // namespace kbnn
