// Stem int8 GEMM microkernel, 4x8 tile, AArch64 dot product extension (SDOT, ARMv8.2 dotprod;
// kbnn/stem_ukernel.h, int8 variant, weights in k-quads: KR = 4). Used only when
// getauxval(AT_HWCAP) has HWCAP_ASIMDDP (src/dispatch.cc); qs8-gemm-4x8-aarch64-neon.cc otherwise.
//
// Per 16 k: one 128-bit load of each A row; per group of 4 k, the 8 channels' 4 weights each are
// two 128-bit loads and SDOT (by lane) adds the four products of one channel into its int32 lane. A
// tail of 4 k loads 4 bytes per row (no over-read). int8 x int8 products summed in int32: exact.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/stem_ukernel.h"
#include "ukernels.h"

#if !defined(__aarch64__) || !defined(__ARM_FEATURE_DOTPROD)
#error "qs8-gemm-4x8c4-aarch64-neondot.cc must be compiled for AArch64 with +dotprod"
#endif

namespace kbnn {

#define KBNN_STEM_SDOT(lane)                  \
  do {                                        \
    const int8x16_t wl = vld1q_s8(w);         \
    const int8x16_t wh = vld1q_s8(w + 16);    \
    w += 32;                                  \
    c0l = vdotq_laneq_s32(c0l, wl, x0, lane); \
    c0h = vdotq_laneq_s32(c0h, wh, x0, lane); \
    c1l = vdotq_laneq_s32(c1l, wl, x1, lane); \
    c1h = vdotq_laneq_s32(c1h, wh, x1, lane); \
    c2l = vdotq_laneq_s32(c2l, wl, x2, lane); \
    c2h = vdotq_laneq_s32(c2h, wh, x2, lane); \
    c3l = vdotq_laneq_s32(c3l, wl, x3, lane); \
    c3h = vdotq_laneq_s32(c3h, wh, x3, lane); \
  } while (0)

namespace {
inline int8x16_t LoadQuad(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}
}  // namespace

void kbnn_qs8_gemm_4x8c4__aarch64_neondot(size_t mr, size_t nr, size_t kc, const int8_t* a,
                                          size_t a_stride, const int8_t* w, int32_t* c,
                                          size_t c_stride) {
  const int8_t* a0 = a;
  const int8_t* a1 = mr > 1 ? a0 + a_stride : a0;
  const int8_t* a2 = mr > 2 ? a1 + a_stride : a1;
  const int8_t* a3 = mr > 3 ? a2 + a_stride : a2;
  int32x4_t c0l = vdupq_n_s32(0), c0h = c0l, c1l = c0l, c1h = c0l;
  int32x4_t c2l = c0l, c2h = c0l, c3l = c0l, c3h = c0l;
  size_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    const int8x16_t x0 = vld1q_s8(a0 + k);
    const int8x16_t x1 = vld1q_s8(a1 + k);
    const int8x16_t x2 = vld1q_s8(a2 + k);
    const int8x16_t x3 = vld1q_s8(a3 + k);
    KBNN_STEM_SDOT(0);
    KBNN_STEM_SDOT(1);
    KBNN_STEM_SDOT(2);
    KBNN_STEM_SDOT(3);
  }
  for (; k < kc; k += 4) {
    const int8x16_t x0 = LoadQuad(a0 + k);
    const int8x16_t x1 = LoadQuad(a1 + k);
    const int8x16_t x2 = LoadQuad(a2 + k);
    const int8x16_t x3 = LoadQuad(a3 + k);
    KBNN_STEM_SDOT(0);
  }
#undef KBNN_STEM_SDOT
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
