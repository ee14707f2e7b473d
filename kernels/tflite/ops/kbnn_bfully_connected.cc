// KbnnBFullyConnected: bitpacked [N, words] input times bitpacked [Cout, words] weights.
#include <memory>
#include <string>

#include "kbnn/bfully_connected.h"
#include "kbnn/bitpack.h"
#include "kbnn_op.h"
#include "registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace {

class KbnnBFullyConnected : public KbnnOp {
 public:
  using KbnnOp::KbnnOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int out_t) override {
    const OpOptions& o = opt_;
    if (PrepareBitpackedInput(node, in, 2, o.input_size, "input_size", "row") != kTfLiteOk) {
      return kTfLiteError;
    }
    const int wt = node.inputs()[1];
    if (!node.IsConstant(wt)) return node.Error("weights must be a constant tensor");
    TensorInfo wi;
    node.Info(wt, &wi);
    if (node.CheckTensor("weights", wi, kTfLiteInt32, 2) != kTfLiteOk) return kTfLiteError;
    if (wi.shape[1] != PackedWords(o.input_size) || wi.shape[0] <= 0) {
      return node.Error("weights shape " + ShapeString(wi.shape) + " does not match [Cout, " +
                        std::to_string(PackedWords(o.input_size)) + "]");
    }
    const int cout = wi.shape[0];
    const float *mult = nullptr, *bias = nullptr;
    if (node.ConstFloats(schema::kBFullyConnectedInputMultiplier, "multiplier", cout, &mult) !=
            kTfLiteOk ||
        node.ConstFloats(schema::kBFullyConnectedInputBias, "bias", cout, &bias) != kTfLiteOk) {
      return kTfLiteError;
    }
    if (!fc_ || built_for_ != in.shape) {
      BFullyConnectedParams fp;
      fp.batch = in.shape[0];
      fp.input_size = o.input_size;
      fp.output_size = cout;
      fp.output = o.output;
      fp.kernel = node.kernel();
      fp.num_threads = node.num_threads();
      const auto* w = static_cast<const uint32_t*>(node.ConstData(wt));
      if (w == nullptr) return node.Error("weights have no data");
      fc_.reset();
      Status st = BFullyConnected::Create(fp, w, mult, bias, &fc_);
      if (!st.ok()) return node.Error(st.message());
      built_for_ = in.shape;
    }
    const int oc = o.output.type == OutputType::kBitpacked ? PackedWords(cout) : cout;
    if (o.output.type == OutputType::kBitpacked) node.RecordChannels(out_t, cout);
    if (node.CheckInt8Output(o.output, out_t) != kTfLiteOk) return kTfLiteError;
    return node.SetOutput(out_t, OutputTfLiteType(o.output.type), {in.shape[0], oc});
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool* pool) override {
    if (!fc_) return Status::Internal("not prepared");
    return fc_->Run(static_cast<const uint32_t*>(in), out, pool);
  }

 private:
  std::unique_ptr<BFullyConnected> fc_;
};

}  // namespace

std::unique_ptr<OpKernel> CreateKbnnBFullyConnected(const OpOptions& o) {
  return std::make_unique<KbnnBFullyConnected>(o);
}

}  // namespace delegate
}  // namespace kbnn
