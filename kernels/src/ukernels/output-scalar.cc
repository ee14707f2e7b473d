// Portable output transform microkernels (every ISA without its own, and the blocks an ISA's
// kernels cannot take): the scalar formulas of src/common.h written as simple loops over a row
// so that the compiler vectorizes them (built with -fno-trapping-math, see CMakeLists.txt).
#include <algorithm>
#include <cstring>

#include "common.h"
#include "ukernels/ukernels.h"

namespace kbnn {
namespace {

inline const int32_t* RowCorr(const int32_t* const* corr, size_t i, size_t channel) {
  return corr != nullptr && corr[i] != nullptr ? corr[i] + channel : nullptr;
}

// dot[j] = k - 2 * a[j] - c[j] (c may be nullptr) for j < n.
inline void Dots(const int32_t* a, const int32_t* c, int32_t k, size_t n, int32_t* dot) {
  if (c != nullptr) {
    for (size_t j = 0; j < n; ++j) dot[j] = k - 2 * a[j] - c[j];
  } else {
    for (size_t j = 0; j < n; ++j) dot[j] = k - 2 * a[j];
  }
}

}  // namespace

void kbnn_output_f32__scalar(size_t rows, size_t n, size_t channel, const int32_t* acc,
                             const int32_t* const* corr, float* y, const OutputUkernelParams& p) {
  const int32_t K = p.k;
  const float* m = p.multiplier + channel;
  const float* b = p.bias + channel;
  for (size_t i = 0; i < rows; ++i) {
    const int32_t* d = acc + i * p.acc_stride;
    const int32_t* c = RowCorr(corr, i, channel);
    float* yi = y + i * p.out_stride + channel;
    // One pass: popcount -> dot -> multiplier * dot + bias (two roundings, no FMA).
    if (c != nullptr) {
      for (size_t j = 0; j < n; ++j) {
        const float v = m[j] * static_cast<float>(K - 2 * d[j] - c[j]);
        yi[j] = v + b[j];
      }
    } else {
      for (size_t j = 0; j < n; ++j) {
        const float v = m[j] * static_cast<float>(K - 2 * d[j]);
        yi[j] = v + b[j];
      }
    }
    if (p.output.activation != Activation::kNone) {
      for (size_t j = 0; j < n; ++j) yi[j] = internal::Activate(yi[j], p.output);
    }
  }
}

void kbnn_output_int8__scalar(size_t rows, size_t n, size_t channel, const int32_t* acc,
                              const int32_t* const* corr, int8_t* y, const OutputUkernelParams& p) {
  // FloatOutput then Int8FromFloat, split into simple loops over a chunk so they vectorize.
  const float* m = p.multiplier + channel;
  const float* b = p.bias + channel;
  constexpr size_t kChunk = 256;
  int32_t dot[kChunk];
  float v[kChunk];
  for (size_t i = 0; i < rows; ++i) {
    const int32_t* a = acc + i * p.acc_stride;
    const int32_t* c = RowCorr(corr, i, channel);
    int8_t* yi = y + i * p.out_stride + channel;
    for (size_t j0 = 0; j0 < n; j0 += kChunk) {
      const size_t len = std::min(kChunk, n - j0);
      Dots(a + j0, c != nullptr ? c + j0 : nullptr, p.k, len, dot);
      for (size_t j = 0; j < len; ++j) {
        const float t = m[j0 + j] * static_cast<float>(dot[j]);
        v[j] = t + b[j0 + j];
      }
      internal::ActivateRow(v, static_cast<int>(len), p.output);
      internal::Int8FromFloatRow(v, static_cast<int>(len), p.output, yi + j0);
    }
  }
}

void kbnn_output_bits__scalar(size_t rows, size_t n, size_t channel, const int32_t* acc,
                              const int32_t* const* corr, uint32_t* out,
                              const OutputUkernelParams& p) {
  for (size_t i = 0; i < rows; ++i) {
    const int32_t* a = acc + i * p.acc_stride;
    const int32_t* c = RowCorr(corr, i, channel);
    uint32_t* yi = out + i * p.out_stride;
    // One output word at a time: its bits gather in a register, the flip word is read once.
    for (size_t j = 0; j < n;) {
      const size_t word = (channel + j) >> 5;
      const size_t end = std::min(n, j + 32 - ((channel + j) & 31));
      uint32_t bits = 0u, mask = 0u;
      for (; j < end; ++j) {
        const size_t ch = channel + j;
        const int32_t d = p.k - 2 * a[j] - (c != nullptr ? c[j] : 0);
        bits |= static_cast<uint32_t>(d < p.threshold[ch]) << (ch & 31);
        mask |= 1u << (ch & 31);
      }
      yi[word] |= bits ^ (p.flip[word] & mask);
    }
  }
}

void kbnn_output_i32__scalar(size_t rows, size_t n, size_t channel, const int32_t* acc,
                             const int32_t* const* corr, int32_t* y, const OutputUkernelParams& p) {
  for (size_t i = 0; i < rows; ++i) {
    Dots(acc + i * p.acc_stride, RowCorr(corr, i, channel), p.k, n, y + i * p.out_stride + channel);
  }
}

}  // namespace kbnn
