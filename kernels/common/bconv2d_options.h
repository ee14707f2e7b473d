#pragma once
// The attrs a binary convolution op carries in a model (KbnnBconv2d, KbnnBconv2dResidual and
// LceBconv2d, read by the TFLite delegate in kernels/tflite and by the TF op library in
// kernels/tf), and the one place that turns them into the kernel's BConv2DParams.
#include "kbnn/bconv2d.h"
#include "kbnn/types.h"

namespace kbnn {

// Geometry attrs of a binary convolution, as parsed and range-checked by the op's reader. The
// option structs of the delegate (OpOptions, LceOptions) and of the TF ops (ConvAttrs) extend it.
struct BConv2DOptions {
  int channels_in = 0;
  int filter_height = 0, filter_width = 0;
  int stride_height = 1, stride_width = 1;
  int dilation_height = 1, dilation_width = 1;
  Padding padding = Padding::kValid;
  int pad_values = 1;
  int groups = 1;
};

// BConv2DParams for options `o` on an input of [batch, input_height, input_width, *] words and a
// filter of `channels_out` output channels. The caller sets what is not an op attr: the fused
// residual / sign output, the kernel choice and the thread count.
inline BConv2DParams MakeBConv2DParams(const BConv2DOptions& o, int batch, int input_height,
                                       int input_width, int channels_out,
                                       const OutputParams& output) {
  BConv2DParams p;
  p.batch = batch;
  p.input_height = input_height;
  p.input_width = input_width;
  p.channels_in = o.channels_in;
  p.channels_out = channels_out;
  p.filter_height = o.filter_height;
  p.filter_width = o.filter_width;
  p.stride_height = o.stride_height;
  p.stride_width = o.stride_width;
  p.dilation_height = o.dilation_height;
  p.dilation_width = o.dilation_width;
  p.padding = o.padding;
  p.pad_value = o.pad_values;
  p.groups = o.groups;
  p.output = output;
  return p;
}

}  // namespace kbnn
