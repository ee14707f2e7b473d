// KbnnBMaxPool2d: max pooling of bitpacked NHWC words (a word-wise AND of the sign bits).
#include <memory>
#include <string>

#include "bmaxpool2d_kernel.h"
#include "kbnn/bitpack.h"
#include "kbnn_op.h"
#include "registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace {

class KbnnBMaxPool2d : public KbnnOp {
 public:
  using KbnnOp::KbnnOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int out_t) override {
    const OpOptions& o = opt_;
    if (PrepareBitpackedInput(node, in, 4, o.channels, "channels", "pixel") != kTfLiteOk) {
      return kTfLiteError;
    }
    node.RecordChannels(out_t, o.channels);
    // The input has PackedWords(channels) words per pixel: the output has as many.
    return pool_.Prepare(node, o, in.shape, o.channels, out_t);
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool* pool) override {
    return pool_.Run(in, out, pool);
  }

 private:
  BMaxPool2DKernel pool_;
};

}  // namespace

std::unique_ptr<OpKernel> CreateKbnnBMaxPool2d(const OpOptions& o) {
  return std::make_unique<KbnnBMaxPool2d>(o);
}

}  // namespace delegate
}  // namespace kbnn
