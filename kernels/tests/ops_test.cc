// bfully_connected, bmaxpool2d, quantize/dequantize and the thread pool.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "common.h"
#include "kbnn/dispatch.h"
#include "test_util.h"

namespace kbnn {
namespace {

using testing_util::ChoiceForIsa;
using testing_util::Pool;
using testing_util::RandomPacked;
using testing_util::ToFloat;

// ---- quantize / dequantize ----

TEST(Quantize, FloatSignConvention) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {1.0f, -1.0f, 0.0f, -0.0f, -1e-30f, 3.0f, nan, -5.0f, 2.0f};
  std::vector<uint32_t> y(1, 0xdeadbeefu);
  ASSERT_TRUE(QuantizeFloat(x.data(), 1, 9, y.data()).ok());
  // negative: indices 1, 4, 7 -> bits 1, 4, 7; padding bits 0.
  EXPECT_EQ(y[0], (1u << 1) | (1u << 4) | (1u << 7));
}

TEST(Quantize, RoundTripAndPaddingBits) {
  std::mt19937 rng(7);
  for (int channels : {1, 3, 31, 32, 33, 64, 100, 257}) {
    const size_t rows = 5;
    std::vector<float> x(rows * channels);
    for (float& v : x) v = std::uniform_real_distribution<float>(-1, 1)(rng);
    std::vector<uint32_t> packed(rows * PackedWords(channels), 0xffffffffu);
    ASSERT_TRUE(QuantizeFloat(x.data(), rows, channels, packed.data()).ok());
    for (size_t r = 0; r < rows; ++r) {
      const uint32_t last = packed[r * PackedWords(channels) + PackedWords(channels) - 1];
      if (channels % 32) {
        EXPECT_EQ(last >> (channels % 32), 0u) << "padding bits must be 0";
      }
    }
    std::vector<float> back(rows * channels);
    ASSERT_TRUE(Dequantize(packed.data(), rows, channels, back.data()).ok());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(back[i], x[i] < 0 ? -1.0f : 1.0f);
  }
}

TEST(Quantize, Int8WithZeroPoint) {
  std::vector<int8_t> x = {-128, -4, -3, -2, 0, 5, 127};
  std::vector<uint32_t> y(1);
  ASSERT_TRUE(QuantizeInt8(x.data(), 1, 7, -3, y.data()).ok());
  EXPECT_EQ(y[0], 0x3u);  // -128 and -4 are below the zero point
  ASSERT_TRUE(QuantizeInt8(x.data(), 1, 7, 0, y.data()).ok());
  EXPECT_EQ(y[0], 0xfu);
  EXPECT_FALSE(QuantizeInt8(x.data(), 1, 7, 300, y.data()).ok());
}

// QuantizeInt8's fast full-word path and its portable tail against the definition
// bit = (x < zero_point), for channel counts around word boundaries and every zero point.
TEST(Quantize, Int8FastPathMatchesDefinition) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> ud(-128, 127);
  for (int channels : {1, 31, 32, 33, 64, 95, 200}) {
    const size_t rows = 5;
    std::vector<int8_t> x(rows * channels);
    for (auto& v : x) v = static_cast<int8_t>(ud(rng));
    for (int zp : {-128, -17, 0, 1, 100, 127}) {
      for (const char* isa : {"reference", "auto"}) {
        ASSERT_TRUE(SetForcedIsa(isa).ok());
        std::vector<uint32_t> got(rows * PackedWords(channels), 0xdeadbeefu);
        ASSERT_TRUE(QuantizeInt8(x.data(), rows, channels, zp, got.data()).ok());
        for (size_t r = 0; r < rows; ++r) {
          for (int w = 0; w < PackedWords(channels); ++w) {
            uint32_t want = 0;
            for (int b = 0; b < 32 && w * 32 + b < channels; ++b) {
              want |= static_cast<uint32_t>(x[r * channels + w * 32 + b] < zp) << b;
            }
            ASSERT_EQ(got[r * PackedWords(channels) + w], want)
                << "channels=" << channels << " zp=" << zp << " isa=" << isa;
          }
        }
      }
    }
  }
  ASSERT_TRUE(SetForcedIsa("auto").ok());
}

// The branch-free Int8FromFloat equals clamp(std::round(y / scale) + zero_point) (half away from
// zero, NaN -> 0) on random values, exact halves, huge values, infinities and NaN.
TEST(Int8Output, RoundingMatchesStdRound) {
  auto expected = [](float y, const OutputParams& p) {
    float r = std::round(y / p.int8_scale);
    if (std::isnan(r)) r = 0.0f;
    r = std::min(std::max(r, -1024.0f), 1024.0f);
    return static_cast<int8_t>(
        std::min(std::max(static_cast<int>(r) + p.int8_zero_point, -128), 127));
  };
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 60.0f);
  std::vector<float> values = {0.0f,
                               -0.0f,
                               0.5f,
                               -0.5f,
                               1.5f,
                               -1.5f,
                               2.5f,
                               -2.5f,
                               127.5f,
                               -128.5f,
                               0.49999997f,
                               -0.49999997f,
                               1e9f,
                               -1e9f,
                               1023.5f,
                               -1024.5f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::quiet_NaN()};
  for (int i = 0; i < 20000; ++i) values.push_back(nd(rng));
  for (int i = -600; i <= 600; ++i) values.push_back(i * 0.25f);
  for (float scale : {1.0f, 0.37f, 0.0078125f, 3.0f}) {
    for (int zp : {-128, -5, 0, 9, 127}) {
      OutputParams p;
      p.type = OutputType::kInt8;
      p.int8_scale = scale;
      p.int8_zero_point = zp;
      for (float y : values) {
        ASSERT_EQ(internal::Int8FromFloat(y, p), expected(y, p))
            << "y=" << y << " scale=" << scale << " zp=" << zp;
      }
    }
  }
}

// Every ISA's QuantizeFloat (bitpacking microkernel for full words + portable tail) against the
// per-value definition bit = (x < 0), with -0.0f, NaN, +-inf, denormals and exact zeros mixed in.
TEST(Quantize, FloatEveryIsaMatchesDefinition) {
  const float specials[] = {0.0f,
                            -0.0f,
                            std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            -1e-45f,
                            1e-45f};
  std::mt19937 rng(11);
  std::vector<std::string> isas = AvailableIsas();
  isas.push_back("reference");
  for (const std::string& isa : isas) {
    ASSERT_TRUE(SetForcedIsa(isa.c_str()).ok()) << isa;
    for (int channels : {1, 31, 32, 33, 64, 96, 100, 257}) {
      const size_t rows = 7;
      std::vector<float> x(rows * channels);
      for (size_t i = 0; i < x.size(); ++i) {
        x[i] = (rng() % 5 == 0) ? specials[rng() % 8]
                                : std::uniform_real_distribution<float>(-1, 1)(rng);
      }
      const int words = PackedWords(channels);
      std::vector<uint32_t> got(rows * words, 0xa5a5a5a5u);
      ASSERT_TRUE(QuantizeFloat(x.data(), rows, channels, got.data()).ok());
      for (size_t r = 0; r < rows; ++r) {
        for (int w = 0; w < words; ++w) {
          uint32_t want = 0;
          for (int b = 0; b < kBitsPerWord && w * kBitsPerWord + b < channels; ++b) {
            want |= static_cast<uint32_t>(x[r * channels + w * kBitsPerWord + b] < 0.0f) << b;
          }
          ASSERT_EQ(got[r * words + w], want)
              << isa << " channels=" << channels << " row=" << r << " word=" << w;
        }
      }
    }
  }
  ASSERT_TRUE(SetForcedIsa("auto").ok());
}

TEST(Quantize, Validation) {
  std::vector<float> x(4);
  std::vector<uint32_t> y(4);
  Status s = QuantizeFloat(x.data(), 1, 0, y.data());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("channels must be >= 1"), std::string::npos);
  EXPECT_FALSE(QuantizeFloat(nullptr, 1, 4, y.data()).ok());
  EXPECT_FALSE(Dequantize(y.data(), 1, -1, x.data()).ok());
  EXPECT_FALSE(QuantizeFloat(x.data(), ~size_t{0} / 2, 4, y.data()).ok());
  size_t words;
  EXPECT_FALSE(PackedFilterWords(0, 3, 3, 8, &words).ok());
  EXPECT_TRUE(PackedFilterWords(16, 3, 3, 33, &words).ok());
  EXPECT_EQ(words, 16u * 9 * 2);
}

// ---- bfully_connected ----

TEST(BFullyConnected, MatchesNaiveAndReferenceForEveryIsa) {
  std::mt19937 rng(8);
  auto U = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 60; ++iter) {
    BFullyConnectedParams p;
    p.batch = U(1, 9);
    p.input_size = std::vector<int>{1, 3, 31, 33, 64, 100, 256, 1000, 2048}[U(0, 8)];
    p.output_size = U(1, 70);
    p.num_threads = U(1, 4);
    p.output.type = static_cast<OutputType>(U(0, 3));
    p.output.activation = static_cast<Activation>(U(0, 3));
    p.output.clamp_min = -3.0f;
    p.output.clamp_max = 4.0f;
    p.output.int8_scale = 0.3f;
    p.output.int8_zero_point = U(-5, 5);
    const auto w = RandomPacked(rng, p.output_size, p.input_size);
    const auto x = RandomPacked(rng, p.batch, p.input_size);
    std::vector<float> m(p.output_size), b(p.output_size);
    for (int c = 0; c < p.output_size; ++c) {
      m[c] = std::uniform_real_distribution<float>(-1, 1)(rng);
      b[c] = std::uniform_real_distribution<float>(-5, 5)(rng);
    }
    // Naive dots.
    const auto wf = ToFloat(w, p.output_size, p.input_size);
    const auto xf = ToFloat(x, p.batch, p.input_size);
    std::vector<int32_t> dots(static_cast<size_t>(p.batch) * p.output_size);
    for (int n = 0; n < p.batch; ++n)
      for (int c = 0; c < p.output_size; ++c) {
        int32_t d = 0;
        for (int k = 0; k < p.input_size; ++k)
          d += static_cast<int32_t>(xf[n * p.input_size + k] * wf[c * p.input_size + k]);
        dots[n * p.output_size + c] = d;
      }
    BFullyConnectedParams rp = p;
    rp.kernel = KernelChoice::kReference;
    std::unique_ptr<BFullyConnected> ref;
    ASSERT_TRUE(BFullyConnected::Create(rp, w.data(), m.data(), b.data(), &ref).ok());
    std::vector<uint8_t> expect(ref->output_bytes());
    ASSERT_TRUE(ref->Run(x.data(), expect.data(), nullptr).ok());
    if (p.output.type == OutputType::kInt32Dot) {
      ASSERT_EQ(0, std::memcmp(expect.data(), dots.data(), expect.size()));
    } else if (p.output.type == OutputType::kFloat32) {
      const float* y = reinterpret_cast<const float*>(expect.data());
      for (size_t i = 0; i < dots.size(); ++i) {
        const int c = static_cast<int>(i % p.output_size);
        ASSERT_EQ(y[i], internal::FloatOutput(dots[i], m[c], b[c], p.output));
      }
    }
    for (const std::string& isa : AvailableIsas()) {
      BFullyConnectedParams op = p;
      op.kernel = ChoiceForIsa(isa);
      std::unique_ptr<BFullyConnected> fc;
      ASSERT_TRUE(BFullyConnected::Create(op, w.data(), m.data(), b.data(), &fc).ok());
      EXPECT_STREQ(fc->isa(), isa.c_str());
      std::vector<uint8_t> got(fc->output_bytes(), 0xab);
      ASSERT_TRUE(fc->Run(x.data(), got.data(), Pool(p.num_threads)).ok());
      ASSERT_EQ(got, expect) << "isa=" << isa << " K=" << p.input_size
                             << " out=" << ToString(p.output.type);
    }
  }
}

TEST(BFullyConnected, Validation) {
  BFullyConnectedParams p;
  p.input_size = 0;
  p.output_size = 4;
  std::vector<uint32_t> w(16);
  std::unique_ptr<BFullyConnected> fc;
  Status s = BFullyConnected::Create(p, w.data(), nullptr, nullptr, &fc);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("BFullyConnected: "), std::string::npos) << s.message();
  p.input_size = 8;
  p.output.type = OutputType::kInt8;
  p.output.int8_scale = -1.0f;
  s = BFullyConnected::Create(p, w.data(), nullptr, nullptr, &fc);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("BFullyConnected: int8"), std::string::npos) << s.message();
}

// ---- bmaxpool2d ----

TEST(BMaxPool2D, MatchesFloatMaxPool) {
  std::mt19937 rng(9);
  auto U = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int iter = 0; iter < 120; ++iter) {
    BMaxPool2DParams p;
    p.batch = U(1, 3);
    p.channels = std::vector<int>{1, 3, 31, 33, 64, 100}[U(0, 5)];
    p.filter_height = U(1, 4);
    p.filter_width = U(1, 4);
    p.stride_height = U(1, 3);
    p.stride_width = U(1, 3);
    p.padding = U(0, 1) ? Padding::kSame : Padding::kValid;
    p.input_height = U(p.filter_height, 9);
    p.input_width = U(p.filter_width, 9);
    p.num_threads = U(1, 4);
    const size_t pixels = static_cast<size_t>(p.batch) * p.input_height * p.input_width;
    // Mostly negative values so the AND is interesting.
    std::vector<float> xf(pixels * p.channels);
    for (float& v : xf) v = U(0, 4) == 0 ? 1.0f : -1.0f;
    std::vector<uint32_t> x(pixels * PackedWords(p.channels));
    ASSERT_TRUE(QuantizeFloat(xf.data(), pixels, p.channels, x.data()).ok());
    std::vector<uint32_t> expect;
    for (KernelChoice k : {KernelChoice::kReference, KernelChoice::kAuto}) {
      p.kernel = k;
      std::unique_ptr<BMaxPool2D> op;
      Status s = BMaxPool2D::Create(p, &op);
      ASSERT_TRUE(s.ok()) << s.message();
      std::vector<uint32_t> y(op->output_words(), 0x5a5a5a5au);
      ASSERT_TRUE(op->Run(x.data(), y.data(), Pool(p.num_threads)).ok());
      if (k == KernelChoice::kReference) {
        // Float max pool oracle with padded taps ignored.
        const int OH = op->output_height(), OW = op->output_width();
        const int ph =
            p.padding == Padding::kSame
                ? std::max((OH - 1) * p.stride_height + p.filter_height - p.input_height, 0) / 2
                : 0;
        const int pw =
            p.padding == Padding::kSame
                ? std::max((OW - 1) * p.stride_width + p.filter_width - p.input_width, 0) / 2
                : 0;
        std::vector<float> yf(static_cast<size_t>(p.batch) * OH * OW * p.channels);
        size_t i = 0;
        for (int n = 0; n < p.batch; ++n)
          for (int oh = 0; oh < OH; ++oh)
            for (int ow = 0; ow < OW; ++ow)
              for (int c = 0; c < p.channels; ++c, ++i) {
                float mx = -INFINITY;
                for (int kh = 0; kh < p.filter_height; ++kh)
                  for (int kw = 0; kw < p.filter_width; ++kw) {
                    const int ih = oh * p.stride_height - ph + kh,
                              iw = ow * p.stride_width - pw + kw;
                    if (ih < 0 || ih >= p.input_height || iw < 0 || iw >= p.input_width) continue;
                    mx = std::max(
                        mx,
                        xf[((static_cast<size_t>(n) * p.input_height + ih) * p.input_width + iw) *
                               p.channels +
                           c]);
                  }
                yf[i] = mx;
              }
        std::vector<uint32_t> yq(y.size());
        ASSERT_TRUE(QuantizeFloat(yf.data(), yf.size() / p.channels, p.channels, yq.data()).ok());
        ASSERT_EQ(y, yq);
        expect = y;
      } else {
        ASSERT_EQ(y, expect);
      }
    }
  }
}

TEST(BMaxPool2D, Validation) {
  BMaxPool2DParams p;
  p.input_height = 4;
  p.input_width = 4;
  p.channels = 8;
  p.filter_height = 5;
  p.filter_width = 2;
  std::unique_ptr<BMaxPool2D> op;
  Status s = BMaxPool2D::Create(p, &op);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("exceeds input height"), std::string::npos) << s.message();
  p.filter_height = 2;
  p.stride_width = 0;
  EXPECT_FALSE(BMaxPool2D::Create(p, &op).ok());
  p.stride_width = 1;
  p.channels = 0;
  EXPECT_FALSE(BMaxPool2D::Create(p, &op).ok());
  p.channels = 8;
  ASSERT_TRUE(BMaxPool2D::Create(p, &op).ok());
  EXPECT_FALSE(op->Run(nullptr, nullptr, nullptr).ok());
  // In place / overlapping buffers: an error, never a silently wrong result.
  std::vector<uint32_t> buf(16 + 9, 0u);
  s = op->Run(buf.data(), buf.data() + 4, nullptr);
  EXPECT_NE(s.message().find("input and output overlap"), std::string::npos) << s.message();
  EXPECT_TRUE(op->Run(buf.data(), buf.data() + 16, nullptr).ok());
}

// ---- thread pool ----

TEST(ThreadPool, RunsEveryTaskOnceAndRespectsMaxThreads) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int round = 0; round < 50; ++round) {
      const size_t n = static_cast<size_t>(round * 7 % 37);
      std::vector<std::atomic<int>> hits(n);
      std::atomic<int> max_index{0};
      auto f = [&](size_t t, int thread) {
        hits[t].fetch_add(1);
        int cur = max_index.load();
        while (thread > cur && !max_index.compare_exchange_weak(cur, thread)) {
        }
      };
      pool.ParallelFor(n, 2, f);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1);
      ASSERT_LE(max_index.load(), 1);
    }
  }
}

}  // namespace
}  // namespace kbnn
