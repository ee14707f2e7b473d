#pragma once
// The output pixel (n, oh, ow) of a GEMM row index, stepped row by row (no divisions per row).
#include <cstddef>

namespace kbnn {
namespace internal {

struct OutputPixel {
  OutputPixel(size_t row, size_t height, size_t width)
      : n(row / (height * width)),
        oh(row % (height * width) / width),
        ow(row % width),
        height_(height),
        width_(width) {}
  void Next() {
    if (++ow == width_) {
      ow = 0;
      if (++oh == height_) oh = 0, ++n;
    }
  }
  size_t n, oh, ow;

 private:
  size_t height_, width_;
};

}  // namespace internal
}  // namespace kbnn
