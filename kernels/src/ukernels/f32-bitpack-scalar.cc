// Float -> bitpacked words in portable C++ (the scalar row of the dispatch table):
//   out[w] bit b = (x[32 * w + b] < 0)
// C++'s < on floats is the ordered IEEE compare: -0.0f < 0 and NaN < 0 are false.
#include "ukernels/ukernels.h"

namespace kbnn {

void kbnn_f32_bitpack__scalar(size_t words, const float* x, uint32_t* out) {
  for (size_t w = 0; w < words; ++w, x += 32) {
    uint32_t bits = 0;
    for (int b = 0; b < 32; ++b) bits |= static_cast<uint32_t>(x[b] < 0.0f) << b;
    out[w] = bits;
  }
}

}  // namespace kbnn
