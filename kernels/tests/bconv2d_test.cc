// Reference bconv2d against an independent float-convolution oracle on +-1 data; exactness of
// the output transforms; parameter validation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "common.h"
#include "test_util.h"

namespace kbnn {
namespace {

using testing_util::Describe;
using testing_util::FloatConvOracle;
using testing_util::Pool;
using testing_util::RandomPacked;
using testing_util::ToFloat;

// Runs `p` (dot output) with the given kernel choice on random data and checks it against the
// float oracle.
void CheckAgainstOracle(BConv2DParams p, std::mt19937& rng) {
  p.output.type = OutputType::kInt32Dot;
  const int cg = p.channels_in / p.groups;
  const size_t taps = static_cast<size_t>(p.channels_out) * p.filter_height * p.filter_width;
  const size_t pixels = static_cast<size_t>(p.batch) * p.input_height * p.input_width;
  const std::vector<uint32_t> wp = RandomPacked(rng, taps, cg);
  const std::vector<uint32_t> xp = RandomPacked(rng, pixels, p.channels_in);
  const std::vector<float> wf = ToFloat(wp, taps, cg);
  const std::vector<float> xf = ToFloat(xp, pixels, p.channels_in);
  // Packing the float filters must give back the same words.
  std::vector<uint32_t> repacked(wp.size());
  ASSERT_TRUE(
      PackFilters(wf.data(), p.channels_out, p.filter_height, p.filter_width, cg, repacked.data())
          .ok());
  ASSERT_EQ(repacked, wp);
  std::unique_ptr<BConv2D> op;
  Status s = BConv2D::Create(p, wp.data(), nullptr, nullptr, &op);
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<int32_t> got(op->output_elements());
  ASSERT_TRUE(op->Run(xp.data(), got.data(), Pool(p.num_threads)).ok());
  const std::vector<int32_t> expect =
      FloatConvOracle(p, xf, wf, op->output_height(), op->output_width());
  ASSERT_EQ(got, expect) << Describe(p) << " kernel=" << op->kernel_name();
}

BConv2DParams Conv(int n, int h, int w, int cin, int cout, int k, int s, int d, Padding pad,
                   int pad_value, int groups) {
  BConv2DParams p;
  p.batch = n;
  p.input_height = h;
  p.input_width = w;
  p.channels_in = cin;
  p.channels_out = cout;
  p.filter_height = p.filter_width = k;
  p.stride_height = p.stride_width = s;
  p.dilation_height = p.dilation_width = d;
  p.padding = pad;
  p.pad_value = pad_value;
  p.groups = groups;
  return p;
}

std::vector<BConv2DParams> FixedConfigs() {
  return {
      Conv(1, 5, 5, 3, 4, 3, 1, 1, Padding::kValid, 1, 1),
      Conv(1, 5, 5, 3, 4, 3, 1, 1, Padding::kSame, 0, 1),
      Conv(1, 5, 5, 3, 4, 3, 1, 1, Padding::kSame, 1, 1),
      Conv(2, 7, 6, 33, 31, 3, 2, 1, Padding::kSame, 0, 1),
      Conv(3, 9, 9, 64, 64, 3, 1, 2, Padding::kSame, 0, 2),
      Conv(1, 8, 8, 100, 50, 5, 2, 2, Padding::kSame, 0, 50),  // depthwise-like, 2 ch/group
      Conv(2, 6, 7, 96, 12, 1, 2, 1, Padding::kSame, 0, 3),    // aligned groups, 1x1 direct
      Conv(1, 4, 4, 512, 8, 3, 1, 1, Padding::kSame, 0, 1),
      Conv(1, 3, 3, 1, 1, 7, 1, 1, Padding::kSame, 0, 1),      // filter larger than input
      Conv(1, 10, 3, 6, 6, 7, 3, 1, Padding::kSame, 1, 3),
  };
}

TEST(BConv2DReference, MatchesFloatOracleFixed) {
  std::mt19937 rng(1);
  for (BConv2DParams p : FixedConfigs()) {
    p.kernel = KernelChoice::kReference;
    CheckAgainstOracle(p, rng);
  }
}

TEST(BConv2DReference, MatchesFloatOracleRandom) {
  std::mt19937 rng(2);
  auto U = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int i = 0; i < 150; ++i) {
    BConv2DParams p;
    const int groups = U(0, 2) == 0 ? U(2, 4) : 1;
    p.channels_in = groups * U(1, 40);
    p.channels_out = groups * U(1, 12);
    p.groups = groups;
    p.filter_height = U(1, 4);
    p.filter_width = U(1, 4);
    p.stride_height = U(1, 3);
    p.stride_width = U(1, 3);
    p.dilation_height = U(1, 2);
    p.dilation_width = U(1, 2);
    const int mode = U(0, 2);
    p.padding = mode == 0 ? Padding::kValid : Padding::kSame;
    p.pad_value = mode == 1 ? 0 : 1;
    p.batch = U(1, 3);
    p.input_height = U((p.filter_height - 1) * p.dilation_height + 1, 9);
    p.input_width = U((p.filter_width - 1) * p.dilation_width + 1, 9);
    p.kernel = KernelChoice::kReference;
    CheckAgainstOracle(p, rng);
    if (HasFatalFailure()) return;
  }
}

TEST(BConv2DOptimized, MatchesFloatOracleFixed) {
  std::mt19937 rng(3);
  for (const std::string& isa : AvailableIsas()) {
    for (BConv2DParams p : FixedConfigs()) {
      p.kernel = testing_util::ChoiceForIsa(isa);
      p.num_threads = 3;
      CheckAgainstOracle(p, rng);
    }
  }
}

TEST(OutputTransform, ThresholdIsExactAgainstFloatFormula) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> F(-3.0f, 3.0f);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::pair<float, float>> cases = {{0.0f, 0.0f},  {0.0f, -1.0f}, {-0.0f, 0.0f},
                                                {1.0f, 0.0f},  {-1.0f, 0.0f}, {1.0f, -0.5f},
                                                {-1.0f, 0.5f}, {inf, 0.0f},   {-inf, 0.0f},
                                                {1.0f, nan},   {nan, 1.0f},   {1e-30f, -1e-30f},
                                                {3.0f, -1e9f}, {0.1f, 0.3f},  {1e-7f, -3.3e-6f}};
  for (int i = 0; i < 300; ++i) cases.push_back({F(rng), F(rng) * 40.0f});
  for (Activation act :
       {Activation::kNone, Activation::kRelu, Activation::kRelu6, Activation::kClamp}) {
    OutputParams o;
    o.type = OutputType::kBitpacked;
    o.activation = act;
    o.clamp_min = -2.5f;
    o.clamp_max = 3.0f;
    for (const auto& mb : cases) {
      for (int32_t k : {1, 9, 64, 577}) {
        const internal::BitThreshold t = internal::ComputeBitThreshold(mb.first, mb.second, o, k);
        for (int32_t dot = -k; dot <= k; ++dot) {
          const bool expect = internal::FloatOutput(dot, mb.first, mb.second, o) < 0.0f;
          ASSERT_EQ(internal::ThresholdBit(dot, t), expect ? 1u : 0u)
              << "m=" << mb.first << " b=" << mb.second << " k=" << k << " dot=" << dot
              << " act=" << ToString(act);
        }
      }
    }
  }
}

TEST(OutputTransform, Int8RoundsHalfAwayFromZero) {
  OutputParams o;
  o.type = OutputType::kInt8;
  o.int8_scale = 1.0f;
  o.int8_zero_point = 0;
  EXPECT_EQ(internal::Int8FromFloat(0.5f, o), 1);
  EXPECT_EQ(internal::Int8FromFloat(-0.5f, o), -1);
  EXPECT_EQ(internal::Int8FromFloat(1.5f, o), 2);
  EXPECT_EQ(internal::Int8FromFloat(2.5f, o), 3);
  EXPECT_EQ(internal::Int8FromFloat(-2.5f, o), -3);
  EXPECT_EQ(internal::Int8FromFloat(0.49f, o), 0);
  EXPECT_EQ(internal::Int8FromFloat(1000.0f, o), 127);
  EXPECT_EQ(internal::Int8FromFloat(-1000.0f, o), -128);
  EXPECT_EQ(internal::Int8FromFloat(std::numeric_limits<float>::infinity(), o), 127);
  EXPECT_EQ(internal::Int8FromFloat(std::numeric_limits<float>::quiet_NaN(), o), 0);
  o.int8_zero_point = -10;
  o.int8_scale = 0.5f;
  EXPECT_EQ(internal::Int8FromFloat(1.25f, o), -7);  // 2.5 -> 3, + (-10)
}

TEST(BConv2D, BitpackedReluIsNeverNegative) {
  // relu makes y >= 0, so every output bit is 0 (+1) whatever the dot.
  std::mt19937 rng(5);
  BConv2DParams p = Conv(1, 6, 6, 40, 70, 3, 1, 1, Padding::kSame, 0, 1);
  p.output.type = OutputType::kBitpacked;
  p.output.activation = Activation::kRelu;
  const auto w = RandomPacked(rng, 70 * 9, 40);
  const auto x = RandomPacked(rng, 36, 40);
  std::vector<float> m(70, -1.0f), b(70, -5.0f);
  for (const std::string& isa : AvailableIsas()) {
    p.kernel = testing_util::ChoiceForIsa(isa);
    std::unique_ptr<BConv2D> op;
    ASSERT_TRUE(BConv2D::Create(p, w.data(), m.data(), b.data(), &op).ok());
    std::vector<uint32_t> y(op->output_elements(), 0xffffffffu);
    ASSERT_TRUE(op->Run(x.data(), y.data(), nullptr).ok());
    for (uint32_t v : y) ASSERT_EQ(v, 0u);
  }
}

TEST(BConv2D, PoolSizeDiffersFromNumThreads) {
  // Scratch is sized for params.num_threads; a bigger pool must use at most that many threads,
  // a smaller one fewer. Results never change.
  std::mt19937 rng(6);
  BConv2DParams p = Conv(2, 9, 9, 64, 96, 3, 1, 1, Padding::kSame, 0, 1);
  p.output.type = OutputType::kInt32Dot;
  const auto w = RandomPacked(rng, 96 * 9, 64);
  const auto x = RandomPacked(rng, 2 * 81, 64);
  std::vector<int32_t> expect;
  for (int op_threads : {1, 2, 4}) {
    for (int pool_threads : {1, 2, 3, 4}) {
      p.num_threads = op_threads;
      std::unique_ptr<BConv2D> op;
      ASSERT_TRUE(BConv2D::Create(p, w.data(), nullptr, nullptr, &op).ok());
      ThreadPool pool(pool_threads);
      std::vector<int32_t> y(op->output_elements());
      for (int rep = 0; rep < 3; ++rep) {
        ASSERT_TRUE(op->Run(x.data(), y.data(), &pool).ok());
        if (expect.empty()) expect = y;
        ASSERT_EQ(y, expect) << "op_threads=" << op_threads << " pool=" << pool_threads;
      }
    }
  }
}

// ---- Validation ----

Status TryCreate(const BConv2DParams& p) {
  std::vector<uint32_t> w(1 << 16, 0u);
  std::unique_ptr<BConv2D> op;
  return BConv2D::Create(p, w.data(), nullptr, nullptr, &op);
}

void ExpectError(const BConv2DParams& p, const std::string& fragment) {
  for (KernelChoice k : {KernelChoice::kReference, KernelChoice::kAuto}) {
    BConv2DParams q = p;
    q.kernel = k;
    Status s = TryCreate(q);
    EXPECT_FALSE(s.ok()) << Describe(p);
    EXPECT_NE(s.message().find(fragment), std::string::npos)
        << "message: '" << s.message() << "' lacks '" << fragment << "'";
  }
}

TEST(BConv2DValidation, BadShapesReturnErrors) {
  const BConv2DParams ok = Conv(1, 8, 8, 32, 32, 3, 1, 1, Padding::kSame, 0, 1);
  ASSERT_TRUE(TryCreate(ok).ok());
  BConv2DParams p = ok;
  p.channels_in = 0;
  ExpectError(p, "must all be >= 1");
  p = ok;
  p.batch = -1;
  ExpectError(p, "batch=-1");
  p = ok;
  p.groups = 3;
  ExpectError(p, "groups must be >= 1 and divide");
  p = ok;
  p.stride_height = 0;
  ExpectError(p, "stride=0");
  p = ok;
  p.dilation_width = -2;
  ExpectError(p, "dilation=-2");
  p = ok;
  p.padding = Padding::kValid;
  p.filter_height = 9;
  ExpectError(p, "exceeds input height");
  p = ok;
  p.pad_value = 2;
  ExpectError(p, "pad_value must be 0 or 1");
  p = ok;
  p.output.activation = Activation::kClamp;
  p.output.clamp_min = 2.0f;
  p.output.clamp_max = 1.0f;
  ExpectError(p, "clamp_min <= clamp_max");
  p = ok;
  p.output.type = OutputType::kInt8;
  p.output.int8_scale = 0.0f;
  ExpectError(p, "int8_scale");
  p = ok;
  p.output.type = OutputType::kInt8;
  p.output.int8_zero_point = 200;
  ExpectError(p, "int8_zero_point");
  p = ok;
  p.num_threads = 0;
  ExpectError(p, "num_threads");
  p = ok;
  p.batch = 1 << 30;
  p.input_height = 1 << 30;
  p.input_width = 1 << 30;
  ExpectError(p, "overflow");
  p = ok;
  p.channels_in = 1 << 30;
  p.filter_height = 1 << 10;
  p.padding = Padding::kSame;
  ExpectError(p, "too large");
  p = ok;
  p.padding = static_cast<Padding>(7);
  ExpectError(p, "padding");
  p = ok;
  p.output.type = static_cast<OutputType>(9);
  ExpectError(p, "output type");
  std::unique_ptr<BConv2D> op;
  Status s = BConv2D::Create(ok, nullptr, nullptr, nullptr, &op);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("packed_filters is null"), std::string::npos);
  ASSERT_TRUE(TryCreate(ok).ok());
  std::vector<uint32_t> w(32 * 9, 0u);
  ASSERT_TRUE(BConv2D::Create(ok, w.data(), nullptr, nullptr, &op).ok());
  s = op->Run(nullptr, nullptr, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("null"), std::string::npos);
}

// The fused Bi-Real epilogue (residual add + sign output) against the unfused ops run one after
// the other: the plain float bconv, a float add, and QuantizeFloat (the KbnnQuantize kernel).
// Exact: the fused add is the same single float add.
TEST(BConv2DFused, ResidualAndSignMatchUnfusedOps) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<KernelChoice> kernels = {KernelChoice::kReference};
  for (const std::string& isa : AvailableIsas()) kernels.push_back(testing_util::ChoiceForIsa(isa));
  // Bi-Real shapes (3x3 SAME, stride 1 and 2) and odd channel counts; 1 and 3 threads.
  const std::vector<BConv2DParams> shapes = {Conv(1, 9, 9, 64, 64, 3, 1, 1, Padding::kSame, 1, 1),
                                             Conv(2, 8, 7, 128, 128, 3, 2, 1, Padding::kSame, 0, 1),
                                             Conv(1, 6, 6, 33, 100, 3, 1, 1, Padding::kSame, 1, 1),
                                             Conv(1, 5, 5, 64, 96, 1, 1, 1, Padding::kValid, 1, 2),
                                             Conv(1, 5, 5, 24, 24, 3, 1, 1, Padding::kSame, 1, 3)};
  for (BConv2DParams p : shapes) {
    for (int act = 0; act < 2; ++act) {
      p.output.type = OutputType::kFloat32;
      p.output.activation = act ? Activation::kRelu : Activation::kNone;
      const int cg = p.channels_in / p.groups;
      const std::vector<uint32_t> w =
          RandomPacked(rng, static_cast<size_t>(p.channels_out) * p.filter_height * p.filter_width,
                       cg);
      const std::vector<uint32_t> x =
          RandomPacked(rng, static_cast<size_t>(p.batch) * p.input_height * p.input_width,
                       p.channels_in);
      std::vector<float> m(p.channels_out), b(p.channels_out);
      for (int c = 0; c < p.channels_out; ++c) m[c] = nd(rng) * 0.1f, b[c] = nd(rng);
      for (KernelChoice k : kernels) {
        for (int threads : {1, 3}) {
          BConv2DParams plain = p;
          plain.kernel = k;
          plain.num_threads = threads;
          std::unique_ptr<BConv2D> op;
          ASSERT_TRUE(BConv2D::Create(plain, w.data(), m.data(), b.data(), &op).ok());
          std::vector<float> y(op->output_elements()), r(op->output_elements());
          for (float& v : r) v = nd(rng);
          r[0] = -0.0f;  // sign(-0) = +1
          ASSERT_TRUE(op->Run(x.data(), y.data(), Pool(threads)).ok());
          std::vector<float> sum(y.size());
          for (size_t i = 0; i < y.size(); ++i) sum[i] = y[i] + r[i];
          const size_t rows = y.size() / p.channels_out;
          std::vector<uint32_t> bits(rows * PackedWords(p.channels_out));
          ASSERT_TRUE(QuantizeFloat(sum.data(), rows, p.channels_out, bits.data()).ok());

          BConv2DParams fused = plain;
          fused.residual = true;
          fused.sign_output = true;
          ASSERT_TRUE(BConv2D::Create(fused, w.data(), m.data(), b.data(), &op).ok());
          ASSERT_EQ(op->sign_output_words(), bits.size());
          std::vector<float> got(y.size(), 7.0f);
          std::vector<uint32_t> got_bits(bits.size(), 0xffffffffu);
          ASSERT_TRUE(op->Run(x.data(), r.data(), got.data(), got_bits.data(), Pool(threads)).ok());
          ASSERT_EQ(0, std::memcmp(got.data(), sum.data(), sum.size() * 4))
              << Describe(fused) << " kernel=" << op->kernel_name();
          ASSERT_EQ(got_bits, bits) << Describe(fused) << " kernel=" << op->kernel_name();

          // Each half alone.
          fused.sign_output = false;
          ASSERT_TRUE(BConv2D::Create(fused, w.data(), m.data(), b.data(), &op).ok());
          EXPECT_EQ(op->sign_output_words(), 0u);
          ASSERT_TRUE(op->Run(x.data(), r.data(), got.data(), nullptr, Pool(threads)).ok());
          ASSERT_EQ(0, std::memcmp(got.data(), sum.data(), sum.size() * 4));
          fused.residual = false;
          fused.sign_output = true;
          ASSERT_TRUE(BConv2D::Create(fused, w.data(), m.data(), b.data(), &op).ok());
          ASSERT_TRUE(op->Run(x.data(), nullptr, got.data(), got_bits.data(), Pool(threads)).ok());
          ASSERT_EQ(0, std::memcmp(got.data(), y.data(), y.size() * 4));
          std::vector<uint32_t> y_bits(bits.size());
          ASSERT_TRUE(QuantizeFloat(y.data(), rows, p.channels_out, y_bits.data()).ok());
          ASSERT_EQ(got_bits, y_bits);
        }
      }
    }
  }
}

TEST(BConv2DFused, BadUseReturnsClearErrors) {
  BConv2DParams p = Conv(1, 8, 8, 32, 32, 3, 1, 1, Padding::kSame, 1, 1);
  p.residual = true;
  p.output.type = OutputType::kInt8;
  ExpectError(p, "need float32 output");
  p.output.type = OutputType::kBitpacked;
  p.residual = false;
  p.sign_output = true;
  ExpectError(p, "need float32 output");
  std::vector<uint32_t> w(32 * 9, 0u), x(64, 0u), s(64, 0u);
  std::vector<float> y(64 * 32), r(64 * 32);
  for (KernelChoice k : {KernelChoice::kReference, KernelChoice::kAuto}) {
    p = Conv(1, 8, 8, 32, 32, 3, 1, 1, Padding::kSame, 1, 1);
    p.kernel = k;
    p.output.type = OutputType::kFloat32;
    p.residual = true;
    std::unique_ptr<BConv2D> op;
    ASSERT_TRUE(BConv2D::Create(p, w.data(), nullptr, nullptr, &op).ok());
    Status st = op->Run(x.data(), y.data(), nullptr);  // residual missing
    EXPECT_NE(st.message().find("created with residual=true: pass the residual"), std::string::npos)
        << st.message();
    st = op->Run(x.data(), r.data(), y.data(), s.data(), nullptr);  // unexpected sign buffer
    EXPECT_NE(st.message().find("created with sign_output=false"), std::string::npos)
        << st.message();
    p.residual = false;
    p.sign_output = true;
    ASSERT_TRUE(BConv2D::Create(p, w.data(), nullptr, nullptr, &op).ok());
    st = op->Run(x.data(), y.data(), nullptr);
    EXPECT_NE(st.message().find("created with sign_output=true"), std::string::npos)
        << st.message();
    st = op->Run(x.data(), r.data(), y.data(), s.data(), nullptr);
    EXPECT_NE(st.message().find("created with residual=false"), std::string::npos) << st.message();
  }
}

TEST(BConv2DDispatch, KernelChoiceAndEnvironment) {
  std::vector<uint32_t> w(32 * 9, 0u);
  BConv2DParams p = Conv(1, 8, 8, 32, 32, 3, 1, 1, Padding::kSame, 0, 1);
  std::unique_ptr<BConv2D> op;
  p.kernel = KernelChoice::kReference;
  ASSERT_TRUE(BConv2D::Create(p, w.data(), nullptr, nullptr, &op).ok());
  EXPECT_STREQ(op->isa(), "reference");
  p.kernel = KernelChoice::kScalar;
  ASSERT_TRUE(BConv2D::Create(p, w.data(), nullptr, nullptr, &op).ok());
  EXPECT_STREQ(op->isa(), "scalar");
  p.kernel = KernelChoice::kAuto;
  ASSERT_TRUE(SetForcedIsa("scalar").ok());
  ASSERT_TRUE(BConv2D::Create(p, w.data(), nullptr, nullptr, &op).ok());
  EXPECT_STREQ(op->isa(), "scalar");
  ASSERT_TRUE(SetForcedIsa(nullptr).ok());
  const char* old = std::getenv("KBNN_KERNEL");
  const std::string saved = old ? old : "";
  setenv("KBNN_KERNEL", "reference", 1);
  ASSERT_TRUE(BConv2D::Create(p, w.data(), nullptr, nullptr, &op).ok());
  EXPECT_STREQ(op->isa(), "reference");
  setenv("KBNN_KERNEL", "bogus", 1);
  Status s = BConv2D::Create(p, w.data(), nullptr, nullptr, &op);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("KBNN_KERNEL"), std::string::npos) << s.message();
  if (old) setenv("KBNN_KERNEL", saved.c_str(), 1);
  else unsetenv("KBNN_KERNEL");
}

}  // namespace
}  // namespace kbnn
