// LceQuantize: float32 (bit = x < 0) or int8 (bit = q < zero_point) to bitpacked words.
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

class LceQuantize : public LceOp {
 public:
  using LceOp::LceOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int in_t,
                         int out_t) override {
    if (in.type != kTfLiteFloat32 && in.type != kTfLiteInt8) {
      return node.Error(std::string("input must be float32 or int8, got ") + TypeName(in.type));
    }
    std::vector<int> shape = in.shape;
    if (shape.empty() || shape.back() <= 0) {
      return node.Error("input needs a channel axis, got " + ShapeString(shape));
    }
    in_type_ = in.type;
    zero_point_ = node.Tensor(in_t).params.zero_point;
    channels_ = shape.back();
    rows_ = Rows(shape);
    shape.back() = PackedWords(channels_);
    node.RecordChannels(out_t, channels_);
    return node.SetOutput(out_t, kTfLiteInt32, shape);
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool*) override {
    if (in_type_ == kTfLiteFloat32) {
      return QuantizeFloat(static_cast<const float*>(in), rows_, channels_,
                           static_cast<uint32_t*>(out));
    }
    return QuantizeInt8(static_cast<const int8_t*>(in), rows_, channels_, zero_point_,
                        static_cast<uint32_t*>(out));
  }

 private:
  size_t rows_ = 0;
  int channels_ = 0;
  int in_type_ = kTfLiteNoType;
  int32_t zero_point_ = 0;
};

}  // namespace
}  // namespace lce

std::unique_ptr<OpKernel> CreateLceQuantize(const lce::LceOptions& o) {
  return std::make_unique<lce::LceQuantize>(o);
}

}  // namespace delegate
}  // namespace kbnn
