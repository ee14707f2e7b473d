#pragma once
// Inline helpers shared by the NEON output transform microkernels (output-*-neon.cc): the
// popcount -> dot product step, the activations, the gathering of per-lane compare masks into a
// 32-bit word, and the padded copies that let a block's tail (n not a multiple of the block width)
// run through the same vector code. Only included by files compiled with NEON.
//
// Bit-exactness with src/common.h: the float path is a separate multiply and add (vmulq_f32 then
// vaddq_f32; the library is built with -ffp-contract=off, so they are never fused into FMLA).
// The activations below reproduce Activate()'s comparisons including NaN and signed zeros.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kbnn/ukernel.h"

namespace kbnn {
namespace neon_output {

inline const int32_t* RowCorr(const int32_t* const* corr, size_t i, size_t channel) {
  return corr != nullptr && corr[i] != nullptr ? corr[i] + channel : nullptr;
}

// 2 * acc + corr for 4 lanes: dot = k - (2 * acc + corr).
template <bool kCorr>
inline int32x4_t TwiceAccPlusCorr(const int32_t* a, const int32_t* c) {
  const int32x4_t x = vld1q_s32(a);
  int32x4_t s = vaddq_s32(x, x);
  if (kCorr) s = vaddq_s32(s, vld1q_s32(c));
  return s;
}

// Gathering the lanes of 8 compare masks (each lane all ones or zero) into a 32-bit word, bit
// 4 * v + l = lane l of mask v: each mask is AND'ed with LaneBits() = {1, 2, 4, 8} and folded into
// an accumulator with shift-left-and-insert by 4 (SLI), for v = 7, 6, ..., 0 from a zero
// accumulator, so that lane l ends holding bits l, l + 4, ..., l + 28; the lanes' bits are
// disjoint, so WordOf (their sum) is their OR. Folding each mask as soon as it is computed keeps
// one accumulator live instead of eight masks.
inline uint32x4_t LaneBits() {
  static const uint32_t kLaneBit[4] = {1u, 2u, 4u, 8u};
  return vld1q_u32(kLaneBit);
}

inline uint32x4_t FoldMask(uint32x4_t word, uint32x4_t mask, uint32x4_t lane_bits) {
  return vsliq_n_u32(vandq_u32(mask, lane_bits), word, 4);
}

inline uint32_t WordOf(uint32x4_t word) {
#if defined(__aarch64__)
  return vaddvq_u32(word);
#else
  const uint32x2_t half = vorr_u32(vget_low_u32(word), vget_high_u32(word));
  return vget_lane_u32(vpadd_u32(half, half), 0);
#endif
}

// The bits of channels [0, len) of a 32-channel block.
inline uint32_t ValidBits(size_t len) { return len >= 32 ? ~0u : (1u << len) - 1u; }

// A row's acc (and corr) of a block tail of len < W lanes, copied into zero-padded W-lane buffers
// so that the block's vector code can read W lanes.
template <size_t W>
struct PaddedRow {
  int32_t acc[W];
  int32_t corr[W];
  void Fill(const int32_t* a, const int32_t* c, size_t len) {
    std::memset(acc, 0, sizeof(acc));
    std::memcpy(acc, a, len * sizeof(int32_t));
    if (c != nullptr) {
      std::memset(corr, 0, sizeof(corr));
      std::memcpy(corr, c, len * sizeof(int32_t));
    }
  }
};

// The bitpacked output transform (OutputBitsUkernelFn), for output-bits-{aarch64,armv7}-neon.cc:
// integer only, so bit-exact on both. bit = (dot < threshold) = (2 * acc + corr > k - threshold):
// with kt = k - threshold computed with saturation (SQSUB), a threshold of INT32_MIN ("never",
// ComputeBitThreshold's constant case) gives kt = INT32_MAX, which no 2 * acc + corr exceeds.
// Blocks of 32 channels = one output word (channel is a multiple of 32), the 8 kt vectors in
// registers, rows inner; a tail of n % 32 channels runs on zero-padded copies, its word masked
// to the valid channels (flip too).
// With a correction: 2 * acc + corr > kt. Without: 2 * acc > kt, i.e. acc > (kt >> 1) (the
// arithmetic shift is floor(kt / 2)), which saves the doubling; kt holds kt >> 1 then.
template <bool kCorr>
inline uint32_t ThresholdWord(const int32_t* a, const int32_t* c, const int32x4_t kt[8],
                              uint32x4_t lane_bits) {
  uint32x4_t word = vdupq_n_u32(0);
  for (int v = 7; v >= 0; --v) {
    const int32x4_t s = kCorr ? TwiceAccPlusCorr<true>(a + 4 * v, c + 4 * v) : vld1q_s32(a + 4 * v);
    word = FoldMask(word, vcgtq_s32(s, kt[v]), lane_bits);
  }
  return WordOf(word);
}

inline void OutputBits(size_t rows, size_t n, size_t channel, const int32_t* acc,
                       const int32_t* const* corr, uint32_t* out, const OutputUkernelParams& p) {
  constexpr size_t kBlock = 32;
  const int32x4_t vk = vdupq_n_s32(p.k);
  const uint32x4_t lane_bits = LaneBits();
  for (size_t j = 0; j < n; j += kBlock) {
    const size_t len = n - j < kBlock ? n - j : kBlock;
    const int32_t* thr = p.threshold + channel + j;
    int32_t thr_pad[kBlock];
    if (len < kBlock) {
      for (size_t l = 0; l < kBlock; ++l) thr_pad[l] = l < len ? thr[l] : INT32_MIN;
      thr = thr_pad;
    }
    int32x4_t kt[8], half_kt[8];
    for (int v = 0; v < 8; ++v) {
      kt[v] = vqsubq_s32(vk, vld1q_s32(thr + 4 * v));
      half_kt[v] = vshrq_n_s32(kt[v], 1);
    }
    const size_t word = (channel + j) / 32;
    const uint32_t valid = ValidBits(len);
    const uint32_t flip = p.flip[word] & valid;
    const int32_t* a = acc + j;
    uint32_t* o = out + word;
    if (len == kBlock) {  // no calls in this loop: kt stays in registers
      for (size_t i = 0; i < rows; ++i, a += p.acc_stride, o += p.out_stride) {
        const int32_t* c = RowCorr(corr, i, channel + j);
        *o |= (c != nullptr ? ThresholdWord<true>(a, c, kt, lane_bits)
                            : ThresholdWord<false>(a, c, half_kt, lane_bits)) ^
              flip;
      }
      continue;
    }
    for (size_t i = 0; i < rows; ++i, a += p.acc_stride, o += p.out_stride) {
      const int32_t* c = RowCorr(corr, i, channel + j);
      PaddedRow<kBlock> pad;
      pad.Fill(a, c, len);
      const uint32_t bits = c != nullptr
                                ? ThresholdWord<true>(pad.acc, pad.corr, kt, lane_bits)
                                : ThresholdWord<false>(pad.acc, nullptr, half_kt, lane_bits);
      *o |= (bits & valid) ^ flip;
    }
  }
}

#if defined(__aarch64__)

// Activate() of src/common.h on 4 lanes, one type per activation so that the kernels' loops are
// compiled once per activation (no per-vector branch).
struct ActNone {
  float32x4_t operator()(float32x4_t y) const { return y; }
};
// y > 0 ? y : 0 is FMAXNM(y, +0): NaN y gives +0 (the y is always a quiet NaN: it comes out of an
// add), -0 gives +0 (FMAXNM orders -0 below +0), as the comparison does.
struct ActRelu {
  float32x4_t operator()(float32x4_t y) const { return vmaxnmq_f32(y, vdupq_n_f32(0.0f)); }
};
// Then r < 6 ? r : 6 is FMIN(r, 6) (r is not NaN and 6 is not a zero).
struct ActRelu6 {
  float32x4_t operator()(float32x4_t y) const {
    return vminq_f32(vmaxnmq_f32(y, vdupq_n_f32(0.0f)), vdupq_n_f32(6.0f));
  }
};
// Any clamp bounds (signed zeros, infinities): the two comparisons and selects themselves.
struct ActClamp {
  float32x4_t lo, hi;
  float32x4_t operator()(float32x4_t y) const {
    const float32x4_t r = vbslq_f32(vcgtq_f32(y, lo), y, lo);
    return vbslq_f32(vcltq_f32(r, hi), r, hi);
  }
};

// Calls f(act) with the activation functor of o. The kernels take it by value: a local copy, which
// their float stores cannot alias, keeps the clamp bounds in registers.
template <class F>
inline void WithActivation(const OutputParams& o, F&& f) {
  switch (o.activation) {
    case Activation::kRelu: f(ActRelu{}); break;
    case Activation::kRelu6: f(ActRelu6{}); break;
    case Activation::kClamp: f(ActClamp{vdupq_n_f32(o.clamp_min), vdupq_n_f32(o.clamp_max)}); break;
    case Activation::kNone:
    default: f(ActNone{}); break;
  }
}

// Activate(m * float(dot) + b) for 4 lanes, dot = k - (2 * acc + corr): two roundings, no FMA.
template <bool kCorr, class Act>
inline float32x4_t FloatOut(const int32_t* a, const int32_t* c, int32x4_t vk, float32x4_t m,
                            float32x4_t b, const Act& act) {
  const int32x4_t dot = vsubq_s32(vk, TwiceAccPlusCorr<kCorr>(a, c));
  const float32x4_t v = vmulq_f32(m, vcvtq_f32_s32(dot));
  return act(vaddq_f32(v, b));
}

// A block's multipliers and biases (W lanes from m and b; a tail of len < W is zero-padded).
template <size_t W>
struct BlockScale {
  float32x4_t m[W / 4], b[W / 4];
  BlockScale(const float* mp, const float* bp, size_t len) {
    float mt[W], bt[W];
    if (len < W) {
      std::memset(mt, 0, sizeof(mt));
      std::memset(bt, 0, sizeof(bt));
      std::memcpy(mt, mp, len * sizeof(float));
      std::memcpy(bt, bp, len * sizeof(float));
      mp = mt;
      bp = bt;
    }
    for (size_t v = 0; v < W / 4; ++v) {
      m[v] = vld1q_f32(mp + 4 * v);
      b[v] = vld1q_f32(bp + 4 * v);
    }
  }
};

#endif  // __aarch64__

}  // namespace neon_output
}  // namespace kbnn
