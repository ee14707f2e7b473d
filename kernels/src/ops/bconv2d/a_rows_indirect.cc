// Indirect A rows (groups == 1, dilation_width == 1, a segmented microkernel): an A row is KH
// runs of KW * cin_words words, read in place from the input, or from a copy of the input with
// a zero border (filled per Run) when the taps reach outside it. No im2col copy.
#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/bconv2d/a_rows.h"
#include "ops/bconv2d/output_pixel.h"

namespace kbnn {
namespace internal {
namespace {

class IndirectARows final : public ARows {
 public:
  IndirectARows(const BConv2DParams& p, const ConvGeometry& geo) : p_(p), geo_(geo) {
    // Extent of the padded image the taps touch, starting at (-pad_top, -pad_left).
    const size_t hp = static_cast<size_t>(geo.output_height - 1) * p.stride_height +
                      static_cast<size_t>(p.filter_height - 1) * p.dilation_height + 1;
    const size_t wp = static_cast<size_t>(geo.output_width - 1) * p.stride_width +
                      static_cast<size_t>(p.filter_width);
    const bool inside = geo.pad_top == 0 && geo.pad_left == 0 &&
                        hp <= static_cast<size_t>(p.input_height) &&
                        wp <= static_cast<size_t>(p.input_width);
    if (inside) {  // read the input in place
      src_h_ = p.input_height;
      src_w_ = p.input_width;
      return;
    }
    src_h_ = hp;
    src_w_ = wp;
    padded_.assign(static_cast<size_t>(p.batch) * hp * wp * geo.cin_words, 0u);  // border: 0
  }

  ARowMode mode() const override { return ARowMode::kIndirect; }
  size_t runs() const override { return static_cast<size_t>(p_.filter_height); }

  const uint32_t* Source(const uint32_t* input) override {
    if (padded_.empty()) return input;
    const size_t H = p_.input_height, W = p_.input_width, cinw = geo_.cin_words;
    const size_t top = geo_.pad_top, left = geo_.pad_left;
    const size_t rows = std::min(H, src_h_ - top), cols = std::min(W, src_w_ - left);
    for (size_t n = 0; n < static_cast<size_t>(p_.batch); ++n) {
      for (size_t y = 0; y < rows; ++y) {
        std::memcpy(padded_.data() + ((n * src_h_ + top + y) * src_w_ + left) * cinw,
                    input + (n * H + y) * W * cinw, cols * cinw * sizeof(uint32_t));
      }
    }
    return padded_.data();
  }

  void Build(size_t r0, size_t count, int /*g*/, const uint32_t* in, uint32_t* /*buf*/,
             const uint32_t** ptrs) const override {
    const size_t cinw = geo_.cin_words;
    const int KH = p_.filter_height;
    const size_t row_step = static_cast<size_t>(p_.dilation_height) * src_w_ * cinw;
    OutputPixel px(r0, geo_.output_height, geo_.output_width);
    for (size_t i = 0; i < count; ++i, px.Next()) {
      const uint32_t* base =
          in +
          ((px.n * src_h_ + px.oh * p_.stride_height) * src_w_ + px.ow * p_.stride_width) * cinw;
      for (int kh = 0; kh < KH; ++kh) ptrs[i * KH + kh] = base + kh * row_step;
    }
  }

 private:
  BConv2DParams p_;
  ConvGeometry geo_;
  size_t src_h_ = 0, src_w_ = 0;  // image height / width of the rows' source (input or padded_)
  std::vector<uint32_t> padded_;  // empty: the taps stay inside the input
};

}  // namespace

std::unique_ptr<ARows> MakeIndirectARows(const BConv2DParams& p, const ConvGeometry& geo) {
  return std::unique_ptr<ARows>(new IndirectARows(p, geo));
}

}  // namespace internal
}  // namespace kbnn
