// Float -> bitpacked words against per-channel thresholds in portable C++ (the scalar row of the
// dispatch table):
//   out[w] bit b = (x[32 * w + b] < t[32 * w + b])
// C++'s < on floats is the ordered IEEE compare: false when either side is NaN.
#include "ukernels/ukernels.h"

namespace kbnn {

void kbnn_f32_bitpack_threshold__scalar(size_t words, const float* x, const float* t,
                                        uint32_t* out) {
  for (size_t w = 0; w < words; ++w, x += 32, t += 32) {
    uint32_t bits = 0;
    for (int b = 0; b < 32; ++b) bits |= static_cast<uint32_t>(x[b] < t[b]) << b;
    out[w] = bits;
  }
}

}  // namespace kbnn
