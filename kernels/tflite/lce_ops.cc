#include "lce_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kbnn/bconv2d.h"
#include "kbnn/bitpack.h"
#include "kbnn/bmaxpool2d.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace lce {

class LceNode {
 public:
  explicit LceNode(const LceOptions& o) : opt(o) {}
  LceOptions opt;
  std::vector<int> built_for;  // input shape the kernels were built for
  // quantize / dequantize
  size_t rows = 0;
  int channels = 0;
  int in_type = kTfLiteNoType;
  int out_type = kTfLiteNoType;
  int32_t zero_point = 0;            // quantize int8 input
  int8_t zero_bit = 1, one_bit = -1;  // dequantize int8 output
  // bmaxpool
  std::unique_ptr<BMaxPool2D> pool;
  // bconv2d
  std::unique_ptr<BConv2D> conv;
  bool raw_dot = false;  // kbnn writes the int32 dot into `dot`, transformed here
  int backtransform = 0;  // K
  int32_t clamp_min = 0, clamp_max = 0;  // on x = K - dot (= 2 * acc)
  std::vector<float> mul, bias;         // LCE's fused multiplier / bias (m', b')
  std::vector<int32_t> dot;
  std::vector<float> ones, thr_bias;    // bitpacked output (BConv2D::Create copies them)
};

void DeleteLceNode(LceNode* node) { delete node; }
LceNodePtr MakeLceNode(const LceOptions& options) { return LceNodePtr(new LceNode(options)); }
const LceOptions& LceNodeOptions(const LceNode* node) { return node->opt; }

namespace {

size_t Rows(const std::vector<int>& shape) {  // all but the channel axis
  size_t rows = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d) rows *= static_cast<size_t>(std::max(shape[d], 0));
  return rows;
}

// The bitpacked input t must carry `expected` channels when its producer recorded a count.
TfLiteStatus CheckChannels(const Host& h, int t, int expected, const char* attr) {
  const int known = h.channels ? h.channels(t) : 0;
  if (known > 0 && known != expected) {
    return h.error("bitpacked input tensor " + std::to_string(t) + " carries " + std::to_string(known) +
                   " channels but the op has " + attr + "=" + std::to_string(expected) + ": expected " +
                   std::to_string(expected) + " channels, got " + std::to_string(known) +
                   " (an input of the wrong shape?)");
  }
  return kTfLiteOk;
}

void SetChannels(const Host& h, int t, int channels) {
  if (h.set_channels) h.set_channels(t, channels);
}

// TFLite's round (half away from zero), as LCE's output transform uses on x86.
int32_t RoundHalfAway(float x) { return static_cast<int32_t>(std::round(x)); }

TfLiteStatus PrepareQuantize(LceNode* n, const Host& h, int in_t, int out_t) {
  int type = 0;
  std::vector<int> shape;
  if (!h.info(in_t, &type, &shape)) return h.error("bad input tensor");
  if (type != kTfLiteFloat32 && type != kTfLiteInt8) {
    return h.error(std::string("input must be float32 or int8, got ") + TypeName(type));
  }
  if (shape.empty() || shape.back() <= 0) return h.error("input needs a channel axis, got " + ShapeString(shape));
  n->in_type = type;
  n->zero_point = h.context->tensors[in_t].params.zero_point;
  n->channels = shape.back();
  n->rows = Rows(shape);
  shape.back() = PackedWords(n->channels);
  SetChannels(h, out_t, n->channels);
  return h.set_output(out_t, kTfLiteInt32, shape);
}

TfLiteStatus PrepareDequantize(LceNode* n, const Host& h, int in_t, int out_t) {
  int type = 0;
  std::vector<int> shape;
  if (!h.info(in_t, &type, &shape)) return h.error("bad input tensor");
  if (type != kTfLiteInt32) return h.error(std::string("input must be int32 (bitpacked), got ") + TypeName(type));
  // LCE cannot infer the channel count from the packed input: the output tensor of the model
  // holds it (LCE does not resize this output either).
  const TfLiteTensor& out = h.context->tensors[out_t];
  if (out.type != kTfLiteFloat32 && out.type != kTfLiteInt8) {
    return h.error(std::string("output must be float32 or int8, got ") + TypeName(out.type));
  }
  if (out.dims == nullptr || out.dims->size != static_cast<int>(shape.size()) || shape.empty()) {
    return h.error("output rank does not match the input " + ShapeString(shape));
  }
  // The channel count comes from the model's output shape; the other dims follow the input
  // (so a resized batch works, unlike in LCE's own kernel).
  std::vector<int> oshape = shape;
  oshape.back() = out.dims->data[out.dims->size - 1];
  if (oshape.back() <= 0 || PackedWords(oshape.back()) != shape.back()) {
    return h.error("output channels " + std::to_string(oshape.back()) + " do not pack into " +
                   std::to_string(shape.back()) + " words");
  }
  if (CheckChannels(h, in_t, oshape.back(), "output channels") != kTfLiteOk) return kTfLiteError;
  n->out_type = out.type;
  n->channels = oshape.back();
  n->rows = Rows(shape);
  if (out.type == kTfLiteInt8) {
    const float scale = out.params.scale;
    if (!(std::isfinite(scale) && scale > 0.0f)) return h.error("int8 output has no positive scale");
    const int32_t offset = RoundHalfAway(1.0f / scale);
    const int32_t zp = out.params.zero_point;
    n->zero_bit = static_cast<int8_t>(std::min<int64_t>(127, static_cast<int64_t>(zp) + offset));
    n->one_bit = static_cast<int8_t>(std::max<int64_t>(-128, static_cast<int64_t>(zp) - offset));
  }
  return h.set_output(out_t, out.type, oshape);
}

TfLiteStatus PrepareBMaxPool(LceNode* n, const Host& h, int in_t, int out_t, int threads) {
  const LceOptions& o = n->opt;
  int type = 0;
  std::vector<int> shape;
  if (!h.info(in_t, &type, &shape)) return h.error("bad input tensor");
  if (type != kTfLiteInt32 || shape.size() != 4) {
    return h.error(std::string("input must be a rank-4 int32 (bitpacked) tensor, got ") +
                   TypeName(type) + " " + ShapeString(shape));
  }
  if (const int known = h.channels ? h.channels(in_t) : 0) SetChannels(h, out_t, known);
  if (!n->pool || n->built_for != shape) {
    BMaxPool2DParams mp;
    mp.batch = shape[0];
    mp.input_height = shape[1];
    mp.input_width = shape[2];
    // Pooling is a word-wise AND: every bit of the words, padding bits included, is pooled.
    mp.channels = shape[3] * kBitsPerWord;
    mp.filter_height = o.filter_height;
    mp.filter_width = o.filter_width;
    mp.stride_height = o.stride_height;
    mp.stride_width = o.stride_width;
    mp.padding = o.padding;
    mp.kernel = h.kernel;
    mp.num_threads = threads;
    n->pool.reset();
    Status st = BMaxPool2D::Create(mp, &n->pool);
    if (!st.ok()) return h.error(st.message());
    n->built_for = shape;
  }
  return h.set_output(out_t, kTfLiteInt32,
                      {shape[0], n->pool->output_height(), n->pool->output_width(), shape[3]});
}

// Constant 1-D tensor of `n` elements of `type` at input `index`, or an error.
TfLiteStatus ConstVector(const Host& h, const std::vector<int>& inputs, size_t index,
                         const char* what, int type, int n, const void** out) {
  *out = nullptr;
  if (inputs.size() <= index || inputs[index] < 0) {
    return h.error(std::string(what) + " (input " + std::to_string(index) + ") is missing");
  }
  int t_type = 0;
  std::vector<int> shape;
  if (!h.info(inputs[index], &t_type, &shape)) return h.error(std::string("bad ") + what + " tensor");
  if (t_type != type || shape.size() != 1 || shape[0] != n) {
    return h.error(std::string(what) + " must be a " + TypeName(type) + " vector of " +
                   std::to_string(n) + " (output channels), got " + TypeName(t_type) + " " +
                   ShapeString(shape));
  }
  *out = h.const_data(inputs[index]);
  if (*out == nullptr) return h.error(std::string(what) + " must be a constant tensor");
  return kTfLiteOk;
}

TfLiteStatus PrepareBconv(LceNode* n, const Host& h, const std::vector<int>& inputs, int out_t,
                          int threads) {
  const LceOptions& o = n->opt;
  if (inputs.size() != 5) {
    return h.error("expected 5 inputs (input, filter, post_activation_multiplier, "
                   "post_activation_bias, thresholds), got " + std::to_string(inputs.size()));
  }
  int type = 0;
  std::vector<int> in;
  if (!h.info(inputs[0], &type, &in)) return h.error("bad input tensor");
  if (type != kTfLiteInt32 || in.size() != 4) {
    return h.error(std::string("input must be a rank-4 int32 (bitpacked) tensor, got ") +
                   TypeName(type) + " " + ShapeString(in));
  }
  if (in[3] != PackedWords(o.channels_in)) {
    return h.error("bitpacked input " + ShapeString(in) + " must have " +
                   std::to_string(PackedWords(o.channels_in)) + " words per pixel for channels_in=" +
                   std::to_string(o.channels_in));
  }
  if (CheckChannels(h, inputs[0], o.channels_in, "channels_in") != kTfLiteOk) return kTfLiteError;
  int ftype = 0;
  std::vector<int> fs;
  if (!h.info(inputs[1], &ftype, &fs)) return h.error("bad filter tensor");
  const void* filter = h.const_data(inputs[1]);
  if (ftype != kTfLiteInt32 || fs.size() != 4 || filter == nullptr) {
    return h.error("filter must be a constant rank-4 int32 (bitpacked OHWI) tensor, got " +
                   std::string(TypeName(ftype)) + " " + ShapeString(fs));
  }
  const int cout = fs[0];
  if (cout <= 0 || fs[1] <= 0 || fs[2] <= 0 || fs[3] <= 0) return h.error("empty filter " + ShapeString(fs));
  int groups = 1;
  if (fs[3] != in[3]) {
    if (in[3] % fs[3] != 0) {
      return h.error("filter words per pixel " + std::to_string(fs[3]) + " do not divide the input's " +
                     std::to_string(in[3]));
    }
    groups = in[3] / fs[3];
    if (o.channels_in % groups != 0 || (o.channels_in / groups) % kBitsPerWord != 0 ||
        cout % groups != 0) {
      return h.error("grouped convolution with " + std::to_string(groups) +
                     " groups needs channels_in/groups to be a multiple of 32 and output channels "
                     "divisible by groups (channels_in=" + std::to_string(o.channels_in) +
                     ", output channels=" + std::to_string(cout) + ")");
    }
  }
  const int cin_g = o.channels_in / groups;
  const TfLiteTensor& out = h.context->tensors[out_t];
  const int otype = out.type;
  if (otype != kTfLiteFloat32 && otype != kTfLiteInt8 && otype != kTfLiteInt32) {
    return h.error(std::string("output must be float32, int8 or int32 (bitpacked), got ") + TypeName(otype));
  }
  const bool same_zero = o.padding == Padding::kSame && o.pad_values == 0;
  if (same_zero && otype == kTfLiteInt32) {
    return h.error("bitpacked output with SAME zero-padding (pad_values=0) is not supported by "
                   "LCE; re-convert the model with pad_values=1 or VALID padding");
  }
  const int64_t k64 = static_cast<int64_t>(fs[1]) * fs[2] * cin_g;
  if (k64 > (int64_t{1} << 24)) return h.error("filter too large (fh*fw*channels_in > 2^24)");
  const int K = static_cast<int>(k64);
  n->backtransform = K;

  OutputParams op;
  const float* mult = nullptr;
  const float* bias = nullptr;
  if (otype == kTfLiteInt32) {
    const void* thr = nullptr;
    if (ConstVector(h, inputs, 4, "thresholds", kTfLiteInt32, cout, &thr) != kTfLiteOk) return kTfLiteError;
    const auto* t = static_cast<const int32_t*>(thr);
    n->ones.assign(cout, 1.0f);
    n->thr_bias.resize(cout);
    for (int c = 0; c < cout; ++c) {
      // bit = acc > t  <=>  dot < K - 2t; clamp the bound to [-K-1, K+1] (dot is in [-K, K]).
      int64_t d0 = static_cast<int64_t>(K) - 2 * static_cast<int64_t>(t[c]);
      d0 = std::max<int64_t>(-K - 1, std::min<int64_t>(K + 1, d0));
      n->thr_bias[c] = -static_cast<float>(d0);
    }
    op.type = OutputType::kBitpacked;
    mult = n->ones.data();
    bias = n->thr_bias.data();
    n->raw_dot = false;
  } else {
    const void *m = nullptr, *b = nullptr;
    if (ConstVector(h, inputs, 2, "post_activation_multiplier", kTfLiteFloat32, cout, &m) != kTfLiteOk ||
        ConstVector(h, inputs, 3, "post_activation_bias", kTfLiteFloat32, cout, &b) != kTfLiteOk) {
      return kTfLiteError;
    }
    const auto* pm = static_cast<const float*>(m);
    const auto* pb = static_cast<const float*>(b);
    double scale = 1.0, zp = 0.0;
    if (otype == kTfLiteInt8) {
      scale = out.params.scale;
      zp = out.params.zero_point;
      if (!(std::isfinite(scale) && scale > 0.0)) return h.error("int8 output has no positive scale");
    }
    if (otype == kTfLiteFloat32 && o.activation == LceActivation::kNone) {
      op.type = OutputType::kFloat32;
      mult = pm;
      bias = pb;
      n->raw_dot = false;
    } else {
      op.type = OutputType::kInt32Dot;
      n->raw_dot = true;
      n->mul.resize(cout);
      n->bias.resize(cout);
      for (int c = 0; c < cout; ++c) {
        const double mc = pm[c], bc = pb[c];
        n->mul[c] = static_cast<float>(-1.0 * mc / scale);
        n->bias[c] = static_cast<float>((bc + static_cast<double>(K) * mc) / scale + zp);
      }
      int32_t lo = std::numeric_limits<int32_t>::lowest(), hi = std::numeric_limits<int32_t>::max();
      switch (o.activation) {
        case LceActivation::kNone: break;
        case LceActivation::kRelu: lo = 0; break;
        case LceActivation::kReluN1To1: lo = -1; hi = 1; break;
        case LceActivation::kRelu6: lo = 0; hi = 6; break;
      }
      lo = std::max<int32_t>(lo, -K);
      hi = std::min<int32_t>(hi, K);
      n->clamp_min = K - hi;
      n->clamp_max = K - lo;
    }
  }
  if (!n->conv || n->built_for != in) {
    BConv2DParams cp;
    cp.batch = in[0];
    cp.input_height = in[1];
    cp.input_width = in[2];
    cp.channels_in = o.channels_in;
    cp.channels_out = cout;
    cp.filter_height = fs[1];
    cp.filter_width = fs[2];
    cp.stride_height = o.stride_height;
    cp.stride_width = o.stride_width;
    cp.dilation_height = o.dilation_height;
    cp.dilation_width = o.dilation_width;
    cp.padding = o.padding;
    cp.pad_value = o.pad_values;
    cp.groups = groups;
    cp.output = op;
    cp.kernel = h.kernel;
    cp.num_threads = threads;
    n->conv.reset();
    Status st = BConv2D::Create(cp, static_cast<const uint32_t*>(filter), mult, bias, &n->conv);
    if (!st.ok()) return h.error(st.message());
    n->built_for = in;
  }
  const std::vector<int> oshape = {in[0], n->conv->output_height(), n->conv->output_width(),
                                   otype == kTfLiteInt32 ? PackedWords(cout) : cout};
  n->out_type = otype;
  if (otype == kTfLiteInt32) SetChannels(h, out_t, cout);
  if (n->raw_dot) n->dot.assign(n->conv->output_elements(), 0);
  return h.set_output(out_t, otype, oshape);
}

}  // namespace

TfLiteStatus PrepareLceNode(LceNode* n, const Host& h, const std::vector<int>& inputs,
                            const std::vector<int>& outputs) {
  const size_t want_in = n->opt.kind == LceKind::kBconv2d ? 5 : 1;
  if (inputs.size() != want_in || outputs.size() != 1) {
    return h.error("expected " + std::to_string(want_in) + " inputs and 1 output, got " +
                   std::to_string(inputs.size()) + " and " + std::to_string(outputs.size()));
  }
  if (inputs[0] < 0 || outputs[0] < 0 ||
      static_cast<size_t>(outputs[0]) >= h.context->tensors_size ||
      static_cast<size_t>(inputs[0]) >= h.context->tensors_size) {
    return h.error("bad tensor index");
  }
  switch (n->opt.kind) {
    case LceKind::kQuantize: return PrepareQuantize(n, h, inputs[0], outputs[0]);
    case LceKind::kDequantize: return PrepareDequantize(n, h, inputs[0], outputs[0]);
    case LceKind::kBMaxPool2d: return PrepareBMaxPool(n, h, inputs[0], outputs[0], h.num_threads);
    case LceKind::kBconv2d: return PrepareBconv(n, h, inputs, outputs[0], h.num_threads);
  }
  return h.error("unknown LCE op");
}

TfLiteStatus InvokeLceNode(LceNode* n, const Host& h, const std::vector<int>& inputs,
                           const std::vector<int>& outputs, ThreadPool* pool) {
  const void* in = h.data(inputs[0]);
  void* out = h.data(outputs[0]);
  if (in == nullptr || out == nullptr) return h.error("input or output tensor has no data");
  Status st;
  switch (n->opt.kind) {
    case LceKind::kQuantize:
      if (n->in_type == kTfLiteFloat32) {
        st = QuantizeFloat(static_cast<const float*>(in), n->rows, n->channels, static_cast<uint32_t*>(out));
      } else {
        st = QuantizeInt8(static_cast<const int8_t*>(in), n->rows, n->channels, n->zero_point,
                          static_cast<uint32_t*>(out));
      }
      break;
    case LceKind::kDequantize:
      if (n->out_type == kTfLiteFloat32) {
        st = Dequantize(static_cast<const uint32_t*>(in), n->rows, n->channels, static_cast<float*>(out));
      } else {
        const auto* words = static_cast<const uint32_t*>(in);
        auto* q = static_cast<int8_t*>(out);
        const size_t wpr = static_cast<size_t>(PackedWords(n->channels));
        for (size_t r = 0; r < n->rows; ++r) {
          for (int c = 0; c < n->channels; ++c) {
            q[r * n->channels + c] = PackedBit(words + r * wpr, c) ? n->one_bit : n->zero_bit;
          }
        }
      }
      break;
    case LceKind::kBMaxPool2d:
      if (!n->pool) return h.error("not prepared");
      st = n->pool->Run(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), pool);
      break;
    case LceKind::kBconv2d: {
      if (!n->conv) return h.error("not prepared");
      if (!n->raw_dot) {
        st = n->conv->Run(static_cast<const uint32_t*>(in), out, pool);
        break;
      }
      st = n->conv->Run(static_cast<const uint32_t*>(in), n->dot.data(), pool);
      if (!st.ok()) break;
      const int cout = n->conv->params().channels_out;
      const size_t pixels = n->dot.size() / static_cast<size_t>(cout);
      const int32_t K = n->backtransform, lo = n->clamp_min, hi = n->clamp_max;
      const float* mul = n->mul.data();
      const float* bias = n->bias.data();
      const int32_t* dot = n->dot.data();
      if (n->out_type == kTfLiteFloat32) {
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
      break;
    }
  }
  if (!st.ok()) return h.error(st.message());
  return kTfLiteOk;
}

}  // namespace lce
}  // namespace delegate
}  // namespace kbnn
