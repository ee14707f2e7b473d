#pragma once
// Shared helpers of the kbnn C++ tests.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kbnn/kbnn.h"

namespace kbnn {
namespace testing_util {

inline int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::atoi(v);
}

inline KernelChoice ChoiceForIsa(const std::string& isa) {
  if (isa == "scalar") return KernelChoice::kScalar;
  if (isa == "avx2") return KernelChoice::kAvx2;
  if (isa == "avx512") return KernelChoice::kAvx512;
  if (isa == "neon") return KernelChoice::kNeon;
  return KernelChoice::kReference;
}

// Random packed rows with zero padding bits.
inline std::vector<uint32_t> RandomPacked(std::mt19937& rng, size_t rows, int channels) {
  const int words = PackedWords(channels);
  std::vector<uint32_t> v(rows * words);
  for (size_t r = 0; r < rows; ++r) {
    for (int w = 0; w < words; ++w) {
      uint32_t x = static_cast<uint32_t>(rng());
      const int rem = channels - 32 * w;
      if (rem < 32) x &= (1u << rem) - 1u;
      v[r * words + w] = x;
    }
  }
  return v;
}

// Unpacks rows to float +-1.
inline std::vector<float> ToFloat(const std::vector<uint32_t>& packed, size_t rows, int channels) {
  std::vector<float> f(rows * channels);
  EXPECT_TRUE(Dequantize(packed.data(), rows, channels, f.data()).ok());
  return f;
}

// Shared pools (thread creation per test case would dominate small configs).
inline ThreadPool* Pool(int threads) {
  static std::unique_ptr<ThreadPool> pools[9];
  if (threads <= 1) return nullptr;
  if (threads > 8) threads = 8;
  if (!pools[threads]) pools[threads].reset(new ThreadPool(threads));
  return pools[threads].get();
}

inline std::string Describe(const BConv2DParams& p) {
  std::ostringstream s;
  s << "N=" << p.batch << " in=" << p.input_height << "x" << p.input_width << "x" << p.channels_in
    << " out_c=" << p.channels_out << " f=" << p.filter_height << "x" << p.filter_width
    << " s=" << p.stride_height << "x" << p.stride_width << " d=" << p.dilation_height << "x"
    << p.dilation_width << " pad=" << ToString(p.padding) << " pad_value=" << p.pad_value
    << " groups=" << p.groups << " out=" << ToString(p.output.type)
    << " act=" << ToString(p.output.activation) << " residual=" << p.residual
    << " sign_output=" << p.sign_output << " threads=" << p.num_threads;
  return s.str();
}

// Float +-1 convolution oracle (NHWC input, OHWI filters), pad value 1 or 0.
inline std::vector<int32_t> FloatConvOracle(const BConv2DParams& p, const std::vector<float>& x,
                                            const std::vector<float>& w, int oh_n, int ow_n) {
  const int cg = p.channels_in / p.groups, ng = p.channels_out / p.groups;
  const int eff_h = (p.filter_height - 1) * p.dilation_height + 1;
  const int eff_w = (p.filter_width - 1) * p.dilation_width + 1;
  int pt = 0, pl = 0;
  if (p.padding == Padding::kSame) {
    pt = std::max((oh_n - 1) * p.stride_height + eff_h - p.input_height, 0) / 2;
    pl = std::max((ow_n - 1) * p.stride_width + eff_w - p.input_width, 0) / 2;
  }
  std::vector<int32_t> y(static_cast<size_t>(p.batch) * oh_n * ow_n * p.channels_out);
  size_t i = 0;
  for (int n = 0; n < p.batch; ++n)
    for (int oh = 0; oh < oh_n; ++oh)
      for (int ow = 0; ow < ow_n; ++ow)
        for (int co = 0; co < p.channels_out; ++co, ++i) {
          const int g = co / ng;
          double acc = 0;
          for (int kh = 0; kh < p.filter_height; ++kh)
            for (int kw = 0; kw < p.filter_width; ++kw) {
              const int ih = oh * p.stride_height - pt + kh * p.dilation_height;
              const int iw = ow * p.stride_width - pl + kw * p.dilation_width;
              const bool inside = ih >= 0 && ih < p.input_height && iw >= 0 && iw < p.input_width;
              for (int ci = 0; ci < cg; ++ci) {
                const float xv =
                    inside
                        ? x[((static_cast<size_t>(n) * p.input_height + ih) * p.input_width + iw) *
                                p.channels_in +
                            g * cg + ci]
                        : static_cast<float>(p.pad_value);
                const float wv =
                    w[((static_cast<size_t>(co) * p.filter_height + kh) * p.filter_width + kw) *
                          cg +
                      ci];
                acc += static_cast<double>(xv) * wv;
              }
            }
          y[i] = static_cast<int32_t>(acc);
        }
  return y;
}

}  // namespace testing_util
}  // namespace kbnn
