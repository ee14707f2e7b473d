// KbnnQuantize: float32 (bit = x < 0) or int8 (bit = q < zero_point) to bitpacked words; with the
// optional constant per-channel thresholds (input 1): bit = (x < thresholds[c]) for float32 input
// (float32 [C]), bit = (q < thresholds[c]) for int8 input (int32 [C], in the quantized domain).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kbnn/bitpack.h"
#include "kbnn/schema_generated.h"
#include "kbnn/threadpool.h"
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
    if (PrepareThresholds(node) != kTfLiteOk) return kTfLiteError;
    std::vector<int> shape = in.shape;
    shape.back() = PackedWords(channels_);
    node.RecordChannels(out_t, channels_);
    return node.SetOutput(out_t, kTfLiteInt32, shape);
  }

  // Rows are split into at most kMaxTasks chunks of >= kMinValuesPerTask values over the
  // delegate's threads (disjoint output words); small tensors run inline.
  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool* pool) override {
    const int threads = pool != nullptr ? pool->num_threads() : 1;
    const size_t min_rows = (kMinValuesPerTask + channels_ - 1) / channels_;
    size_t chunk = (rows_ + threads - 1) / threads;
    if (chunk < min_rows) chunk = min_rows;
    if (chunk < (rows_ + kMaxTasks - 1) / kMaxTasks) chunk = (rows_ + kMaxTasks - 1) / kMaxTasks;
    const size_t tasks = rows_ == 0 ? 0 : (rows_ + chunk - 1) / chunk;
    if (tasks <= 1) return QuantizeRows(in, out, 0, rows_);
    Status status[kMaxTasks];
    auto task = [&](size_t t, int /*thread*/) {
      const size_t r0 = t * chunk;
      status[t] = QuantizeRows(in, out, r0, std::min(rows_, r0 + chunk) - r0);
    };
    ParallelForMaybe(pool, tasks, threads, task);
    for (size_t t = 0; t < tasks; ++t) {
      if (!status[t].ok()) return status[t];
    }
    return Status::Ok();
  }

 private:
  static constexpr size_t kMaxTasks = 64;
  static constexpr size_t kMinValuesPerTask = 16384;

  // Rows [r0, r0 + rows) of the input.
  Status QuantizeRows(const void* in, void* out, size_t r0, size_t rows) const {
    uint32_t* words = static_cast<uint32_t*>(out) + r0 * PackedWords(channels_);
    const size_t first = r0 * static_cast<size_t>(channels_);
    if (int8_input_) {
      const int8_t* q = static_cast<const int8_t*>(in) + first;
      return int_thresholds_ != nullptr
                 ? QuantizeInt8Threshold(q, rows, channels_, int_thresholds_, words)
                 : QuantizeInt8(q, rows, channels_, zero_point_, words);
    }
    const float* x = static_cast<const float*>(in) + first;
    return float_thresholds_ != nullptr
               ? QuantizeFloatThreshold(x, rows, channels_, float_thresholds_, words)
               : QuantizeFloat(x, rows, channels_, words);
  }

  // Input 1, when present: a constant rank-1 tensor of `channels_` thresholds, float32 for float
  // input and int32 (quantized domain) for int8 input.
  TfLiteStatus PrepareThresholds(const NodeContext& node) {
    float_thresholds_ = nullptr;
    int_thresholds_ = nullptr;
    const std::vector<int>& inputs = node.inputs();
    const size_t index = schema::kQuantizeInputThresholds;
    if (inputs.size() <= index || inputs[index] == kTfLiteOptionalTensor) return kTfLiteOk;
    const int t = inputs[index];
    TensorInfo info;
    if (!node.InRange(t) || !node.Info(t, &info)) return node.Error("bad thresholds tensor index");
    const int want_type = int8_input_ ? kTfLiteInt32 : kTfLiteFloat32;
    const char* want =
        int8_input_ ? "int32 (quantized domain, for int8 input)" : "float32 (for float32 input)";
    if (info.type != want_type) {
      return node.Error(std::string("thresholds must be ") + want + " [" +
                        std::to_string(channels_) + "], got " + TypeName(info.type));
    }
    if (info.shape.size() != 1 || info.shape[0] != channels_) {
      return node.Error("thresholds must have shape [" + std::to_string(channels_) +
                        "] (one per input channel), got " + ShapeString(info.shape));
    }
    if (!node.IsConstant(t)) {
      return node.Error(
          "thresholds must be a constant tensor (the model's weights); a computed threshold "
          "is not supported");
    }
    const void* data = node.ConstData(t);
    if (data == nullptr) return node.Error("thresholds tensor has no data");
    if (int8_input_) {
      int_thresholds_ = static_cast<const int32_t*>(data);
    } else {
      float_thresholds_ = static_cast<const float*>(data);
    }
    return kTfLiteOk;
  }

  size_t rows_ = 0;
  int channels_ = 0;
  bool int8_input_ = false;
  int32_t zero_point_ = 0;
  const float* float_thresholds_ = nullptr;
  const int32_t* int_thresholds_ = nullptr;
};

}  // namespace

std::unique_ptr<OpKernel> CreateKbnnQuantize(const OpOptions& o) {
  return std::make_unique<KbnnQuantize>(o);
}

}  // namespace delegate
}  // namespace kbnn
