// Direct A rows: 1x1 filters whose group channels start on a word boundary read the input
// pixel in place.
#include "ops/bconv2d/a_rows.h"
#include "ops/bconv2d/output_pixel.h"

namespace kbnn {
namespace internal {
namespace {

class DirectARows final : public ARows {
 public:
  DirectARows(const BConv2DParams& p, const ConvGeometry& geo) : p_(p), geo_(geo) {}
  ARowMode mode() const override { return ARowMode::kDirect; }
  void Build(size_t r0, size_t count, int g, const uint32_t* in, uint32_t* /*buf*/,
             const uint32_t** ptrs) const override {
    const size_t H = p_.input_height, W = p_.input_width;
    const size_t cinw = geo_.cin_words, cgw = geo_.cgw;
    OutputPixel px(r0, geo_.output_height, geo_.output_width);
    for (size_t i = 0; i < count; ++i, px.Next()) {
      ptrs[i] = in + ((px.n * H + px.oh * p_.stride_height) * W + px.ow * p_.stride_width) * cinw +
                g * cgw;
    }
  }

 private:
  BConv2DParams p_;
  ConvGeometry geo_;
};

}  // namespace

std::unique_ptr<ARows> MakeDirectARows(const BConv2DParams& p, const ConvGeometry& geo) {
  return std::unique_ptr<ARows>(new DirectARows(p, geo));
}

}  // namespace internal
}  // namespace kbnn
