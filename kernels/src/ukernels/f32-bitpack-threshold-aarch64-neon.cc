// Float -> bitpacked words against per-channel thresholds with AArch64 NEON:
//   out[w] bit b = (x[32 * w + b] < t[32 * w + b])
// Per word: 8 x 4 ordered compares (FCMGT with swapped operands: false when either side is NaN;
// FPCR.FZ = 0 on AArch64 Linux, so denormals compare exactly), then the masks to a word
// (bitpack-neon-impl.h: narrow, bit weights, three ADDP).

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bitpack-neon-impl.h"
#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototype: checks that the definition matches the dispatch table

#if !defined(__aarch64__)
#error "f32-bitpack-threshold-aarch64-neon.cc is for AArch64 only"
#endif

namespace kbnn {

void kbnn_f32_bitpack_threshold__aarch64_neon(size_t words, const float* x, const float* t,
                                              uint32_t* out) {
  const uint8x16_t weights = bitpack_neon::BitWeights();
  for (size_t w = 0; w < words; ++w, x += 32, t += 32) {
    uint32x4_t m[8];
    for (int j = 0; j < 8; ++j) m[j] = vcltq_f32(vld1q_f32(x + 4 * j), vld1q_f32(t + 4 * j));
    const uint32_t bits = bitpack_neon::MasksToWord(m, weights);
    std::memcpy(out + w, &bits, sizeof(bits));
  }
}

}  // namespace kbnn
