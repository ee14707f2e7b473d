// Randomized sweep: every optimized ISA against the reference bconv2d (one test per ISA; an ISA
// this CPU/build lacks is skipped with a message).
// Config count per ISA: env KBNN_SWEEP_CONFIGS (default 400), seed: KBNN_SWEEP_SEED.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "test_util.h"

namespace kbnn {
namespace {

using testing_util::ChoiceForIsa;
using testing_util::Describe;
using testing_util::EnvInt;
using testing_util::Pool;
using testing_util::RandomPacked;

struct Config {
  BConv2DParams p;
  std::vector<float> multiplier, bias;
};

int Pick(std::mt19937& rng, std::initializer_list<int> v) {
  return *(v.begin() + std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng));
}

bool RandomConfig(std::mt19937& rng, Config* cfg) {
  BConv2DParams& p = cfg->p;
  p = BConv2DParams();
  auto U = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto F = [&](float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); };
  p.channels_in = Pick(rng, {1, 3, 31, 33, 64, 100, 256, 512});
  p.channels_out = Pick(rng, {1, 3, 31, 33, 64, 100, 256, 512});
  p.filter_height = Pick(rng, {1, 3, 3, 5, 7});
  p.filter_width = U(0, 3) == 0 ? Pick(rng, {1, 3, 5, 7}) : p.filter_height;
  p.stride_height = U(1, 2);
  p.stride_width = U(0, 3) == 0 ? U(1, 2) : p.stride_height;
  p.dilation_height = U(0, 3) == 0 ? 2 : 1;
  p.dilation_width = U(0, 3) == 0 ? 2 : p.dilation_height;
  const int mode = U(0, 2);
  p.padding = mode == 0 ? Padding::kValid : Padding::kSame;
  p.pad_value = mode == 1 ? 0 : 1;
  // groups: a divisor of gcd(cin, cout), 1 half of the time.
  const int g = std::gcd(p.channels_in, p.channels_out);
  std::vector<int> divisors;
  for (int d = 2; d <= g; ++d)
    if (g % d == 0) divisors.push_back(d);
  p.groups = (U(0, 1) == 0 || divisors.empty())
                 ? 1
                 : divisors[U(0, static_cast<int>(divisors.size()) - 1)];
  p.batch = U(1, 3);
  p.num_threads = U(1, 4);
  const int eff_h = (p.filter_height - 1) * p.dilation_height + 1;
  const int eff_w = (p.filter_width - 1) * p.dilation_width + 1;
  const int min_h = p.padding == Padding::kValid ? eff_h : 1;
  const int min_w = p.padding == Padding::kValid ? eff_w : 1;
  p.input_height = U(min_h, min_h + 6);
  p.input_width = U(min_w, min_w + 6);
  // Output.
  p.output.type = static_cast<OutputType>(U(0, 3));
  p.output.activation = static_cast<Activation>(U(0, 3));
  if (p.output.type == OutputType::kFloat32) {  // the fused Bi-Real epilogue, half the time each
    p.residual = U(0, 1) == 1;
    p.sign_output = U(0, 1) == 1;
  }
  int oh, ow;
  if (!BConv2DOutputSize(p, &oh, &ow).ok()) return false;
  const double macs = static_cast<double>(p.batch) * oh * ow * p.channels_out * p.filter_height *
                      p.filter_width * (p.channels_in / p.groups);
  if (macs > 4e6) return false;  // keep the reference fast
  const float k_scale =
      std::sqrt(static_cast<float>(p.filter_height * p.filter_width * (p.channels_in / p.groups)));
  p.output.clamp_min = -F(0, 2) * k_scale;
  p.output.clamp_max = F(0, 2) * k_scale;
  p.output.int8_scale = F(0.02f, 0.2f) * k_scale;
  p.output.int8_zero_point = U(-20, 20);
  cfg->multiplier.resize(p.channels_out);
  cfg->bias.resize(p.channels_out);
  for (int c = 0; c < p.channels_out; ++c) {
    const int kind = U(0, 9);
    float m = kind == 0 ? 0.0f : (kind == 1 ? 1.0f : F(-2.0f, 2.0f));
    cfg->multiplier[c] = m;
    cfg->bias[c] = F(-1.5f, 1.5f) * k_scale * (m == 0.0f ? 1.0f : std::fabs(m));
    if (kind == 2) cfg->bias[c] = 0.0f;
  }
  return true;
}

bool SameOutput(const BConv2DParams& p, const void* a, const void* b, size_t bytes,
                std::string* where) {
  if (p.output.type != OutputType::kFloat32) {
    if (std::memcmp(a, b, bytes) == 0) return true;
    const uint8_t* x = static_cast<const uint8_t*>(a);
    const uint8_t* y = static_cast<const uint8_t*>(b);
    for (size_t i = 0; i < bytes; ++i)
      if (x[i] != y[i]) {
        *where = "first differing byte " + std::to_string(i);
        break;
      }
    return false;
  }
  const float* x = static_cast<const float*>(a);
  const float* y = static_cast<const float*>(b);
  for (size_t i = 0; i < bytes / 4; ++i) {
    const float tol = 1e-6f * std::max(std::fabs(x[i]), std::fabs(y[i]));
    if (!(std::fabs(x[i] - y[i]) <= tol)) {
      *where = "element " + std::to_string(i) + ": " + std::to_string(x[i]) + " vs " +
               std::to_string(y[i]);
      return false;
    }
  }
  return true;
}

// ISAs this architecture can have; those the CPU/build lacks are skipped with a message.
#if defined(__x86_64__) || defined(__i386__)
const std::vector<std::string> kSweptIsas = {"scalar", "avx2", "avx512"};
#else
const std::vector<std::string> kSweptIsas = {"scalar", "neon"};
#endif

class BConv2DSweep : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Isa, BConv2DSweep, ::testing::ValuesIn(kSweptIsas),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(BConv2DSweepCoverage, EveryAvailableIsaIsSwept) {
  for (const std::string& isa : AvailableIsas()) {
    EXPECT_NE(std::find(std::begin(kSweptIsas), std::end(kSweptIsas), isa), std::end(kSweptIsas))
        << "ISA " << isa << " is available but not in kSweptIsas";
  }
}

// The same configs (same seed) for every ISA.
TEST_P(BConv2DSweep, OptimizedMatchesReference) {
  const std::string isa = GetParam();
  const std::vector<std::string> isas = AvailableIsas();
  if (std::find(isas.begin(), isas.end(), isa) == isas.end()) {
    GTEST_SKIP() << "ISA " << isa << " is not available on this CPU/build (e.g. avx512 needs "
                 << "AVX-512 F/VL/BW/VPOPCNTDQ and OS zmm support): sweep skipped, not tested";
  }
  const int configs = EnvInt("KBNN_SWEEP_CONFIGS", 400);
  const unsigned seed = static_cast<unsigned>(EnvInt("KBNN_SWEEP_SEED", 20240601));
  std::mt19937 rng(seed);
  const auto t0 = std::chrono::steady_clock::now();
  int done = 0, failures = 0;
  while (done < configs && failures < 5) {
    Config cfg;
    if (!RandomConfig(rng, &cfg)) continue;
    ++done;
    const BConv2DParams& p = cfg.p;
    const int cg = p.channels_in / p.groups;
    const std::vector<uint32_t> filters =
        RandomPacked(rng, static_cast<size_t>(p.channels_out) * p.filter_height * p.filter_width,
                     cg);
    const std::vector<uint32_t> input =
        RandomPacked(rng, static_cast<size_t>(p.batch) * p.input_height * p.input_width,
                     p.channels_in);
    BConv2DParams rp = p;
    rp.kernel = KernelChoice::kReference;
    std::unique_ptr<BConv2D> ref;
    ASSERT_TRUE(
        BConv2D::Create(rp, filters.data(), cfg.multiplier.data(), cfg.bias.data(), &ref).ok());
    std::vector<float> residual;
    if (p.residual) {
      std::normal_distribution<float> nd(0.0f, 4.0f);
      residual.resize(ref->output_elements());
      for (float& v : residual) v = nd(rng);
    }
    const float* res = p.residual ? residual.data() : nullptr;
    std::vector<uint32_t> expect_sign(ref->sign_output_words(), 0xabababab);
    uint32_t* es = p.sign_output ? expect_sign.data() : nullptr;
    std::vector<uint8_t> expect(ref->output_bytes());
    ASSERT_TRUE(ref->Run(input.data(), res, expect.data(), es, nullptr).ok());
    BConv2DParams op = p;
    op.kernel = ChoiceForIsa(isa);
    std::unique_ptr<BConv2D> opt;
    Status s = BConv2D::Create(op, filters.data(), cfg.multiplier.data(), cfg.bias.data(), &opt);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(std::string(opt->isa()), isa);
    std::vector<uint8_t> got(opt->output_bytes(), 0xcd);
    std::vector<uint32_t> got_sign(opt->sign_output_words(), 0xcdcdcdcd);
    ASSERT_TRUE(opt->Run(input.data(), res, got.data(), p.sign_output ? got_sign.data() : nullptr,
                         Pool(p.num_threads))
                    .ok());
    std::string where;
    if (got_sign != expect_sign) where = "sign output differs";
    if (!where.empty() || !SameOutput(p, expect.data(), got.data(), expect.size(), &where)) {
      ADD_FAILURE() << "isa=" << isa << " kernel=" << opt->kernel_name() << " config #" << done
                    << ": " << Describe(p) << " -- " << where;
      ++failures;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[sweep] isa=%s configs=%d in %.1f s (seed %u)\n", isa.c_str(), done, secs, seed);
}

}  // namespace
}  // namespace kbnn
