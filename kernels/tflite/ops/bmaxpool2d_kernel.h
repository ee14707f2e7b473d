#pragma once
// The pooling part KbnnBMaxPool2d and LceBMaxPool2d share: kbnn's BMaxPool2D built from the
// filter, strides and padding of their options, its output declared and run.
#include <cstdint>
#include <memory>
#include <vector>

#include "bconv2d_options.h"
#include "kbnn/bmaxpool2d.h"
#include "op_kernel.h"

namespace kbnn {
namespace delegate {

class BMaxPool2DKernel {
 public:
  // Builds the pooling of an NHWC input of `shape` words over `channels` channels (again when
  // the shape changed) on the node's kernel and threads, and declares output out_t as
  // [batch, output_height, output_width, shape[3]] words.
  TfLiteStatus Prepare(const NodeContext& node, const BConv2DOptions& o,
                       const std::vector<int>& shape, int channels, int out_t) {
    if (!pool_ || built_for_ != shape) {
      BMaxPool2DParams mp;
      mp.batch = shape[0];
      mp.input_height = shape[1];
      mp.input_width = shape[2];
      mp.channels = channels;
      mp.filter_height = o.filter_height;
      mp.filter_width = o.filter_width;
      mp.stride_height = o.stride_height;
      mp.stride_width = o.stride_width;
      mp.padding = o.padding;
      mp.kernel = node.kernel();
      mp.num_threads = node.num_threads();
      pool_.reset();
      Status st = BMaxPool2D::Create(mp, &pool_);
      if (!st.ok()) return node.Error(st.message());
      built_for_ = shape;
    }
    return node.SetOutput(out_t, kTfLiteInt32,
                          {shape[0], pool_->output_height(), pool_->output_width(), shape[3]});
  }

  Status Run(const void* in, void* out, ThreadPool* pool) const {
    if (!pool_) return Status::Internal("not prepared");
    return pool_->Run(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), pool);
  }

 private:
  std::unique_ptr<BMaxPool2D> pool_;
  std::vector<int> built_for_;  // the input shape pool_ was built for
};

}  // namespace delegate
}  // namespace kbnn
