// LceBMaxPool2d: max pooling of bitpacked words on kbnn's BMaxPool2D.
#include <memory>
#include <string>
#include <vector>

#include "bmaxpool2d_kernel.h"
#include "kbnn/bitpack.h"
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
    const std::vector<int>& shape = in.shape;
    if (in.type != kTfLiteInt32 || shape.size() != 4) {
      return node.Error(std::string("input must be a rank-4 int32 (bitpacked) tensor, got ") +
                        TypeName(in.type) + " " + ShapeString(shape));
    }
    if (const int known = node.KnownChannels(in_t)) node.RecordChannels(out_t, known);
    // Pooling is a word-wise AND: every bit of the words, padding bits included, is pooled.
    return pool_.Prepare(node, opt_, shape, shape[3] * static_cast<int>(kBitsPerWord), out_t);
  }

  Status Invoke(const NodeContext&, const void* in, void* out, ThreadPool* pool) override {
    return pool_.Run(in, out, pool);
  }

 private:
  BMaxPool2DKernel pool_;
};

}  // namespace
}  // namespace lce

std::unique_ptr<OpKernel> CreateLceBMaxPool2d(const lce::LceOptions& o) {
  return std::make_unique<lce::LceBMaxPool2d>(o);
}

}  // namespace delegate
}  // namespace kbnn
