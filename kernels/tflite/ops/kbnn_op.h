#pragma once
// The part the kbnn ops (ops/kbnn_*.cc) share: their parsed options and the checks of the
// schema's tensor counts every one of them starts its Prepare with.
#include <cstring>
#include <string>
#include <vector>

#include "kbnn/bitpack.h"
#include "op_kernel.h"
#include "options.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {

class KbnnOp : public OpKernel {
 public:
  explicit KbnnOp(const OpOptions& o) : opt_(o) {}
  const char* name() const override { return opt_.def ? opt_.def->name : "?"; }

  // The schema's input and output counts, then the op's own checks (PrepareOp).
  TfLiteStatus Prepare(const NodeContext& node) final {
    TensorInfo in;
    int out_t = -1;
    if (PrepareIo(node, &in, &out_t) != kTfLiteOk) return kTfLiteError;
    return PrepareOp(node, in, out_t);
  }

 protected:
  // `in` is input 0 (type and shape), out_t the index of output 0.
  virtual TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int out_t) = 0;

  // Input 0 is a bitpacked int32 tensor of rank `rank` whose last dimension holds the words of
  // `channels` channels (the op's attr `attr`; words per `unit`) and carries that channel count;
  // arms the padding-bit check.
  static TfLiteStatus PrepareBitpackedInput(const NodeContext& node, const TensorInfo& in, int rank,
                                            int channels, const char* attr, const char* unit) {
    if (node.CheckTensor("input", in, kTfLiteInt32, rank) != kTfLiteOk) return kTfLiteError;
    if (in.shape[rank - 1] != PackedWords(channels)) {
      return node.Error("bitpacked input " + ShapeString(in.shape) + " must have " +
                        std::to_string(PackedWords(channels)) + " words per " + unit + " for " +
                        attr + "=" + std::to_string(channels));
    }
    if (node.CheckChannels(node.inputs()[0], channels, attr) != kTfLiteOk) return kTfLiteError;
    node.ArmPaddingCheck(in.shape, channels);
    return kTfLiteOk;
  }

 private:
  // The node has the schema's input and output counts; *in is input 0, *out_t output 0.
  TfLiteStatus PrepareIo(const NodeContext& node, TensorInfo* in, int* out_t) const {
    const schema::OpDef& def = *opt_.def;
    const std::vector<int>& inputs = node.inputs();
    const std::vector<int>& outputs = node.outputs();
    // Trailing list inputs of attr-given length ("N * float", N in {0, 1}) may be absent.
    size_t min_inputs = def.num_inputs;
    while (min_inputs > 0 && std::strchr(def.inputs[min_inputs - 1].dtype, '*') != nullptr) {
      --min_inputs;
    }
    if (inputs.size() < min_inputs || inputs.size() > def.num_inputs ||
        outputs.size() != def.num_outputs) {
      const std::string n = min_inputs == def.num_inputs ? std::to_string(def.num_inputs)
                                                         : std::to_string(min_inputs) + " to " +
                                                               std::to_string(def.num_inputs);
      return node.Error("expected " + n + " inputs and " + std::to_string(def.num_outputs) +
                        " outputs, got " + std::to_string(inputs.size()) + " and " +
                        std::to_string(outputs.size()));
    }
    if (!node.Info(inputs[0], in)) return node.Error("bad input tensor index");
    *out_t = outputs[0];
    if (!node.InRange(*out_t)) return node.Error("bad output tensor index");
    return kTfLiteOk;
  }

 protected:
  OpOptions opt_;
  std::vector<int> built_for_;  // the input shape the kernel object was built for
};

}  // namespace delegate
}  // namespace kbnn
