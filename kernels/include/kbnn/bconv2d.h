#pragma once
// Binary 2-D convolution on bitpacked NHWC tensors.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kbnn/status.h"
#include "kbnn/threadpool.h"
#include "kbnn/types.h"

namespace kbnn {

struct BConv2DParams {
  int batch = 1;
  int input_height = 0;
  int input_width = 0;
  int channels_in = 0;  // logical channels (the packed input has PackedWords(channels_in) words)
  int channels_out = 0;
  int filter_height = 0;
  int filter_width = 0;
  int stride_height = 1;
  int stride_width = 1;
  int dilation_height = 1;
  int dilation_width = 1;
  Padding padding = Padding::kValid;
  // SAME only: 1 pads with +1 (bitpacked zero bits, free), 0 pads with zeros (the padded taps
  // contribute 0; border outputs get an exact per-position correction).
  int pad_value = 1;
  int groups = 1;  // channels_in and channels_out must be divisible by groups
  OutputParams output;
  // Fused epilogue of a Bi-Real block (float32 output only):
  //  residual: y = Activate(multiplier * dot + bias) + residual[same index] (the shortcut ADD,
  //    one float add after the activation, so bit-exact with a separate ADD op); Run must then
  //    be given the residual tensor, of the output's shape.
  //  sign_output: also write the signs of the (final) float output bitpacked, bit = (y < 0) as
  //    QuantizeFloat / KbnnQuantize, to a second output of
  //    [batch, output_height, output_width, PackedWords(channels_out)] words.
  bool residual = false;
  bool sign_output = false;
  KernelChoice kernel = KernelChoice::kAuto;
  int num_threads = 1;  // most threads Run() will use (scratch is sized for them at Create)
};

// Output spatial size for the params (validates the geometry only).
Status BConv2DOutputSize(const BConv2DParams& params, int* output_height, int* output_width);

class BConv2D {
 public:
  // Validates `params`, copies/repacks the weights and sizes all scratch memory.
  //  packed_filters: [channels_out, filter_height, filter_width,
  //                   PackedWords(channels_in / groups)] words (see PackFilters).
  //  multiplier, bias: channels_out floats each; nullptr means 1.0f / 0.0f.
  // KernelChoice::kReference gives the plain-loop oracle implementation.
  static Status Create(const BConv2DParams& params, const uint32_t* packed_filters,
                       const float* multiplier, const float* bias, std::unique_ptr<BConv2D>* op);
  virtual ~BConv2D() = default;

  // input: [batch, input_height, input_width, PackedWords(channels_in)] words.
  // output: [batch, output_height, output_width, channels_out] of float / int8 / int32, or
  //         [batch, output_height, output_width, PackedWords(channels_out)] uint32 words.
  // Does not allocate. pool may be nullptr (runs on the calling thread). Not reentrant: one
  // Run per op object at a time. Only for params without residual / sign_output.
  Status Run(const uint32_t* input, void* output, ThreadPool* pool) {
    return Run(input, nullptr, output, nullptr, pool);
  }
  // The fused form: residual (params.residual: output_elements() floats, else nullptr) and
  // sign_output (params.sign_output: sign_output_words() words, else nullptr).
  virtual Status Run(const uint32_t* input, const float* residual, void* output,
                     uint32_t* sign_output, ThreadPool* pool) = 0;

  const BConv2DParams& params() const { return params_; }
  int output_height() const { return output_height_; }
  int output_width() const { return output_width_; }
  size_t input_words() const { return input_words_; }
  size_t output_elements() const { return output_elements_; }  // words when bitpacked
  size_t output_bytes() const { return output_bytes_; }
  // Words of the sign output (0 without params.sign_output).
  size_t sign_output_words() const { return sign_output_words_; }
  // "reference" or the microkernel name, e.g. "b32_bgemm_4x8__avx2".
  virtual const char* kernel_name() const = 0;
  // "reference", "scalar", "avx2", "neon", ...
  virtual const char* isa() const = 0;

 protected:
  BConv2D() = default;
  BConv2DParams params_;
  int output_height_ = 0;
  int output_width_ = 0;
  size_t input_words_ = 0;
  size_t output_elements_ = 0;
  size_t output_bytes_ = 0;
  size_t sign_output_words_ = 0;
  // The argument checks every Run shares.
  Status CheckRunArgs(const uint32_t* input, const float* residual, const void* output,
                      const uint32_t* sign_output) const;
};

}  // namespace kbnn
