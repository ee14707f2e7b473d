#pragma once
// The real-valued first convolution of a binary network ("stem") on int8: conv k x k / stride s
// (SAME or VALID) with few input channels, the folded batch norm (per-channel multiplier, bias),
// an activation (none, ReLU, per-channel PReLU slope) and an optional max pool, float32 NHWC in
// and out. No calibration data: the input is quantized per invoke and per batch item.
//
// Exact arithmetic (one definition; the reference, every microkernel and the NumPy oracle in
// tests/test_stem_conv2d.py follow it, so results are bit-exact across ISAs; the library is built
// with -ffp-contract=off, so no multiply and add are fused):
//   per batch item n:  m   = max |x|  over the item (float32)
//                      s_x = m / 127                          (float32 divide)
//                      q   = clamp(nearbyint(x / s_x), -127, 127)   (float32 divide, rounding to
//                            nearest, ties to even); s_x == 0 (an all-zero item): q = 0
//   acc[c] = sum over the in-bounds taps of q * w[c]          (int32; padded taps contribute 0)
//   s     = s_x * s_w[c]                                      (float32 multiply)
//   y     = float(acc[c]) * s                                 (float32 multiply)
//   y     = y * multiplier[c]                                 (float32 multiply)
//   y     = y + bias[c]                                       (float32 add)
//   y     = relu: y > 0 ? y : 0 | prelu: y > 0 ? y : y * slope[c] | none: y
//   pool  = max over the in-bounds taps of the pool window (SAME: padded taps are ignored)
// Weights are per-output-channel symmetric int8 in [-127, 127] with scales s_w[c]. An input item
// with a non-finite value is an error (Run's Status names it), never a silent wrong answer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kbnn/status.h"
#include "kbnn/stem_ukernel.h"
#include "kbnn/threadpool.h"
#include "kbnn/types.h"

namespace kbnn {

enum class StemActivation { kNone, kRelu, kPRelu };

// The most input channels the stem op takes (the first layer of an image network: 1-4).
constexpr int kStemMaxChannelsIn = 16;
// The largest patch k_h * k_w * C_in (the int32 accumulator bound: 127 * 127 * K < 2^31).
constexpr int kStemMaxPatch = 4096;

struct StemConv2DParams {
  int batch = 1;
  int input_height = 0;
  int input_width = 0;
  int channels_in = 0;   // 1..kStemMaxChannelsIn
  int channels_out = 0;  // >= 1
  int filter_height = 0;
  int filter_width = 0;
  int stride_height = 1;
  int stride_width = 1;
  Padding padding = Padding::kValid;
  StemActivation activation = StemActivation::kNone;
  // Optional max pool after the activation (pool_height == 0: none).
  int pool_height = 0;
  int pool_width = 0;
  int pool_stride_height = 1;
  int pool_stride_width = 1;
  Padding pool_padding = Padding::kValid;
  KernelChoice kernel = KernelChoice::kAuto;
  int num_threads = 1;
};

// The activation and scale of one output value, in the order the header's formula gives.
inline float StemOutputValue(int32_t acc, float s_x, float s_w, float multiplier, float bias,
                             StemActivation act, float slope) {
  const float s = s_x * s_w;
  float y = static_cast<float>(acc) * s;
  y = y * multiplier;
  y = y + bias;
  if (act == StemActivation::kRelu) return y > 0.0f ? y : 0.0f;
  if (act == StemActivation::kPRelu) return y > 0.0f ? y : y * slope;
  return y;
}

class StemConv2D {
 public:
  // weights: int8 OHWI [channels_out, filter_height, filter_width, channels_in], each in
  // [-127, 127]; weight_scales, multiplier, bias: [channels_out]; slope: [channels_out] for
  // kPRelu (else ignored, may be null). All are copied.
  static Status Create(const StemConv2DParams& params, const int8_t* weights,
                       const float* weight_scales, const float* multiplier, const float* bias,
                       const float* slope, std::unique_ptr<StemConv2D>* op);

  // input float32 NHWC [batch, H, W, channels_in] -> output float32 NHWC
  // [batch, output_height, output_width, channels_out] (after the pool when there is one).
  Status Run(const float* input, float* output, ThreadPool* pool) const;

  const StemConv2DParams& params() const { return params_; }
  int conv_height() const { return conv_height_; }
  int conv_width() const { return conv_width_; }
  int output_height() const { return output_height_; }
  int output_width() const { return output_width_; }
  size_t input_elements() const { return input_elements_; }
  size_t output_elements() const { return output_elements_; }
  bool is_reference() const { return ukernel_ == nullptr; }
  const char* ukernel_name() const;

  ~StemConv2D();

 private:
  StemConv2D() = default;
  Status RunReference(const float* input, float* output) const;
  Status RunOptimized(const float* input, float* output, ThreadPool* pool) const;

  StemConv2DParams params_;
  int conv_height_ = 0, conv_width_ = 0, pad_top_ = 0, pad_left_ = 0;
  int output_height_ = 0, output_width_ = 0, pool_pad_top_ = 0, pool_pad_left_ = 0;
  int patch_ = 0;     // filter_height * filter_width * channels_in
  int patch_pad_ = 0;  // patch_ rounded up to a multiple of 4 (the microkernels' k step)
  size_t input_elements_ = 0, output_elements_ = 0;
  std::vector<int8_t> weights_;  // OHWI as given (reference)
  std::vector<float> weight_scales_, multiplier_, bias_, slope_;
  const StemGemmUkernel* ukernel_ = nullptr;  // nullptr: the reference
  std::vector<int16_t> packed_;  // weights in the microkernel's panel layout (fn)
  std::vector<int8_t> packed_i8_;  // or in the int8 microkernel's (fn_i8)
  int packed_channels_ = 0;      // channels_out rounded up to the microkernel's nr
};

}  // namespace kbnn
