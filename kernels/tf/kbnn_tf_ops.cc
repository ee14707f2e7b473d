// TensorFlow op library for kbnn: KbnnQuantize, KbnnDequantize, KbnnBconv2d,
// KbnnBFullyConnected, KbnnBMaxPool2d and KbnnStemConv2d (CPU kernels over the kbnn kernel
// library).
//
// The op definitions (names, inputs, outputs, attribute specs) are read from the generated
// schema mirror kbnn/schema_generated.h, so they cannot drift from kbnn/convert/schema.py.
// Bitpacked tensors are int32 tensors whose words are reinterpreted as uint32.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bconv2d_options.h"
#include "kbnn/bconv2d.h"
#include "kbnn/bfully_connected.h"
#include "kbnn/bitpack.h"
#include "kbnn/bmaxpool2d.h"
#include "kbnn/schema_generated.h"
#include "kbnn/status.h"
#include "kbnn/stem_conv2d.h"
#include "kbnn/threadpool.h"
#include "kbnn/types.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/framework/tensor.h"

// The TensorFlow release this library was compiled against, findable in the file's bytes:
// kbnn.ops reads it before loading and refuses a library built for another TF minor release
// (loading one can crash rather than fail cleanly).
#ifndef KBNN_TF_VERSION
#define KBNN_TF_VERSION "unknown"
#endif
extern "C" __attribute__((used, visibility("default"))) const char kbnn_tf_ops_build_info[] =
    "kbnn-tf-ops-built-with-tensorflow=" KBNN_TF_VERSION ";";

namespace kbnn_tf {
namespace {

namespace schema = ::kbnn::schema;
using ::tensorflow::DataType;
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::TensorShape;
using ::tensorflow::shape_inference::DimensionHandle;
using ::tensorflow::shape_inference::InferenceContext;
using ::tensorflow::shape_inference::ShapeHandle;
using TfStatus = ::absl::Status;

TfStatus Invalid(const std::string& op, const std::string& message) {
  return ::absl::InvalidArgumentError(op + ": " + message);
}

#define KBNN_RETURN_IF_ERROR(expr)               \
  do {                                           \
    TfStatus _kbnn_status = (expr);              \
    if (!_kbnn_status.ok()) return _kbnn_status; \
  } while (0)

TfStatus FromKbnn(const std::string& op, const ::kbnn::Status& s) {
  if (s.ok()) return ::absl::OkStatus();
  if (s.code() == ::kbnn::StatusCode::kInvalidArgument) return Invalid(op, s.message());
  return ::absl::InternalError(op + ": " + s.message());
}

std::string Str(int64_t v) { return std::to_string(v); }

// ---------------------------------------------------------------------------------------------
// Attributes (read identically by the shape functions and the kernels: both contexts have
// GetAttr(name, &value)).
// ---------------------------------------------------------------------------------------------

template <class Ctx>
TfStatus GetInt(Ctx* c, const char* name, int* value) {
  int64_t v = 0;
  KBNN_RETURN_IF_ERROR(c->GetAttr(name, &v));
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    return ::absl::InvalidArgumentError(std::string("attribute ") + name +
                                        " out of range: " + Str(v));
  }
  *value = static_cast<int>(v);
  return ::absl::OkStatus();
}

template <class Ctx>
TfStatus CheckVersion(Ctx* c, const char* op, int op_version) {
  int version = 0;
  KBNN_RETURN_IF_ERROR(GetInt(c, schema::kVersionAttr, &version));
  if (version < 1 || version > op_version) {
    return Invalid(op, std::string(schema::kVersionAttr) + " must be in [1, " + Str(op_version) +
                           "] (this library implements version " + Str(op_version) +
                           "); received " + Str(version) +
                           ". The graph was written by a newer kbnn: upgrade kbnn.");
  }
  return ::absl::OkStatus();
}

template <class Ctx>
TfStatus GetPositive(Ctx* c, const char* op, const char* name, int* value) {
  KBNN_RETURN_IF_ERROR(GetInt(c, name, value));
  if (*value < 1) return Invalid(op, std::string(name) + " must be >= 1; received " + Str(*value));
  return ::absl::OkStatus();
}

template <class Ctx>
TfStatus GetPadding(Ctx* c, const char* op, ::kbnn::Padding* padding) {
  std::string p;
  KBNN_RETURN_IF_ERROR(c->GetAttr("padding", &p));
  if (p == "VALID") {
    *padding = ::kbnn::Padding::kValid;
  } else if (p == "SAME") {
    *padding = ::kbnn::Padding::kSame;
  } else {
    return Invalid(op, "padding must be 'VALID' or 'SAME'; received '" + p + "'");
  }
  return ::absl::OkStatus();
}

// The fused output transform: activation, clamp bounds, output type T and int8 quantization.
template <class Ctx>
TfStatus GetActivation(Ctx* c, const char* op, ::kbnn::OutputParams* out) {
  std::string act;
  KBNN_RETURN_IF_ERROR(c->GetAttr("activation", &act));
  if (act == "NONE") {
    out->activation = ::kbnn::Activation::kNone;
  } else if (act == "RELU") {
    out->activation = ::kbnn::Activation::kRelu;
  } else if (act == "RELU6") {
    out->activation = ::kbnn::Activation::kRelu6;
  } else if (act == "CLAMP") {
    out->activation = ::kbnn::Activation::kClamp;
  } else {
    return Invalid(op, "activation must be NONE, RELU, RELU6 or CLAMP; received '" + act + "'");
  }
  KBNN_RETURN_IF_ERROR(c->GetAttr("clamp_min", &out->clamp_min));
  KBNN_RETURN_IF_ERROR(c->GetAttr("clamp_max", &out->clamp_max));
  if (out->activation == ::kbnn::Activation::kClamp &&
      (std::isnan(out->clamp_min) || std::isnan(out->clamp_max) ||
       out->clamp_min > out->clamp_max)) {
    return Invalid(op, "activation CLAMP needs clamp_min <= clamp_max; received clamp_min=" +
                           std::to_string(out->clamp_min) +
                           " clamp_max=" + std::to_string(out->clamp_max));
  }
  return ::absl::OkStatus();
}

template <class Ctx>
TfStatus GetOutputParams(Ctx* c, const char* op, ::kbnn::OutputParams* out) {
  KBNN_RETURN_IF_ERROR(GetActivation(c, op, out));
  DataType t;
  KBNN_RETURN_IF_ERROR(c->GetAttr("T", &t));
  switch (t) {
    case ::tensorflow::DT_FLOAT: out->type = ::kbnn::OutputType::kFloat32; break;
    case ::tensorflow::DT_INT32: out->type = ::kbnn::OutputType::kBitpacked; break;
    case ::tensorflow::DT_INT8: out->type = ::kbnn::OutputType::kInt8; break;
    default:
      return Invalid(op,
                     "T must be float (float32 output), int32 (bitpacked output) or int8; "
                     "received " +
                         ::tensorflow::DataTypeString(t));
  }
  KBNN_RETURN_IF_ERROR(c->GetAttr("int8_scale", &out->int8_scale));
  int zp = 0;
  KBNN_RETURN_IF_ERROR(GetInt(c, "int8_zero_point", &zp));
  out->int8_zero_point = zp;
  if (out->type == ::kbnn::OutputType::kInt8) {
    if (!(std::isfinite(out->int8_scale) && out->int8_scale > 0.0f)) {
      return Invalid(op, "int8 output needs a finite int8_scale > 0; received " +
                             std::to_string(out->int8_scale));
    }
    if (zp < -128 || zp > 127) {
      return Invalid(op, "int8_zero_point must be in [-128, 127]; received " + Str(zp));
    }
  }
  return ::absl::OkStatus();
}

// Last output dimension for Cout channels: Cout values, or ceil(Cout / 32) bitpacked words.
int64_t OutputChannels(const ::kbnn::OutputParams& out, int64_t cout) {
  return out.type == ::kbnn::OutputType::kBitpacked ? (cout + 31) / 32 : cout;
}

// Output size of one spatial axis (same formulas as the kernel library); -1 when `in` is
// unknown (-1).
TfStatus SpatialOutput(const char* op, const char* axis, int64_t in, int filter, int stride,
                       int dilation, ::kbnn::Padding padding, int64_t* out) {
  const int64_t eff = static_cast<int64_t>(filter - 1) * dilation + 1;
  if (in < 0) {
    *out = -1;
    return ::absl::OkStatus();
  }
  if (in == 0) {
    return Invalid(op, std::string("input ") + axis + " must be >= 1; received 0");
  }
  if (padding == ::kbnn::Padding::kValid) {
    if (eff > in) {
      return Invalid(op, std::string("VALID padding: the effective filter ") + axis + " " +
                             Str(eff) + " (filter " + Str(filter) + ", dilation " + Str(dilation) +
                             ") exceeds the input " + axis + " " + Str(in));
    }
    *out = (in - eff) / stride + 1;
  } else {
    *out = (in + stride - 1) / stride;
  }
  return ::absl::OkStatus();
}

// Requires dim == expected when dim is known.
TfStatus CheckDim(InferenceContext* c, const char* op, DimensionHandle dim, int64_t expected,
                  const std::string& what) {
  if (c->ValueKnown(dim) && c->Value(dim) != expected) {
    return Invalid(op, what + " must be " + Str(expected) + "; received " + Str(c->Value(dim)));
  }
  return ::absl::OkStatus();
}

TfStatus WithRank(InferenceContext* c, const char* op, int input, int rank, const char* name,
                  const char* layout, ShapeHandle* out) {
  ShapeHandle s = c->input(input);
  if (c->RankKnown(s) && c->Rank(s) != rank) {
    return Invalid(op, std::string(name) + " must have rank " + Str(rank) + " (" + layout +
                           "); received shape " + c->DebugString(s));
  }
  return c->WithRank(s, rank, out);
}

// ---------------------------------------------------------------------------------------------
// Shape functions
// ---------------------------------------------------------------------------------------------

TfStatus QuantizeShape(InferenceContext* c) {
  const char* op = schema::kQuantizeName;
  KBNN_RETURN_IF_ERROR(CheckVersion(c, op, schema::kQuantizeVersion));
  ShapeHandle in = c->input(0);
  if (c->RankKnown(in) && c->Rank(in) < 1) {
    return Invalid(op, "input must have rank >= 1 (channels last); received a scalar");
  }
  KBNN_RETURN_IF_ERROR(c->WithRankAtLeast(in, 1, &in));
  DimensionHandle ch = c->Dim(in, -1);
  DimensionHandle words =
      c->ValueKnown(ch) ? c->MakeDim((c->Value(ch) + 31) / 32) : c->UnknownDim();
  ShapeHandle out;
  KBNN_RETURN_IF_ERROR(c->ReplaceDim(in, -1, words, &out));
  // Optional per-channel thresholds (list input of length N <= 1): float32 [C].
  int64_t n = 0;
  KBNN_RETURN_IF_ERROR(c->GetAttr("N", &n));
  if (n > 1) return Invalid(op, "takes at most one thresholds tensor; received N=" + Str(n));
  if (n == 1) {
    ShapeHandle t = c->input(1);
    if (c->RankKnown(t) && c->Rank(t) != 1) {
      return Invalid(op, "thresholds must have rank 1 ([C], one per channel); received shape " +
                             c->DebugString(t));
    }
    DimensionHandle tc = c->RankKnown(t) ? c->Dim(t, 0) : c->UnknownDim();
    if (c->ValueKnown(ch) && c->ValueKnown(tc) && c->Value(ch) != c->Value(tc)) {
      return Invalid(op, "thresholds must have " + Str(c->Value(ch)) +
                             " elements (one per input channel); received " + Str(c->Value(tc)));
    }
  }
  c->set_output(0, out);
  return ::absl::OkStatus();
}

TfStatus DequantizeShape(InferenceContext* c) {
  const char* op = schema::kDequantizeName;
  KBNN_RETURN_IF_ERROR(CheckVersion(c, op, schema::kDequantizeVersion));
  int channels = 0;
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "channels", &channels));
  ShapeHandle in = c->input(0);
  if (c->RankKnown(in) && c->Rank(in) < 1) {
    return Invalid(op, "input must have rank >= 1 (packed words last); received a scalar");
  }
  KBNN_RETURN_IF_ERROR(c->WithRankAtLeast(in, 1, &in));
  KBNN_RETURN_IF_ERROR(CheckDim(c, op, c->Dim(in, -1), ::kbnn::PackedWords(channels),
                                "the input's last dimension (packed words, ceil(channels/32) "
                                "for channels=" +
                                    Str(channels) + ")"));
  ShapeHandle out;
  KBNN_RETURN_IF_ERROR(c->ReplaceDim(in, -1, c->MakeDim(channels), &out));
  c->set_output(0, out);
  return ::absl::OkStatus();
}

// Checks multiplier and bias are vectors of Cout (cout < 0: unknown).
TfStatus CheckTransformInputs(InferenceContext* c, const char* op, int first, int64_t cout) {
  const char* names[2] = {"multiplier", "bias"};
  for (int i = 0; i < 2; ++i) {
    ShapeHandle v;
    KBNN_RETURN_IF_ERROR(WithRank(c, op, first + i, 1, names[i], "[channels_out]", &v));
    if (cout >= 0) {
      KBNN_RETURN_IF_ERROR(
          CheckDim(c, op, c->Dim(v, 0), cout, std::string(names[i]) + " length (channels_out)"));
    }
  }
  return ::absl::OkStatus();
}

// The convolution geometry (kernels/common/bconv2d_options.h) and the output attrs.
struct ConvAttrs : ::kbnn::BConv2DOptions {
  ::kbnn::OutputParams output;
};

// residual: KbnnBconv2dResidual (float output, no T / int8 attributes), else KbnnBconv2d.
template <class Ctx>
TfStatus GetConvAttrs(Ctx* c, ConvAttrs* a, bool residual = false) {
  const char* op = residual ? schema::kBconv2dResidualName : schema::kBconv2dName;
  KBNN_RETURN_IF_ERROR(
      CheckVersion(c, op, residual ? schema::kBconv2dResidualVersion : schema::kBconv2dVersion));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "channels_in", &a->channels_in));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "filter_height", &a->filter_height));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "filter_width", &a->filter_width));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "stride_height", &a->stride_height));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "stride_width", &a->stride_width));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "dilation_height", &a->dilation_height));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "dilation_width", &a->dilation_width));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "groups", &a->groups));
  KBNN_RETURN_IF_ERROR(GetInt(c, "pad_values", &a->pad_values));
  if (a->pad_values != 0 && a->pad_values != 1) {
    return Invalid(op, "pad_values must be 0 or 1; received " + Str(a->pad_values));
  }
  if (a->channels_in % a->groups != 0) {
    return Invalid(op, "groups must divide channels_in; received groups=" + Str(a->groups) +
                           " channels_in=" + Str(a->channels_in));
  }
  KBNN_RETURN_IF_ERROR(GetPadding(c, op, &a->padding));
  if (residual) {
    a->output.type = ::kbnn::OutputType::kFloat32;
    return GetActivation(c, op, &a->output);
  }
  return GetOutputParams(c, op, &a->output);
}

// KbnnBconv2d, or with residual KbnnBconv2dResidual (+ the residual input of the output's
// shape and the bitpacked second output).
TfStatus Bconv2dShapeImpl(InferenceContext* c, bool residual) {
  const char* op = residual ? schema::kBconv2dResidualName : schema::kBconv2dName;
  ConvAttrs a;
  KBNN_RETURN_IF_ERROR(GetConvAttrs(c, &a, residual));
  ShapeHandle in, filter;
  KBNN_RETURN_IF_ERROR(
      WithRank(c, op, 0, 4, "input", "bitpacked NHWC [N, H, W, ceil(Cin/32)]", &in));
  KBNN_RETURN_IF_ERROR(WithRank(c, op, 1, 4, "filter",
                                "bitpacked OHWI [Cout, KH, KW, ceil((Cin/groups)/32)]", &filter));
  KBNN_RETURN_IF_ERROR(CheckDim(c, op, c->Dim(in, 3), ::kbnn::PackedWords(a.channels_in),
                                "the input's last dimension (packed words, ceil(channels_in/32) "
                                "for channels_in=" +
                                    Str(a.channels_in) + ")"));
  KBNN_RETURN_IF_ERROR(
      CheckDim(c, op, c->Dim(filter, 1), a.filter_height, "filter dimension 1 (filter_height)"));
  KBNN_RETURN_IF_ERROR(
      CheckDim(c, op, c->Dim(filter, 2), a.filter_width, "filter dimension 2 (filter_width)"));
  const int cg = a.channels_in / a.groups;
  KBNN_RETURN_IF_ERROR(CheckDim(c, op, c->Dim(filter, 3), ::kbnn::PackedWords(cg),
                                "filter dimension 3 (packed words, ceil((channels_in/groups)/32) "
                                "for channels_in/groups=" +
                                    Str(cg) + ")"));
  DimensionHandle cout_dim = c->Dim(filter, 0);
  int64_t cout = c->ValueKnown(cout_dim) ? c->Value(cout_dim) : -1;
  if (cout == 0 || (cout > 0 && cout % a.groups != 0)) {
    return Invalid(op, "filter dimension 0 (channels_out) must be >= 1 and divisible by groups=" +
                           Str(a.groups) + "; received " + Str(cout));
  }
  KBNN_RETURN_IF_ERROR(CheckTransformInputs(c, op, 2, cout));
  int64_t oh, ow;
  DimensionHandle h = c->Dim(in, 1), w = c->Dim(in, 2);
  KBNN_RETURN_IF_ERROR(SpatialOutput(op, "height", c->ValueKnown(h) ? c->Value(h) : -1,
                                     a.filter_height, a.stride_height, a.dilation_height, a.padding,
                                     &oh));
  KBNN_RETURN_IF_ERROR(SpatialOutput(op, "width", c->ValueKnown(w) ? c->Value(w) : -1,
                                     a.filter_width, a.stride_width, a.dilation_width, a.padding,
                                     &ow));
  auto dim = [c](int64_t v) { return v < 0 ? c->UnknownDim() : c->MakeDim(v); };
  ShapeHandle out = c->MakeShape(
      {c->Dim(in, 0), dim(oh), dim(ow), dim(cout < 0 ? -1 : OutputChannels(a.output, cout))});
  if (residual) {
    ShapeHandle r, merged;
    KBNN_RETURN_IF_ERROR(WithRank(c, op, schema::kBconv2dResidualInputResidual, 4, "residual",
                                  "float32 [N, OH, OW, Cout], the output's shape", &r));
    if (!c->Merge(out, r, &merged).ok()) {
      return Invalid(op, "residual must have the output's shape [N, OH, OW, Cout] = " +
                             c->DebugString(out) + "; received " + c->DebugString(r));
    }
    out = merged;
    c->set_output(1, c->MakeShape({c->Dim(out, 0), c->Dim(out, 1), c->Dim(out, 2),
                                   dim(cout < 0 ? -1 : ::kbnn::PackedWords(cout))}));
  }
  c->set_output(0, out);
  return ::absl::OkStatus();
}

TfStatus Bconv2dShape(InferenceContext* c) { return Bconv2dShapeImpl(c, false); }
TfStatus Bconv2dResidualShape(InferenceContext* c) { return Bconv2dShapeImpl(c, true); }

template <class Ctx>
TfStatus GetFcAttrs(Ctx* c, int* input_size, ::kbnn::OutputParams* out) {
  const char* op = schema::kBFullyConnectedName;
  KBNN_RETURN_IF_ERROR(CheckVersion(c, op, schema::kBFullyConnectedVersion));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "input_size", input_size));
  return GetOutputParams(c, op, out);
}

TfStatus BFullyConnectedShape(InferenceContext* c) {
  const char* op = schema::kBFullyConnectedName;
  int k = 0;
  ::kbnn::OutputParams out;
  KBNN_RETURN_IF_ERROR(GetFcAttrs(c, &k, &out));
  ShapeHandle in, weights;
  KBNN_RETURN_IF_ERROR(WithRank(c, op, 0, 2, "input", "bitpacked [N, ceil(K/32)]", &in));
  KBNN_RETURN_IF_ERROR(WithRank(c, op, 1, 2, "weights", "bitpacked [Cout, ceil(K/32)]", &weights));
  const std::string words = "packed words, ceil(input_size/32) for input_size=" + Str(k) + ")";
  KBNN_RETURN_IF_ERROR(CheckDim(c, op, c->Dim(in, 1), ::kbnn::PackedWords(k),
                                "the input's last dimension (" + words));
  KBNN_RETURN_IF_ERROR(CheckDim(c, op, c->Dim(weights, 1), ::kbnn::PackedWords(k),
                                "the weights' last dimension (" + words));
  DimensionHandle cout_dim = c->Dim(weights, 0);
  int64_t cout = c->ValueKnown(cout_dim) ? c->Value(cout_dim) : -1;
  if (cout == 0) return Invalid(op, "weights dimension 0 (channels_out) must be >= 1");
  KBNN_RETURN_IF_ERROR(CheckTransformInputs(c, op, 2, cout));
  c->set_output(0, c->Matrix(c->Dim(in, 0),
                             cout < 0 ? c->UnknownDim() : c->MakeDim(OutputChannels(out, cout))));
  return ::absl::OkStatus();
}

struct PoolAttrs {
  int channels = 0, filter_height = 0, filter_width = 0, stride_height = 1, stride_width = 1;
  ::kbnn::Padding padding = ::kbnn::Padding::kValid;
};

template <class Ctx>
TfStatus GetPoolAttrs(Ctx* c, PoolAttrs* a) {
  const char* op = schema::kBMaxPool2dName;
  KBNN_RETURN_IF_ERROR(CheckVersion(c, op, schema::kBMaxPool2dVersion));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "channels", &a->channels));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "filter_height", &a->filter_height));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "filter_width", &a->filter_width));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "stride_height", &a->stride_height));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "stride_width", &a->stride_width));
  return GetPadding(c, op, &a->padding);
}

TfStatus BMaxPool2dShape(InferenceContext* c) {
  const char* op = schema::kBMaxPool2dName;
  PoolAttrs a;
  KBNN_RETURN_IF_ERROR(GetPoolAttrs(c, &a));
  ShapeHandle in;
  KBNN_RETURN_IF_ERROR(WithRank(c, op, 0, 4, "input", "bitpacked NHWC [N, H, W, ceil(C/32)]", &in));
  KBNN_RETURN_IF_ERROR(CheckDim(c, op, c->Dim(in, 3), ::kbnn::PackedWords(a.channels),
                                "the input's last dimension (packed words, ceil(channels/32) "
                                "for channels=" +
                                    Str(a.channels) + ")"));
  int64_t oh, ow;
  DimensionHandle h = c->Dim(in, 1), w = c->Dim(in, 2);
  KBNN_RETURN_IF_ERROR(SpatialOutput(op, "height", c->ValueKnown(h) ? c->Value(h) : -1,
                                     a.filter_height, a.stride_height, 1, a.padding, &oh));
  KBNN_RETURN_IF_ERROR(SpatialOutput(op, "width", c->ValueKnown(w) ? c->Value(w) : -1,
                                     a.filter_width, a.stride_width, 1, a.padding, &ow));
  auto dim = [c](int64_t v) { return v < 0 ? c->UnknownDim() : c->MakeDim(v); };
  c->set_output(0, c->MakeShape({c->Dim(in, 0), dim(oh), dim(ow),
                                 c->MakeDim(::kbnn::PackedWords(a.channels))}));
  return ::absl::OkStatus();
}

// KbnnStemConv2d (kbnn/stem_conv2d.h).
struct StemAttrs {
  int channels_in = 0, filter_height = 0, filter_width = 0, stride_height = 1, stride_width = 1;
  ::kbnn::Padding padding = ::kbnn::Padding::kValid, pool_padding = ::kbnn::Padding::kValid;
  ::kbnn::StemActivation activation = ::kbnn::StemActivation::kNone;
  int pool_height = 0, pool_width = 0, pool_stride_height = 1, pool_stride_width = 1;
};

template <class Ctx>
TfStatus GetStemAttrs(Ctx* c, StemAttrs* a) {
  const char* op = schema::kStemConv2dName;
  KBNN_RETURN_IF_ERROR(CheckVersion(c, op, schema::kStemConv2dVersion));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "channels_in", &a->channels_in));
  if (a->channels_in > ::kbnn::kStemMaxChannelsIn) {
    return Invalid(op, "channels_in must be <= " + Str(::kbnn::kStemMaxChannelsIn) + "; received " +
                           Str(a->channels_in));
  }
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "filter_height", &a->filter_height));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "filter_width", &a->filter_width));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "stride_height", &a->stride_height));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "stride_width", &a->stride_width));
  KBNN_RETURN_IF_ERROR(GetPadding(c, op, &a->padding));
  KBNN_RETURN_IF_ERROR(GetInt(c, "pool_height", &a->pool_height));
  KBNN_RETURN_IF_ERROR(GetInt(c, "pool_width", &a->pool_width));
  if (a->pool_height < 0 || a->pool_width < 0 || (a->pool_height == 0) != (a->pool_width == 0)) {
    return Invalid(op, "pool_height and pool_width must both be 0 (no pool) or both >= 1");
  }
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "pool_stride_height", &a->pool_stride_height));
  KBNN_RETURN_IF_ERROR(GetPositive(c, op, "pool_stride_width", &a->pool_stride_width));
  std::string s;
  KBNN_RETURN_IF_ERROR(c->GetAttr("pool_padding", &s));
  if (s != "VALID" && s != "SAME") {
    return Invalid(op, "pool_padding must be 'VALID' or 'SAME'; received '" + s + "'");
  }
  a->pool_padding = s == "SAME" ? ::kbnn::Padding::kSame : ::kbnn::Padding::kValid;
  KBNN_RETURN_IF_ERROR(c->GetAttr("activation", &s));
  if (s == "NONE") {
    a->activation = ::kbnn::StemActivation::kNone;
  } else if (s == "RELU") {
    a->activation = ::kbnn::StemActivation::kRelu;
  } else if (s == "PRELU") {
    a->activation = ::kbnn::StemActivation::kPRelu;
  } else {
    return Invalid(op, "activation must be NONE, RELU or PRELU; received '" + s + "'");
  }
  return ::absl::OkStatus();
}

// Output height/width (-1: unknown) of the conv and then the pool.
TfStatus StemOutputSize(const StemAttrs& a, int64_t h, int64_t w, int64_t* oh, int64_t* ow) {
  const char* op = schema::kStemConv2dName;
  KBNN_RETURN_IF_ERROR(
      SpatialOutput(op, "height", h, a.filter_height, a.stride_height, 1, a.padding, oh));
  KBNN_RETURN_IF_ERROR(
      SpatialOutput(op, "width", w, a.filter_width, a.stride_width, 1, a.padding, ow));
  if (a.pool_height == 0) return ::absl::OkStatus();
  KBNN_RETURN_IF_ERROR(SpatialOutput(op, "pool height", *oh, a.pool_height, a.pool_stride_height, 1,
                                     a.pool_padding, oh));
  return SpatialOutput(op, "pool width", *ow, a.pool_width, a.pool_stride_width, 1, a.pool_padding,
                       ow);
}

TfStatus StemConv2dShape(InferenceContext* c) {
  const char* op = schema::kStemConv2dName;
  StemAttrs a;
  KBNN_RETURN_IF_ERROR(GetStemAttrs(c, &a));
  ShapeHandle in, filter;
  KBNN_RETURN_IF_ERROR(WithRank(c, op, 0, 4, "input", "float32 NHWC [N, H, W, Cin]", &in));
  KBNN_RETURN_IF_ERROR(
      CheckDim(c, op, c->Dim(in, 3), a.channels_in, "the input's channels (channels_in)"));
  KBNN_RETURN_IF_ERROR(
      WithRank(c, op, schema::kStemConv2dInputFilter, 4, "filter", "int8 OHWI", &filter));
  DimensionHandle h = c->Dim(in, 1), w = c->Dim(in, 2);
  int64_t oh, ow;
  KBNN_RETURN_IF_ERROR(StemOutputSize(a, c->ValueKnown(h) ? c->Value(h) : -1,
                                      c->ValueKnown(w) ? c->Value(w) : -1, &oh, &ow));
  auto dim = [c](int64_t v) { return v < 0 ? c->UnknownDim() : c->MakeDim(v); };
  c->set_output(0, c->MakeShape({c->Dim(in, 0), dim(oh), dim(ow), c->Dim(filter, 0)}));
  return ::absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Op registration from the schema mirror
// ---------------------------------------------------------------------------------------------

std::string TensorSpec(const schema::TensorDef& t) { return std::string(t.name) + ": " + t.dtype; }

bool RegisterOp(const schema::OpDef& def, ::tensorflow::OpShapeInferenceFn shape_fn,
                const char* doc) {
  ::tensorflow::register_op::OpDefBuilderWrapper w(def.name);
  for (size_t i = 0; i < def.num_inputs; ++i) w.Input(TensorSpec(def.inputs[i]));
  for (size_t i = 0; i < def.num_outputs; ++i) w.Output(TensorSpec(def.outputs[i]));
  for (size_t i = 0; i < def.num_attrs; ++i) w.Attr(def.attrs[i].tf_spec);
  w.SetShapeFn(std::move(shape_fn));
  w.Doc(doc);
  w();
  return true;
}

const schema::OpDef& FindOp(const char* name) {
  for (const auto& op : schema::kOps) {
    if (std::strcmp(op.name, name) == 0) return op;
  }
  std::abort();  // the generated header always lists every op it names
}

[[maybe_unused]] const bool kRegistered = [] {
  RegisterOp(FindOp(schema::kQuantizeName), QuantizeShape,
             "Bitpacks float32 [..., C] along the last axis into int32 words [..., ceil(C/32)]: "
             "bit = (x < 0), LSB = channel 0 of the word, padding bits 0.");
  RegisterOp(FindOp(schema::kDequantizeName), DequantizeShape,
             "Unpacks bitpacked int32 words [..., ceil(C/32)] to +-1 float32 [..., C].");
  RegisterOp(FindOp(schema::kBconv2dName), Bconv2dShape,
             "Binary 2-D convolution on bitpacked NHWC input with bitpacked OHWI filters and the "
             "fused output transform y = multiplier[c] * dot + bias[c], activation.");
  RegisterOp(FindOp(schema::kBconv2dResidualName), Bconv2dResidualShape,
             "KbnnBconv2d with float output fused with the residual add after it and the "
             "re-binarization of the sum: output = activation(multiplier[c] * dot + bias[c]) + "
             "residual, output_bits = bitpacked (output < 0).");
  RegisterOp(FindOp(schema::kBFullyConnectedName), BFullyConnectedShape,
             "Binary fully connected layer on bitpacked input [N, ceil(K/32)] with bitpacked "
             "weights [Cout, ceil(K/32)] and the fused output transform.");
  RegisterOp(FindOp(schema::kBMaxPool2dName), BMaxPool2dShape,
             "Max pooling on bitpacked NHWC data (AND of the packed bits).");
  RegisterOp(FindOp(schema::kStemConv2dName), StemConv2dShape,
             "Real-valued stem on int8: dynamic per-item input quantization, int8 conv, folded "
             "batch norm, NONE/RELU/PRELU, optional max pool (kbnn/stem_conv2d.h).");
  return true;
}();

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

// One process-wide pool shared by every kbnn op (ParallelFor calls from several threads are
// serialized by the pool). Sized on first use from KBNN_NUM_THREADS, else TF's intra-op thread
// count, capped by the hardware concurrency. Never destroyed (no teardown order issues at exit).
::kbnn::ThreadPool* SharedPool(OpKernelContext* ctx) {
  static ::kbnn::ThreadPool* pool = [ctx] {
    int n = 0;
    if (const char* env = std::getenv("KBNN_NUM_THREADS")) n = std::atoi(env);
    if (n <= 0) {
      const auto* workers = ctx->device()->tensorflow_cpu_worker_threads();
      n = workers != nullptr ? workers->num_threads : 1;
      const int hw = static_cast<int>(std::thread::hardware_concurrency());
      if (hw > 0) n = std::min(n, hw);
    }
    n = std::max(1, std::min(n, 64));
    return new ::kbnn::ThreadPool(n);
  }();
  return pool;
}

const uint32_t* Words(const Tensor& t) {
  return reinterpret_cast<const uint32_t*>(t.flat<int32_t>().data());
}
uint32_t* Words(Tensor* t) { return reinterpret_cast<uint32_t*>(t->flat<int32_t>().data()); }

std::string ShapeStr(const Tensor& t) { return t.shape().DebugString(); }

// Runtime checks worded exactly like the shape functions' (one message whichever fires).
TfStatus CheckRank(const char* op, const Tensor& t, int rank, const char* name,
                   const char* layout) {
  if (t.dims() != rank) {
    return Invalid(op, std::string(name) + " must have rank " + Str(rank) + " (" + layout +
                           "); received shape " + ShapeStr(t));
  }
  return ::absl::OkStatus();
}

TfStatus CheckTensorDim(const char* op, const Tensor& t, int axis, int64_t expected,
                        const std::string& what) {
  if (t.dim_size(axis) != expected) {
    return Invalid(op, what + " must be " + Str(expected) + "; received " + Str(t.dim_size(axis)));
  }
  return ::absl::OkStatus();
}

class QuantizeOp : public OpKernel {
 public:
  explicit QuantizeOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, CheckVersion(ctx, schema::kQuantizeName, schema::kQuantizeVersion));
  }
  void Compute(OpKernelContext* ctx) override {
    const Tensor& in = ctx->input(0);
    OP_REQUIRES(ctx, in.dims() >= 1,
                Invalid(schema::kQuantizeName,
                        "input must have rank >= 1 (channels last); received a scalar"));
    const int64_t c = in.dim_size(in.dims() - 1);
    OP_REQUIRES(ctx, c <= std::numeric_limits<int>::max(),
                Invalid(schema::kQuantizeName, "too many channels: " + Str(c)));
    TensorShape out_shape = in.shape();
    out_shape.set_dim(in.dims() - 1, (c + 31) / 32);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &out));
    if (out->NumElements() == 0) return;
    const size_t rows = static_cast<size_t>(in.NumElements() / c);
    OP_REQUIRES(ctx, ctx->num_inputs() <= 2,
                Invalid(schema::kQuantizeName, "takes at most one thresholds tensor; received " +
                                                   Str(ctx->num_inputs() - 1)));
    if (ctx->num_inputs() == 2) {
      const Tensor& t = ctx->input(1);
      OP_REQUIRES(ctx, t.dims() == 1 && t.dim_size(0) == c,
                  Invalid(schema::kQuantizeName, "thresholds must have shape [" + Str(c) +
                                                     "] (one per input channel); received " +
                                                     t.shape().DebugString()));
      OP_REQUIRES_OK(ctx,
                     FromKbnn(schema::kQuantizeName,
                              ::kbnn::QuantizeFloatThreshold(in.flat<float>().data(), rows,
                                                             static_cast<int>(c),
                                                             t.flat<float>().data(), Words(out))));
      return;
    }
    OP_REQUIRES_OK(ctx, FromKbnn(schema::kQuantizeName,
                                 ::kbnn::QuantizeFloat(in.flat<float>().data(), rows,
                                                       static_cast<int>(c), Words(out))));
  }
};

class DequantizeOp : public OpKernel {
 public:
  explicit DequantizeOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, CheckVersion(ctx, schema::kDequantizeName, schema::kDequantizeVersion));
    OP_REQUIRES_OK(ctx, GetPositive(ctx, schema::kDequantizeName, "channels", &channels_));
  }
  void Compute(OpKernelContext* ctx) override {
    const Tensor& in = ctx->input(0);
    const int words = ::kbnn::PackedWords(channels_);
    OP_REQUIRES(ctx, in.dims() >= 1,
                Invalid(schema::kDequantizeName,
                        "input must have rank >= 1 (packed words last); received a scalar"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(schema::kDequantizeName, in, in.dims() - 1, words,
                                       "the input's last dimension (packed words, "
                                       "ceil(channels/32) for channels=" +
                                           Str(channels_) + ")"));
    TensorShape out_shape = in.shape();
    out_shape.set_dim(in.dims() - 1, channels_);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &out));
    if (out->NumElements() == 0) return;
    const size_t rows = static_cast<size_t>(in.NumElements() / words);
    OP_REQUIRES_OK(ctx, FromKbnn(schema::kDequantizeName,
                                 ::kbnn::Dequantize(Words(in), rows, channels_,
                                                    out->flat<float>().data())));
  }

 private:
  int channels_ = 0;
};

// Checks multiplier and bias are float vectors of length cout.
TfStatus CheckTransformTensors(const char* op, const Tensor& multiplier, const Tensor& bias,
                               int64_t cout) {
  KBNN_RETURN_IF_ERROR(CheckRank(op, multiplier, 1, "multiplier", "[channels_out]"));
  KBNN_RETURN_IF_ERROR(CheckTensorDim(op, multiplier, 0, cout, "multiplier length (channels_out)"));
  KBNN_RETURN_IF_ERROR(CheckRank(op, bias, 1, "bias", "[channels_out]"));
  return CheckTensorDim(op, bias, 0, cout, "bias length (channels_out)");
}

// The weights/multiplier/bias a cached kernel object was created with (the op is rebuilt when
// any of them, or the input shape, changes; for constant weights it is built once).
struct WeightKey {
  std::vector<int64_t> shape;
  std::vector<uint32_t> weights;
  std::vector<float> multiplier, bias;

  static bool SameBits(const void* a, const void* b, size_t bytes) {
    return bytes == 0 || std::memcmp(a, b, bytes) == 0;
  }
  bool Matches(const std::vector<int64_t>& s, const Tensor& w, const Tensor& m,
               const Tensor& b) const {
    return s == shape && static_cast<size_t>(w.NumElements()) == weights.size() &&
           static_cast<size_t>(m.NumElements()) == multiplier.size() &&
           static_cast<size_t>(b.NumElements()) == bias.size() &&
           SameBits(weights.data(), Words(w), weights.size() * 4) &&
           SameBits(multiplier.data(), m.flat<float>().data(), multiplier.size() * 4) &&
           SameBits(bias.data(), b.flat<float>().data(), bias.size() * 4);
  }
  void Set(const std::vector<int64_t>& s, const Tensor& w, const Tensor& m, const Tensor& b) {
    shape = s;
    weights.assign(Words(w), Words(w) + w.NumElements());
    multiplier.assign(m.flat<float>().data(), m.flat<float>().data() + m.NumElements());
    bias.assign(b.flat<float>().data(), b.flat<float>().data() + b.NumElements());
  }
};

// Residual: KbnnBconv2dResidual (residual input, float + bitpacked outputs), else KbnnBconv2d.
template <bool Residual>
class Bconv2dOp : public OpKernel {
 public:
  explicit Bconv2dOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, GetConvAttrs(ctx, &attrs_, Residual));
  }

  void Compute(OpKernelContext* ctx) override {
    const char* op = Residual ? schema::kBconv2dResidualName : schema::kBconv2dName;
    const Tensor& in = ctx->input(schema::kBconv2dInputInput);
    const Tensor& filter = ctx->input(schema::kBconv2dInputFilter);
    const Tensor& multiplier = ctx->input(schema::kBconv2dInputMultiplier);
    const Tensor& bias = ctx->input(schema::kBconv2dInputBias);
    OP_REQUIRES_OK(ctx, CheckRank(op, in, 4, "input", "bitpacked NHWC [N, H, W, ceil(Cin/32)]"));
    OP_REQUIRES_OK(ctx, CheckRank(op, filter, 4, "filter",
                                  "bitpacked OHWI [Cout, KH, KW, ceil((Cin/groups)/32)]"));
    const int cg = attrs_.channels_in / attrs_.groups;
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, in, 3, ::kbnn::PackedWords(attrs_.channels_in),
                                       "the input's last dimension (packed words, "
                                       "ceil(channels_in/32) for channels_in=" +
                                           Str(attrs_.channels_in) + ")"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, filter, 1, attrs_.filter_height,
                                       "filter dimension 1 (filter_height)"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, filter, 2, attrs_.filter_width,
                                       "filter dimension 2 (filter_width)"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, filter, 3, ::kbnn::PackedWords(cg),
                                       "filter dimension 3 (packed words, "
                                       "ceil((channels_in/groups)/32) for channels_in/groups=" +
                                           Str(cg) + ")"));
    const int64_t cout = filter.dim_size(0);
    OP_REQUIRES(ctx,
                cout >= 1 && cout % attrs_.groups == 0 && cout <= std::numeric_limits<int>::max(),
                Invalid(op,
                        "filter dimension 0 (channels_out) must be >= 1 and divisible by "
                        "groups=" +
                            Str(attrs_.groups) + "; received " + Str(cout)));
    OP_REQUIRES_OK(ctx, CheckTransformTensors(op, multiplier, bias, cout));
    for (int d = 0; d < 3; ++d) {
      OP_REQUIRES(ctx, in.dim_size(d) <= std::numeric_limits<int>::max(),
                  Invalid(op, "input shape too large: " + ShapeStr(in)));
    }
    int64_t oh, ow;  // validates the geometry with the shape function's messages
    OP_REQUIRES_OK(ctx, SpatialOutput(op, "height", std::max<int64_t>(in.dim_size(1), 1),
                                      attrs_.filter_height, attrs_.stride_height,
                                      attrs_.dilation_height, attrs_.padding, &oh));
    OP_REQUIRES_OK(ctx, SpatialOutput(op, "width", std::max<int64_t>(in.dim_size(2), 1),
                                      attrs_.filter_width, attrs_.stride_width,
                                      attrs_.dilation_width, attrs_.padding, &ow));

    const std::vector<int64_t> key_shape = {in.dim_size(0), in.dim_size(1), in.dim_size(2), cout};
    std::lock_guard<std::mutex> lock(mu_);
    if (conv_ == nullptr || !key_.Matches(key_shape, filter, multiplier, bias)) {
      conv_.reset();
      ::kbnn::BConv2DParams p = ::kbnn::MakeBConv2DParams(attrs_, static_cast<int>(in.dim_size(0)),
                                                          static_cast<int>(in.dim_size(1)),
                                                          static_cast<int>(in.dim_size(2)),
                                                          static_cast<int>(cout), attrs_.output);
      p.residual = p.sign_output = Residual;
      p.num_threads = SharedPool(ctx)->num_threads();
      if (p.batch == 0 || p.input_height == 0 || p.input_width == 0) {
        // Empty input: nothing to compute; the output shape follows the shape function.
        const int64_t eh = p.input_height == 0 ? 0 : oh, ew = p.input_width == 0 ? 0 : ow;
        Tensor* out = nullptr;
        OP_REQUIRES_OK(ctx, ctx->allocate_output(
                                0, TensorShape({p.batch, eh, ew, OutputChannels(p.output, cout)}),
                                &out));
        if (Residual) {
          OP_REQUIRES_OK(ctx,
                         ctx->allocate_output(
                             1, TensorShape({p.batch, eh, ew, ::kbnn::PackedWords(cout)}), &out));
        }
        return;
      }
      OP_REQUIRES_OK(ctx, FromKbnn(op, ::kbnn::BConv2D::Create(p, Words(filter),
                                                               multiplier.flat<float>().data(),
                                                               bias.flat<float>().data(), &conv_)));
      key_.Set(key_shape, filter, multiplier, bias);
    }
    const TensorShape out_shape({in.dim_size(0), conv_->output_height(), conv_->output_width(),
                                 OutputChannels(attrs_.output, cout)});
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &out));
    if (!Residual) {
      OP_REQUIRES_OK(ctx, FromKbnn(op, conv_->Run(Words(in), out->data(), SharedPool(ctx))));
      return;
    }
    const Tensor& residual = ctx->input(schema::kBconv2dResidualInputResidual);
    OP_REQUIRES(ctx, residual.shape() == out_shape,
                Invalid(op, "residual must have the output's shape " + out_shape.DebugString() +
                                "; received " + residual.shape().DebugString()));
    Tensor* bits = nullptr;
    OP_REQUIRES_OK(
        ctx, ctx->allocate_output(1,
                                  TensorShape({out_shape.dim_size(0), out_shape.dim_size(1),
                                               out_shape.dim_size(2), ::kbnn::PackedWords(cout)}),
                                  &bits));
    OP_REQUIRES_OK(ctx, FromKbnn(op, conv_->Run(Words(in), residual.flat<float>().data(),
                                                out->data(), Words(bits), SharedPool(ctx))));
  }

 private:
  ConvAttrs attrs_;
  std::mutex mu_;
  WeightKey key_;
  std::unique_ptr<::kbnn::BConv2D> conv_;
};

class BFullyConnectedOp : public OpKernel {
 public:
  explicit BFullyConnectedOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, GetFcAttrs(ctx, &input_size_, &output_));
  }

  void Compute(OpKernelContext* ctx) override {
    const char* op = schema::kBFullyConnectedName;
    const Tensor& in = ctx->input(schema::kBFullyConnectedInputInput);
    const Tensor& weights = ctx->input(schema::kBFullyConnectedInputWeights);
    const Tensor& multiplier = ctx->input(schema::kBFullyConnectedInputMultiplier);
    const Tensor& bias = ctx->input(schema::kBFullyConnectedInputBias);
    OP_REQUIRES_OK(ctx, CheckRank(op, in, 2, "input", "bitpacked [N, ceil(K/32)]"));
    OP_REQUIRES_OK(ctx, CheckRank(op, weights, 2, "weights", "bitpacked [Cout, ceil(K/32)]"));
    const std::string words =
        "packed words, ceil(input_size/32) for input_size=" + Str(input_size_) + ")";
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, in, 1, ::kbnn::PackedWords(input_size_),
                                       "the input's last dimension (" + words));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, weights, 1, ::kbnn::PackedWords(input_size_),
                                       "the weights' last dimension (" + words));
    const int64_t cout = weights.dim_size(0);
    OP_REQUIRES(ctx, cout >= 1 && cout <= std::numeric_limits<int>::max(),
                Invalid(op, "weights dimension 0 (channels_out) must be >= 1"));
    OP_REQUIRES(ctx, in.dim_size(0) <= std::numeric_limits<int>::max(),
                Invalid(op, "batch too large: " + ShapeStr(in)));
    OP_REQUIRES_OK(ctx, CheckTransformTensors(op, multiplier, bias, cout));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
                            0, TensorShape({in.dim_size(0), OutputChannels(output_, cout)}), &out));
    if (in.dim_size(0) == 0) return;

    const std::vector<int64_t> key_shape = {in.dim_size(0), cout};
    std::lock_guard<std::mutex> lock(mu_);
    if (fc_ == nullptr || !key_.Matches(key_shape, weights, multiplier, bias)) {
      fc_.reset();
      ::kbnn::BFullyConnectedParams p;
      p.batch = static_cast<int>(in.dim_size(0));
      p.input_size = input_size_;
      p.output_size = static_cast<int>(cout);
      p.output = output_;
      p.num_threads = SharedPool(ctx)->num_threads();
      OP_REQUIRES_OK(ctx, FromKbnn(op, ::kbnn::BFullyConnected::Create(
                                           p, Words(weights), multiplier.flat<float>().data(),
                                           bias.flat<float>().data(), &fc_)));
      key_.Set(key_shape, weights, multiplier, bias);
    }
    OP_REQUIRES_OK(ctx, FromKbnn(op, fc_->Run(Words(in), out->data(), SharedPool(ctx))));
  }

 private:
  int input_size_ = 0;
  ::kbnn::OutputParams output_;
  std::mutex mu_;
  WeightKey key_;
  std::unique_ptr<::kbnn::BFullyConnected> fc_;
};

class BMaxPool2dOp : public OpKernel {
 public:
  explicit BMaxPool2dOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, GetPoolAttrs(ctx, &attrs_));
  }

  void Compute(OpKernelContext* ctx) override {
    const char* op = schema::kBMaxPool2dName;
    const Tensor& in = ctx->input(0);
    const int words = ::kbnn::PackedWords(attrs_.channels);
    OP_REQUIRES_OK(ctx, CheckRank(op, in, 4, "input", "bitpacked NHWC [N, H, W, ceil(C/32)]"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, in, 3, words,
                                       "the input's last dimension (packed words, "
                                       "ceil(channels/32) for channels=" +
                                           Str(attrs_.channels) + ")"));
    for (int d = 0; d < 3; ++d) {
      OP_REQUIRES(ctx, in.dim_size(d) <= std::numeric_limits<int>::max(),
                  Invalid(op, "input shape too large: " + ShapeStr(in)));
    }
    int64_t oh, ow;
    OP_REQUIRES_OK(ctx, SpatialOutput(op, "height", std::max<int64_t>(in.dim_size(1), 1),
                                      attrs_.filter_height, attrs_.stride_height, 1, attrs_.padding,
                                      &oh));
    OP_REQUIRES_OK(ctx,
                   SpatialOutput(op, "width", std::max<int64_t>(in.dim_size(2), 1),
                                 attrs_.filter_width, attrs_.stride_width, 1, attrs_.padding, &ow));
    if (in.dim_size(1) == 0) oh = 0;
    if (in.dim_size(2) == 0) ow = 0;
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx,
                   ctx->allocate_output(0, TensorShape({in.dim_size(0), oh, ow, words}), &out));
    if (out->NumElements() == 0) return;
    ::kbnn::BMaxPool2DParams p;
    p.batch = static_cast<int>(in.dim_size(0));
    p.input_height = static_cast<int>(in.dim_size(1));
    p.input_width = static_cast<int>(in.dim_size(2));
    p.channels = attrs_.channels;
    p.filter_height = attrs_.filter_height;
    p.filter_width = attrs_.filter_width;
    p.stride_height = attrs_.stride_height;
    p.stride_width = attrs_.stride_width;
    p.padding = attrs_.padding;
    p.num_threads = SharedPool(ctx)->num_threads();
    std::unique_ptr<::kbnn::BMaxPool2D> pool;
    OP_REQUIRES_OK(ctx, FromKbnn(op, ::kbnn::BMaxPool2D::Create(p, &pool)));
    OP_REQUIRES(ctx, pool->output_height() == oh && pool->output_width() == ow,
                ::absl::InternalError(std::string(op) + ": output size mismatch"));
    OP_REQUIRES_OK(ctx, FromKbnn(op, pool->Run(Words(in), Words(out), SharedPool(ctx))));
  }

 private:
  PoolAttrs attrs_;
};

class StemConv2dOp : public OpKernel {
 public:
  explicit StemConv2dOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, GetStemAttrs(ctx, &attrs_));
  }

  void Compute(OpKernelContext* ctx) override {
    const char* op = schema::kStemConv2dName;
    const Tensor& in = ctx->input(schema::kStemConv2dInputInput);
    const Tensor& filter = ctx->input(schema::kStemConv2dInputFilter);
    OP_REQUIRES_OK(ctx, CheckRank(op, in, 4, "input", "float32 NHWC [N, H, W, Cin]"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, in, 3, attrs_.channels_in,
                                       "the input's channels (channels_in)"));
    OP_REQUIRES_OK(ctx, CheckRank(op, filter, 4, "filter", "int8 OHWI [Cout, KH, KW, Cin]"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, filter, 1, attrs_.filter_height, "filter height"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, filter, 2, attrs_.filter_width, "filter width"));
    OP_REQUIRES_OK(ctx, CheckTensorDim(op, filter, 3, attrs_.channels_in, "filter channels"));
    const int64_t cout = filter.dim_size(0);
    OP_REQUIRES(ctx, cout >= 1 && cout <= (1 << 16),
                Invalid(op, "filter must have 1..65536 output channels; received " + Str(cout)));
    const float* vec[4];
    const int index[4] = {schema::kStemConv2dInputFilterScale, schema::kStemConv2dInputMultiplier,
                          schema::kStemConv2dInputBias, schema::kStemConv2dInputSlope};
    const char* names[4] = {"filter_scale", "multiplier", "bias", "slope"};
    for (int i = 0; i < 4; ++i) {
      const Tensor& t = ctx->input(index[i]);
      OP_REQUIRES(ctx, t.dims() == 1 && t.dim_size(0) == cout,
                  Invalid(op, std::string(names[i]) + " must have shape [" + Str(cout) +
                                  "]; received " + ShapeStr(t)));
      vec[i] = t.flat<float>().data();
    }
    for (int d = 0; d < 3; ++d) {
      OP_REQUIRES(ctx, in.dim_size(d) >= 1 && in.dim_size(d) <= std::numeric_limits<int>::max(),
                  Invalid(op, "input shape must be non-empty and fit int: " + ShapeStr(in)));
    }
    int64_t oh, ow;
    OP_REQUIRES_OK(ctx, StemOutputSize(attrs_, in.dim_size(1), in.dim_size(2), &oh, &ow));
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({in.dim_size(0), oh, ow, cout}), &out));
    ::kbnn::StemConv2DParams p;
    p.batch = static_cast<int>(in.dim_size(0));
    p.input_height = static_cast<int>(in.dim_size(1));
    p.input_width = static_cast<int>(in.dim_size(2));
    p.channels_in = attrs_.channels_in;
    p.channels_out = static_cast<int>(cout);
    p.filter_height = attrs_.filter_height;
    p.filter_width = attrs_.filter_width;
    p.stride_height = attrs_.stride_height;
    p.stride_width = attrs_.stride_width;
    p.padding = attrs_.padding;
    p.activation = attrs_.activation;
    p.pool_height = attrs_.pool_height;
    p.pool_width = attrs_.pool_width;
    p.pool_stride_height = attrs_.pool_stride_height;
    p.pool_stride_width = attrs_.pool_stride_width;
    p.pool_padding = attrs_.pool_padding;
    p.num_threads = SharedPool(ctx)->num_threads();
    std::unique_ptr<::kbnn::StemConv2D> stem;
    OP_REQUIRES_OK(ctx,
                   FromKbnn(op, ::kbnn::StemConv2D::Create(p, filter.flat<int8_t>().data(), vec[0],
                                                           vec[1], vec[2], vec[3], &stem)));
    OP_REQUIRES(ctx, stem->output_height() == oh && stem->output_width() == ow,
                ::absl::InternalError(std::string(op) + ": output size mismatch"));
    OP_REQUIRES_OK(ctx, FromKbnn(op, stem->Run(in.flat<float>().data(), out->flat<float>().data(),
                                               SharedPool(ctx))));
  }

 private:
  StemAttrs attrs_;
};

REGISTER_KERNEL_BUILDER(Name(schema::kQuantizeName).Device(::tensorflow::DEVICE_CPU), QuantizeOp);
REGISTER_KERNEL_BUILDER(Name(schema::kDequantizeName).Device(::tensorflow::DEVICE_CPU),
                        DequantizeOp);
REGISTER_KERNEL_BUILDER(Name(schema::kBconv2dName).Device(::tensorflow::DEVICE_CPU),
                        Bconv2dOp<false>);
REGISTER_KERNEL_BUILDER(Name(schema::kBconv2dResidualName).Device(::tensorflow::DEVICE_CPU),
                        Bconv2dOp<true>);
REGISTER_KERNEL_BUILDER(Name(schema::kBFullyConnectedName).Device(::tensorflow::DEVICE_CPU),
                        BFullyConnectedOp);
REGISTER_KERNEL_BUILDER(Name(schema::kBMaxPool2dName).Device(::tensorflow::DEVICE_CPU),
                        BMaxPool2dOp);
REGISTER_KERNEL_BUILDER(Name(schema::kStemConv2dName).Device(::tensorflow::DEVICE_CPU),
                        StemConv2dOp);

}  // namespace
}  // namespace kbnn_tf
