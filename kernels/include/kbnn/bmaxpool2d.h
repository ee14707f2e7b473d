#pragma once
// Max pooling on bitpacked NHWC tensors: the max of +-1 values is +1 unless all are -1, i.e.
// the AND of the packed bits. SAME padding never changes the result (padded taps are ignored).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kbnn/status.h"
#include "kbnn/threadpool.h"
#include "kbnn/types.h"

namespace kbnn {

struct BMaxPool2DParams {
  int batch = 1;
  int input_height = 0;
  int input_width = 0;
  int channels = 0;
  int filter_height = 0;
  int filter_width = 0;
  int stride_height = 1;
  int stride_width = 1;
  Padding padding = Padding::kValid;
  KernelChoice kernel = KernelChoice::kAuto;
  int num_threads = 1;
};

class BMaxPool2D {
 public:
  static Status Create(const BMaxPool2DParams& params, std::unique_ptr<BMaxPool2D>* op);
  // input [batch, H, W, PackedWords(channels)] -> output [batch, OH, OW, PackedWords(channels)].
  Status Run(const uint32_t* input, uint32_t* output, ThreadPool* pool) const;

  const BMaxPool2DParams& params() const { return params_; }
  int output_height() const { return output_height_; }
  int output_width() const { return output_width_; }
  size_t input_words() const { return input_words_; }
  size_t output_words() const { return output_words_; }
  bool is_reference() const { return reference_; }

 private:
  BMaxPool2D() = default;
  BMaxPool2DParams params_;
  int output_height_ = 0, output_width_ = 0;
  int pad_top_ = 0, pad_left_ = 0;
  size_t input_words_ = 0, output_words_ = 0;
  bool reference_ = false;
};

}  // namespace kbnn
