#pragma once
// Internal pieces of bconv2d shared by the reference and the optimized implementation.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kbnn/bconv2d.h"
#include "kbnn/dispatch.h"

namespace kbnn {
namespace internal {

struct ConvGeometry {
  int output_height = 0, output_width = 0;
  int pad_top = 0, pad_left = 0;
  int cg = 0;        // input channels per group
  int cgw = 0;       // PackedWords(cg): words per filter tap
  int cin_words = 0;   // PackedWords(channels_in): words per input pixel
  int ng = 0;        // output channels per group
  int cout_words = 0;  // PackedWords(channels_out)
  int32_t k = 0;     // filter_height * filter_width * cg: the dot product length
  size_t k_words = 0;  // filter_height * filter_width * cgw
  size_t rows = 0;     // batch * output_height * output_width
  size_t filter_words = 0;
  size_t input_words = 0;
  size_t output_elements = 0;
  size_t output_bytes = 0;
};

Status ValidateBConv2D(const BConv2DParams& p, ConvGeometry* geo);

// Each sets the base-class fields and *op.
Status CreateBConv2DReference(const BConv2DParams& p, const ConvGeometry& geo,
                              const uint32_t* filters, const float* multiplier, const float* bias,
                              std::unique_ptr<BConv2D>* op);
Status CreateBConv2DOptimized(const BConv2DParams& p, const ConvGeometry& geo, const IsaConfig* isa,
                              const uint32_t* filters, const float* multiplier, const float* bias,
                              std::unique_ptr<BConv2D>* op);

}  // namespace internal
}  // namespace kbnn
