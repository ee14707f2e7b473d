#pragma once
// The pooling geometry of KbnnBMaxPool2d and LceBMaxPool2d (filter, strides, padding of their
// options) as the kernel's BMaxPool2DParams.
#include <vector>

#include "bconv2d_options.h"
#include "kbnn/bmaxpool2d.h"
#include "op_kernel.h"

namespace kbnn {
namespace delegate {

// For an NHWC input of `shape` pooled over `channels` channels, on the node's kernel and threads.
inline BMaxPool2DParams MakeBMaxPool2DParams(const BConv2DOptions& o, const std::vector<int>& shape,
                                             int channels, const NodeContext& node) {
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
  return mp;
}

}  // namespace delegate
}  // namespace kbnn
