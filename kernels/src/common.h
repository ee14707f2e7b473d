#pragma once
// Internal helpers shared by the ops (not installed).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>

#include "kbnn/status.h"
#include "kbnn/types.h"

namespace kbnn {
namespace internal {

// a * b into *out; false on overflow of size_t or of `limit`.
inline bool CheckedMul(size_t a, size_t b, size_t* out,
                       size_t limit = std::numeric_limits<size_t>::max() / 16) {
  if (a != 0 && b > limit / a) return false;
  *out = a * b;
  return true;
}

// Product of several non-negative ints; false on overflow.
inline bool CheckedProduct(std::initializer_list<long long> factors, size_t* out) {
  size_t p = 1;
  for (long long f : factors) {
    if (f < 0) return false;
    if (!CheckedMul(p, static_cast<size_t>(f), &p)) return false;
  }
  *out = p;
  return true;
}

inline std::string Str(long long v) { return std::to_string(v); }

// Output spatial size and leading padding of one axis (TF semantics).
inline Status SpatialOutput(const char* axis, int in, int filter, int stride, int dilation,
                            Padding padding, int* out, int* pad_before) {
  if (in <= 0 || filter <= 0 || stride <= 0 || dilation <= 0) {
    return Status::InvalidArgument(std::string("bad ") + axis + " geometry: input=" + Str(in) +
                                   " filter=" + Str(filter) + " stride=" + Str(stride) +
                                   " dilation=" + Str(dilation) + " (all must be >= 1)");
  }
  const long long eff = static_cast<long long>(filter - 1) * dilation + 1;
  if (eff > (1ll << 30)) {
    return Status::InvalidArgument(std::string("effective filter ") + axis + " too large");
  }
  if (padding == Padding::kValid) {
    if (eff > in) {
      return Status::InvalidArgument(std::string("VALID padding: effective filter ") + axis + " " +
                                     Str(eff) + " exceeds input " + axis + " " + Str(in));
    }
    *out = static_cast<int>((in - eff) / stride + 1);
    *pad_before = 0;
  } else if (padding == Padding::kSame) {
    const long long o = (static_cast<long long>(in) + stride - 1) / stride;
    const long long total = std::max<long long>((o - 1) * stride + eff - in, 0);
    *out = static_cast<int>(o);
    *pad_before = static_cast<int>(total / 2);
  } else {
    return Status::InvalidArgument("unknown padding enum value");
  }
  return Status::Ok();
}

inline Status ValidateOutputParams(const OutputParams& o) {
  switch (o.type) {
    case OutputType::kFloat32:
    case OutputType::kBitpacked:
    case OutputType::kInt8:
    case OutputType::kInt32Dot: break;
    default: return Status::InvalidArgument("unknown output type enum value");
  }
  switch (o.activation) {
    case Activation::kNone:
    case Activation::kRelu:
    case Activation::kRelu6: break;
    case Activation::kClamp:
      if (std::isnan(o.clamp_min) || std::isnan(o.clamp_max) || o.clamp_min > o.clamp_max) {
        return Status::InvalidArgument("clamp activation needs clamp_min <= clamp_max, got " +
                                       std::to_string(o.clamp_min) + " > " +
                                       std::to_string(o.clamp_max));
      }
      break;
    default: return Status::InvalidArgument("unknown activation enum value");
  }
  if (o.type == OutputType::kInt8) {
    if (!(o.int8_scale > 0.0f) || !std::isfinite(o.int8_scale)) {
      return Status::InvalidArgument("int8 output needs a finite int8_scale > 0, got " +
                                     std::to_string(o.int8_scale));
    }
    if (o.int8_zero_point < -128 || o.int8_zero_point > 127) {
      return Status::InvalidArgument("int8_zero_point must be in [-128, 127], got " +
                                     Str(o.int8_zero_point));
    }
  }
  return Status::Ok();
}

// ---- Output transform (the exact arithmetic documented in types.h) ----

inline float Activate(float y, const OutputParams& p) {
  switch (p.activation) {
    case Activation::kRelu: return y > 0.0f ? y : 0.0f;
    case Activation::kRelu6: {
      const float r = y > 0.0f ? y : 0.0f;
      return r < 6.0f ? r : 6.0f;
    }
    case Activation::kClamp: {
      const float r = y > p.clamp_min ? y : p.clamp_min;
      return r < p.clamp_max ? r : p.clamp_max;
    }
    case Activation::kNone:
    default: return y;
  }
}

// Must be compiled with -ffp-contract=off (set for the whole library).
inline float FloatOutput(int32_t dot, float multiplier, float bias, const OutputParams& p) {
  float y = multiplier * static_cast<float>(dot);
  y = y + bias;
  return Activate(y, p);
}

// q = clamp(std::round(y / scale) + zero_point, -128, 127) with std::round's half-away-from-zero
// rounding and NaN -> 0, written without branches or libm calls so that loops over channels
// vectorize: v is clamped to [-1024, 1024] first (every such v rounds outside the int8 range the
// same way as the unclamped one), truncated (exact), and the exact remainder v - trunc(v) decides
// the rounding. kernels/tests/ops_test.cc checks it against std::round.
inline int8_t Int8FromFloat(float y, float scale, int32_t zero_point) {
  float v = y / scale;
  v = v == v ? v : 0.0f;  // NaN
  v = v > 1024.0f ? 1024.0f : v;
  v = v < -1024.0f ? -1024.0f : v;
  const int32_t t = static_cast<int32_t>(v);
  const float frac = v - static_cast<float>(t);
  int32_t q = t + (frac >= 0.5f ? 1 : 0) - (frac <= -0.5f ? 1 : 0) + zero_point;
  q = q > 127 ? 127 : q;
  q = q < -128 ? -128 : q;
  return static_cast<int8_t>(q);
}

inline int8_t Int8FromFloat(float y, const OutputParams& p) {
  return Int8FromFloat(y, p.int8_scale, p.int8_zero_point);
}

// y[j] = Int8FromFloat(v[j]) for a row; locals and restrict let the loop vectorize. On x86-64
// Linux with GCC the loop is also compiled for AVX-512 and AVX2 and the loader picks the widest
// the CPU has (target_clones: the float divide dominates, so the vector width matters). Not under
// the sanitizers: the clones' ifunc resolver runs before ThreadSanitizer's runtime is set up and
// crashes the process at load time.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define KBNN_INT8_ROW_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KBNN_INT8_ROW_CLONES
#endif
KBNN_INT8_ROW_CLONES
inline void Int8FromFloatRow(const float* __restrict v, int n, const OutputParams& p,
                             int8_t* __restrict y) {
  const float scale = p.int8_scale;
  const int32_t zero_point = p.int8_zero_point;
  for (int j = 0; j < n; ++j) y[j] = Int8FromFloat(v[j], scale, zero_point);
}

// v[j] = Activate(v[j]) for a row, the activation switch hoisted out of the loop.
inline void ActivateRow(float* __restrict v, int n, const OutputParams& p) {
  switch (p.activation) {
    case Activation::kRelu:
      for (int j = 0; j < n; ++j) v[j] = v[j] > 0.0f ? v[j] : 0.0f;
      break;
    case Activation::kRelu6:
      for (int j = 0; j < n; ++j) {
        const float r = v[j] > 0.0f ? v[j] : 0.0f;
        v[j] = r < 6.0f ? r : 6.0f;
      }
      break;
    case Activation::kClamp: {
      const float lo = p.clamp_min, hi = p.clamp_max;
      for (int j = 0; j < n; ++j) {
        const float r = v[j] > lo ? v[j] : lo;
        v[j] = r < hi ? r : hi;
      }
      break;
    }
    case Activation::kNone:
    default: break;
  }
}

// bit = (dot < threshold) ^ flip, bit-exact with FloatOutput(dot) < 0 for dot in [-K, K].
struct BitThreshold {
  int32_t threshold;
  uint32_t flip;
};

inline bool NegativeAt(int32_t dot, float m, float b, const OutputParams& p) {
  return FloatOutput(dot, m, b, p) < 0.0f;
}

// FloatOutput is monotonic in dot (non-decreasing for m >= 0, non-increasing for m < 0), so
// the predicate "y < 0" switches at most once on [-K, K]; binary-search the switch point.
inline BitThreshold ComputeBitThreshold(float m, float b, const OutputParams& p, int32_t k) {
  const bool lo = NegativeAt(-k, m, b, p);
  const bool hi = NegativeAt(k, m, b, p);
  if (lo == hi) {  // constant on the whole range
    return {std::numeric_limits<int32_t>::min(), lo ? 1u : 0u};
  }
  // Find the smallest d in (-k, k] with NegativeAt(d) == hi.
  int32_t l = -k, r = k;  // invariant: P(l) == lo, P(r) == hi
  while (r - l > 1) {
    const int32_t mid = l + (r - l) / 2;
    if (NegativeAt(mid, m, b, p) == hi) r = mid;
    else l = mid;
  }
  // lo == true: bit = dot < r. lo == false (hi true): bit = dot >= r = !(dot < r).
  return {r, lo ? 0u : 1u};
}

inline uint32_t ThresholdBit(int32_t dot, BitThreshold t) {
  return static_cast<uint32_t>(dot < t.threshold) ^ t.flip;
}

}  // namespace internal
}  // namespace kbnn
