// KbnnBconv2d and KbnnBconv2dResidual: binary 2-D convolution of bitpacked NHWC words with a
// bitpacked OHWI filter. The residual form adds a float residual input after the activation and
// writes the output's signs bitpacked as a second output.
#include <memory>
#include <string>
#include <vector>

#include "bconv2d_options.h"
#include "kbnn/bconv2d.h"
#include "kbnn/bitpack.h"
#include "kbnn_op.h"
#include "registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace {

class KbnnBconv2d : public KbnnOp {
 public:
  using KbnnOp::KbnnOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int out_t) override {
    const OpOptions& o = opt_;
    const bool residual = o.kind == OpKind::kBconv2dResidual;
    if (PrepareBitpackedInput(node, in, 4, o.channels_in, "channels_in", "pixel") != kTfLiteOk) {
      return kTfLiteError;
    }
    const int ft = node.inputs()[1];
    if (!node.IsConstant(ft)) return node.Error("filter must be a constant tensor");
    TensorInfo fi;
    node.Info(ft, &fi);
    if (node.CheckTensor("filter", fi, kTfLiteInt32, 4) != kTfLiteOk) return kTfLiteError;
    const int cin_g = o.channels_in / o.groups;
    if (fi.shape[1] != o.filter_height || fi.shape[2] != o.filter_width ||
        fi.shape[3] != PackedWords(cin_g) || fi.shape[0] <= 0) {
      return node.Error("filter shape " + ShapeString(fi.shape) + " does not match [Cout, " +
                        std::to_string(o.filter_height) + ", " + std::to_string(o.filter_width) +
                        ", " + std::to_string(PackedWords(cin_g)) +
                        "] (filter size, channels_in/groups)");
    }
    const int cout = fi.shape[0];
    if (cout % o.groups != 0) {
      return node.Error("output channels " + std::to_string(cout) + " not divisible by groups");
    }
    const float *mult = nullptr, *bias = nullptr;
    if (node.ConstFloats(schema::kBconv2dInputMultiplier, "multiplier", cout, &mult) != kTfLiteOk ||
        node.ConstFloats(schema::kBconv2dInputBias, "bias", cout, &bias) != kTfLiteOk) {
      return kTfLiteError;
    }
    if (!conv_ || built_for_ != in.shape) {
      BConv2DParams cp =
          MakeBConv2DParams(o, in.shape[0], in.shape[1], in.shape[2], cout, o.output);
      cp.residual = cp.sign_output = residual;
      cp.kernel = node.kernel();
      cp.num_threads = node.num_threads();
      const auto* filt = static_cast<const uint32_t*>(node.ConstData(ft));
      if (filt == nullptr) return node.Error("filter has no data");
      conv_.reset();
      Status st = BConv2D::Create(cp, filt, mult, bias, &conv_);
      if (!st.ok()) return node.Error(st.message());
      built_for_ = in.shape;
    }
    const int oc = o.output.type == OutputType::kBitpacked ? PackedWords(cout) : cout;
    const std::vector<int> out_shape = {in.shape[0], conv_->output_height(), conv_->output_width(),
                                        oc};
    if (residual && PrepareResidual(node, out_shape, cout) != kTfLiteOk) return kTfLiteError;
    if (o.output.type == OutputType::kBitpacked) node.RecordChannels(out_t, cout);
    if (node.CheckInt8Output(o.output, out_t) != kTfLiteOk) return kTfLiteError;
    return node.SetOutput(out_t, OutputTfLiteType(o.output.type), out_shape);
  }

  Status Invoke(const NodeContext& node, const void* in, void* out, ThreadPool* pool) override {
    if (!conv_) return Status::Internal("not prepared");
    if (opt_.kind != OpKind::kBconv2dResidual) {
      return conv_->Run(static_cast<const uint32_t*>(in), out, pool);
    }
    const void* res = node.Data(node.inputs()[schema::kBconv2dResidualInputResidual]);
    void* bits = node.Data(node.outputs()[1]);
    if (res == nullptr || bits == nullptr) {
      return Status::Internal("residual or output_bits has no data");
    }
    return conv_->Run(static_cast<const uint32_t*>(in), static_cast<const float*>(res), out,
                      static_cast<uint32_t*>(bits), pool);
  }

 private:
  // The residual input has the output's shape; the bitpacked signs are output 1.
  TfLiteStatus PrepareResidual(const NodeContext& node, const std::vector<int>& out_shape,
                               int cout) const {
    TensorInfo ri;
    if (!node.Info(node.inputs()[schema::kBconv2dResidualInputResidual], &ri)) {
      return node.Error("bad residual tensor index");
    }
    if (node.CheckTensor("residual", ri, kTfLiteFloat32, 4) != kTfLiteOk) return kTfLiteError;
    if (ri.shape != out_shape) {
      return node.Error("residual shape " + ShapeString(ri.shape) +
                        " must equal the output shape " + ShapeString(out_shape));
    }
    const int bits_t = node.outputs()[1];
    if (!node.InRange(bits_t)) return node.Error("bad output_bits tensor index");
    if (node.SetOutput(bits_t, kTfLiteInt32,
                       {out_shape[0], out_shape[1], out_shape[2], PackedWords(cout)}) !=
        kTfLiteOk) {
      return kTfLiteError;
    }
    node.RecordChannels(bits_t, cout);
    return kTfLiteOk;
  }

  std::unique_ptr<BConv2D> conv_;
};

}  // namespace

std::unique_ptr<OpKernel> CreateKbnnBconv2d(const OpOptions& o) {
  return std::make_unique<KbnnBconv2d>(o);
}

}  // namespace delegate
}  // namespace kbnn
