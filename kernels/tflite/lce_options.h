#pragma once
// Larq Compute Engine (LCE) custom ops: option parsing. LCE 0.16 files carry LceQuantize,
// LceDequantize, LceBconv2d and LceBMaxPool2d as CUSTOM ops (version 1) whose options are
// flexbuffer maps written by LCE's converter (facts checked against files converted by
// larq-compute-engine 0.16, see tests/fixtures/larq):
//   LceBconv2d:    channels_in, stride_height, stride_width, dilation_height_factor,
//                  dilation_width_factor (ints), padding (int, TFLite Padding: 0 SAME, 1 VALID),
//                  pad_values (0 or 1), fused_activation_function (int, TFLite
//                  ActivationFunctionType: 0 NONE, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6).
//   LceBMaxPool2d: padding, stride_height, stride_width, filter_height, filter_width.
//   LceQuantize / LceDequantize: no options.
// The lce_ops.cc mapping layer runs them on kbnn's kernels.
#include <cstddef>
#include <cstdint>

#include "bconv2d_options.h"
#include "kbnn/status.h"
#include "kbnn/types.h"

namespace kbnn {
namespace delegate {
namespace lce {

enum class LceKind { kQuantize, kDequantize, kBconv2d, kBMaxPool2d };

// LCE's fused activation: a clamp of the integer accumulator (dot product) applied BEFORE the
// post-activation multiplier and bias.
enum class LceActivation { kNone = 0, kRelu = 1, kReluN1To1 = 2, kRelu6 = 3 };

constexpr int kLceOpVersion = 1;  // the only op version LCE 0.16 writes

// The geometry base: filter_height / filter_width are read for LceBMaxPool2d only (LceBconv2d
// takes them from its filter tensor), groups stays 1 (LceBconv2d infers it from the filter).
struct LceOptions : BConv2DOptions {
  LceOptions() { pad_values = 0; }
  LceKind kind = LceKind::kQuantize;
  const char* name = "";  // the custom op name (static string)
  LceActivation activation = LceActivation::kNone;
};

// True for the names of LCE's custom ops ("Lce..."), known or not.
bool IsLceOpName(const char* custom_name);

// Parses the options of LCE custom op `custom_name` at registration `version`. `data` may be
// unaligned and untrusted. Unknown LCE ops, versions and option values are errors that name them.
Status ParseLceOptions(const char* custom_name, int version, const void* data, size_t size,
                       LceOptions* out);

}  // namespace lce
}  // namespace delegate
}  // namespace kbnn
