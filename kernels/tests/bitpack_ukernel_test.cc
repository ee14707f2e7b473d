// The float bitpacking microkernels (IsaConfig::bitpack_f32, bitpack_f32_threshold) of every ISA
// this machine has (natively: scalar, avx2, avx512 when the CPU has it; under qemu-aarch64 /
// qemu-arm: neon) against the per-value definitions, and the public QuantizeFloatThreshold /
// QuantizeInt8Threshold on every ISA and the reference:
//   bitpack_f32:            bit b of word w = (x[32w + b] < 0)
//   bitpack_f32_threshold:  bit b of word w = (x[32w + b] < t[32w + b])
// both ordered compares (-0.0f < 0 and NaN on either side give 0). Words 1..40, pointers offset by
// one float from the allocation (not 16-byte aligned), special values (+-0, +-NaN, +-inf, the
// smallest and largest denormals of both signs, FLT_MIN, FLT_MAX) on both sides of the compare,
// and output words around the written range left untouched.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kbnn/bitpack.h"
#include "kbnn/dispatch.h"
#include "ukernels/ukernels.h"

namespace kbnn {
namespace {

const float kSpecials[] = {
    0.0f,
    -0.0f,
    std::numeric_limits<float>::quiet_NaN(),
    -std::numeric_limits<float>::quiet_NaN(),
    std::numeric_limits<float>::infinity(),
    -std::numeric_limits<float>::infinity(),
    std::numeric_limits<float>::denorm_min(),
    -std::numeric_limits<float>::denorm_min(),
    2 * std::numeric_limits<float>::denorm_min(),
    -2 * std::numeric_limits<float>::denorm_min(),
    std::numeric_limits<float>::min() - std::numeric_limits<float>::denorm_min(),
    -(std::numeric_limits<float>::min() - std::numeric_limits<float>::denorm_min()),
    std::numeric_limits<float>::min(),
    -std::numeric_limits<float>::min(),
    std::numeric_limits<float>::max(),
    -std::numeric_limits<float>::max()};
constexpr int kNumSpecials = sizeof(kSpecials) / sizeof(kSpecials[0]);

// Random values with specials mixed in (~1 in 3), and a NaN payload beyond the quiet bit.
float RandomValue(std::mt19937& rng) {
  if (rng() % 3 == 0) return kSpecials[rng() % kNumSpecials];
  if (rng() % 50 == 0) {
    uint32_t bits = 0xffc00001u;  // -NaN with a payload
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  }
  return std::uniform_real_distribution<float>(-2, 2)(rng);
}

struct Named {
  std::string name;
  F32BitpackUkernelFn plain;
  F32BitpackThresholdUkernelFn threshold;
};

// The portable kernels, then every available ISA's (each microkernel once).
std::vector<Named> BitpackKernels() {
  std::vector<Named> out{
      {"f32_bitpack__scalar", kbnn_f32_bitpack__scalar, kbnn_f32_bitpack_threshold__scalar}};
  for (const std::string& isa : AvailableIsas()) {
    const IsaConfig* c = nullptr;
    if (!SetForcedIsa(isa.c_str()).ok() || !ResolveKernel(KernelChoice::kAuto, &c).ok() ||
        c == nullptr) {
      continue;
    }
    if (c->bitpack_f32 == kbnn_f32_bitpack__scalar) continue;
    out.push_back({isa, c->bitpack_f32, c->bitpack_f32_threshold});
  }
  SetForcedIsa("auto");
  static bool listed = false;
  if (!listed) {
    listed = true;
    std::string names;
    for (const Named& k : out) names += " " + k.name;
    std::printf("[ BITPACK  ] kernels tested:%s\n", names.c_str());
  }
  return out;
}

TEST(BitpackUkernel, EveryVectorIsaHasBothKernels) {
  for (const std::string& isa : AvailableIsas()) {
    const IsaConfig* c = nullptr;
    ASSERT_TRUE(SetForcedIsa(isa.c_str()).ok());
    ASSERT_TRUE(ResolveKernel(KernelChoice::kAuto, &c).ok());
    ASSERT_NE(c, nullptr);
    EXPECT_NE(c->bitpack_f32, nullptr) << isa;
    EXPECT_NE(c->bitpack_f32_threshold, nullptr) << isa;
  }
  SetForcedIsa("auto");
#if defined(__aarch64__)
  const IsaConfig* c = nullptr;
  ASSERT_TRUE(SetForcedIsa("neon").ok());
  ASSERT_TRUE(ResolveKernel(KernelChoice::kAuto, &c).ok());
  EXPECT_EQ(c->bitpack_f32, kbnn_f32_bitpack__aarch64_neon);
  EXPECT_EQ(c->bitpack_f32_threshold, kbnn_f32_bitpack_threshold__aarch64_neon);
  SetForcedIsa("auto");
#endif
}

TEST(BitpackUkernel, PlainMatchesDefinition) {
  std::mt19937 rng(5);
  for (const Named& k : BitpackKernels()) {
    ASSERT_NE(k.plain, nullptr) << k.name;
    for (size_t words = 1; words <= 40; ++words) {
      std::vector<float> buf(32 * words + 1);
      float* x = buf.data() + 1;  // 4 bytes past the allocation: not 16-byte aligned
      for (size_t i = 0; i < 32 * words; ++i) x[i] = RandomValue(rng);
      if (words == 1) {  // all specials in one word, twice over
        for (int i = 0; i < 32; ++i) x[i] = kSpecials[i % kNumSpecials];
      }
      std::vector<uint32_t> out(words + 3, 0xa5a5a5a5u);
      k.plain(words, x, out.data() + 1);
      EXPECT_EQ(out[0], 0xa5a5a5a5u) << k.name;
      EXPECT_EQ(out[words + 1], 0xa5a5a5a5u) << k.name << " wrote past the last word";
      for (size_t w = 0; w < words; ++w) {
        uint32_t want = 0;
        for (int b = 0; b < 32; ++b) want |= static_cast<uint32_t>(x[32 * w + b] < 0.0f) << b;
        ASSERT_EQ(out[w + 1], want) << k.name << " words=" << words << " w=" << w;
      }
    }
  }
}

TEST(BitpackUkernel, ThresholdMatchesDefinition) {
  std::mt19937 rng(6);
  for (const Named& k : BitpackKernels()) {
    ASSERT_NE(k.threshold, nullptr) << k.name;
    for (size_t words = 1; words <= 40; ++words) {
      std::vector<float> xbuf(32 * words + 1), tbuf(32 * words + 3);
      float* x = xbuf.data() + 1;
      float* t = tbuf.data() + 3;  // misaligned differently from x
      for (size_t i = 0; i < 32 * words; ++i) {
        x[i] = RandomValue(rng);
        // Often the same value or its neighbours (x == t, -0 vs +0 ties), else independent.
        switch (rng() % 4) {
          case 0: t[i] = x[i]; break;
          case 1: t[i] = -x[i]; break;
          default: t[i] = RandomValue(rng); break;
        }
      }
      if (words == 2) {  // every pair of specials, in x and in t
        for (int i = 0; i < 64; ++i) {
          x[i] = kSpecials[i % kNumSpecials];
          t[i] = kSpecials[(i / kNumSpecials + i) % kNumSpecials];
        }
      }
      std::vector<uint32_t> out(words + 2, 0x5a5a5a5au);
      k.threshold(words, x, t, out.data() + 1);
      EXPECT_EQ(out[0], 0x5a5a5a5au) << k.name;
      EXPECT_EQ(out[words + 1], 0x5a5a5a5au) << k.name << " wrote past the last word";
      for (size_t w = 0; w < words; ++w) {
        uint32_t want = 0;
        for (int b = 0; b < 32; ++b) {
          want |= static_cast<uint32_t>(x[32 * w + b] < t[32 * w + b]) << b;
        }
        ASSERT_EQ(out[w + 1], want) << k.name << " words=" << words << " w=" << w;
      }
    }
  }
}

TEST(BitpackUkernel, AllSpecialPairs) {
  // Every ordered pair (x, t) of special values, one pair per lane position.
  for (const Named& k : BitpackKernels()) {
    std::vector<float> x, t;
    for (float a : kSpecials) {
      for (float b : kSpecials) {
        x.push_back(a);
        t.push_back(b);
      }
    }
    const size_t words = x.size() / 32;
    std::vector<uint32_t> out(words);
    k.threshold(words, x.data(), t.data(), out.data());
    for (size_t i = 0; i < 32 * words; ++i) {
      ASSERT_EQ((out[i / 32] >> (i % 32)) & 1u, static_cast<uint32_t>(x[i] < t[i]))
          << k.name << " x=" << x[i] << " t=" << t[i];
    }
  }
}

// QuantizeFloatThreshold / QuantizeInt8Threshold: every ISA and the reference, channel counts
// with and without a tail word, against the per-channel definition; the tail word's unused bits
// are 0.
TEST(QuantizeThreshold, FloatEveryIsaMatchesDefinition) {
  std::mt19937 rng(7);
  std::vector<std::string> isas = AvailableIsas();
  isas.push_back("reference");
  for (const std::string& isa : isas) {
    ASSERT_TRUE(SetForcedIsa(isa.c_str()).ok()) << isa;
    for (int channels : {1, 5, 31, 32, 33, 64, 70, 96, 257}) {
      const size_t rows = 6;
      std::vector<float> x(rows * channels), t(channels);
      for (float& v : t) v = RandomValue(rng);
      for (float& v : x) v = RandomValue(rng);
      for (size_t i = 0; i < x.size(); i += 3) x[i] = t[i % channels];  // ties
      const int words = PackedWords(channels);
      std::vector<uint32_t> got(rows * words, 0xa5a5a5a5u);
      ASSERT_TRUE(QuantizeFloatThreshold(x.data(), rows, channels, t.data(), got.data()).ok());
      for (size_t r = 0; r < rows; ++r) {
        for (int w = 0; w < words; ++w) {
          uint32_t want = 0;
          for (int b = 0; b < 32 && w * 32 + b < channels; ++b) {
            const int c = w * 32 + b;
            want |= static_cast<uint32_t>(x[r * channels + c] < t[c]) << b;
          }
          ASSERT_EQ(got[r * words + w], want)
              << isa << " channels=" << channels << " row=" << r << " word=" << w;
        }
      }
    }
  }
  ASSERT_TRUE(SetForcedIsa("auto").ok());
}

TEST(QuantizeThreshold, ZeroThresholdsEqualQuantizeFloat) {
  std::mt19937 rng(8);
  const int channels = 100;
  const size_t rows = 5;
  std::vector<float> x(rows * channels), zeros(channels, 0.0f);
  for (float& v : x) v = RandomValue(rng);
  std::vector<uint32_t> a(rows * PackedWords(channels)), b(a.size());
  ASSERT_TRUE(QuantizeFloat(x.data(), rows, channels, a.data()).ok());
  ASSERT_TRUE(QuantizeFloatThreshold(x.data(), rows, channels, zeros.data(), b.data()).ok());
  EXPECT_EQ(a, b);
}

TEST(QuantizeThreshold, Int8MatchesDefinition) {
  std::mt19937 rng(9);
  for (int channels : {1, 31, 32, 33, 80}) {
    const size_t rows = 4;
    std::vector<int8_t> x(rows * channels);
    std::vector<int32_t> t(channels);
    const int32_t edge[] = {-1000, -129, -128, -127, 0, 127, 128, 1000};
    for (int c = 0; c < channels; ++c) {
      t[c] = c % 3 == 0 ? edge[rng() % 8] : static_cast<int32_t>(rng() % 256) - 128;
    }
    for (int8_t& v : x) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
    const int words = PackedWords(channels);
    std::vector<uint32_t> got(rows * words, 0xa5a5a5a5u);
    ASSERT_TRUE(QuantizeInt8Threshold(x.data(), rows, channels, t.data(), got.data()).ok());
    for (size_t r = 0; r < rows; ++r) {
      for (int c = 0; c < channels; ++c) {
        ASSERT_EQ(PackedBit(&got[r * words], c), x[r * channels + c] < t[c])
            << "channels=" << channels << " row=" << r << " c=" << c;
      }
      for (int c = channels; c < words * 32; ++c) ASSERT_FALSE(PackedBit(&got[r * words], c));
    }
  }
}

TEST(QuantizeThreshold, Validation) {
  std::vector<float> x(4), t(4);
  std::vector<int8_t> q(4);
  std::vector<int32_t> ti(4);
  std::vector<uint32_t> y(4);
  Status s = QuantizeFloatThreshold(x.data(), 1, 4, nullptr, y.data());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("null thresholds"), std::string::npos) << s.message();
  s = QuantizeFloatThreshold(x.data(), 1, 0, t.data(), y.data());
  EXPECT_NE(s.message().find("channels must be >= 1"), std::string::npos) << s.message();
  EXPECT_FALSE(QuantizeFloatThreshold(nullptr, 1, 4, t.data(), y.data()).ok());
  EXPECT_FALSE(QuantizeFloatThreshold(x.data(), ~size_t{0} / 2, 4, t.data(), y.data()).ok());
  s = QuantizeInt8Threshold(q.data(), 1, 4, nullptr, y.data());
  EXPECT_NE(s.message().find("QuantizeInt8Threshold: null thresholds"), std::string::npos);
  EXPECT_FALSE(QuantizeInt8Threshold(q.data(), 1, -2, ti.data(), y.data()).ok());
}

}  // namespace
}  // namespace kbnn
