// bfully_connected = a 1x1 bconv2d over a [batch, 1, 1, K] image (same kernels, same tests).
#include "kbnn/bfully_connected.h"

#include "common.h"
#include "kbnn/bconv2d.h"

namespace kbnn {

BFullyConnected::~BFullyConnected() = default;

Status BFullyConnected::Create(const BFullyConnectedParams& params, const uint32_t* packed_weights,
                               const float* multiplier, const float* bias,
                               std::unique_ptr<BFullyConnected>* op) {
  if (op == nullptr) return Status::InvalidArgument("BFullyConnected: op output pointer is null");
  op->reset();
  if (params.batch < 1 || params.input_size < 1 || params.output_size < 1) {
    return Status::InvalidArgument(
        "BFullyConnected: batch, input_size and output_size must be >= 1; received batch=" +
        internal::Str(params.batch) + " input_size=" + internal::Str(params.input_size) +
        " output_size=" + internal::Str(params.output_size));
  }
  if (packed_weights == nullptr) {
    return Status::InvalidArgument("BFullyConnected: packed_weights is null");
  }
  BConv2DParams cp;
  cp.batch = params.batch;
  cp.input_height = 1;
  cp.input_width = 1;
  cp.channels_in = params.input_size;
  cp.channels_out = params.output_size;
  cp.filter_height = 1;
  cp.filter_width = 1;
  cp.output = params.output;
  cp.kernel = params.kernel;
  cp.num_threads = params.num_threads;
  std::unique_ptr<BFullyConnected> fc(new BFullyConnected());
  fc->params_ = params;
  Status s = BConv2D::Create(cp, packed_weights, multiplier, bias, &fc->conv_);
  if (!s.ok()) {
    std::string m = s.message();
    if (m.rfind("BConv2D: ", 0) == 0) m = m.substr(9);
    return Status(s.code(), "BFullyConnected: " + m);
  }
  *op = std::move(fc);
  return Status::Ok();
}

Status BFullyConnected::Run(const uint32_t* input, void* output, ThreadPool* pool) {
  return conv_->Run(input, output, pool);
}

size_t BFullyConnected::output_bytes() const { return conv_->output_bytes(); }
const char* BFullyConnected::kernel_name() const { return conv_->kernel_name(); }
const char* BFullyConnected::isa() const { return conv_->isa(); }

}  // namespace kbnn
