// Stem int8 GEMM microkernel, 4x8 tile, AArch64 Advanced SIMD baseline (kbnn/stem_ukernel.h).
//
// Per 4 k: each A row's 4 int16 values are one 64-bit load; per k, the 8 channels' int16 weights
// are one 128-bit load and SMLAL (by lane) adds the products into two int32x4 accumulators per row.
// |a|, |w| <= 127: the int16 x int16 products and their int32 sums are exact.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kbnn/stem_ukernel.h"
#include "ukernels.h"

#if !defined(__aarch64__)
#error "qs8-gemm-4x8-aarch64-neon.cc must be compiled for AArch64"
#endif

namespace kbnn {

#define KBNN_STEM_MLAL(lane)                      \
  do {                                            \
    const int16x8_t wv = vld1q_s16(w);            \
    w += 8;                                       \
    const int16x4_t wl = vget_low_s16(wv);        \
    c0l = vmlal_lane_s16(c0l, wl, x0, lane);      \
    c0h = vmlal_high_lane_s16(c0h, wv, x0, lane); \
    c1l = vmlal_lane_s16(c1l, wl, x1, lane);      \
    c1h = vmlal_high_lane_s16(c1h, wv, x1, lane); \
    c2l = vmlal_lane_s16(c2l, wl, x2, lane);      \
    c2h = vmlal_high_lane_s16(c2h, wv, x2, lane); \
    c3l = vmlal_lane_s16(c3l, wl, x3, lane);      \
    c3h = vmlal_high_lane_s16(c3h, wv, x3, lane); \
  } while (0)

void kbnn_qs8_gemm_4x8__aarch64_neon(size_t mr, size_t nr, size_t kc, const int16_t* a,
                                     size_t a_stride, const int16_t* w, int32_t* c,
                                     size_t c_stride) {
  const int16_t* a0 = a;
  const int16_t* a1 = mr > 1 ? a0 + a_stride : a0;
  const int16_t* a2 = mr > 2 ? a1 + a_stride : a1;
  const int16_t* a3 = mr > 3 ? a2 + a_stride : a2;
  int32x4_t c0l = vdupq_n_s32(0), c0h = c0l, c1l = c0l, c1h = c0l;
  int32x4_t c2l = c0l, c2h = c0l, c3l = c0l, c3h = c0l;
  for (size_t k = 0; k < kc; k += 4) {
    const int16x4_t x0 = vld1_s16(a0 + k);
    const int16x4_t x1 = vld1_s16(a1 + k);
    const int16x4_t x2 = vld1_s16(a2 + k);
    const int16x4_t x3 = vld1_s16(a3 + k);
    KBNN_STEM_MLAL(0);
    KBNN_STEM_MLAL(1);
    KBNN_STEM_MLAL(2);
    KBNN_STEM_MLAL(3);
  }
#undef KBNN_STEM_MLAL
  const int32x4_t rows[4][2] = {{c0l, c0h}, {c1l, c1h}, {c2l, c2h}, {c3l, c3h}};
  for (size_t m = 0; m < mr; ++m) {
    int32_t* cm = c + m * c_stride;
    if (nr == 8) {
      vst1q_s32(cm, rows[m][0]);
      vst1q_s32(cm + 4, rows[m][1]);
    } else {
      int32_t tmp[8];
      vst1q_s32(tmp, rows[m][0]);
      vst1q_s32(tmp + 4, rows[m][1]);
      for (size_t n = 0; n < nr; ++n) cm[n] = tmp[n];
    }
  }
}

}  // namespace kbnn
