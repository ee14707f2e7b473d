// Optimized bconv2d: im2col (or direct row pointers for 1x1) + binary GEMM microkernels.
//
// Work is split into tasks = (block of output rows) x (block of output channels). Each task
// builds the A rows of its row block into per-thread scratch, runs the microkernel over the
// weight panels of its channel block (panel outer, rows inner: the panel stays in L1), then
// turns the popcounts into dot products and the requested output. Channel blocks never share
// a bitpacked output word, so tasks write disjoint memory.
#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <vector>

#include "bconv2d_internal.h"
#include "common.h"

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

size_t RoundUp(size_t x, size_t m) { return (x + m - 1) / m * m; }

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

class BConv2DOptimized final : public BConv2D {
 public:
  Status Init(const BConv2DParams& p, const ConvGeometry& geo, const IsaConfig* isa,
              const uint32_t* filters, const float* multiplier, const float* bias);

  using BConv2D::Run;
  Status Run(const uint32_t* input, const float* residual, void* output, uint32_t* sign_output,
             ThreadPool* pool) override {
    Status st = CheckRunArgs(input, residual, output, sign_output);
    if (!st.ok()) return st;
    if (indirect_ && !padded_.empty()) FillPadded(input);
    const uint32_t* rows_src = indirect_ && !padded_.empty() ? padded_.data() : input;
    const Fused fused{residual, sign_output};
    auto task = [this, rows_src, output, fused](size_t t, int thread) {
      RunTask(t, thread, rows_src, output, fused);
    };
    ParallelForMaybe(pool, row_blocks_ * blocks_.size(), threads_, task);
    return Status::Ok();
  }

  const char* kernel_name() const override { return uk_.name; }
  const char* isa() const override { return isa_; }

 private:
  struct Segment {  // a channel range [c_begin, c_end) of one group (local channel index)
    int group, c_begin, c_end;
  };
  struct Fused {  // the fused epilogue's extra tensors (nullptr: not fused)
    const float* residual;
    uint32_t* sign;
  };
  struct Block {  // the segments of one task, and the output words it owns (bitpacked)
    size_t seg_begin, seg_end;
    int word_begin, word_end;
  };

  void BuildRows(size_t r0, size_t count, int g, const uint32_t* in, uint32_t* buf,
                 const uint32_t** ptrs) const;
  void SetupIndirection();
  void FillPadded(const uint32_t* input);
  void RunTask(size_t task, int thread, const uint32_t* in, void* out, const Fused& fused);
  void Emit(size_t r0, size_t count, const Segment& seg, int32_t* acc, void* out,
            const Fused& fused) const;
  void EmitFused(size_t r, size_t rows, int c0, int nc, float* out, const Fused& fused) const;
  void SetupCorrection();
  void SetupTiling();

  BConv2DParams p_;
  ConvGeometry geo_;
  BgemmUkernel uk_{};
  const char* isa_ = "";
  size_t ng_pad_ = 0;
  std::vector<uint32_t> weights_;  // [groups][ng_pad][k_words], padding rows zero
  std::vector<float> multiplier_, bias_;
  std::vector<BitThreshold> thresholds_;
  // The ISA's output transform microkernels (nullptr: the portable loops below), and the
  // thresholds split for them: threshold_[c] and bit c of flip_words_.
  OutputF32UkernelFn out_f32_ = nullptr;
  OutputInt8UkernelFn out_int8_ = nullptr;
  OutputBitsUkernelFn out_bits_ = nullptr;
  F32BitpackUkernelFn bitpack_f32_ = nullptr;  // the sign output's full words
  OutputF32ResidualUkernelFn out_f32_res_ = nullptr;  // the fused epilogue in one pass
  std::vector<int32_t> threshold_;
  std::vector<uint32_t> flip_words_;
  bool aligned_ = false;  // a group's channels start on a word boundary
  bool direct_ = false;   // 1x1 and aligned: A rows point into the input
  bool contiguous_taps_ = false;  // groups == 1 and dilation_width == 1
  // Indirection (contiguous taps and a segmented microkernel): A row = KH runs of KW * cinw
  // words read in place from the input, or from padded_ (the input with a zero border, filled
  // per Run) when the taps reach outside it. No im2col copy.
  bool indirect_ = false;
  size_t row_runs_ = 1;  // pointers per A row (KH when indirect_)
  size_t src_h_ = 0, src_w_ = 0;  // image height / width of the rows' source (input or padded_)
  std::vector<uint32_t> padded_;
  // SAME zero-padding correction: dot -= correction_[pattern(oh, ow) * Cout + c].
  bool correct_ = false;
  std::vector<int32_t> row_class_, col_class_;
  int col_classes_ = 0;
  std::vector<int32_t> correction_;
  // Tiling.
  size_t mb_ = 0, row_blocks_ = 0, acc_stride_ = 0;
  int threads_ = 1;
  std::vector<Segment> segments_;
  std::vector<Block> blocks_;
  // Per-thread scratch.
  size_t im2col_per_thread_ = 0, acc_per_thread_ = 0;
  std::vector<uint32_t> im2col_;
  std::vector<const uint32_t*> ptrs_;
  std::vector<int32_t> acc_;
};

Status BConv2DOptimized::Init(const BConv2DParams& p, const ConvGeometry& geo,
                              const IsaConfig* isa, const uint32_t* filters,
                              const float* multiplier, const float* bias) {
  p_ = p;
  geo_ = geo;
  isa_ = isa->isa;
  uk_ = geo.k_words <= static_cast<size_t>(isa->small_k_max_words) ? isa->bgemm_small_k
                                                                    : isa->bgemm;
  threads_ = p.num_threads;
  const size_t NR = uk_.nr;
  const size_t kw = geo.k_words;
  aligned_ = p.groups == 1 || geo.cg % 32 == 0;
  direct_ = aligned_ && p.filter_height == 1 && p.filter_width == 1;
  contiguous_taps_ = p.groups == 1 && p.dilation_width == 1;

  // Weights: per group, rows padded to a multiple of NR; tap padding bits masked to 0.
  ng_pad_ = RoundUp(geo.ng, NR);
  size_t total;
  if (!CheckedProduct({p.groups, static_cast<long long>(ng_pad_), static_cast<long long>(kw)},
                      &total)) {
    return Status::InvalidArgument("BConv2D: packed weight size overflows");
  }
  weights_.assign(total, 0u);
  const uint32_t tail_mask = geo.cg % 32 == 0 ? ~0u : (1u << (geo.cg % 32)) - 1u;
  const size_t taps = static_cast<size_t>(p.filter_height) * p.filter_width;
  for (int co = 0; co < p.channels_out; ++co) {
    const int g = co / geo.ng, j = co % geo.ng;
    uint32_t* dst = weights_.data() + (g * ng_pad_ + j) * kw;
    const uint32_t* src = filters + static_cast<size_t>(co) * kw;
    std::memcpy(dst, src, kw * sizeof(uint32_t));
    for (size_t t = 0; t < taps; ++t) dst[t * geo.cgw + geo.cgw - 1] &= tail_mask;
  }
  multiplier_.assign(p.channels_out, 1.0f);
  bias_.assign(p.channels_out, 0.0f);
  if (multiplier != nullptr) multiplier_.assign(multiplier, multiplier + p.channels_out);
  if (bias != nullptr) bias_.assign(bias, bias + p.channels_out);
  if (p.output.type == OutputType::kBitpacked) {
    thresholds_.resize(p.channels_out);
    threshold_.resize(p.channels_out);
    flip_words_.assign(geo.cout_words, 0u);
    for (int c = 0; c < p.channels_out; ++c) {
      thresholds_[c] = ComputeBitThreshold(multiplier_[c], bias_[c], p.output, geo.k);
      threshold_[c] = thresholds_[c].threshold;
      flip_words_[c / 32] |= thresholds_[c].flip << (c % 32);
    }
  }
  out_f32_ = isa->output_f32;
  out_int8_ = isa->output_int8;
  out_bits_ = isa->output_bits;
  bitpack_f32_ = isa->bitpack_f32;
  out_f32_res_ = isa->output_f32_residual;
  indirect_ = uk_.fn_segmented != nullptr && contiguous_taps_ && !direct_;
  SetupIndirection();
  SetupCorrection();  // reads the row-major panels
  if (uk_.k_major_panel) {
    // Each panel of NR rows [NR][kw] -> [kw][NR] (panels start at multiples of NR rows).
    std::vector<uint32_t> tmp(NR * kw);
    for (size_t p0 = 0; p0 < weights_.size(); p0 += NR * kw) {
      uint32_t* panel = weights_.data() + p0;
      for (size_t n = 0; n < NR; ++n)
        for (size_t k = 0; k < kw; ++k) tmp[k * NR + n] = panel[n * kw + k];
      std::memcpy(panel, tmp.data(), NR * kw * sizeof(uint32_t));
    }
  }
  SetupTiling();
  return Status::Ok();
}

void BConv2DOptimized::SetupIndirection() {
  row_runs_ = indirect_ ? static_cast<size_t>(p_.filter_height) : 1;
  if (!indirect_) return;
  // Extent of the padded image the taps touch, starting at (-pad_top, -pad_left).
  const size_t hp = static_cast<size_t>(geo_.output_height - 1) * p_.stride_height +
                    static_cast<size_t>(p_.filter_height - 1) * p_.dilation_height + 1;
  const size_t wp = static_cast<size_t>(geo_.output_width - 1) * p_.stride_width +
                    static_cast<size_t>(p_.filter_width);
  const bool inside = geo_.pad_top == 0 && geo_.pad_left == 0 &&
                      hp <= static_cast<size_t>(p_.input_height) &&
                      wp <= static_cast<size_t>(p_.input_width);
  if (inside) {  // read the input in place
    src_h_ = p_.input_height;
    src_w_ = p_.input_width;
    padded_.clear();
    return;
  }
  src_h_ = hp;
  src_w_ = wp;
  padded_.assign(static_cast<size_t>(p_.batch) * hp * wp * geo_.cin_words, 0u);  // border stays 0
}

void BConv2DOptimized::FillPadded(const uint32_t* input) {
  const size_t H = p_.input_height, W = p_.input_width, cinw = geo_.cin_words;
  const size_t top = geo_.pad_top, left = geo_.pad_left;
  const size_t rows = std::min(H, src_h_ - top), cols = std::min(W, src_w_ - left);
  for (size_t n = 0; n < static_cast<size_t>(p_.batch); ++n) {
    for (size_t y = 0; y < rows; ++y) {
      std::memcpy(padded_.data() + ((n * src_h_ + top + y) * src_w_ + left) * cinw,
                  input + (n * H + y) * W * cinw, cols * cinw * sizeof(uint32_t));
    }
  }
}

void BConv2DOptimized::SetupCorrection() {
  const ConvGeometry& g = geo_;
  if (p_.padding != Padding::kSame || p_.pad_value != 0) return;
  const int KH = p_.filter_height, KW = p_.filter_width;
  // Classes of output rows / columns by their set of in-bounds filter taps.
  auto classify = [](int out, int in, int filter, int stride, int dilation, int pad,
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
  };
  std::vector<std::vector<char>> row_masks, col_masks;
  classify(g.output_height, p_.input_height, KH, p_.stride_height, p_.dilation_height,
           g.pad_top, &row_class_, &row_masks);
  classify(g.output_width, p_.input_width, KW, p_.stride_width, p_.dilation_width, g.pad_left,
           &col_class_, &col_masks);
  bool any_padding = false;
  for (auto& m : row_masks) any_padding |= std::find(m.begin(), m.end(), 0) != m.end();
  for (auto& m : col_masks) any_padding |= std::find(m.begin(), m.end(), 0) != m.end();
  if (!any_padding) return;
  correct_ = true;
  col_classes_ = static_cast<int>(col_masks.size());
  // Sum of the +-1 weights of every tap: a padded tap read as zero bits counts as +1 inputs.
  const size_t taps = static_cast<size_t>(KH) * KW;
  std::vector<int32_t> wsum(static_cast<size_t>(p_.channels_out) * taps);
  for (int co = 0; co < p_.channels_out; ++co) {
    const uint32_t* w = weights_.data() + ((co / g.ng) * ng_pad_ + co % g.ng) * g.k_words;
    for (size_t t = 0; t < taps; ++t) {
      int pc = 0;
      for (int j = 0; j < g.cgw; ++j) pc += __builtin_popcount(w[t * g.cgw + j]);
      wsum[co * taps + t] = g.cg - 2 * pc;
    }
  }
  correction_.assign(row_masks.size() * col_masks.size() * p_.channels_out, 0);
  for (size_t rc = 0; rc < row_masks.size(); ++rc) {
    for (size_t cc = 0; cc < col_masks.size(); ++cc) {
      int32_t* corr = correction_.data() + (rc * col_masks.size() + cc) * p_.channels_out;
      for (int kh = 0; kh < KH; ++kh) {
        for (int kw = 0; kw < KW; ++kw) {
          if (row_masks[rc][kh] && col_masks[cc][kw]) continue;
          for (int co = 0; co < p_.channels_out; ++co) corr[co] += wsum[co * taps + kh * KW + kw];
        }
      }
    }
  }
}

void BConv2DOptimized::SetupTiling() {
  const size_t MR = uk_.mr, NR = uk_.nr;
  const size_t unit = NR / std::gcd(NR, size_t{32}) * 32;  // lcm(NR, 32)
  const size_t kw = geo_.k_words;
  // Row block: the im2col block should stay in L1 (~16 KiB).
  size_t mb = direct_ ? 64 : (16384 / (kw * 4)) / MR * MR;
  mb = std::min(std::max(mb, MR), RoundUp(64, MR));
  mb = std::min(mb, RoundUp(geo_.rows, MR));
  size_t nb = std::min(RoundUp(geo_.ng, unit), RoundUp(128, unit));
  // Tasks must not share a bitpacked output (or sign output) word.
  const bool split = !((p_.output.type == OutputType::kBitpacked || p_.sign_output) &&
                       p_.groups > 1 && geo_.ng % 32 != 0);
  auto tasks = [&](size_t m, size_t n) {
    const size_t rb = (geo_.rows + m - 1) / m;
    return split ? rb * p_.groups * ((geo_.ng + n - 1) / n) : rb;
  };
  if (threads_ > 1) {
    const size_t want = 8 * static_cast<size_t>(threads_);
    while (tasks(mb, nb) < want) {
      if (split && nb > unit) {
        nb = RoundUp(nb / 2, unit);
      } else if (mb > MR) {
        mb = RoundUp(mb / 2, MR);
      } else {
        break;
      }
    }
  }
  // Balance the row blocks (e.g. 49 rows -> 2 x 25, not 28 + 21).
  row_blocks_ = (geo_.rows + mb - 1) / mb;
  mb = RoundUp((geo_.rows + row_blocks_ - 1) / row_blocks_, MR);
  row_blocks_ = (geo_.rows + mb - 1) / mb;
  mb_ = mb;
  acc_stride_ = RoundUp(std::min(nb, RoundUp(geo_.ng, NR)), NR);
  segments_.clear();
  blocks_.clear();
  for (int g = 0; g < p_.groups; ++g) {
    for (size_t c = 0; c < static_cast<size_t>(geo_.ng); c += nb) {
      const int ce = static_cast<int>(std::min(c + nb, static_cast<size_t>(geo_.ng)));
      segments_.push_back({g, static_cast<int>(c), ce});
      if (split) {
        const int first = g * geo_.ng + static_cast<int>(c), last = g * geo_.ng + ce;
        blocks_.push_back({segments_.size() - 1, segments_.size(), first / 32,
                           PackedWords(last)});
      }
    }
  }
  if (!split) blocks_.push_back({0, segments_.size(), 0, geo_.cout_words});
  im2col_per_thread_ = direct_ || indirect_ ? 0 : mb * kw;
  acc_per_thread_ = mb * acc_stride_;
  im2col_.assign(im2col_per_thread_ * threads_, 0u);
  ptrs_.assign(mb * row_runs_ * threads_, nullptr);
  acc_.assign(acc_per_thread_ * threads_, 0);
}

void BConv2DOptimized::BuildRows(size_t r0, size_t count, int g, const uint32_t* in,
                                 uint32_t* buf, const uint32_t** ptrs) const {
  const size_t OH = geo_.output_height, OW = geo_.output_width;
  const size_t H = p_.input_height, W = p_.input_width;
  const size_t cinw = geo_.cin_words, cgw = geo_.cgw;
  const int KH = p_.filter_height, KW = p_.filter_width;
  // (n, oh, ow) of row r0, then stepped row by row (no divisions per row).
  size_t n = r0 / (OH * OW), pix0 = r0 % (OH * OW);
  long oh = static_cast<long>(pix0 / OW), ow = static_cast<long>(pix0 % OW);
  for (size_t i = 0; i < count; ++i, ++ow) {
    if (ow == static_cast<long>(OW)) {
      ow = 0;
      if (++oh == static_cast<long>(OH)) oh = 0, ++n;
    }
    if (direct_) {
      ptrs[i] = in + ((n * H + oh * p_.stride_height) * W + ow * p_.stride_width) * cinw +
                g * cgw;
      continue;
    }
    if (indirect_) {  // `in` is the padded (or in-place) source: KH runs of KW pixels
      const uint32_t* base = in + ((n * src_h_ + oh * p_.stride_height) * src_w_ +
                                   ow * p_.stride_width) * cinw;
      const size_t row_step = static_cast<size_t>(p_.dilation_height) * src_w_ * cinw;
      for (int kh = 0; kh < KH; ++kh) ptrs[i * KH + kh] = base + kh * row_step;
      continue;
    }
    uint32_t* dst = buf + i * geo_.k_words;
    ptrs[i] = dst;
    if (contiguous_taps_) {
      // groups == 1, dilation_width == 1: the in-bounds taps of a filter row are one run of
      // consecutive input pixels.
      const long iw0 = ow * p_.stride_width - geo_.pad_left;
      const long kw0 = std::max<long>(0, -iw0);
      const long kw1 = std::min<long>(KW, static_cast<long>(W) - iw0);
      for (int kh = 0; kh < KH; ++kh, dst += KW * cgw) {
        const long ih = oh * p_.stride_height - geo_.pad_top + static_cast<long>(kh) * p_.dilation_height;
        if (ih < 0 || ih >= static_cast<long>(H) || kw1 <= kw0) {
          ZeroWords(dst, KW * cgw);
          continue;
        }
        if (kw0 > 0) ZeroWords(dst, kw0 * cgw);
        CopyWords(dst + kw0 * cgw, in + ((n * H + ih) * W + iw0 + kw0) * cinw,
                  (kw1 - kw0) * cgw);
        if (kw1 < KW) ZeroWords(dst + kw1 * cgw, (KW - kw1) * cgw);
      }
      continue;
    }
    for (int kh = 0; kh < KH; ++kh) {
      const long ih = oh * p_.stride_height - geo_.pad_top + static_cast<long>(kh) * p_.dilation_height;
      for (int kw = 0; kw < KW; ++kw, dst += cgw) {
        const long iw = ow * p_.stride_width - geo_.pad_left + static_cast<long>(kw) * p_.dilation_width;
        if (ih < 0 || ih >= static_cast<long>(H) || iw < 0 || iw >= static_cast<long>(W)) {
          std::memset(dst, 0, cgw * sizeof(uint32_t));
          continue;
        }
        const uint32_t* px = in + ((n * H + ih) * W + iw) * cinw;
        if (aligned_) {
          std::memcpy(dst, px + g * cgw, cgw * sizeof(uint32_t));
        } else {
          ExtractBits(px, geo_.cin_words, g * geo_.cg, geo_.cg, dst);
        }
      }
    }
  }
}

void BConv2DOptimized::RunTask(size_t task, int thread, const uint32_t* in, void* out,
                               const Fused& fused) {
  const size_t rb = task / blocks_.size();
  const Block& blk = blocks_[task % blocks_.size()];
  const size_t r0 = rb * mb_;
  const size_t count = std::min(mb_, geo_.rows - r0);
  uint32_t* buf = im2col_.data() + thread * im2col_per_thread_;
  const uint32_t** ptrs = ptrs_.data() + thread * mb_ * row_runs_;
  int32_t* acc = acc_.data() + thread * acc_per_thread_;
  const size_t MR = uk_.mr, NR = uk_.nr, kw = geo_.k_words;

  if (p_.output.type == OutputType::kBitpacked) {
    uint32_t* o = static_cast<uint32_t*>(out);
    for (size_t i = 0; i < count; ++i) {
      std::memset(o + (r0 + i) * geo_.cout_words + blk.word_begin, 0,
                  (blk.word_end - blk.word_begin) * sizeof(uint32_t));
    }
  }
  if (fused.sign != nullptr) {
    for (size_t i = 0; i < count; ++i) {
      std::memset(fused.sign + (r0 + i) * geo_.cout_words + blk.word_begin, 0,
                  (blk.word_end - blk.word_begin) * sizeof(uint32_t));
    }
  }
  int built = -1;
  for (size_t s = blk.seg_begin; s < blk.seg_end; ++s) {
    const Segment& seg = segments_[s];
    if (seg.group != built) {
      BuildRows(r0, count, seg.group, in, buf, ptrs);
      built = seg.group;
    }
    const uint32_t* wg = weights_.data() + seg.group * ng_pad_ * kw;
    for (int c0 = seg.c_begin; c0 < seg.c_end; c0 += static_cast<int>(NR)) {
      const size_t nr = std::min(NR, static_cast<size_t>(seg.c_end - c0));
      const uint32_t* panel = wg + static_cast<size_t>(c0) * kw;
      int32_t* acc_c = acc + (c0 - seg.c_begin);
      if (indirect_) {
        const size_t run = kw / row_runs_;
        for (size_t m0 = 0; m0 < count; m0 += MR) {
          uk_.fn_segmented(std::min(MR, count - m0), nr, row_runs_, run, ptrs + m0 * row_runs_,
                           panel, acc_c + m0 * acc_stride_, acc_stride_);
        }
        continue;
      }
      for (size_t m0 = 0; m0 < count; m0 += MR) {
        uk_.fn(std::min(MR, count - m0), nr, kw, ptrs + m0, panel, acc_c + m0 * acc_stride_,
               acc_stride_);
      }
    }
    Emit(r0, count, seg, acc, out, fused);
  }
}

// The fused epilogue on rows [r, r + rows) x channels [c0, c0 + nc) of the float output, while
// they are still in L1: + residual, then the sign bits (bit = y < 0, as QuantizeFloat).
void BConv2DOptimized::EmitFused(size_t r, size_t rows, int c0, int nc, float* out,
                                 const Fused& fused) const {
  const size_t Cout = p_.channels_out, cw = geo_.cout_words;
  for (size_t i = 0; i < rows; ++i) {
    float* y = out + (r + i) * Cout + c0;
    if (fused.residual != nullptr) {
      const float* x = fused.residual + (r + i) * Cout + c0;
      for (int j = 0; j < nc; ++j) y[j] += x[j];
    }
    if (fused.sign == nullptr) continue;
    uint32_t* s = fused.sign + (r + i) * cw;
    int j = 0;
    if (c0 % 32 == 0 && nc >= 32 && bitpack_f32_ != nullptr) {
      // Whole words owned by this block: written, not OR'ed.
      j = nc / 32 * 32;
      bitpack_f32_(static_cast<size_t>(nc / 32), y, s + c0 / 32);
    }
    for (; j < nc; ++j) {
      s[(c0 + j) >> 5] |= static_cast<uint32_t>(y[j] < 0.0f) << ((c0 + j) & 31);
    }
  }
}

void BConv2DOptimized::Emit(size_t r0, size_t count, const Segment& seg, int32_t* acc,
                            void* out, const Fused& fused) const {
  const size_t OH = geo_.output_height, OW = geo_.output_width;
  const int Cout = p_.channels_out;
  const int c0 = seg.group * geo_.ng + seg.c_begin;
  const int nc = seg.c_end - seg.c_begin;
  const int32_t K = geo_.k;
  const OutputParams& o = p_.output;
  const float* m = multiplier_.data() + c0;
  const float* b = bias_.data() + c0;
  // (oh, ow) of row r0, then stepped row by row (no divisions per row).
  const size_t pix0 = r0 % (OH * OW);
  size_t oh = pix0 / OW, ow = pix0 % OW;
  const bool block = (o.type == OutputType::kFloat32 && out_f32_ != nullptr) ||
                     (o.type == OutputType::kInt8 && out_int8_ != nullptr) ||
                     (o.type == OutputType::kBitpacked && out_bits_ != nullptr && c0 % 32 == 0);
  if (block) {  // the ISA's output microkernel, on chunks of up to 64 rows
    constexpr size_t kChunk = 64;
    const int32_t* corr_rows[kChunk];
    for (size_t i0 = 0; i0 < count; i0 += kChunk) {
      const size_t rows = std::min(kChunk, count - i0);
      if (correct_) {
        for (size_t i = 0; i < rows; ++i, ++ow) {
          if (ow == OW) {
            ow = 0;
            if (++oh == OH) oh = 0;
          }
          const size_t pattern = row_class_[oh] * col_classes_ + col_class_[ow];
          corr_rows[i] = correction_.data() + pattern * Cout + c0;
        }
      }
      const int32_t* const* corr = correct_ ? corr_rows : nullptr;
      const int32_t* a = acc + i0 * acc_stride_;
      const size_t r = r0 + i0;
      const bool fuse = fused.residual != nullptr || fused.sign != nullptr;
      if (o.type == OutputType::kFloat32 && fuse && out_f32_res_ != nullptr && c0 % 32 == 0) {
        out_f32_res_(rows, nc, a, acc_stride_, K, corr, m, b, o,
                     fused.residual ? fused.residual + r * Cout + c0 : nullptr, Cout,
                     static_cast<float*>(out) + r * Cout + c0, Cout,
                     fused.sign ? fused.sign + r * geo_.cout_words + c0 / 32 : nullptr,
                     geo_.cout_words);
      } else if (o.type == OutputType::kFloat32) {
        out_f32_(rows, nc, a, acc_stride_, K, corr, m, b, o,
                 static_cast<float*>(out) + r * Cout + c0, Cout);
        if (fuse) {
          EmitFused(r, rows, c0, nc, static_cast<float*>(out), fused);
        }
      } else if (o.type == OutputType::kInt8) {
        out_int8_(rows, nc, a, acc_stride_, K, corr, m, b, o,
                  static_cast<int8_t*>(out) + r * Cout + c0, Cout);
      } else {
        out_bits_(rows, nc, a, acc_stride_, K, corr, threshold_.data() + c0,
                  flip_words_.data() + c0 / 32,
                  static_cast<uint32_t*>(out) + r * geo_.cout_words + c0 / 32, geo_.cout_words);
      }
    }
    return;
  }
  for (size_t i = 0; i < count; ++i, ++ow) {
    if (ow == OW) {
      ow = 0;
      if (++oh == OH) oh = 0;
    }
    const size_t r = r0 + i;
    int32_t* d = acc + i * acc_stride_;
    const int32_t* corr = nullptr;
    if (correct_) {
      const size_t pattern = row_class_[oh] * col_classes_ + col_class_[ow];
      corr = correction_.data() + pattern * Cout + c0;
    }
    if (o.type == OutputType::kFloat32) {
      // One fused pass: popcount -> dot -> multiplier * dot + bias (two roundings, no FMA).
      float* y = static_cast<float*>(out) + r * Cout + c0;
      if (corr != nullptr) {
        for (int j = 0; j < nc; ++j) {
          const float v = m[j] * static_cast<float>(K - 2 * d[j] - corr[j]);
          y[j] = v + b[j];
        }
      } else {
        for (int j = 0; j < nc; ++j) {
          const float v = m[j] * static_cast<float>(K - 2 * d[j]);
          y[j] = v + b[j];
        }
      }
      if (o.activation != Activation::kNone) {
        for (int j = 0; j < nc; ++j) y[j] = Activate(y[j], o);
      }
      if (fused.residual != nullptr || fused.sign != nullptr) {
        EmitFused(r, 1, c0, nc, static_cast<float*>(out), fused);
      }
      continue;
    }
    // popcounts -> dot products, in place
    if (corr != nullptr) {
      for (int j = 0; j < nc; ++j) d[j] = K - 2 * d[j] - corr[j];
    } else {
      for (int j = 0; j < nc; ++j) d[j] = K - 2 * d[j];
    }
    switch (o.type) {
      case OutputType::kInt32Dot:
        std::memcpy(static_cast<int32_t*>(out) + r * Cout + c0, d, nc * sizeof(int32_t));
        break;
      case OutputType::kFloat32:  // handled above
        break;
      case OutputType::kInt8: {
        // FloatOutput then Int8FromFloat, split into simple loops over a chunk so they vectorize.
        int8_t* y = static_cast<int8_t*>(out) + r * Cout + c0;
        constexpr int kChunk = 256;
        float v[kChunk];
        for (int j0 = 0; j0 < nc; j0 += kChunk) {
          const int n = std::min(kChunk, nc - j0);
          for (int j = 0; j < n; ++j) {
            const float t = m[j0 + j] * static_cast<float>(d[j0 + j]);
            v[j] = t + b[j0 + j];
          }
          ActivateRow(v, n, o);
          Int8FromFloatRow(v, n, o, y + j0);
        }
        break;
      }
      case OutputType::kBitpacked: {
        uint32_t* y = static_cast<uint32_t*>(out) + r * geo_.cout_words;
        const BitThreshold* t = thresholds_.data() + c0;
        for (int j = 0; j < nc; ++j) {
          y[(c0 + j) >> 5] |= ThresholdBit(d[j], t[j]) << ((c0 + j) & 31);
        }
        break;
      }
    }
  }
}

}  // namespace

Status CreateBConv2DOptimized(const BConv2DParams& p, const ConvGeometry& geo,
                              const IsaConfig* isa, const uint32_t* filters,
                              const float* multiplier, const float* bias,
                              std::unique_ptr<BConv2D>* op) {
  std::unique_ptr<BConv2DOptimized> o(new BConv2DOptimized());
  Status s = o->Init(p, geo, isa, filters, multiplier, bias);
  if (!s.ok()) return s;
  *op = std::move(o);
  return Status::Ok();
}

}  // namespace internal
}  // namespace kbnn
