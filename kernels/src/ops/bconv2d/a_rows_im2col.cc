// im2col A rows: the taps of each output pixel copied into per-thread scratch (padded taps
// zeroed), for the layouts neither direct nor indirect rows can read in place.
#include <algorithm>
#include <cstring>

#include "common.h"
#include "ops/bconv2d/a_rows.h"
#include "ops/bconv2d/output_pixel.h"

namespace kbnn {
namespace internal {
namespace {

// Copies nbits channel bits starting at bit_offset of a packed pixel into whole words.
inline void ExtractBits(const uint32_t* px, int px_words, int bit_offset, int nbits,
                        uint32_t* dst) {
  const int words = PackedWords(nbits);
  for (int j = 0; j < words; ++j) {
    const int pos = bit_offset + 32 * j;
    const int w = pos >> 5, s = pos & 31;
    uint32_t v = px[w] >> s;
    if (s != 0 && w + 1 < px_words) v |= px[w + 1] << (32 - s);
    const int remaining = nbits - 32 * j;
    if (remaining < 32) v &= (1u << remaining) - 1u;
    dst[j] = v;
  }
}

// Word copies / fills for the short runs of im2col (a few words per filter row): inline loops
// instead of libc calls, whose per-call cost dominates at 2..16 words.
inline void CopyWords(uint32_t* dst, const uint32_t* src, size_t n) {
  if (n > 32) {
    std::memcpy(dst, src, n * sizeof(uint32_t));
    return;
  }
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    uint64_t v;
    std::memcpy(&v, src + i, 8);
    std::memcpy(dst + i, &v, 8);
  }
  if (i < n) dst[i] = src[i];
}
inline void ZeroWords(uint32_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = 0u;
}

class Im2colARows final : public ARows {
 public:
  Im2colARows(const BConv2DParams& p, const ConvGeometry& geo)
      : p_(p),
        geo_(geo),
        aligned_(p.groups == 1 || geo.cg % 32 == 0),
        contiguous_taps_(p.groups == 1 && p.dilation_width == 1) {}
  ARowMode mode() const override { return ARowMode::kIm2col; }
  size_t scratch_words_per_row() const override { return geo_.k_words; }
  void Build(size_t r0, size_t count, int g, const uint32_t* in, uint32_t* buf,
             const uint32_t** ptrs) const override;

 private:
  BConv2DParams p_;
  ConvGeometry geo_;
  bool aligned_;          // a group's channels start on a word boundary
  bool contiguous_taps_;  // groups == 1 and dilation_width == 1
};

void Im2colARows::Build(size_t r0, size_t count, int g, const uint32_t* in, uint32_t* buf,
                        const uint32_t** ptrs) const {
  const size_t H = p_.input_height, W = p_.input_width;
  const size_t cinw = geo_.cin_words, cgw = geo_.cgw;
  const int KH = p_.filter_height, KW = p_.filter_width;
  OutputPixel px(r0, geo_.output_height, geo_.output_width);
  for (size_t i = 0; i < count; ++i, px.Next()) {
    const size_t n = px.n;
    const long oh = static_cast<long>(px.oh), ow = static_cast<long>(px.ow);
    uint32_t* dst = buf + i * geo_.k_words;
    ptrs[i] = dst;
    if (contiguous_taps_) {
      // The in-bounds taps of a filter row are one run of consecutive input pixels.
      const long iw0 = ow * p_.stride_width - geo_.pad_left;
      const long kw0 = std::max<long>(0, -iw0);
      const long kw1 = std::min<long>(KW, static_cast<long>(W) - iw0);
      for (int kh = 0; kh < KH; ++kh, dst += KW * cgw) {
        const long ih =
            oh * p_.stride_height - geo_.pad_top + static_cast<long>(kh) * p_.dilation_height;
        if (ih < 0 || ih >= static_cast<long>(H) || kw1 <= kw0) {
          ZeroWords(dst, KW * cgw);
          continue;
        }
        if (kw0 > 0) ZeroWords(dst, kw0 * cgw);
        CopyWords(dst + kw0 * cgw, in + ((n * H + ih) * W + iw0 + kw0) * cinw, (kw1 - kw0) * cgw);
        if (kw1 < KW) ZeroWords(dst + kw1 * cgw, (KW - kw1) * cgw);
      }
      continue;
    }
    for (int kh = 0; kh < KH; ++kh) {
      const long ih =
          oh * p_.stride_height - geo_.pad_top + static_cast<long>(kh) * p_.dilation_height;
      for (int kw = 0; kw < KW; ++kw, dst += cgw) {
        const long iw =
            ow * p_.stride_width - geo_.pad_left + static_cast<long>(kw) * p_.dilation_width;
        if (ih < 0 || ih >= static_cast<long>(H) || iw < 0 || iw >= static_cast<long>(W)) {
          std::memset(dst, 0, cgw * sizeof(uint32_t));
          continue;
        }
        const uint32_t* px_words = in + ((n * H + ih) * W + iw) * cinw;
        if (aligned_) {
          std::memcpy(dst, px_words + g * cgw, cgw * sizeof(uint32_t));
        } else {
          ExtractBits(px_words, geo_.cin_words, g * geo_.cg, geo_.cg, dst);
        }
      }
    }
  }
}

}  // namespace

std::unique_ptr<ARows> MakeIm2colARows(const BConv2DParams& p, const ConvGeometry& geo) {
  return std::unique_ptr<ARows>(new Im2colARows(p, geo));
}

}  // namespace internal
}  // namespace kbnn
