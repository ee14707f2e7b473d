#include "ops/bconv2d/padding_correction.h"

#include <algorithm>
#include <map>

namespace kbnn {
namespace internal {
namespace {

// Classes of output rows (or columns) by their set of in-bounds filter taps: cls[o] indexes
// masks, masks[c][f] says whether tap f of class c is inside the input.
void Classify(int out, int in, int filter, int stride, int dilation, int pad,
              std::vector<int32_t>* cls, std::vector<std::vector<char>>* masks) {
  std::map<std::vector<char>, int> ids;
  cls->resize(out);
  for (int o = 0; o < out; ++o) {
    std::vector<char> valid(filter);
    for (int f = 0; f < filter; ++f) {
      const long i = static_cast<long>(o) * stride - pad + static_cast<long>(f) * dilation;
      valid[f] = i >= 0 && i < in;
    }
    auto it = ids.find(valid);
    if (it == ids.end()) {
      it = ids.emplace(valid, static_cast<int>(masks->size())).first;
      masks->push_back(valid);
    }
    (*cls)[o] = it->second;
  }
}

}  // namespace

void PaddingCorrection::Init(const BConv2DParams& p, const ConvGeometry& g, const uint32_t* weights,
                             size_t ng_pad) {
  active_ = false;
  if (p.padding != Padding::kSame || p.pad_value != 0) return;
  const int KH = p.filter_height, KW = p.filter_width;
  std::vector<std::vector<char>> row_masks, col_masks;
  Classify(g.output_height, p.input_height, KH, p.stride_height, p.dilation_height, g.pad_top,
           &row_class_, &row_masks);
  Classify(g.output_width, p.input_width, KW, p.stride_width, p.dilation_width, g.pad_left,
           &col_class_, &col_masks);
  bool any_padding = false;
  for (auto& m : row_masks) any_padding |= std::find(m.begin(), m.end(), 0) != m.end();
  for (auto& m : col_masks) any_padding |= std::find(m.begin(), m.end(), 0) != m.end();
  if (!any_padding) return;
  active_ = true;
  channels_out_ = p.channels_out;
  col_classes_ = static_cast<int>(col_masks.size());
  // Sum of the +-1 weights of every tap: a padded tap read as zero bits counts as +1 inputs.
  const size_t taps = static_cast<size_t>(KH) * KW;
  std::vector<int32_t> wsum(static_cast<size_t>(p.channels_out) * taps);
  for (int co = 0; co < p.channels_out; ++co) {
    const uint32_t* w = weights + ((co / g.ng) * ng_pad + co % g.ng) * g.k_words;
    for (size_t t = 0; t < taps; ++t) {
      int pc = 0;
      for (int j = 0; j < g.cgw; ++j) pc += __builtin_popcount(w[t * g.cgw + j]);
      wsum[co * taps + t] = g.cg - 2 * pc;
    }
  }
  values_.assign(row_masks.size() * col_masks.size() * p.channels_out, 0);
  for (size_t rc = 0; rc < row_masks.size(); ++rc) {
    for (size_t cc = 0; cc < col_masks.size(); ++cc) {
      int32_t* corr = values_.data() + (rc * col_masks.size() + cc) * p.channels_out;
      for (int kh = 0; kh < KH; ++kh) {
        for (int kw = 0; kw < KW; ++kw) {
          if (row_masks[rc][kh] && col_masks[cc][kw]) continue;
          for (int co = 0; co < p.channels_out; ++co) corr[co] += wsum[co * taps + kh * KW + kw];
        }
      }
    }
  }
}

}  // namespace internal
}  // namespace kbnn
