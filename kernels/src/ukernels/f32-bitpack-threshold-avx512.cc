// Float -> bitpacked words against per-channel thresholds with AVX-512F: two ordered less-than
// compares of 16 floats with their thresholds per 32-bit word, straight into mask registers.
// Compiled with -mavx512f only.
//   out[w] bit b = (x[32 * w + b] < t[32 * w + b])   (NaN on either side gives 0)
#include <immintrin.h>

#include "ukernels/ukernels.h"

namespace kbnn {

void kbnn_f32_bitpack_threshold__avx512(size_t words, const float* x, const float* t,
                                        uint32_t* out) {
  for (size_t w = 0; w < words; ++w, x += 32, t += 32) {
    const uint32_t lo = _mm512_cmp_ps_mask(_mm512_loadu_ps(x), _mm512_loadu_ps(t), _CMP_LT_OQ);
    const uint32_t hi =
        _mm512_cmp_ps_mask(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(t + 16), _CMP_LT_OQ);
    out[w] = lo | (hi << 16);
  }
}

}  // namespace kbnn
