// bconv2d output transform with AVX-512 (F, BW, VL): popcounts -> dot products -> float, int8
// or bitpacked outputs, 16 channels per step, the n % 16 tail with masked loads and stores.
// Bit-exact with the scalar formulas of src/common.h (separate multiply and add: no FMA).
#include <immintrin.h>

// GCC 12's avx512fintrin.h initializes its "undefined" pass-through vectors as `__m512 __Y = __Y`,
// which -Wmaybe-uninitialized flags once inlined here (a header false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include "ukernels/ukernels.h"

namespace kbnn {
namespace {

inline __mmask16 TailMask(size_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1u);
}

// dot = k - 2 * acc - corr for the lanes of `mask`.
inline __m512i Dot(const int32_t* acc, const int32_t* corr, __m512i vk, __mmask16 mask) {
  __m512i a = _mm512_maskz_loadu_epi32(mask, acc);
  __m512i d = _mm512_sub_epi32(vk, _mm512_add_epi32(a, a));
  if (corr != nullptr) d = _mm512_sub_epi32(d, _mm512_maskz_loadu_epi32(mask, corr));
  return d;
}

// Activate(y) of src/common.h: y > lo ? y : lo is MAX(y, lo) (which returns lo for NaN y) and
// r < hi ? r : hi is MIN(r, hi); relu / relu6 are the clamps [0, inf) / [0, 6].
struct Act {
  __m512 lo, hi;
  bool any;
  explicit Act(const OutputParams& o) {
    float l = 0.0f, h = __builtin_inff();
    any = true;
    switch (o.activation) {
      case Activation::kRelu: break;
      case Activation::kRelu6: h = 6.0f; break;
      case Activation::kClamp: l = o.clamp_min, h = o.clamp_max; break;
      default: any = false; break;
    }
    lo = _mm512_set1_ps(l);
    hi = _mm512_set1_ps(h);
  }
  __m512 operator()(__m512 y) const { return any ? _mm512_min_ps(_mm512_max_ps(y, lo), hi) : y; }
};

inline __m512 FloatOut(const int32_t* acc, const int32_t* corr, const float* m, const float* b,
                       __m512i vk, const Act& act, __mmask16 mask) {
  const __m512 dot = _mm512_cvtepi32_ps(Dot(acc, corr, vk, mask));
  const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, m), dot);
  return act(_mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, b)));
}

inline const int32_t* RowCorr(const int32_t* const* corr, size_t i, size_t j) {
  return corr != nullptr && corr[i] != nullptr ? corr[i] + j : nullptr;
}

// The masks, multipliers and biases of the 64-channel chunk starting at channel j.
inline void LoadChunk(size_t j, size_t n, const float* m, const float* b, __mmask16 mask[4],
                      __m512 vm[4], __m512 vb[4]) {
  for (int v = 0; v < 4; ++v) {
    const size_t jv = j + 16 * v;
    mask[v] = jv < n ? TailMask(n - jv) : static_cast<__mmask16>(0);
    vm[v] = _mm512_maskz_loadu_ps(mask[v], m + jv);
    vb[v] = _mm512_maskz_loadu_ps(mask[v], b + jv);
  }
}

}  // namespace

// Channel chunks of 64 outer (multiplier and bias stay in registers), rows inner.
void kbnn_output_f32__avx512(size_t rows, size_t n, size_t channel, const int32_t* acc,
                             const int32_t* const* corr, float* y, const OutputUkernelParams& p) {
  const __m512i vk = _mm512_set1_epi32(p.k);
  const Act act(p.output);
  const float* m = p.multiplier + channel;
  const float* b = p.bias + channel;
  for (size_t j = 0; j < n; j += 64) {
    __mmask16 mask[4];
    __m512 vm[4], vb[4];
    LoadChunk(j, n, m, b, mask, vm, vb);
    for (size_t i = 0; i < rows; ++i) {
      const int32_t* a = acc + i * p.acc_stride + j;
      const int32_t* c = RowCorr(corr, i, channel + j);
      float* out = y + i * p.out_stride + channel + j;
      for (int v = 0; v < 4; ++v) {
        if (mask[v] == 0) break;
        const __m512 dot =
            _mm512_cvtepi32_ps(Dot(a + 16 * v, c ? c + 16 * v : nullptr, vk, mask[v]));
        const __m512 r = act(_mm512_add_ps(_mm512_mul_ps(vm[v], dot), vb[v]));
        _mm512_mask_storeu_ps(out + 16 * v, mask[v], r);
      }
    }
  }
}

// As kbnn_output_f32__avx512, plus the residual add and the sign bits in the same pass.
void kbnn_output_f32_residual__avx512(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                      const int32_t* const* corr, const float* r, float* y,
                                      uint32_t* sign, const OutputUkernelParams& p) {
  const __m512i vk = _mm512_set1_epi32(p.k);
  const __m512 zero = _mm512_setzero_ps();
  const Act act(p.output);
  const float* m = p.multiplier + channel;
  const float* b = p.bias + channel;
  for (size_t j = 0; j < n; j += 64) {
    __mmask16 mask[4];
    __m512 vm[4], vb[4];
    LoadChunk(j, n, m, b, mask, vm, vb);
    for (size_t i = 0; i < rows; ++i) {
      const int32_t* a = acc + i * p.acc_stride + j;
      const int32_t* c = RowCorr(corr, i, channel + j);
      float* out = y + i * p.out_stride + channel + j;
      const float* res = r != nullptr ? r + i * p.out_stride + channel + j : nullptr;
      uint32_t bits[2] = {0u, 0u};
      for (int v = 0; v < 4; ++v) {
        if (mask[v] == 0) break;
        const __m512 dot =
            _mm512_cvtepi32_ps(Dot(a + 16 * v, c ? c + 16 * v : nullptr, vk, mask[v]));
        __m512 x = act(_mm512_add_ps(_mm512_mul_ps(vm[v], dot), vb[v]));
        if (res != nullptr) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask[v], res + 16 * v));
        _mm512_mask_storeu_ps(out + 16 * v, mask[v], x);
        const uint32_t neg = _mm512_mask_cmp_ps_mask(mask[v], x, zero, _CMP_LT_OQ);
        bits[v >> 1] |= neg << (16 * (v & 1));
      }
      if (sign != nullptr) {
        uint32_t* s = sign + i * p.sign_stride + (channel + j) / 32;
        s[0] |= bits[0];
        if (j + 32 < n) s[1] |= bits[1];
      }
    }
  }
}

void kbnn_output_int8__avx512(size_t rows, size_t n, size_t channel, const int32_t* acc,
                              const int32_t* const* corr, int8_t* y, const OutputUkernelParams& p) {
  const OutputParams& o = p.output;
  const __m512i vk = _mm512_set1_epi32(p.k);
  const Act act(o);
  const float* m = p.multiplier + channel;
  const float* b = p.bias + channel;
  const __m512 scale = _mm512_set1_ps(o.int8_scale);
  const __m512 half = _mm512_set1_ps(0.5f), neg_half = _mm512_set1_ps(-0.5f);
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 lim = _mm512_set1_ps(1024.0f), nlim = _mm512_set1_ps(-1024.0f);
  const __m512i zp = _mm512_set1_epi32(o.int8_zero_point);
  const __m512i qmin = _mm512_set1_epi32(-128), qmax = _mm512_set1_epi32(127);
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < n; j += 16) {
      const __mmask16 mask = TailMask(n - j);
      const __m512 x =
          _mm512_div_ps(FloatOut(acc + i * p.acc_stride + j, RowCorr(corr, i, channel + j), m + j,
                                 b + j, vk, act, mask),
                        scale);
      // std::round (half away from zero), exactly: t = trunc(x); x - t is exact; step t away
      // from zero when |x - t| >= 0.5. NaN -> 0 (zeroed before the clamps, which would return
      // their constant for NaN).
      const __m512 t = _mm512_roundscale_ps(x, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
      const __m512 frac = _mm512_sub_ps(x, t);  // same sign as x
      const __mmask16 up = _mm512_cmp_ps_mask(frac, half, _CMP_GE_OQ);
      const __mmask16 down = _mm512_cmp_ps_mask(frac, neg_half, _CMP_LE_OQ);
      __m512 r = _mm512_mask_add_ps(t, up, t, one);
      r = _mm512_mask_sub_ps(r, down, r, one);
      r = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), r);
      r = _mm512_max_ps(_mm512_min_ps(r, lim), nlim);
      __m512i q = _mm512_add_epi32(_mm512_cvttps_epi32(r), zp);
      q = _mm512_max_epi32(_mm512_min_epi32(q, qmax), qmin);
      _mm512_mask_cvtepi32_storeu_epi8(y + i * p.out_stride + channel + j, mask, q);
    }
  }
}

// Channel chunks of 32 outer (thresholds and flip word in registers), rows inner.
void kbnn_output_bits__avx512(size_t rows, size_t n, size_t channel, const int32_t* acc,
                              const int32_t* const* corr, uint32_t* out,
                              const OutputUkernelParams& p) {
  const __m512i vk = _mm512_set1_epi32(p.k);
  const int32_t* threshold = p.threshold + channel;
  const uint32_t* flip = p.flip + channel / 32;
  out += channel / 32;
  for (size_t j = 0; j < n; j += 32) {
    const __mmask16 m0 = TailMask(n - j);
    const __mmask16 m1 = n - j > 16 ? TailMask(n - j - 16) : static_cast<__mmask16>(0);
    const __m512i t0 = _mm512_maskz_loadu_epi32(m0, threshold + j);
    const __m512i t1 = _mm512_maskz_loadu_epi32(m1, threshold + j + 16);
    const uint32_t valid = static_cast<uint32_t>(m0) | (static_cast<uint32_t>(m1) << 16);
    const uint32_t f = flip[j / 32] & valid;
    for (size_t i = 0; i < rows; ++i) {
      const int32_t* a = acc + i * p.acc_stride + j;
      const int32_t* c = RowCorr(corr, i, channel + j);
      const __m512i d0 = Dot(a, c, vk, m0);
      const __m512i d1 = Dot(a + 16, c ? c + 16 : nullptr, vk, m1);
      const uint32_t lo = _mm512_mask_cmplt_epi32_mask(m0, d0, t0);
      const uint32_t hi = _mm512_mask_cmplt_epi32_mask(m1, d1, t1);
      out[i * p.out_stride + j / 32] |= (lo | (hi << 16)) ^ f;
    }
  }
}

}  // namespace kbnn
