// LceBMaxPool2d: max pooling of bitpacked words on kbnn's BMaxPool2D.
#include <memory>
#include <string>
#include <vector>

#include "kbnn/bitpack.h"
#include "bmaxpool2d_params.h"
#include "kbnn/bmaxpool2d.h"
#include "lce_op.h"
#include "registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {
namespace lce {
namespace {

class LceBMaxPool2d : public LceOp {
 public:
  using LceOp::LceOp;

  TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int in_t,
                         int out_t) override {
    const LceOptions& o = opt_;
    const std::vector<int>& shape = in.shape;
    if (in.type != kTfLiteInt32 || shape.size() != 4) {
      return node.Error(std::string("input must be a rank-4 int32 (bitpacked) tensor, got ") +
                        TypeName(in.type) + " " + ShapeString(shape));
    }
    if (const int known = node.KnownChannels(in_t)) node.RecordChannels(out_t, known);
    if (!pool_ || built_for_ != shape) {
      // Pooling is a word-wise AND: every bit of the words, padding bits included, is pooled.
      const int channels = shape[3] * static_cast<int>(kBitsPerWord);
      pool_.reset();
      Status st = BMaxPool2D::Create(MakeBMaxPool2DParams(o, shape, channels, node), &pool_);
      if (!st.ok()) return node.Error(st.message());
      built_for_ = shape;
    }
    return node.SetOutput(out_t, kTfLiteInt32,
                          {shape[0], pool_->output_height(), pool_->output_width(), shape[3]});
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool* pool) override {
    if (!pool_) return Status::Internal("not prepared");
    return pool_->Run(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), pool);
  }

 private:
  std::unique_ptr<BMaxPool2D> pool_;
};

}  // namespace
}  // namespace lce

std::unique_ptr<OpKernel> CreateLceBMaxPool2d(const lce::LceOptions& o) {
  return std::make_unique<lce::LceBMaxPool2d>(o);
}

}  // namespace delegate
}  // namespace kbnn
