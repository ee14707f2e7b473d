// StemConv2D (kbnn/stem_conv2d.h): the stem int8 GEMM microkernels against a plain integer GEMM,
// every ISA's op against the reference (bit-exact) over a sweep of shapes, strides, paddings,
// pools and activations, a hand-computed case of the formula, and the bad-input errors.
#include "kbnn/stem_conv2d.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kbnn/dispatch.h"
#include "test_util.h"

namespace kbnn {
namespace {

using testing_util::ChoiceForIsa;
using testing_util::EnvInt;
using testing_util::Pool;

TEST(StemGemmUkernel, MatchesIntegerGemm) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> v(-127, 127);
  std::string names;
  for (const StemGemmUkernel& uk : AvailableStemGemmUkernels()) names += std::string(" ") + uk.name;
  std::printf("stem microkernels on this CPU:%s\n", names.c_str());
  for (const StemGemmUkernel& uk : AvailableStemGemmUkernels()) {
    SCOPED_TRACE(uk.name);
    for (int kc : {4, 8, 20, 148, 300}) {
      for (int mr = 1; mr <= uk.mr; ++mr) {
        for (int nr = 1; nr <= uk.nr; ++nr) {
          const size_t a_stride = kc + 4;
          std::vector<int16_t> a(a_stride * uk.mr, 0);
          for (int m = 0; m < mr; ++m)
            for (int k = 0; k < kc; ++k) a[m * a_stride + k] = static_cast<int16_t>(v(rng));
          std::vector<int16_t> wt(static_cast<size_t>(kc) * uk.nr, 0);  // logical [k][n]
          std::vector<int16_t> packed(wt.size(), 0);
          for (int k = 0; k < kc; ++k)
            for (int n = 0; n < nr; ++n) {
              wt[k * uk.nr + n] = static_cast<int16_t>(v(rng));
              packed[(k / uk.kr) * uk.nr * uk.kr + n * uk.kr + k % uk.kr] = wt[k * uk.nr + n];
            }
          const size_t c_stride = uk.nr + 3;
          std::vector<int32_t> c(c_stride * uk.mr, -7);
          if (uk.fn_i8 != nullptr) {  // the int8 variant: same values, int8 storage
            std::vector<int8_t> a8(a.begin(), a.end()), p8(packed.begin(), packed.end());
            uk.fn_i8(mr, nr, kc, a8.data(), a_stride, p8.data(), c.data(), c_stride);
          } else {
            uk.fn(mr, nr, kc, a.data(), a_stride, packed.data(), c.data(), c_stride);
          }
          for (int m = 0; m < uk.mr; ++m)
            for (size_t n = 0; n < c_stride; ++n) {
              int32_t want = -7;  // untouched outside the block
              if (m < mr && static_cast<int>(n) < nr) {
                want = 0;
                for (int k = 0; k < kc; ++k) want += a[m * a_stride + k] * wt[k * uk.nr + n];
              }
              ASSERT_EQ(c[m * c_stride + n], want)
                  << "kc=" << kc << " mr=" << mr << " nr=" << nr << " m=" << m << " n=" << n;
            }
        }
      }
    }
  }
}

struct StemCase {
  StemConv2DParams p;
  std::vector<int8_t> w;
  std::vector<float> sw, mult, bias, slope, x;
};

StemCase RandomCaseOnce(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  StemCase t;
  StemConv2DParams& p = t.p;
  p.batch = pick(1, 2);
  p.channels_in = pick(1, 4) == 4 ? pick(1, kStemMaxChannelsIn) : pick(1, 4);
  p.channels_out = pick(1, 40);
  p.filter_height = pick(1, 7);
  p.filter_width = pick(1, 7);
  p.stride_height = pick(1, 3);
  p.stride_width = pick(1, 3);
  p.padding = pick(0, 1) ? Padding::kSame : Padding::kValid;
  p.input_height = pick(p.filter_height, 20);
  p.input_width = pick(p.filter_width, 20);
  p.activation = static_cast<StemActivation>(pick(0, 2));
  if (pick(0, 1)) {
    p.pool_height = pick(1, 3);
    p.pool_width = pick(1, 3);
    p.pool_stride_height = pick(1, 3);
    p.pool_stride_width = pick(1, 3);
    p.pool_padding = pick(0, 1) ? Padding::kSame : Padding::kValid;
  }
  const size_t patch = static_cast<size_t>(p.filter_height) * p.filter_width * p.channels_in;
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  t.w.resize(patch * p.channels_out);
  for (auto& v : t.w) v = static_cast<int8_t>(pick(-127, 127));
  for (int c = 0; c < p.channels_out; ++c) {
    t.sw.push_back(0.001f + 0.01f * (u(rng) + 1.0f));
    t.mult.push_back(2.0f * u(rng));
    t.bias.push_back(u(rng));
    t.slope.push_back(0.5f * u(rng));
  }
  t.x.resize(static_cast<size_t>(p.batch) * p.input_height * p.input_width * p.channels_in);
  const float range = pick(0, 1) ? 255.0f : 3.0f;
  for (auto& v : t.x) v = range * u(rng);
  if (pick(0, 9) == 0) std::fill(t.x.begin(), t.x.end(), 0.0f);  // all-zero items: s_x = 0
  return t;
}

// A random case with a valid geometry (a VALID pool may not fit the conv output: drawn again).
StemCase RandomCase(std::mt19937& rng) {
  for (;;) {
    StemCase t = RandomCaseOnce(rng);
    std::unique_ptr<StemConv2D> op;
    if (StemConv2D::Create(t.p, t.w.data(), t.sw.data(), t.mult.data(), t.bias.data(),
                           t.slope.data(), &op)
            .ok()) {
      return t;
    }
  }
}

std::vector<float> RunStem(const StemCase& t, KernelChoice k, int threads, std::string* name) {
  StemConv2DParams p = t.p;
  p.kernel = k;
  p.num_threads = threads;
  std::unique_ptr<StemConv2D> op;
  Status s = StemConv2D::Create(p, t.w.data(), t.sw.data(), t.mult.data(), t.bias.data(),
                                t.slope.data(), &op);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  if (name) *name = op->ukernel_name();
  std::vector<float> y(op->output_elements(), 12345.0f);
  s = op->Run(t.x.data(), y.data(), Pool(threads));
  EXPECT_TRUE(s.ok()) << s.message();
  return y;
}

TEST(StemConv2D, SweepEveryIsaMatchesReferenceBitExactly) {
  const int configs = EnvInt("KBNN_SWEEP_CONFIGS", 400) / 2;
  std::vector<std::string> isas = AvailableIsas();
  for (const std::string& isa : isas) {
    std::mt19937 rng(1234);
    for (int i = 0; i < configs; ++i) {
      const StemCase t = RandomCase(rng);
      const std::vector<float> want = RunStem(t, KernelChoice::kReference, 1, nullptr);
      const int threads = 1 + i % 3;
      std::string name;
      const std::vector<float> got = RunStem(t, ChoiceForIsa(isa), threads, &name);
      ASSERT_EQ(got.size(), want.size());
      for (size_t j = 0; j < want.size(); ++j) {
        ASSERT_EQ(std::memcmp(&got[j], &want[j], sizeof(float)), 0)
            << isa << " (" << name << ") config " << i << " element " << j << ": " << got[j]
            << " vs " << want[j] << " threads=" << threads;
      }
    }
  }
}

// 1 pixel, 1x1 conv, 2 input channels: the formula of the header by hand.
TEST(StemConv2D, HandComputedFormula) {
  StemCase t;
  t.p.input_height = t.p.input_width = 1;
  t.p.channels_in = 2;
  t.p.channels_out = 2;
  t.p.filter_height = t.p.filter_width = 1;
  t.p.activation = StemActivation::kPRelu;
  t.x = {-2.54f, 1.0f};  // s_x = 2.54 / 127 = 0.02; q = (-127, 50)
  t.w = {3, 1, -1, 2};
  t.sw = {0.5f, 0.25f};
  t.mult = {2.0f, 1.0f};
  t.bias = {1.0f, 0.0f};
  t.slope = {0.0f, 0.5f};
  const float s_x = 2.54f / 127.0f;
  const float y0 = (static_cast<float>(3 * -127 + 50) * (s_x * 0.5f)) * 2.0f + 1.0f;  // < 0
  const float y1 = static_cast<float>(127 + 100) * (s_x * 0.25f) * 1.0f + 0.0f;      // > 0
  ASSERT_LT(y0, 0.0f);
  for (const std::string& isa : AvailableIsas()) {
    std::vector<float> y = RunStem(t, ChoiceForIsa(isa), 1, nullptr);
    ASSERT_EQ(y.size(), 2u);
    EXPECT_EQ(y[0], y0 * 0.0f) << isa;
    EXPECT_EQ(y[1], y1) << isa;
  }
  std::vector<float> y = RunStem(t, KernelChoice::kReference, 1, nullptr);
  EXPECT_EQ(y[1], y1);
}

TEST(StemConv2D, BadInputsAreClearErrors) {
  std::mt19937 rng(3);
  StemCase t = RandomCase(rng);
  std::unique_ptr<StemConv2D> op;
  auto create = [&](const StemConv2DParams& p) {
    return StemConv2D::Create(p, t.w.data(), t.sw.data(), t.mult.data(), t.bias.data(),
                              t.slope.data(), &op);
  };
  StemConv2DParams p = t.p;
  p.channels_in = kStemMaxChannelsIn + 1;
  Status s = create(p);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("channels_in"), std::string::npos) << s.message();
  p = t.p;
  p.padding = Padding::kValid;
  p.filter_height = p.input_height + 1;
  EXPECT_FALSE(create(p).ok());
  p = t.p;
  std::vector<int8_t> w = t.w;
  w[0] = -128;
  s = StemConv2D::Create(p, w.data(), t.sw.data(), t.mult.data(), t.bias.data(), t.slope.data(),
                         &op);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("-128"), std::string::npos) << s.message();
  // A NaN in the input is an error naming the batch item, on every path.
  for (const std::string& isa : AvailableIsas()) {
    p = t.p;
    p.kernel = ChoiceForIsa(isa);
    ASSERT_TRUE(create(p).ok());
    std::vector<float> x = t.x;
    x.back() = NAN;
    std::vector<float> y(op->output_elements());
    s = op->Run(x.data(), y.data(), nullptr);
    EXPECT_FALSE(s.ok()) << isa;
    EXPECT_NE(s.message().find("NaN"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace kbnn
