// KbnnStemConv2d: the real-valued stem on int8 (kbnn/stem_conv2d.h): float32 NHWC input, constant
// int8 OHWI filter with per-channel scales, folded batch norm, ReLU/PReLU, optional max pool.
#include <memory>
#include <string>

#include "kbnn/stem_conv2d.h"
#include "kbnn_op.h"
#include "registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace {

class KbnnStemConv2d : public KbnnOp {
 public:
  using KbnnOp::KbnnOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int out_t) override {
    const OpOptions& o = opt_;
    if (node.CheckTensor("input", in, kTfLiteFloat32, 4) != kTfLiteOk) return kTfLiteError;
    if (in.shape[3] != o.channels_in) {
      return node.Error("input " + ShapeString(in.shape) + " must have channels_in=" +
                        std::to_string(o.channels_in) + " channels (NHWC)");
    }
    const int ft = node.inputs()[schema::kStemConv2dInputFilter];
    if (!node.IsConstant(ft)) return node.Error("filter must be a constant tensor");
    TensorInfo fi;
    node.Info(ft, &fi);
    if (node.CheckTensor("filter", fi, kTfLiteInt8, 4) != kTfLiteOk) return kTfLiteError;
    if (fi.shape[0] < 1 || fi.shape[1] != o.filter_height || fi.shape[2] != o.filter_width ||
        fi.shape[3] != o.channels_in) {
      return node.Error("filter shape " + ShapeString(fi.shape) + " does not match [Cout, " +
                        std::to_string(o.filter_height) + ", " + std::to_string(o.filter_width) +
                        ", " + std::to_string(o.channels_in) + "] (OHWI)");
    }
    const int cout = fi.shape[0];
    const float *scale = nullptr, *mult = nullptr, *bias = nullptr, *slope = nullptr;
    if (node.ConstFloats(schema::kStemConv2dInputFilterScale, "filter_scale", cout, &scale) !=
            kTfLiteOk ||
        node.ConstFloats(schema::kStemConv2dInputMultiplier, "multiplier", cout, &mult) !=
            kTfLiteOk ||
        node.ConstFloats(schema::kStemConv2dInputBias, "bias", cout, &bias) != kTfLiteOk ||
        node.ConstFloats(schema::kStemConv2dInputSlope, "slope", cout, &slope) != kTfLiteOk) {
      return kTfLiteError;
    }
    if (scale == nullptr || mult == nullptr || bias == nullptr || slope == nullptr) {
      return node.Error("filter_scale, multiplier, bias and slope are required inputs");
    }
    if (!op_ || built_for_ != in.shape) {
      StemConv2DParams p;
      p.batch = in.shape[0];
      p.input_height = in.shape[1];
      p.input_width = in.shape[2];
      p.channels_in = o.channels_in;
      p.channels_out = cout;
      p.filter_height = o.filter_height;
      p.filter_width = o.filter_width;
      p.stride_height = o.stride_height;
      p.stride_width = o.stride_width;
      p.padding = o.padding;
      p.activation = o.stem.activation;
      p.pool_height = o.stem.pool_height;
      p.pool_width = o.stem.pool_width;
      p.pool_stride_height = o.stem.pool_stride_height;
      p.pool_stride_width = o.stem.pool_stride_width;
      p.pool_padding = o.stem.pool_padding;
      p.kernel = node.kernel();
      p.num_threads = node.num_threads();
      const auto* w = static_cast<const int8_t*>(node.ConstData(ft));
      if (w == nullptr) return node.Error("filter has no data");
      op_.reset();
      Status st = StemConv2D::Create(p, w, scale, mult, bias, slope, &op_);
      if (!st.ok()) return node.Error(st.message());
      built_for_ = in.shape;
    }
    return node.SetOutput(out_t, kTfLiteFloat32,
                          {in.shape[0], op_->output_height(), op_->output_width(), cout});
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool* pool) override {
    if (!op_) return Status::Internal("not prepared");
    return op_->Run(static_cast<const float*>(in), static_cast<float*>(out), pool);
  }

 private:
  std::unique_ptr<StemConv2D> op_;
};

}  // namespace

std::unique_ptr<OpKernel> CreateKbnnStemConv2d(const OpOptions& o) {
  return std::make_unique<KbnnStemConv2d>(o);
}

}  // namespace delegate
}  // namespace kbnn
