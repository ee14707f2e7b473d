// KbnnQuantize: float32 (bit = x < 0) or int8 (bit = q < zero_point) to bitpacked words.
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

class KbnnQuantize : public KbnnOp {
 public:
  using KbnnOp::KbnnOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int out_t) override {
    // float32 input: bit = (x < 0). int8 input (the int8 option of kbnn.convert): the tensor
    // holds q with x = scale * (q - zero_point), so bit = (q < zero_point); the zero point is
    // read from the tensor's quantization parameters.
    int8_input_ = in.type == kTfLiteInt8;
    if (int8_input_) {
      const TfLiteQuantizationParams& q = node.Tensor(node.inputs()[0]).params;
      if (!(q.scale > 0.0f) || q.zero_point < -128 || q.zero_point > 127) {
        return node.Error(
            "int8 input needs per-tensor quantization parameters (scale > 0, "
            "zero_point in [-128, 127]); got scale=" +
            std::to_string(q.scale) + ", zero_point=" + std::to_string(q.zero_point));
      }
      zero_point_ = q.zero_point;
    } else if (node.CheckTensor("input", in, kTfLiteFloat32, -1) != kTfLiteOk) {
      return kTfLiteError;
    }
    if (in.shape.empty() || in.shape.back() <= 0) {
      return node.Error("input must have a non-empty channel axis, got " + ShapeString(in.shape));
    }
    channels_ = in.shape.back();
    rows_ = Rows(in.shape);
    std::vector<int> shape = in.shape;
    shape.back() = PackedWords(channels_);
    node.RecordChannels(out_t, channels_);
    return node.SetOutput(out_t, kTfLiteInt32, shape);
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool*) override {
    return int8_input_ ? QuantizeInt8(static_cast<const int8_t*>(in), rows_, channels_, zero_point_,
                                      static_cast<uint32_t*>(out))
                       : QuantizeFloat(static_cast<const float*>(in), rows_, channels_,
                                       static_cast<uint32_t*>(out));
  }

 private:
  size_t rows_ = 0;
  int channels_ = 0;
  bool int8_input_ = false;
  int32_t zero_point_ = 0;
};

}  // namespace

std::unique_ptr<OpKernel> CreateKbnnQuantize(const OpOptions& o) {
  return std::make_unique<KbnnQuantize>(o);
}

}  // namespace delegate
}  // namespace kbnn
