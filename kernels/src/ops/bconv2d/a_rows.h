#pragma once
// A-row provisioning of the optimized bconv2d: the GEMM's A row of an output pixel is its
// receptive field, KH * KW taps of PackedWords(channels_in / groups) words. Three ways to hand
// the microkernel those rows, one class each:
//   direct   (1x1, group channels word-aligned): one pointer into the input pixel, no copy;
//   indirect (groups == 1, dilation_width == 1, a segmented microkernel): KH pointers, each to
//            KW * cin_words contiguous words of the input, or of a zero-bordered copy of it
//            (filled once per Run) when the taps reach outside the input;
//   im2col   (everything else): the taps copied into per-thread scratch, padded taps zeroed.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "ops/bconv2d_internal.h"

namespace kbnn {
namespace internal {

enum class ARowMode { kDirect, kIndirect, kIm2col };

class ARows {
 public:
  virtual ~ARows() = default;
  virtual ARowMode mode() const = 0;
  // Pointers per A row: the segments of a segmented microkernel (KH when indirect, else 1).
  virtual size_t runs() const { return 1; }
  // Scratch words per A row that Build writes (im2col only).
  virtual size_t scratch_words_per_row() const { return 0; }
  // Once per Run, before the tasks: the source that Build reads (the input, or a padded copy).
  virtual const uint32_t* Source(const uint32_t* input) { return input; }
  // The A rows of GEMM rows [r0, r0 + count) for group g: row i's s-th pointer at
  // ptrs[i * runs() + s]; buf: count * scratch_words_per_row() words of scratch.
  virtual void Build(size_t r0, size_t count, int g, const uint32_t* src, uint32_t* buf,
                     const uint32_t** ptrs) const = 0;
};

std::unique_ptr<ARows> MakeDirectARows(const BConv2DParams& p, const ConvGeometry& geo);
std::unique_ptr<ARows> MakeIndirectARows(const BConv2DParams& p, const ConvGeometry& geo);
std::unique_ptr<ARows> MakeIm2colARows(const BConv2DParams& p, const ConvGeometry& geo);

}  // namespace internal
}  // namespace kbnn
