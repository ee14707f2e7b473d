// Stem int8 GEMM microkernel, 2x8 tile, portable C++ (every ISA's fallback; kbnn/stem_ukernel.h).
#include <cstddef>
#include <cstdint>

#include "kbnn/stem_ukernel.h"
#include "ukernels.h"

namespace kbnn {

void kbnn_qs8_gemm_2x8__scalar(size_t mr, size_t nr, size_t kc, const int16_t* a, size_t a_stride,
                               const int16_t* w, int32_t* c, size_t c_stride) {
  constexpr size_t kNR = 8;
  const int16_t* a0 = a;
  const int16_t* a1 = mr > 1 ? a + a_stride : a;
  int32_t acc0[kNR] = {0};
  int32_t acc1[kNR] = {0};
  for (size_t k = 0; k < kc; ++k) {
    const int32_t x0 = a0[k], x1 = a1[k];
    const int16_t* wk = w + k * kNR;
    for (size_t n = 0; n < kNR; ++n) {
      acc0[n] += x0 * wk[n];
      acc1[n] += x1 * wk[n];
    }
  }
  for (size_t n = 0; n < nr; ++n) c[n] = acc0[n];
  if (mr > 1) {
    for (size_t n = 0; n < nr; ++n) c[c_stride + n] = acc1[n];
  }
}

}  // namespace kbnn
