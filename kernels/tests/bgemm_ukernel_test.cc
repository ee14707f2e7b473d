// Every microkernel available on this CPU against naive loops (XNNPACK-style tester).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "test_util.h"

namespace kbnn {
namespace {

// The panel as the microkernel reads it: row-major [NR][k_words] (b itself) or k-major
// [k_words][NR]; `offset` leading words keep the data unaligned.
std::vector<uint32_t> PanelFor(const BgemmUkernel& uk, const uint32_t* b, size_t k_words,
                               size_t offset) {
  const size_t NR = static_cast<size_t>(uk.nr);
  std::vector<uint32_t> panel(NR * k_words + offset, 0u);
  for (size_t n = 0; n < NR; ++n) {
    for (size_t k = 0; k < k_words; ++k) {
      const size_t dst = uk.k_major_panel ? k * NR + n : n * k_words + k;
      panel[offset + dst] = b[n * k_words + k];
    }
  }
  return panel;
}

void CheckUkernel(const BgemmUkernel& uk, size_t mr, size_t nr, size_t k_words, std::mt19937& rng,
                  size_t offset) {
  // Each A row lives in its own buffer at an odd word offset (no alignment).
  std::vector<std::vector<uint32_t>> rows(mr);
  std::vector<const uint32_t*> a(mr);
  for (size_t m = 0; m < mr; ++m) {
    rows[m].resize(k_words + offset);
    for (auto& v : rows[m]) v = static_cast<uint32_t>(rng());
    a[m] = rows[m].data() + offset;
  }
  std::vector<uint32_t> b_buf(uk.nr * k_words + offset, 0u);
  uint32_t* b = b_buf.data() + offset;
  for (size_t i = 0; i < nr * k_words; ++i) b[i] = static_cast<uint32_t>(rng());
  const size_t c_stride = nr + 3;
  std::vector<int32_t> c(mr * c_stride, -7);
  const std::vector<uint32_t> panel = PanelFor(uk, b, k_words, offset);
  uk.fn(mr, nr, k_words, a.data(), panel.data() + offset, c.data(), c_stride);
  for (size_t m = 0; m < mr; ++m) {
    for (size_t n = 0; n < c_stride; ++n) {
      if (n >= nr) {
        ASSERT_EQ(c[m * c_stride + n], -7) << uk.name << " wrote past nr";
        continue;
      }
      int32_t expect = 0;
      for (size_t k = 0; k < k_words; ++k)
        expect += __builtin_popcount(a[m][k] ^ b[n * k_words + k]);
      ASSERT_EQ(c[m * c_stride + n], expect) << uk.name << " mr=" << mr << " nr=" << nr
                                             << " k_words=" << k_words << " m=" << m << " n=" << n;
    }
  }
  if (uk.fn_segmented == nullptr) return;
  // Indirection entry: the same rows split into `segs` runs, each run a separate copy (its own
  // buffer, unaligned), must give the same counts.
  for (size_t segs : {size_t{1}, size_t{2}, size_t{3}, size_t{9}}) {
    if (k_words % segs != 0) continue;
    const size_t len = k_words / segs;
    std::vector<std::vector<uint32_t>> runs(mr * segs);
    std::vector<const uint32_t*> ptrs(mr * segs);
    for (size_t m = 0; m < mr; ++m) {
      for (size_t s = 0; s < segs; ++s) {
        std::vector<uint32_t>& run = runs[m * segs + s];
        run.assign(len + 1, 0u);
        std::copy(a[m] + s * len, a[m] + (s + 1) * len, run.begin() + 1);
        ptrs[m * segs + s] = run.data() + 1;
      }
    }
    std::vector<int32_t> cs(mr * c_stride, -7);
    uk.fn_segmented(mr, nr, segs, len, ptrs.data(), panel.data() + offset, cs.data(), c_stride);
    for (size_t i = 0; i < cs.size(); ++i) {
      ASSERT_EQ(cs[i], c[i]) << uk.name << " segmented: segs=" << segs << " mr=" << mr
                             << " nr=" << nr << " k_words=" << k_words << " index " << i;
    }
  }
}

// The microkernels of one ISA tag ("scalar", "popcnt", "avx2", "avx512", "neon"); skips the test
// with a message when this CPU/build has none.
std::vector<BgemmUkernel> KernelsOf(const std::string& isa) {
  std::vector<BgemmUkernel> out;
  for (const BgemmUkernel& uk : AvailableBgemmUkernels()) {
    if (isa == uk.isa) out.push_back(uk);
  }
  return out;
}

class BgemmUkernelIsa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    kernels_ = KernelsOf(GetParam());
    if (kernels_.empty()) {
      GTEST_SKIP() << "no " << GetParam()
                   << " microkernel on this CPU/build (e.g. avx512 needs AVX-512 F/VL/BW/"
                      "VPOPCNTDQ and OS zmm support): skipped, not tested";
    }
  }
  std::vector<BgemmUkernel> kernels_;
};

#if defined(__x86_64__) || defined(__i386__)
INSTANTIATE_TEST_SUITE_P(Isa, BgemmUkernelIsa,
                         ::testing::Values("scalar", "popcnt", "avx2", "avx512"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });
#else
INSTANTIATE_TEST_SUITE_P(Isa, BgemmUkernelIsa, ::testing::Values("scalar", "neon"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });
#endif

TEST(BgemmUkernel, EveryAvailableKernelIsCoveredByAnIsaTest) {
#if defined(__x86_64__) || defined(__i386__)
  const std::vector<std::string> tested = {"scalar", "popcnt", "avx2", "avx512"};
#else
  const std::vector<std::string> tested = {"scalar", "neon"};
#endif
  for (const BgemmUkernel& uk : AvailableBgemmUkernels()) {
    EXPECT_NE(std::find(tested.begin(), tested.end(), std::string(uk.isa)), tested.end())
        << uk.name << " has ISA tag " << uk.isa << ", which no BgemmUkernelIsa test covers";
  }
}

TEST_P(BgemmUkernelIsa, AgainstNaive) {
  std::mt19937 rng(1234);
  for (const BgemmUkernel& uk : kernels_) {
    SCOPED_TRACE(uk.name);
    std::vector<size_t> ks;
    for (size_t k = 1; k <= 70; ++k) ks.push_back(k);
    for (size_t k : {72, 144, 247, 248, 249, 250, 255, 256, 257, 300, 500, 520, 1000})
      ks.push_back(k);
    for (size_t k : ks) {
      for (size_t mr = 1; mr <= static_cast<size_t>(uk.mr); ++mr) {
        for (size_t nr = 1; nr <= static_cast<size_t>(uk.nr); ++nr) {
          CheckUkernel(uk, mr, nr, k, rng, (k + mr + nr) % 3);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST_P(BgemmUkernelIsa, AllOnesSaturation) {
  // Worst case for byte accumulators: every bit differs.
  for (const BgemmUkernel& uk : kernels_) {
    for (size_t k : {8, 9, 11, 18, 23, 31, 36, 39, 31 * 8, 31 * 8 + 1, 62 * 8 + 5, 4096}) {
      std::vector<uint32_t> row(k, 0xffffffffu);
      std::vector<const uint32_t*> a(uk.mr, row.data());
      std::vector<uint32_t> b(uk.nr * k, 0u);
      std::vector<int32_t> c(uk.mr * uk.nr, 0);
      uk.fn(uk.mr, uk.nr, k, a.data(), b.data(), c.data(), uk.nr);
      for (int32_t v : c) ASSERT_EQ(v, static_cast<int32_t>(32 * k)) << uk.name << " k=" << k;
    }
  }
}

TEST(Dispatch, TableAndForcing) {
  const std::vector<std::string> isas = AvailableIsas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.back(), "scalar");
  for (const std::string& isa : isas) {
    ASSERT_TRUE(SetForcedIsa(isa.c_str()).ok());
    EXPECT_EQ(std::string(SelectedIsa()), isa);
  }
  ASSERT_TRUE(SetForcedIsa("reference").ok());
  EXPECT_EQ(std::string(SelectedIsa()), "reference");
  Status s = SetForcedIsa("sse9000");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unknown"), std::string::npos) << s.message();
#if !defined(__aarch64__) && !defined(__arm__)
  s = SetForcedIsa("neon");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not available"), std::string::npos) << s.message();
#endif
  if (std::find(isas.begin(), isas.end(), "avx512") == isas.end()) {
    s = SetForcedIsa("avx512");
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("not available"), std::string::npos) << s.message();
  }
  ASSERT_TRUE(SetForcedIsa("auto").ok());
  if (std::getenv("KBNN_KERNEL") == nullptr) {
    EXPECT_EQ(std::string(SelectedIsa()), isas.front());
  }
}

}  // namespace
}  // namespace kbnn
