// KbnnBMaxPool2d: max pooling of bitpacked NHWC words (a word-wise AND of the sign bits).
#include <memory>
#include <string>

#include "kbnn/bitpack.h"
#include "bmaxpool2d_params.h"
#include "kbnn/bmaxpool2d.h"
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
    if (!pool_ || built_for_ != in.shape) {
      pool_.reset();
      Status st = BMaxPool2D::Create(MakeBMaxPool2DParams(o, in.shape, o.channels, node), &pool_);
      if (!st.ok()) return node.Error(st.message());
      built_for_ = in.shape;
    }
    return node.SetOutput(out_t, kTfLiteInt32,
                          {in.shape[0], pool_->output_height(), pool_->output_width(),
                           PackedWords(o.channels)});
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool* pool) override {
    if (!pool_) return Status::Internal("not prepared");
    return pool_->Run(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), pool);
  }

 private:
  std::unique_ptr<BMaxPool2D> pool_;
};

}  // namespace

std::unique_ptr<OpKernel> CreateKbnnBMaxPool2d(const OpOptions& o) {
  return std::make_unique<KbnnBMaxPool2d>(o);
}

}  // namespace delegate
}  // namespace kbnn
