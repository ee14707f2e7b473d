// The ISAs' output transform microkernels (IsaConfig::output_*) and the portable ones against
// the scalar formulas of src/common.h, on edge values: +-0, +-inf and NaN multipliers and biases,
// half-way int8 ties, saturating int8 scales and zero points, every activation (clamps with signed
// zero and all-negative bounds), the padding correction, several k, tails of n % 4, n % 16 and
// n % 32. The NEON ones (aarch64: float, int8, fused residual, bitpacked; armv7: bitpacked) run
// here through the dispatch table under QEMU (kernels/scripts/test_arm.sh).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "common.h"
#include "kbnn/dispatch.h"
#include "ukernels/ukernels.h"

namespace kbnn {
namespace {

using internal::BitThreshold;
using internal::ComputeBitThreshold;
using internal::FloatOutput;
using internal::Int8FromFloat;
using internal::ThresholdBit;

// The portable kernels (ukernels/output-scalar.cc) that every ISA falls back to, as a row.
const IsaConfig* PortableOutputKernels() {
  static const IsaConfig config = [] {
    IsaConfig c;
    c.isa = "portable";
    c.output_f32 = kbnn_output_f32__scalar;
    c.output_int8 = kbnn_output_int8__scalar;
    c.output_bits = kbnn_output_bits__scalar;
    return c;
  }();
  return &config;
}

std::vector<const IsaConfig*> IsasWithOutputKernels() {
  std::vector<const IsaConfig*> out{PortableOutputKernels()};
  for (const std::string& isa : AvailableIsas()) {
    const IsaConfig* c = nullptr;
    if (SetForcedIsa(isa.c_str()).ok() && ResolveKernel(KernelChoice::kAuto, &c).ok() &&
        c != nullptr &&
        (c->output_f32 != nullptr || c->output_int8 != nullptr || c->output_bits != nullptr ||
         c->output_f32_residual != nullptr)) {
      out.push_back(c);
    }
  }
  SetForcedIsa("auto");
  return out;
}

struct Case {
  size_t rows, n;
  int32_t k;
  std::vector<int32_t> acc;  // rows x acc_stride
  size_t acc_stride;
  std::vector<std::vector<int32_t>> corr;  // per row, empty = none
  std::vector<float> m, b;
};

// with_corr: rows 1, 4, 7, ... have a padding correction (the others none); else no row has one.
Case MakeCase(std::mt19937& rng, size_t rows, size_t n, int32_t k = 576, bool with_corr = true) {
  Case c;
  c.rows = rows;
  c.n = n;
  c.k = k;
  c.acc_stride = n + 5;
  std::uniform_int_distribution<int> pc(0, c.k), cd(-40, 40);
  c.acc.resize(rows * c.acc_stride);
  for (auto& v : c.acc) v = pc(rng);
  c.corr.resize(rows);
  for (size_t i = 0; i < rows; ++i) {
    if (with_corr && i % 3 == 1) {
      c.corr[i].resize(n);
      for (auto& v : c.corr[i]) v = 2 * cd(rng);
    }
  }
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, inf, -inf, nan, 1e-30f, 3e38f, 0.25f};
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  c.m.resize(n);
  c.b.resize(n);
  for (size_t j = 0; j < n; ++j) {
    c.m[j] = j % 4 == 0 ? special[(j / 4) % 11] : u(rng);
    c.b[j] = j % 5 == 0 ? special[(j / 5 + 3) % 11] : (j % 3 == 0 ? 0.5f : 40.0f * u(rng));
  }
  return c;
}

int32_t DotOf(const Case& c, size_t i, size_t j) {
  return c.k - 2 * c.acc[i * c.acc_stride + j] - (c.corr[i].empty() ? 0 : c.corr[i][j]);
}

std::vector<const int32_t*> CorrPtrs(const Case& c) {
  std::vector<const int32_t*> p(c.rows);
  for (size_t i = 0; i < c.rows; ++i) p[i] = c.corr[i].empty() ? nullptr : c.corr[i].data();
  return p;
}

std::vector<OutputParams> Activations() {
  std::vector<OutputParams> v(7);
  v[1].activation = Activation::kRelu;
  v[2].activation = Activation::kRelu6;
  v[3].activation = Activation::kClamp;
  v[3].clamp_min = -7.5f;
  v[3].clamp_max = 30.0f;
  // Signed zero bounds: y > -0 ? y : -0 keeps -0 for y = +-0 (a max instruction might not).
  v[4].activation = Activation::kClamp;
  v[4].clamp_min = -0.0f;
  v[4].clamp_max = 0.0f;
  // All negative: every output (and a padded tail lane) is negative.
  v[5].activation = Activation::kClamp;
  v[5].clamp_min = -3.0f;
  v[5].clamp_max = -1.0f;
  v[6].activation = Activation::kClamp;  // the default infinite bounds
  return v;
}

// The params of a float / int8 / fused call on the case's arrays.
OutputUkernelParams ParamsOf(const Case& c, size_t out_stride, const OutputParams& o) {
  OutputUkernelParams params;
  params.k = c.k;
  params.acc_stride = c.acc_stride;
  params.out_stride = out_stride;
  params.output = o;
  params.multiplier = c.m.data();
  params.bias = c.b.data();
  return params;
}

TEST(OutputUkernel, MatchesScalarFormulas) {
  const std::vector<const IsaConfig*> isas = IsasWithOutputKernels();
  if (isas.empty()) GTEST_SKIP() << "no ISA with output transform microkernels on this CPU/build";
  std::mt19937 rng(7);
  const int32_t ks[] = {576, 37, 4608};
  size_t combo = 0;
  for (const IsaConfig* isa : isas) {
    SCOPED_TRACE(isa->isa);
    for (size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 36, 63, 64, 65, 100}) {
      for (size_t rows : {1, 3, 8}) {
        const int32_t k = ks[combo++ % 3];
        SCOPED_TRACE("k=" + std::to_string(k));
        // Every fourth case passes no correction array at all (corr == nullptr).
        const bool with_corr = combo % 4 != 0;
        const Case c = MakeCase(rng, rows, n, k, with_corr);
        const std::vector<const int32_t*> corr_rows = CorrPtrs(c);
        const int32_t* const* corr = with_corr ? corr_rows.data() : nullptr;
        for (OutputParams o : Activations()) {
          // float
          const size_t ys = n + 3;
          const OutputUkernelParams params = ParamsOf(c, ys, o);
          std::vector<float> y(rows * ys, -123.0f);
          if (isa->output_f32 != nullptr) {
            isa->output_f32(rows, n, 0, c.acc.data(), corr, y.data(), params);
            for (size_t i = 0; i < rows; ++i) {
              for (size_t j = 0; j < ys; ++j) {
                const float got = y[i * ys + j];
                if (j >= n) {
                  ASSERT_EQ(got, -123.0f) << "wrote past n";
                  continue;
                }
                const float want = FloatOutput(DotOf(c, i, j), c.m[j], c.b[j], o);
                ASSERT_TRUE(std::memcmp(&got, &want, 4) == 0 ||
                            (std::isnan(got) && std::isnan(want)))
                    << "float n=" << n << " i=" << i << " j=" << j << " got " << got << " want "
                    << want << " m=" << c.m[j] << " b=" << c.b[j];
              }
            }
          }
          // int8, with scales that make exact .5 ties, that saturate (1e-30: |y / scale| is
          // inf or far beyond int32) or round everything to 0, and extreme zero points
          const int32_t zero_points[] = {-3, -128, 127, 0};
          size_t zi = combo;
          for (float scale : {2.0f, 0.5f, 0.37f, 1e-30f, 3e37f}) {
            if (isa->output_int8 == nullptr) break;
            OutputParams q = o;
            q.type = OutputType::kInt8;
            q.int8_scale = scale;
            q.int8_zero_point = zero_points[zi++ % 4];
            std::vector<int8_t> y8(rows * ys, 99);
            OutputUkernelParams pq = params;
            pq.output = q;
            isa->output_int8(rows, n, 0, c.acc.data(), corr, y8.data(), pq);
            for (size_t i = 0; i < rows; ++i) {
              for (size_t j = 0; j < ys; ++j) {
                if (j >= n) {
                  ASSERT_EQ(y8[i * ys + j], 99) << "wrote past n";
                  continue;
                }
                const int8_t want =
                    Int8FromFloat(FloatOutput(DotOf(c, i, j), c.m[j], c.b[j], q), q);
                ASSERT_EQ(y8[i * ys + j], want)
                    << "int8 scale=" << scale << " zp=" << q.int8_zero_point << " n=" << n
                    << " i=" << i << " j=" << j;
              }
            }
          }
          // fused residual + sign output: the float output, + r (one add), sign bits OR'ed in
          if (isa->output_f32_residual != nullptr) {
            std::uniform_real_distribution<float> ur(-60.0f, 60.0f);
            std::vector<float> r(rows * ys);
            for (float& v : r) v = ur(rng);
            r[0] = -0.0f;
            const size_t words = (n + 31) / 32, ss = words + 1;
            OutputUkernelParams pr = params;
            pr.sign_stride = ss;
            for (int with_r = 0; with_r < 2; ++with_r) {
              std::vector<float> yr(rows * ys, -123.0f);
              std::vector<uint32_t> sign(rows * ss, 0u);
              for (size_t i = 0; i < rows; ++i) sign[i * ss + words] = 0xdeadbeefu;
              isa->output_f32_residual(rows, n, 0, c.acc.data(), corr, with_r ? r.data() : nullptr,
                                       yr.data(), sign.data(), pr);
              for (size_t i = 0; i < rows; ++i) {
                ASSERT_EQ(sign[i * ss + words], 0xdeadbeefu) << "wrote past the row's words";
                for (size_t j = 0; j < ys; ++j) {
                  const float got = yr[i * ys + j];
                  if (j >= n) {
                    ASSERT_EQ(got, -123.0f) << "wrote past n";
                    continue;
                  }
                  float want = FloatOutput(DotOf(c, i, j), c.m[j], c.b[j], o);
                  if (with_r) want += r[i * ys + j];
                  ASSERT_TRUE(std::memcmp(&got, &want, 4) == 0 ||
                              (std::isnan(got) && std::isnan(want)))
                      << "residual n=" << n << " i=" << i << " j=" << j;
                  const uint32_t bit = (sign[i * ss + j / 32] >> (j % 32)) & 1u;
                  ASSERT_EQ(bit, static_cast<uint32_t>(want < 0.0f))
                      << "sign n=" << n << " j=" << j;
                }
                for (size_t j = n; j < words * 32; ++j) {
                  ASSERT_EQ((sign[i * ss + j / 32] >> (j % 32)) & 1u, 0u) << "padding bit set";
                }
              }
            }
          }
          // bitpacked (thresholds as bconv2d computes them), OR'ed into preset words
          if (isa->output_bits != nullptr) {
            std::vector<int32_t> thr(n);
            std::vector<BitThreshold> t(n);
            const size_t words = (n + 31) / 32, os = words + 1;
            std::vector<uint32_t> flip(words, 0u);
            // Some thresholds at the int32 extremes and the ends of [-k, k] as well.
            const int32_t lim = std::numeric_limits<int32_t>::max();
            const int32_t special[] = {-lim - 1, lim, -c.k, c.k, 0, -lim, c.k + 1};
            for (size_t j = 0; j < n; ++j) {
              t[j] = ComputeBitThreshold(c.m[j], c.b[j], o, c.k + 80);
              if (j % 7 == 3) t[j] = {special[(j / 7) % 7], static_cast<uint32_t>(j / 2 % 2)};
              thr[j] = t[j].threshold;
              flip[j / 32] |= t[j].flip << (j % 32);
            }
            // Words preset with a bit pattern: the kernel ORs its bits into them.
            const uint32_t preset = 0x80000001u;
            std::vector<uint32_t> out(rows * os, preset);
            for (size_t i = 0; i < rows; ++i) out[i * os + words] = 0xdeadbeefu;
            OutputUkernelParams pb = ParamsOf(c, os, o);
            pb.threshold = thr.data();
            pb.flip = flip.data();
            isa->output_bits(rows, n, 0, c.acc.data(), corr, out.data(), pb);
            for (size_t i = 0; i < rows; ++i) {
              ASSERT_EQ(out[i * os + words], 0xdeadbeefu) << "wrote past the row's words";
              for (size_t j = 0; j < words * 32; ++j) {
                const uint32_t bit = (out[i * os + j / 32] >> (j % 32)) & 1u;
                const uint32_t bit_preset = (preset >> (j % 32)) & 1u;
                const uint32_t want =
                    (j < n ? ThresholdBit(DotOf(c, i, j), t[j]) : 0u) | bit_preset;
                ASSERT_EQ(bit, want) << "bits n=" << n << " i=" << i << " j=" << j;
              }
            }
          }
        }
      }
    }
  }
}

// A call's `channel` indexes the params' per-channel arrays, the correction rows and the
// outputs; a block at channel 32 equals the same block computed at channel 0 on shifted arrays.
TEST(OutputUkernel, ChannelOffset) {
  std::mt19937 rng(11);
  constexpr size_t kChannel = 32;
  for (const IsaConfig* isa : IsasWithOutputKernels()) {
    SCOPED_TRACE(isa->isa);
    for (size_t n : {1, 17, 40, 64, 99}) {
      const size_t rows = 3, total = kChannel + n;
      const Case c = MakeCase(rng, rows, total);
      std::vector<std::vector<int32_t>> corr_full(rows);
      std::vector<const int32_t*> corr(rows), corr0(rows);
      for (size_t i = 0; i < rows; ++i) {
        corr_full[i] = c.corr[i].empty() ? std::vector<int32_t>(total, 6) : c.corr[i];
        corr[i] = corr_full[i].data();
        corr0[i] = corr_full[i].data() + kChannel;
      }
      OutputParams o;
      o.activation = Activation::kRelu6;
      // acc of the block: its first n columns (channel 0 of the block).
      const OutputUkernelParams at = ParamsOf(c, total, o);
      OutputUkernelParams shifted = at;
      shifted.multiplier = c.m.data() + kChannel;
      shifted.bias = c.b.data() + kChannel;
      if (isa->output_f32 != nullptr) {
        std::vector<float> y(rows * total, -1.0f), want(rows * total, -1.0f);
        isa->output_f32(rows, n, kChannel, c.acc.data(), corr.data(), y.data(), at);
        isa->output_f32(rows, n, 0, c.acc.data(), corr0.data(), want.data() + kChannel, shifted);
        ASSERT_EQ(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)), 0)
            << "float n=" << n;
      }
      if (isa->output_int8 != nullptr) {
        OutputUkernelParams q = at, q0 = shifted;
        q.output.type = q0.output.type = OutputType::kInt8;
        q.output.int8_scale = q0.output.int8_scale = 0.5f;
        q.output.int8_zero_point = q0.output.int8_zero_point = 5;
        std::vector<int8_t> y8(rows * total, 77), want8(rows * total, 77);
        isa->output_int8(rows, n, kChannel, c.acc.data(), corr.data(), y8.data(), q);
        isa->output_int8(rows, n, 0, c.acc.data(), corr0.data(), want8.data() + kChannel, q0);
        ASSERT_EQ(y8, want8) << "int8 n=" << n;
      }
      if (isa->output_f32_residual != nullptr) {
        const size_t words = (total + 31) / 32;
        OutputUkernelParams pr = at, pr0 = shifted;
        pr.sign_stride = pr0.sign_stride = words;
        std::vector<float> r(rows * total);
        std::uniform_real_distribution<float> ur(-9.0f, 9.0f);
        for (float& v : r) v = ur(rng);
        std::vector<float> yr(rows * total, -1.0f), want_r(rows * total, -1.0f);
        std::vector<uint32_t> sign(rows * words, 0u), want_sign(rows * words, 0u);
        isa->output_f32_residual(rows, n, kChannel, c.acc.data(), corr.data(), r.data(), yr.data(),
                                 sign.data(), pr);
        isa->output_f32_residual(rows, n, 0, c.acc.data(), corr0.data(), r.data() + kChannel,
                                 want_r.data() + kChannel, want_sign.data() + 1, pr0);
        ASSERT_EQ(std::memcmp(yr.data(), want_r.data(), yr.size() * sizeof(float)), 0)
            << "residual n=" << n;
        ASSERT_EQ(sign, want_sign) << "sign n=" << n;
        for (size_t i = 0; i < rows; ++i) ASSERT_EQ(sign[i * words], 0u) << "sign below channel";
      }
      std::vector<int32_t> dots(rows * total, -1), dots_want(rows * total, -1);
      kbnn_output_i32__scalar(rows, n, kChannel, c.acc.data(), corr.data(), dots.data(), at);
      for (size_t i = 0; i < rows; ++i) {
        for (size_t j = 0; j < n; ++j) {
          dots_want[i * total + kChannel + j] =
              c.k - 2 * c.acc[i * c.acc_stride + j] - corr_full[i][kChannel + j];
        }
      }
      ASSERT_EQ(dots, dots_want) << "int32 dot n=" << n;
      if (isa->output_bits != nullptr) {
        std::vector<int32_t> thr(total);
        std::vector<uint32_t> flip((total + 31) / 32, 0u);
        for (size_t j = 0; j < total; ++j) {
          const BitThreshold t = ComputeBitThreshold(c.m[j], c.b[j], o, c.k);
          thr[j] = t.threshold;
          flip[j / 32] |= t.flip << (j % 32);
        }
        const size_t words = (total + 31) / 32;
        OutputUkernelParams pb = at;
        pb.out_stride = words;
        pb.threshold = thr.data();
        pb.flip = flip.data();
        std::vector<uint32_t> bits(rows * words, 0u);
        isa->output_bits(rows, n, kChannel, c.acc.data(), corr.data(), bits.data(), pb);
        for (size_t i = 0; i < rows; ++i) {
          ASSERT_EQ(bits[i * words], 0u) << "wrote below the block's channel";
          for (size_t j = 0; j < n; ++j) {
            const size_t ch = kChannel + j;
            const BitThreshold t{thr[ch], (flip[ch / 32] >> (ch % 32)) & 1u};
            const int32_t dot = c.k - 2 * c.acc[i * c.acc_stride + j] - corr_full[i][ch];
            ASSERT_EQ((bits[i * words + ch / 32] >> (ch % 32)) & 1u, ThresholdBit(dot, t))
                << "bits n=" << n << " i=" << i << " j=" << j;
          }
        }
      }
    }
  }
}

// The NEON output kernels are what the dispatch table gives the "neon" ISA (so that the tests
// above, which take the kernels from the table, run them): aarch64 has all four, armv7 only the
// bitpacked one (its NEON float arithmetic flushes subnormals to zero).
TEST(OutputUkernel, NeonKernelsInDispatchTable) {
#if defined(__aarch64__) || defined(__arm__)
  if (!SetForcedIsa("neon").ok()) {
    SetForcedIsa("auto");
    GTEST_SKIP() << "this ARM CPU has no NEON";
  }
  const IsaConfig* c = nullptr;
  ASSERT_TRUE(ResolveKernel(KernelChoice::kAuto, &c).ok());
  SetForcedIsa("auto");
  ASSERT_NE(c, nullptr);
#if defined(__aarch64__)
  EXPECT_EQ(c->output_f32, &kbnn_output_f32__aarch64_neon);
  EXPECT_EQ(c->output_int8, &kbnn_output_int8__aarch64_neon);
  EXPECT_EQ(c->output_bits, &kbnn_output_bits__aarch64_neon);
  EXPECT_EQ(c->output_f32_residual, &kbnn_output_f32_residual__aarch64_neon);
#else
  EXPECT_EQ(c->output_f32, nullptr);
  EXPECT_EQ(c->output_int8, nullptr);
  EXPECT_EQ(c->output_bits, &kbnn_output_bits__armv7_neon);
  EXPECT_EQ(c->output_f32_residual, nullptr);
#endif
#else
  GTEST_SKIP() << "not an ARM build: the NEON output kernels are tested under QEMU by "
                  "kernels/scripts/test_arm.sh";
#endif
}

}  // namespace
}  // namespace kbnn
