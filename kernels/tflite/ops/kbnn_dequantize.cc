// KbnnDequantize: bitpacked words of `channels` channels to float32 (+1 / -1).
#include <memory>
#include <string>
#include <vector>

#include "kbnn/bitpack.h"
#include "kbnn_op.h"
#include "registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace {

class KbnnDequantize : public KbnnOp {
 public:
  using KbnnOp::KbnnOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int out_t) override {
    const OpOptions& o = opt_;
    if (node.CheckTensor("input", in, kTfLiteInt32, -1) != kTfLiteOk) return kTfLiteError;
    if (in.shape.empty() || in.shape.back() != PackedWords(o.channels)) {
      return node.Error("bitpacked input " + ShapeString(in.shape) + " must end in " +
                        std::to_string(PackedWords(o.channels)) +
                        " words for channels=" + std::to_string(o.channels));
    }
    if (node.CheckChannels(node.inputs()[0], o.channels, "channels") != kTfLiteOk) {
      return kTfLiteError;
    }
    rows_ = Rows(in.shape);
    std::vector<int> shape = in.shape;
    shape.back() = o.channels;
    return node.SetOutput(out_t, kTfLiteFloat32, shape);
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool*) override {
    return Dequantize(static_cast<const uint32_t*>(in), rows_, opt_.channels,
                      static_cast<float*>(out));
  }

 private:
  size_t rows_ = 0;
};

}  // namespace

std::unique_ptr<OpKernel> CreateKbnnDequantize(const OpOptions& o) {
  return std::make_unique<KbnnDequantize>(o);
}

}  // namespace delegate
}  // namespace kbnn
