// LceDequantize: bitpacked words to float32 (+1 / -1) or int8 (the quantized +1 / -1).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kbnn/bitpack.h"
#include "lce_op.h"
#include "registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace lce {
namespace {

class LceDequantize : public LceOp {
 public:
  using LceOp::LceOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int in_t,
                         int out_t) override {
    const std::vector<int>& shape = in.shape;
    if (in.type != kTfLiteInt32) {
      return node.Error(std::string("input must be int32 (bitpacked), got ") + TypeName(in.type));
    }
    // LCE cannot infer the channel count from the packed input: the output tensor of the model
    // holds it (LCE does not resize this output either).
    const TfLiteTensor& out = node.Tensor(out_t);
    if (out.type != kTfLiteFloat32 && out.type != kTfLiteInt8) {
      return node.Error(std::string("output must be float32 or int8, got ") + TypeName(out.type));
    }
    if (out.dims == nullptr || out.dims->size != static_cast<int>(shape.size()) || shape.empty()) {
      return node.Error("output rank does not match the input " + ShapeString(shape));
    }
    // The channel count comes from the model's output shape; the other dims follow the input
    // (so a resized batch works, unlike in LCE's own kernel).
    std::vector<int> oshape = shape;
    oshape.back() = out.dims->data[out.dims->size - 1];
    if (oshape.back() <= 0 || PackedWords(oshape.back()) != shape.back()) {
      return node.Error("output channels " + std::to_string(oshape.back()) + " do not pack into " +
                        std::to_string(shape.back()) + " words");
    }
    if (node.CheckChannels(in_t, oshape.back(), "output channels") != kTfLiteOk) {
      return kTfLiteError;
    }
    out_type_ = out.type;
    channels_ = oshape.back();
    rows_ = Rows(shape);
    if (out.type == kTfLiteInt8) {
      const float scale = out.params.scale;
      if (!(std::isfinite(scale) && scale > 0.0f)) {
        return node.Error("int8 output has no positive scale");
      }
      const int32_t offset = RoundHalfAway(1.0f / scale);
      const int32_t zp = out.params.zero_point;
      zero_bit_ = static_cast<int8_t>(std::min<int64_t>(127, static_cast<int64_t>(zp) + offset));
      one_bit_ = static_cast<int8_t>(std::max<int64_t>(-128, static_cast<int64_t>(zp) - offset));
    }
    return node.SetOutput(out_t, out.type, oshape);
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool*) override {
    if (out_type_ == kTfLiteFloat32) {
      return Dequantize(static_cast<const uint32_t*>(in), rows_, channels_,
                        static_cast<float*>(out));
    }
    const auto* words = static_cast<const uint32_t*>(in);
    auto* q = static_cast<int8_t*>(out);
    const size_t wpr = static_cast<size_t>(PackedWords(channels_));
    for (size_t r = 0; r < rows_; ++r) {
      for (int c = 0; c < channels_; ++c) {
        q[r * channels_ + c] = PackedBit(words + r * wpr, c) ? one_bit_ : zero_bit_;
      }
    }
    return Status::Ok();
  }

 private:
  size_t rows_ = 0;
  int channels_ = 0;
  int out_type_ = kTfLiteNoType;
  int8_t zero_bit_ = 1, one_bit_ = -1;  // int8 output
};

}  // namespace
}  // namespace lce

std::unique_ptr<OpKernel> CreateLceDequantize(const lce::LceOptions& o) {
  return std::make_unique<lce::LceDequantize>(o);
}

}  // namespace delegate
}  // namespace kbnn
