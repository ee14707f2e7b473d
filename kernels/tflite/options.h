#pragma once
// Parsing of the kbnn custom-op options (flexbuffer maps written by the TFLite converter) and of
// the external-delegate options (string key/value pairs). Every reader is bounds-checked: the
// flexbuffer is verified before any value is read, and every failure is a Status, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "bconv2d_options.h"
#include "kbnn/schema_generated.h"
#include "kbnn/status.h"
#include "kbnn/stem_conv2d.h"
#include "kbnn/types.h"

namespace kbnn {
namespace delegate {

enum class OpKind {
  kQuantize,
  kDequantize,
  kBconv2d,
  kBFullyConnected,
  kBMaxPool2d,
  kBconv2dResidual,  // KbnnBconv2dResidual: float output + residual input + bitpacked output
  kStemConv2d,       // KbnnStemConv2d: float input, int8 conv + BN + activation + max pool
};

// KbnnStemConv2d's own attrs (its conv geometry is in BConv2DOptions).
struct StemOptions {
  StemActivation activation = StemActivation::kNone;
  int pool_height = 0, pool_width = 0, pool_stride_height = 1, pool_stride_width = 1;
  Padding pool_padding = Padding::kValid;
};

// The union of the attrs of all kbnn ops, already range-checked. The convolution geometry
// (channels_in, filter, strides, dilations, padding, pad_values, groups) is the base part;
// bmaxpool2d uses its filter, strides and padding.
struct OpOptions : BConv2DOptions {
  OpKind kind = OpKind::kQuantize;
  const schema::OpDef* def = nullptr;
  int version = 0;
  int channels = 0;  // dequantize, bmaxpool2d
  int input_size = 0;
  OutputParams output;  // type, activation, clamp, int8 params
  StemOptions stem;     // KbnnStemConv2d
};

// The kbnn op called `custom_name`, or nullptr.
const schema::OpDef* FindOp(const char* custom_name);

// Parses and validates the custom options of `op`. `data` may be unaligned and untrusted.
Status ParseOpOptions(const schema::OpDef& op, const void* data, size_t size, OpOptions* out);

struct DelegateOptions {
  int num_threads = 0;  // 0: context->recommended_num_threads, else the machine (capped)
  KernelChoice kernel = KernelChoice::kAuto;
  // Non-empty: per-node invoke times are accumulated and readable under this id through
  // kbnn_delegate_profile_json (1-64 chars of [A-Za-z0-9_.-]).
  std::string profile;
};

// keys/values as handed to tflite_plugin_create_delegate.
Status ParseDelegateOptions(const char* const* keys, const char* const* values, size_t n,
                            DelegateOptions* out);

// JSON description of the op table the delegate implements (ops, versions, inputs, outputs,
// attrs with type and whether they are required). Compared with kbnn/convert/schema.py by a test.
const std::string& SchemaJson();

}  // namespace delegate
}  // namespace kbnn
