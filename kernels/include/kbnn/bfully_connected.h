#pragma once
// Binary fully connected layer: bitpacked [batch, PackedWords(input_size)] x packed weights
// [output_size, PackedWords(input_size)].
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kbnn/status.h"
#include "kbnn/threadpool.h"
#include "kbnn/types.h"

namespace kbnn {

struct BFullyConnectedParams {
  int batch = 1;
  int input_size = 0;   // K, logical channels
  int output_size = 0;  // Cout
  OutputParams output;
  KernelChoice kernel = KernelChoice::kAuto;
  int num_threads = 1;
};

class BConv2D;

class BFullyConnected {
 public:
  // multiplier, bias: output_size floats each, nullptr means 1.0f / 0.0f.
  static Status Create(const BFullyConnectedParams& params, const uint32_t* packed_weights,
                       const float* multiplier, const float* bias,
                       std::unique_ptr<BFullyConnected>* op);
  ~BFullyConnected();

  // output: [batch, output_size] float / int8 / int32, or [batch, PackedWords(output_size)].
  Status Run(const uint32_t* input, void* output, ThreadPool* pool);

  const BFullyConnectedParams& params() const { return params_; }
  size_t output_bytes() const;
  const char* kernel_name() const;
  const char* isa() const;

 private:
  BFullyConnected() = default;
  BFullyConnectedParams params_;
  std::unique_ptr<BConv2D> conv_;  // a 1x1 convolution over a batch x 1 x 1 image
};

}  // namespace kbnn
