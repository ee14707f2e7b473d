// Fused Bi-Real epilogue, AArch64 Advanced SIMD: the float output (as output-f32-aarch64-neon.cc),
// + the residual (one float add) when there is one, stored, and the sign bits (v < 0) of each
// 32-channel block gathered into its output word (output-neon-impl.h FoldMask) and OR'ed in, all
// in one pass. Blocks of 32 channels (one sign word; the 16 multiplier and bias vectors stay in
// registers, rows inner); a tail of n % 32 channels runs on zero-padded copies, its word masked to
// the valid channels. Bit-exact with FloatOutput() of src/common.h plus the add.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "ukernels/output-neon-impl.h"
#include "ukernels/ukernels.h"

#if !defined(__aarch64__)
#error "output-f32-residual-aarch64-neon.cc must be compiled for AArch64"
#endif

namespace kbnn {
namespace {

using namespace neon_output;  // NOLINT(build/namespaces): this file's helpers

constexpr size_t kBlock = 32;

// One row of a block: out = act(m * dot + b) (+ r); returns the sign word (bit = v < 0) when
// kSign, else 0. The vectors go from the last to the first, each sign mask folded into the word
// as it comes (output-neon-impl.h FoldMask).
template <bool kCorr, bool kResidual, bool kSign, class Act>
inline uint32_t Block(const int32_t* a, const int32_t* c, const float* r, int32x4_t vk,
                      const BlockScale<kBlock>& s, const Act& act, uint32x4_t lane_bits,
                      float* out) {
  uint32x4_t word = vdupq_n_u32(0);
  for (int v = kBlock / 4 - 1; v >= 0; --v) {
    float32x4_t x = FloatOut<kCorr>(a + 4 * v, c + (kCorr ? 4 * v : 0), vk, s.m[v], s.b[v], act);
    if (kResidual) x = vaddq_f32(x, vld1q_f32(r + 4 * v));
    vst1q_f32(out + 4 * v, x);
    // ordered: NaN and -0 give 0, as (v < 0.0f)
    if (kSign) word = FoldMask(word, vcltzq_f32(x), lane_bits);
  }
  if constexpr (kSign) {
    return WordOf(word);
  } else {
    return 0u;
  }
}

template <bool kResidual, bool kSign, class Act>
inline uint32_t Row(const int32_t* a, const int32_t* c, const float* r, int32x4_t vk,
                    const BlockScale<kBlock>& s, const Act& act, uint32x4_t lane_bits, float* out) {
  return c != nullptr ? Block<true, kResidual, kSign>(a, c, r, vk, s, act, lane_bits, out)
                      : Block<false, kResidual, kSign>(a, c, r, vk, s, act, lane_bits, out);
}

template <bool kResidual, bool kSign, class Act>
void OutputF32Residual(size_t rows, size_t n, size_t channel, const int32_t* acc,
                       const int32_t* const* corr, const float* r, float* y, uint32_t* sign,
                       const OutputUkernelParams& p, Act act) {
  const int32x4_t vk = vdupq_n_s32(p.k);
  const uint32x4_t lane_bits = LaneBits();
  for (size_t j = 0; j < n; j += kBlock) {
    const size_t len = std::min(kBlock, n - j);
    const BlockScale<kBlock> s(p.multiplier + channel + j, p.bias + channel + j, len);
    const int32_t* a = acc + j;
    const float* res = kResidual ? r + channel + j : nullptr;
    float* out = y + channel + j;
    uint32_t* sw = kSign ? sign + (channel + j) / 32 : nullptr;
    if (len == kBlock) {  // no calls in this loop: the block's scales stay in registers
      for (size_t i = 0; i < rows; ++i, a += p.acc_stride, out += p.out_stride) {
        const uint32_t bits = Row<kResidual, kSign>(a, RowCorr(corr, i, channel + j), res, vk, s,
                                                    act, lane_bits, out);
        if (kResidual) res += p.out_stride;
        if (kSign) {
          *sw |= bits;
          sw += p.sign_stride;
        }
      }
      continue;
    }
    const uint32_t valid = ValidBits(len);
    for (size_t i = 0; i < rows; ++i, a += p.acc_stride, out += p.out_stride) {
      const int32_t* c = RowCorr(corr, i, channel + j);
      PaddedRow<kBlock> pad;
      pad.Fill(a, c, len);
      float rt[kBlock], tmp[kBlock];
      if (kResidual) {
        std::memset(rt, 0, sizeof(rt));
        std::memcpy(rt, res, len * sizeof(float));
        res += p.out_stride;
      }
      const uint32_t bits = Row<kResidual, kSign>(pad.acc, c != nullptr ? pad.corr : nullptr, rt,
                                                  vk, s, act, lane_bits, tmp);
      std::memcpy(out, tmp, len * sizeof(float));
      if (kSign) {
        *sw |= bits & valid;
        sw += p.sign_stride;
      }
    }
  }
}

}  // namespace

void kbnn_output_f32_residual__aarch64_neon(size_t rows, size_t n, size_t channel,
                                            const int32_t* acc, const int32_t* const* corr,
                                            const float* r, float* y, uint32_t* sign,
                                            const OutputUkernelParams& p) {
  WithActivation(p.output, [&](const auto& act) {
    if (r != nullptr && sign != nullptr) {
      OutputF32Residual<true, true>(rows, n, channel, acc, corr, r, y, sign, p, act);
    } else if (r != nullptr) {
      OutputF32Residual<true, false>(rows, n, channel, acc, corr, r, y, sign, p, act);
    } else if (sign != nullptr) {
      OutputF32Residual<false, true>(rows, n, channel, acc, corr, r, y, sign, p, act);
    } else {
      OutputF32Residual<false, false>(rows, n, channel, acc, corr, r, y, sign, p, act);
    }
  });
}

}  // namespace kbnn
