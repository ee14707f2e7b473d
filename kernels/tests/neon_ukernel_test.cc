// Focused tests for the ARM NEON binary GEMM microkernels (b32-bgemm-*-{aarch64,armv7}-neon).
//
// Every NEON kernel compiled into this binary is compared with a naive scalar popcount loop over
// all (mr, nr) <= (MR, NR) and many k_words (all tails, u16 chunk boundaries, saturated counts),
// with misaligned operands, indirect (scattered) A rows, c_stride > nr with untouched-output
// checks, and operands that end right before an unmapped page (catches any read past the last
// word). Runs natively on ARM and under qemu-aarch64 / qemu-arm; compiles to nothing elsewhere.

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>
#if defined(__arm__) && !defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "kbnn/bconv2d.h"
#include "kbnn/dispatch.h"
#include "kbnn/ukernel.h"
#include "ukernels/ukernels.h"  // kernels/src: the microkernel prototypes

// Only the microkernel sources are compiled with NEON flags (-mfpu=neon on ARMv7), so this file
// keys on the architecture, not on __ARM_NEON.
#if defined(__aarch64__) || defined(__arm__)

namespace {

struct Kernel {
  const char* name;
  kbnn::BgemmUkernelFn fn;
  size_t mr;
  size_t nr;
  bool k_major = false;  // panel [k_words][NR] (BgemmUkernel::k_major_panel), else [NR][k_words]
  size_t BIndex(size_t n, size_t k, size_t k_words) const {
    return k_major ? k * nr + n : n * k_words + k;
  }
};

std::vector<Kernel> NeonKernels() {
  std::vector<Kernel> ks;
#if defined(__aarch64__)
  ks.push_back({"b32-bgemm-6x4-aarch64-neon", kbnn::kbnn_b32_bgemm_6x4__aarch64_neon, 6, 4});
  ks.push_back(
      {"b32-bgemm-12x8-aarch64-neon", kbnn::kbnn_b32_bgemm_12x8__aarch64_neon, 12, 8, true});
#else
  if ((getauxval(AT_HWCAP) & HWCAP_NEON) == 0) return ks;  // VFP-only core: nothing to test
  ks.push_back({"b32-bgemm-4x4-armv7-neon", kbnn::kbnn_b32_bgemm_4x4__armv7_neon, 4, 4});
#endif
  return ks;
}

int32_t NaivePopcountXor(const uint32_t* a, const uint32_t* b, size_t k_words) {
  int32_t s = 0;
  for (size_t k = 0; k < k_words; ++k) {
    uint32_t x = a[k] ^ b[k];
    while (x != 0) {  // independent of __builtin_popcount on purpose
      x &= x - 1;
      ++s;
    }
  }
  return s;
}

// Byte buffer with a misalignment offset; words are read/written through memcpy.
class Words {
 public:
  Words(size_t n, size_t misalign) : bytes_(n * 4 + 16), off_(misalign) {}
  uint32_t* ptr() { return reinterpret_cast<uint32_t*>(bytes_.data() + off_); }
  void set(size_t i, uint32_t v) { std::memcpy(bytes_.data() + off_ + 4 * i, &v, 4); }
  uint32_t get(size_t i) const {
    uint32_t v;
    std::memcpy(&v, bytes_.data() + off_ + 4 * i, 4);
    return v;
  }

 private:
  std::vector<uint8_t> bytes_;
  size_t off_;
};

enum class Fill { kRandom, kMaxCount, kZeroCount };

void RunCase(const Kernel& kernel, size_t mr, size_t nr, size_t k_words, size_t c_stride,
             size_t misalign, Fill fill, std::mt19937& rng) {
  SCOPED_TRACE(std::string(kernel.name) + " mr=" + std::to_string(mr) +
               " nr=" + std::to_string(nr) + " k_words=" + std::to_string(k_words) +
               " c_stride=" + std::to_string(c_stride) + " misalign=" + std::to_string(misalign));
  std::uniform_int_distribution<uint32_t> word;
  // A: each row its own (misaligned) allocation, to model indirection / im2col rows.
  std::vector<Words> a_rows;
  for (size_t m = 0; m < mr; ++m) a_rows.emplace_back(k_words, (misalign + m) % 4);
  // B: NR rows row-major (or k-major), rows >= nr zero-filled (ABI).
  Words b(kernel.nr * k_words, (misalign + 1) % 4);
  for (size_t m = 0; m < mr; ++m) {
    for (size_t k = 0; k < k_words; ++k) {
      a_rows[m].set(k, fill == Fill::kRandom     ? word(rng)
                       : fill == Fill::kMaxCount ? ~0u
                                                 : 0x5a5a5a5au);
    }
  }
  for (size_t n = 0; n < kernel.nr; ++n) {
    for (size_t k = 0; k < k_words; ++k) {
      uint32_t v = n < nr ? (fill == Fill::kRandom     ? word(rng)
                             : fill == Fill::kMaxCount ? 0u
                                                       : 0x5a5a5a5au)
                          : 0u;
      b.set(kernel.BIndex(n, k, k_words), v);
    }
  }
  std::vector<const uint32_t*> a_ptrs;
  for (size_t m = 0; m < mr; ++m) a_ptrs.push_back(a_rows[m].ptr());

  constexpr int32_t kSentinel = -123456789;
  std::vector<int32_t> c(kernel.mr * c_stride + 8, kSentinel);
  kernel.fn(mr, nr, k_words, a_ptrs.data(), b.ptr(), c.data(), c_stride);

  // Reference on aligned copies.
  std::vector<uint32_t> aref(k_words), bref(k_words);
  for (size_t m = 0; m < kernel.mr; ++m) {
    for (size_t n = 0; n < c_stride; ++n) {
      const int32_t got = c[m * c_stride + n];
      if (m < mr && n < nr) {
        for (size_t k = 0; k < k_words; ++k) {
          aref[k] = a_rows[m].get(k);
          bref[k] = b.get(kernel.BIndex(n, k, k_words));
        }
        const int32_t want = NaivePopcountXor(aref.data(), bref.data(), k_words);
        ASSERT_EQ(got, want) << "at m=" << m << " n=" << n;
        if (fill == Fill::kMaxCount) {
          ASSERT_EQ(got, static_cast<int32_t>(32 * k_words));
        }
      } else {
        ASSERT_EQ(got, kSentinel) << "wrote outside the mr x nr tile at m=" << m << " n=" << n;
      }
    }
  }
}

TEST(NeonBgemmUkernel, KernelsPresent) {
  // AArch64 always has NEON; on ARMv7 a missing NEON HWCAP must be explicit, not a silent pass.
  const std::vector<Kernel> ks = NeonKernels();
  if (ks.empty() && std::getenv("KBNN_ALLOW_NO_NEON") != nullptr)
    GTEST_SKIP() << "no NEON on this CPU";
  ASSERT_FALSE(ks.empty()) << "CPU reports no NEON (set KBNN_ALLOW_NO_NEON=1 to accept)";
  for (const Kernel& k : ks) std::printf("[ NEON     ] testing %s\n", k.name);
}

TEST(NeonBgemmUkernel, AllTilesAndTails) {
  std::mt19937 rng(1234);
  const size_t k_list[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,  12,  13,  15,  16,  17,
                           18, 19, 31, 32, 33, 35, 63, 64, 65, 72, 127, 144, 145, 255, 290, 1001};
  for (const Kernel& kernel : NeonKernels()) {
    for (size_t k_words : k_list) {
      for (size_t mr = 1; mr <= kernel.mr; ++mr) {
        for (size_t nr = 1; nr <= kernel.nr; ++nr) {
          const size_t c_stride = nr + (k_words % 3);
          RunCase(kernel, mr, nr, k_words, c_stride, k_words % 4, Fill::kRandom, rng);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(NeonBgemmUkernel, ChunkBoundariesAndSaturatedCounts) {
  // Narrow accumulators are widened in blocks (aarch64 6x4: u8 lanes every 31 128-bit steps, the
  // 1..3-word tail counting as the first step: 123 words with a tail, 124 without; aarch64 12x8:
  // every 31 words; armv7: u16 lanes every 2048 steps = 8192 words). All-ones XOR all-zero
  // maximizes every byte count, so a block that is one step too long wraps and shows.
  std::mt19937 rng(99);
  const size_t k_list[] = {31,  32,  62,  63,   123,  124,  125,  128,  131,       247,         248,
                           249, 252, 253, 8191, 8192, 8193, 8195, 8196, 16384 + 3, 3 * 8192 + 1};
  for (const Kernel& kernel : NeonKernels()) {
    for (size_t k_words : k_list) {
#if defined(__aarch64__)
      if (k_words > 1000) continue;  // the u16 blocks of 8192 words are armv7's; keep QEMU time low
#endif
      RunCase(kernel, kernel.mr, kernel.nr, k_words, kernel.nr, 0, Fill::kMaxCount, rng);
      RunCase(kernel, kernel.mr, kernel.nr, k_words, kernel.nr + 1, 3, Fill::kRandom, rng);
      RunCase(kernel, 1, kernel.nr - 1, k_words, kernel.nr, 1, Fill::kZeroCount, rng);
      if (HasFatalFailure()) return;
    }
  }
}

// Places every operand so that its last word ends exactly at an unmapped page: a read past the end
// faults (SIGSEGV) instead of passing silently.
class GuardedWords {
 public:
  explicit GuardedWords(size_t words) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = words * 4;
    data_pages_ = (bytes + page_ - 1) / page_;
    map_ = static_cast<uint8_t*>(mmap(nullptr, (data_pages_ + 1) * page_, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    EXPECT_NE(map_, MAP_FAILED);
    EXPECT_EQ(mprotect(map_ + data_pages_ * page_, page_, PROT_NONE), 0);
    begin_ = map_ + data_pages_ * page_ - bytes;
  }
  ~GuardedWords() { munmap(map_, (data_pages_ + 1) * page_); }
  GuardedWords(const GuardedWords&) = delete;
  GuardedWords& operator=(const GuardedWords&) = delete;
  uint32_t* ptr() { return reinterpret_cast<uint32_t*>(begin_); }

 private:
  size_t page_ = 0;
  size_t data_pages_ = 0;
  uint8_t* map_ = nullptr;
  uint8_t* begin_ = nullptr;
};

TEST(NeonBgemmUkernel, NoReadPastLastWord) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> word;
  for (const Kernel& kernel : NeonKernels()) {
    for (size_t k_words : {1, 2, 3, 5, 6, 7, 9, 37}) {
      for (size_t mr = 1; mr <= kernel.mr; ++mr) {
        SCOPED_TRACE(std::string(kernel.name) + " k_words=" + std::to_string(k_words) +
                     " mr=" + std::to_string(mr));
        std::vector<GuardedWords*> rows;
        std::vector<const uint32_t*> a_ptrs;
        for (size_t m = 0; m < mr; ++m) {
          rows.push_back(new GuardedWords(k_words));
          for (size_t k = 0; k < k_words; ++k) rows.back()->ptr()[k] = word(rng);
          a_ptrs.push_back(rows.back()->ptr());
        }
        GuardedWords b(kernel.nr * k_words);
        for (size_t i = 0; i < kernel.nr * k_words; ++i) b.ptr()[i] = word(rng);
        std::vector<int32_t> c(kernel.mr * kernel.nr, 0);
        kernel.fn(mr, kernel.nr, k_words, a_ptrs.data(), b.ptr(), c.data(), kernel.nr);
        for (size_t m = 0; m < mr; ++m) {
          for (size_t n = 0; n < kernel.nr; ++n) {
            std::vector<uint32_t> b_row(k_words);
            for (size_t k = 0; k < k_words; ++k) b_row[k] = b.ptr()[kernel.BIndex(n, k, k_words)];
            EXPECT_EQ(c[m * kernel.nr + n], NaivePopcountXor(a_ptrs[m], b_row.data(), k_words));
          }
        }
        for (GuardedWords* r : rows) delete r;
      }
    }
  }
}

// ---- Through the library: the dispatcher must list and select the NEON kernels. ----

TEST(NeonDispatch, RegisteredMicrokernelsMatchNaive) {
  std::mt19937 rng(5);
  int found = 0;
  for (const kbnn::BgemmUkernel& u : kbnn::AvailableBgemmUkernels()) {
    if (std::string(u.isa) != "neon") continue;
    ++found;
    std::printf("[ NEON     ] registered %s (%dx%d)\n", u.name, u.mr, u.nr);
    const Kernel k{u.name, u.fn, static_cast<size_t>(u.mr), static_cast<size_t>(u.nr),
                   u.k_major_panel};
    for (size_t k_words : {1, 3, 4, 7, 18, 73}) {
      for (size_t mr = 1; mr <= k.mr; ++mr) {
        RunCase(k, mr, k.nr, k_words, k.nr, 1, Fill::kRandom, rng);
        RunCase(k, mr, 1, k_words, k.nr, 0, Fill::kRandom, rng);
      }
    }
  }
  if (NeonKernels().empty()) GTEST_SKIP() << "no NEON on this CPU";
  EXPECT_GT(found, 0) << "the dispatch table lists no microkernel with isa \"neon\"";
}

// Forces the NEON ISA (KBNN_KERNEL=neon from the environment when set, else SetForcedIsa), checks
// that kAuto resolves to it, and that binary convolutions with K tails give exactly the reference
// result.
TEST(NeonDispatch, ForcedNeonSelectedAndMatchesReference) {
  if (NeonKernels().empty()) GTEST_SKIP() << "no NEON on this CPU";
  const char* env = std::getenv("KBNN_KERNEL");
  const bool env_forced = env != nullptr && std::string(env) == "neon";
  if (!env_forced) {
    const kbnn::Status st = kbnn::SetForcedIsa("neon");
    ASSERT_TRUE(st.ok()) << st.message();
  }
  ASSERT_STREQ(kbnn::SelectedIsa(), "neon");
  std::printf("[ NEON     ] selected isa=neon (via %s)\n",
              env_forced ? "KBNN_KERNEL=neon" : "SetForcedIsa(\"neon\")");

  struct Shape {
    int cin, cout, fh, stride;
    kbnn::Padding pad;
    int pad_value;
    kbnn::OutputType out;
  };
  const Shape shapes[] = {
      {256, 8, 3, 1, kbnn::Padding::kSame, 1, kbnn::OutputType::kInt32Dot},  // 72 words
      {100, 7, 3, 2, kbnn::Padding::kSame, 0, kbnn::OutputType::kInt32Dot},  // 36 words, tail
      {33, 5, 1, 1, kbnn::Padding::kValid, 1, kbnn::OutputType::kFloat32},  // 2 words
      {520, 9, 3, 1, kbnn::Padding::kValid, 1, kbnn::OutputType::kBitpacked},  // 153 words
      {31, 4, 5, 1, kbnn::Padding::kSame, 1, kbnn::OutputType::kInt32Dot},  // 25 words
  };
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> word;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  bool neon_ukernel_ran = false;
  for (const Shape& sh : shapes) {
    kbnn::BConv2DParams p;
    p.batch = 2;
    p.input_height = 6;
    p.input_width = 5;
    p.channels_in = sh.cin;
    p.channels_out = sh.cout;
    p.filter_height = sh.fh;
    p.filter_width = sh.fh;
    p.stride_height = sh.stride;
    p.stride_width = sh.stride;
    p.padding = sh.pad;
    p.pad_value = sh.pad_value;
    p.output.type = sh.out;
    const int words = kbnn::PackedWords(sh.cin);
    const uint32_t last_mask = (sh.cin % 32 == 0) ? ~0u : ((1u << (sh.cin % 32)) - 1u);
    auto fill_packed = [&](std::vector<uint32_t>* v) {
      for (size_t i = 0; i < v->size(); ++i) {
        (*v)[i] = word(rng) & ((i % words == static_cast<size_t>(words - 1)) ? last_mask : ~0u);
      }
    };
    std::vector<uint32_t> input(static_cast<size_t>(p.batch) * p.input_height * p.input_width *
                                words);
    std::vector<uint32_t> filters(static_cast<size_t>(sh.cout) * sh.fh * sh.fh * words);
    fill_packed(&input);
    fill_packed(&filters);
    std::vector<float> multiplier(sh.cout), bias(sh.cout);
    for (int c = 0; c < sh.cout; ++c) {
      multiplier[c] = 0.25f + std::abs(normal(rng));
      bias[c] = normal(rng) * 4.0f;
    }

    std::unique_ptr<kbnn::BConv2D> neon_op, ref_op;
    p.kernel = kbnn::KernelChoice::kAuto;
    kbnn::Status st =
        kbnn::BConv2D::Create(p, filters.data(), multiplier.data(), bias.data(), &neon_op);
    ASSERT_TRUE(st.ok()) << st.message();
    p.kernel = kbnn::KernelChoice::kReference;
    st = kbnn::BConv2D::Create(p, filters.data(), multiplier.data(), bias.data(), &ref_op);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_STREQ(neon_op->isa(), "neon");
    ASSERT_EQ(neon_op->output_bytes(), ref_op->output_bytes());
    if (std::string(neon_op->kernel_name()).find("neon") != std::string::npos)
      neon_ukernel_ran = true;

    std::vector<uint8_t> got(neon_op->output_bytes(), 0xAB), want(ref_op->output_bytes(), 0xCD);
    st = neon_op->Run(input.data(), got.data(), nullptr);
    ASSERT_TRUE(st.ok()) << st.message();
    st = ref_op->Run(input.data(), want.data(), nullptr);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_TRUE(got == want) << "NEON bconv2d differs from the reference: cin=" << sh.cin
                             << " cout=" << sh.cout << " f=" << sh.fh << " stride=" << sh.stride
                             << " kernel=" << neon_op->kernel_name();
    std::printf("[ NEON     ] bconv2d cin=%d cout=%d f=%d: %s == reference\n", sh.cin, sh.cout,
                sh.fh, neon_op->kernel_name());
  }
  EXPECT_TRUE(neon_ukernel_ran) << "no convolution used a NEON microkernel";
  if (!env_forced) kbnn::SetForcedIsa(nullptr);
}

}  // namespace

#endif  // __aarch64__ || __arm__
