// LceBconv2d on kbnn's BConv2D. Conventions mapped (checked bit-exact against LCE 0.16's
// interpreter, tests/test_lce_ops.py):
//  * Filters are OHWI with the input channels (per group) packed into words: kbnn's bconv2d
//    filter layout.
//  * LCE's accumulator is acc = popcount(input XOR filter) over K = fh * fw * channels_in/groups
//    bits, so kbnn's dot = K - 2 * acc. Padding with pad_values=1 packs zero bits in both.
//  * Bitpacked output: bit = acc > threshold[c]  <=>  dot < K - 2 * threshold[c]: kbnn's
//    bitpacked output with multiplier 1 and bias -(K - 2 * threshold[c]), exact.
//  * Float / int8 output: LCE clamps the accumulator for the fused activation and then applies
//    y = float(clamp(2 * acc)) * m'[c] + b'[c] with m' = -mul / scale and
//    b' = (bias + K * mul) / scale + zero_point computed in double (scale 1, zero point 0 for
//    float); int8 = saturate(round-half-away(y)). Float output without a fused activation runs
//    kbnn's float output (y = mul * dot + bias; equal up to float rounding); the other cases use
//    kbnn's raw integer dot product and this exact transform.
//  * Groups: filter.shape[3] words per group; LCE requires channels_in/groups % 32 == 0.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bconv2d_options.h"
#include "kbnn/bconv2d.h"
#include "kbnn/bitpack.h"
#include "lce_op.h"
#include "registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace lce {
namespace {

// Constant 1-D tensor of `n` elements of `type` at input `index`, or an error.
TfLiteStatus ConstVector(const NodeContext& node, size_t index, const char* what, int type, int n,
                         const void** out) {
  *out = nullptr;
  const std::vector<int>& inputs = node.inputs();
  if (inputs.size() <= index || inputs[index] < 0) {
    return node.Error(std::string(what) + " (input " + std::to_string(index) + ") is missing");
  }
  TensorInfo info;
  if (!node.Info(inputs[index], &info)) return node.Error(std::string("bad ") + what + " tensor");
  if (info.type != type || info.shape.size() != 1 || info.shape[0] != n) {
    return node.Error(std::string(what) + " must be a " + TypeName(type) + " vector of " +
                      std::to_string(n) + " (output channels), got " + TypeName(info.type) + " " +
                      ShapeString(info.shape));
  }
  *out = node.ConstData(inputs[index]);
  if (*out == nullptr) return node.Error(std::string(what) + " must be a constant tensor");
  return kTfLiteOk;
}

class LceBconv2d : public LceOp {
 public:
  using LceOp::LceOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int in_t,
                         int out_t) override {
    if (PrepareConv(node, in, in_t, out_t) != kTfLiteOk) return kTfLiteError;
    node.ArmPaddingCheck(in.shape, opt_.channels_in);
    return kTfLiteOk;
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool* pool) override {
    if (!conv_) return Status::Internal("not prepared");
    if (!raw_dot_) return conv_->Run(static_cast<const uint32_t*>(in), out, pool);
    Status st = conv_->Run(static_cast<const uint32_t*>(in), dot_.data(), pool);
    if (!st.ok()) return st;
    const int cout = conv_->params().channels_out;
    const size_t pixels = dot_.size() / static_cast<size_t>(cout);
    const int32_t K = backtransform_, lo = clamp_min_, hi = clamp_max_;
    const float* mul = mul_.data();
    const float* bias = bias_.data();
    const int32_t* dot = dot_.data();
    if (out_type_ == kTfLiteFloat32) {
      auto* y = static_cast<float*>(out);
      for (size_t p = 0; p < pixels; ++p, dot += cout, y += cout) {
        for (int c = 0; c < cout; ++c) {
          const int32_t x = std::min(std::max(K - dot[c], lo), hi);
          y[c] = static_cast<float>(x) * mul[c] + bias[c];
        }
      }
    } else {
      auto* q = static_cast<int8_t*>(out);
      for (size_t p = 0; p < pixels; ++p, dot += cout, q += cout) {
        for (int c = 0; c < cout; ++c) {
          const int32_t x = std::min(std::max(K - dot[c], lo), hi);
          const float y = static_cast<float>(x) * mul[c] + bias[c];
          const int32_t r = std::isnan(y) ? 0 : RoundHalfAway(std::max(-1e9f, std::min(1e9f, y)));
          q[c] = static_cast<int8_t>(std::min(127, std::max(-128, r)));
        }
      }
    }
    return Status::Ok();
  }

 private:
  TfLiteStatus PrepareConv(const NodeContext& node, const TensorInfo& ii, int in_t, int out_t);
  // The output transform of the float / int8 output (raw_dot_ when it is not kbnn's own).
  TfLiteStatus PrepareTransform(const NodeContext& node, const TfLiteTensor& out, int cout,
                                OutputParams* op, const float** mult, const float** bias);

  std::unique_ptr<BConv2D> conv_;
  int out_type_ = kTfLiteNoType;
  bool raw_dot_ = false;  // kbnn writes the int32 dot into dot_, transformed here
  int backtransform_ = 0;  // K
  int32_t clamp_min_ = 0, clamp_max_ = 0;  // on x = K - dot (= 2 * acc)
  std::vector<float> mul_, bias_;  // LCE's fused multiplier / bias (m', b')
  std::vector<int32_t> dot_;
  std::vector<float> ones_, thr_bias_;  // bitpacked output (BConv2D::Create copies them)
};

TfLiteStatus LceBconv2d::PrepareConv(const NodeContext& node, const TensorInfo& ii, int in_t,
                                     int out_t) {
  const LceOptions& o = opt_;
  const std::vector<int>& inputs = node.inputs();
  const std::vector<int>& in = ii.shape;
  if (ii.type != kTfLiteInt32 || in.size() != 4) {
    return node.Error(std::string("input must be a rank-4 int32 (bitpacked) tensor, got ") +
                      TypeName(ii.type) + " " + ShapeString(in));
  }
  if (in[3] != PackedWords(o.channels_in)) {
    return node.Error("bitpacked input " + ShapeString(in) + " must have " +
                      std::to_string(PackedWords(o.channels_in)) +
                      " words per pixel for channels_in=" + std::to_string(o.channels_in));
  }
  if (node.CheckChannels(in_t, o.channels_in, "channels_in") != kTfLiteOk) return kTfLiteError;
  TensorInfo fi;
  if (!node.Info(inputs[1], &fi)) return node.Error("bad filter tensor");
  const std::vector<int>& fs = fi.shape;
  const void* filter = node.ConstData(inputs[1]);
  if (fi.type != kTfLiteInt32 || fs.size() != 4 || filter == nullptr) {
    return node.Error("filter must be a constant rank-4 int32 (bitpacked OHWI) tensor, got " +
                      std::string(TypeName(fi.type)) + " " + ShapeString(fs));
  }
  const int cout = fs[0];
  if (cout <= 0 || fs[1] <= 0 || fs[2] <= 0 || fs[3] <= 0) {
    return node.Error("empty filter " + ShapeString(fs));
  }
  int groups = 1;
  if (fs[3] != in[3]) {
    if (in[3] % fs[3] != 0) {
      return node.Error("filter words per pixel " + std::to_string(fs[3]) +
                        " do not divide the input's " + std::to_string(in[3]));
    }
    groups = in[3] / fs[3];
    if (o.channels_in % groups != 0 || (o.channels_in / groups) % kBitsPerWord != 0 ||
        cout % groups != 0) {
      return node.Error("grouped convolution with " + std::to_string(groups) +
                        " groups needs channels_in/groups to be a multiple of 32 and output "
                        "channels divisible by groups (channels_in=" +
                        std::to_string(o.channels_in) +
                        ", output channels=" + std::to_string(cout) + ")");
    }
  }
  const int cin_g = o.channels_in / groups;
  const TfLiteTensor& out = node.Tensor(out_t);
  const int otype = out.type;
  if (otype != kTfLiteFloat32 && otype != kTfLiteInt8 && otype != kTfLiteInt32) {
    return node.Error(std::string("output must be float32, int8 or int32 (bitpacked), got ") +
                      TypeName(otype));
  }
  const bool same_zero = o.padding == Padding::kSame && o.pad_values == 0;
  if (same_zero && otype == kTfLiteInt32) {
    return node.Error(
        "bitpacked output with SAME zero-padding (pad_values=0) is not supported "
        "by LCE; re-convert the model with pad_values=1 or VALID padding");
  }
  const int64_t k64 = static_cast<int64_t>(fs[1]) * fs[2] * cin_g;
  if (k64 > (int64_t{1} << 24)) return node.Error("filter too large (fh*fw*channels_in > 2^24)");
  const int K = static_cast<int>(k64);
  backtransform_ = K;

  OutputParams op;
  const float* mult = nullptr;
  const float* bias = nullptr;
  if (otype == kTfLiteInt32) {
    const void* thr = nullptr;
    if (ConstVector(node, 4, "thresholds", kTfLiteInt32, cout, &thr) != kTfLiteOk) {
      return kTfLiteError;
    }
    const auto* t = static_cast<const int32_t*>(thr);
    ones_.assign(cout, 1.0f);
    thr_bias_.resize(cout);
    for (int c = 0; c < cout; ++c) {
      // bit = acc > t  <=>  dot < K - 2t; clamp the bound to [-K-1, K+1] (dot is in [-K, K]).
      int64_t d0 = static_cast<int64_t>(K) - 2 * static_cast<int64_t>(t[c]);
      d0 = std::max<int64_t>(-K - 1, std::min<int64_t>(K + 1, d0));
      thr_bias_[c] = -static_cast<float>(d0);
    }
    op.type = OutputType::kBitpacked;
    mult = ones_.data();
    bias = thr_bias_.data();
    raw_dot_ = false;
  } else {
    if (PrepareTransform(node, out, cout, &op, &mult, &bias) != kTfLiteOk) return kTfLiteError;
  }
  if (!conv_ || built_for_ != in) {
    // The filter tensor gives the filter size, its words per pixel the groups.
    BConv2DOptions geometry = o;
    geometry.filter_height = fs[1];
    geometry.filter_width = fs[2];
    geometry.groups = groups;
    BConv2DParams cp = MakeBConv2DParams(geometry, in[0], in[1], in[2], cout, op);
    cp.kernel = node.kernel();
    cp.num_threads = node.num_threads();
    conv_.reset();
    Status st = BConv2D::Create(cp, static_cast<const uint32_t*>(filter), mult, bias, &conv_);
    if (!st.ok()) return node.Error(st.message());
    built_for_ = in;
  }
  const std::vector<int> oshape = {in[0], conv_->output_height(), conv_->output_width(),
                                   otype == kTfLiteInt32 ? PackedWords(cout) : cout};
  out_type_ = otype;
  if (otype == kTfLiteInt32) node.RecordChannels(out_t, cout);
  if (raw_dot_) dot_.assign(conv_->output_elements(), 0);
  return node.SetOutput(out_t, otype, oshape);
}

TfLiteStatus LceBconv2d::PrepareTransform(const NodeContext& node, const TfLiteTensor& out,
                                          int cout, OutputParams* op, const float** mult,
                                          const float** bias) {
  const int otype = out.type;
  const void *m = nullptr, *b = nullptr;
  if (ConstVector(node, 2, "post_activation_multiplier", kTfLiteFloat32, cout, &m) != kTfLiteOk ||
      ConstVector(node, 3, "post_activation_bias", kTfLiteFloat32, cout, &b) != kTfLiteOk) {
    return kTfLiteError;
  }
  const auto* pm = static_cast<const float*>(m);
  const auto* pb = static_cast<const float*>(b);
  double scale = 1.0, zp = 0.0;
  if (otype == kTfLiteInt8) {
    scale = out.params.scale;
    zp = out.params.zero_point;
    if (!(std::isfinite(scale) && scale > 0.0))
      return node.Error("int8 output has no positive scale");
  }
  if (otype == kTfLiteFloat32 && opt_.activation == LceActivation::kNone) {
    op->type = OutputType::kFloat32;
    *mult = pm;
    *bias = pb;
    raw_dot_ = false;
    return kTfLiteOk;
  }
  const int K = backtransform_;
  op->type = OutputType::kInt32Dot;
  raw_dot_ = true;
  mul_.resize(cout);
  bias_.resize(cout);
  for (int c = 0; c < cout; ++c) {
    const double mc = pm[c], bc = pb[c];
    mul_[c] = static_cast<float>(-1.0 * mc / scale);
    bias_[c] = static_cast<float>((bc + static_cast<double>(K) * mc) / scale + zp);
  }
  int32_t lo = std::numeric_limits<int32_t>::lowest(), hi = std::numeric_limits<int32_t>::max();
  switch (opt_.activation) {
    case LceActivation::kNone: break;
    case LceActivation::kRelu: lo = 0; break;
    case LceActivation::kReluN1To1:
      lo = -1;
      hi = 1;
      break;
    case LceActivation::kRelu6:
      lo = 0;
      hi = 6;
      break;
  }
  lo = std::max<int32_t>(lo, -K);
  hi = std::min<int32_t>(hi, K);
  clamp_min_ = K - hi;
  clamp_max_ = K - lo;
  return kTfLiteOk;
}

}  // namespace
}  // namespace lce

std::unique_ptr<OpKernel> CreateLceBconv2d(const lce::LceOptions& o) {
  return std::make_unique<lce::LceBconv2d>(o);
}

}  // namespace delegate
}  // namespace kbnn
