#pragma once
// SAME zero-padding correction of the optimized bconv2d (pad_value 0). The GEMM reads a padded
// tap as zero bits, i.e. as +1 inputs; the exact dot product of a border pixel is
//   dot - correction(oh, ow)[c],  correction = sum over its padded taps of the tap's +-1 weights.
// Output rows and columns fall into a few classes by their set of in-bounds taps, so the table
// holds one row of channels_out values per (row class, column class).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ops/bconv2d_internal.h"

namespace kbnn {
namespace internal {

class PaddingCorrection {
 public:
  // weights: per group, ng_pad row-major rows of k_words words. Stays inactive unless the
  // params are SAME with pad_value 0 and some output reads a padded tap.
  void Init(const BConv2DParams& p, const ConvGeometry& geo, const uint32_t* weights,
            size_t ng_pad);
  bool active() const { return active_; }
  // The correction of output pixel (oh, ow): channels_out values, indexed by channel.
  const int32_t* At(size_t oh, size_t ow) const {
    const size_t pattern = row_class_[oh] * col_classes_ + col_class_[ow];
    return values_.data() + pattern * channels_out_;
  }

 private:
  bool active_ = false;
  size_t channels_out_ = 0;
  std::vector<int32_t> row_class_, col_class_;
  int col_classes_ = 0;
  std::vector<int32_t> values_;
};

}  // namespace internal
}  // namespace kbnn
