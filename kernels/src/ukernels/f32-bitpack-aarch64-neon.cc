// Float -> bitpacked words with AArch64 NEON (Advanced SIMD is baseline on AArch64):
//   out[w] bit b = (x[32 * w + b] < 0)
// Per word: 8 x 4 floats, an ordered compare with zero per vector (FCMLT #0: false for NaN and
// for -0.0f; AArch64 Linux runs with FPCR.FZ = 0, so denormals compare exactly), then the masks
// to a word (bitpack-neon-impl.h: narrow, bit weights, three ADDP).

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bitpack-neon-impl.h"
#include "kbnn/ukernel.h"
#include "ukernels.h"  // the prototype: checks that the definition matches the dispatch table

#if !defined(__aarch64__)
#error "f32-bitpack-aarch64-neon.cc is for AArch64 only"
#endif

namespace kbnn {

void kbnn_f32_bitpack__aarch64_neon(size_t words, const float* x, uint32_t* out) {
  const uint8x16_t weights = bitpack_neon::BitWeights();
  for (size_t w = 0; w < words; ++w, x += 32) {
    uint32x4_t m[8];
    for (int j = 0; j < 8; ++j) m[j] = vcltzq_f32(vld1q_f32(x + 4 * j));
    const uint32_t bits = bitpack_neon::MasksToWord(m, weights);
    std::memcpy(out + w, &bits, sizeof(bits));
  }
}

}  // namespace kbnn
