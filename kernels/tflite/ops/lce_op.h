#pragma once
// The part the Larq Compute Engine ops (ops/lce_*.cc) share. They run LCE 0.16's custom ops on
// kbnn's kernels: no kernel is forked, each op maps LCE's conventions onto kbnn's (bitpacking is
// the same: 32-bit words along channels, LSB = channel 0, bit 1 = negative, unused high bits 0)
// and does the small remaining arithmetic; checked bit-exact against LCE's interpreter by
// tests/test_lce_ops.py.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "lce_options.h"
#include "op_kernel.h"

namespace kbnn {
namespace delegate {
namespace lce {

class LceOp : public OpKernel {
 public:
  explicit LceOp(const LceOptions& o) : opt_(o) {}
  const char* name() const override { return opt_.name; }

  // Tensor counts and indices, input 0's record, then the op's own checks (PrepareOp).
  TfLiteStatus Prepare(const NodeContext& node) final {
    const size_t inputs = opt_.kind == LceKind::kBconv2d ? 5 : 1;
    const std::vector<int>& in_t = node.inputs();
    const std::vector<int>& out_t = node.outputs();
    if (in_t.size() != inputs || out_t.size() != 1) {
      return node.Error("expected " + std::to_string(inputs) + " inputs and 1 output, got " +
                        std::to_string(in_t.size()) + " and " + std::to_string(out_t.size()));
    }
    if (in_t[0] < 0 || out_t[0] < 0 || !node.InRange(out_t[0]) || !node.InRange(in_t[0])) {
      return node.Error("bad tensor index");
    }
    TensorInfo in;
    if (!node.Info(in_t[0], &in)) return node.Error("bad input tensor");
    return PrepareOp(node, in, in_t[0], out_t[0]);
  }

 protected:
  // `in` is input 0 (type and shape) of index in_t, out_t the index of the output.
  virtual TfLiteStatus PrepareOp(const NodeContext& node, const TensorInfo& in, int in_t,
                                 int out_t) = 0;

  LceOptions opt_;
  std::vector<int> built_for_;  // the input shape the kernel object was built for
};

// TFLite's round (half away from zero), as LCE's output transform uses on x86.
inline int32_t RoundHalfAway(float x) { return static_cast<int32_t>(std::round(x)); }

}  // namespace lce
}  // namespace delegate
}  // namespace kbnn
