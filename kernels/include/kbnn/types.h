#pragma once
// Shared types and the bit conventions of kbnn (one contract for trainer, converter, ops).
//
//  * sign(0) = +1.
//  * A packed bit 1 means -1, a bit 0 means +1.
//  * Tensors are NHWC; the channel axis (innermost) is packed into 32-bit words, LSB = channel 0
//    of the word. A pixel with C channels takes PackedWords(C) = ceil(C / 32) words; the unused
//    high bits of the last word are 0.
//  * dot(a, b) over K channels = K - 2 * popcount(a XOR b).
#include <cstddef>
#include <cstdint>
#include <limits>

namespace kbnn {

using PackedWord = uint32_t;
constexpr int kBitsPerWord = 32;

constexpr int PackedWords(int channels) { return (channels + kBitsPerWord - 1) / kBitsPerWord; }

enum class Padding {
  kValid,  // no padding
  kSame,   // TF/Keras SAME: out = ceil(in / stride), pad_before = total / 2
};

enum class Activation {
  kNone,
  kRelu,   // y > 0 ? y : 0
  kRelu6,  // min(max(y, 0), 6)
  kClamp,  // min(max(y, clamp_min), clamp_max)
};

enum class OutputType {
  kFloat32,    // float y = multiplier[c] * float(dot) + bias[c], then activation
  kBitpacked,  // bit = (y < 0), packed like the input (32-bit words along channels)
  kInt8,  // q = clamp(round_half_away_from_zero(y / int8_scale) + int8_zero_point, -128, 127)
  kInt32Dot,  // the raw integer dot product (debugging / testing; multiplier, bias ignored)
};

// Implementation selection. kAuto honours SetForcedIsa() (see dispatch.h), then the environment
// variable KBNN_KERNEL=reference|scalar|avx2|avx512|neon|auto, then picks the best ISA of this CPU.
enum class KernelChoice { kAuto, kReference, kScalar, kAvx2, kNeon, kAvx512 };

// How the per-channel float result y is turned into the output.
//
// Exact arithmetic (identical in the reference and the optimized paths; the library is built
// with -ffp-contract=off so the multiply and the add are never fused):
//   y  = multiplier[c] * float(dot)        (float32 multiply, rounded)
//   y  = y + bias[c]                       (float32 add, rounded)
//   y  = activation(y)                     (relu: y > 0 ? y : 0, so NaN -> 0)
// float32 output: y.
// bitpacked output: bit = (y < 0). Implemented as a per-channel integer threshold on dot that is
//   found at Create by binary search over [-K, K], so it is bit-exact with the float formula.
// int8 output: r = std::round(y / int8_scale) (float32 divide; std::round = half away from zero);
//   a NaN r becomes 0; q = clamp(r + int8_zero_point, -128, 127).
struct OutputParams {
  OutputType type = OutputType::kFloat32;
  Activation activation = Activation::kNone;
  float clamp_min = -std::numeric_limits<float>::infinity();
  float clamp_max = std::numeric_limits<float>::infinity();
  float int8_scale = 1.0f;
  int32_t int8_zero_point = 0;
};

const char* ToString(Padding p);
const char* ToString(Activation a);
const char* ToString(OutputType t);
const char* ToString(KernelChoice k);

}  // namespace kbnn
