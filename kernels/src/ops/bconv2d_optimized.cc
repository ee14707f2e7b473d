// Optimized bconv2d: binary GEMM microkernels over A rows of the input's receptive fields.
//
// Work is split into tasks = (block of output rows) x (block of output channels). Each task
// gets the A rows of its row block (bconv2d/a_rows.h: direct, indirect or im2col), runs the
// microkernel over the weight panels of its channel block (panel outer, rows inner: the panel
// stays in L1), then turns the popcounts into the requested output (bconv2d/output_epilogue.h,
// with the SAME zero-padding correction of bconv2d/padding_correction.h). Channel blocks never
// share a bitpacked output word, so tasks write disjoint memory.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "bconv2d_internal.h"
#include "common.h"
#include "ops/bconv2d/a_rows.h"
#include "ops/bconv2d/output_epilogue.h"
#include "ops/bconv2d/padding_correction.h"

namespace kbnn {
namespace internal {
namespace {

size_t RoundUp(size_t x, size_t m) { return (x + m - 1) / m * m; }

class BConv2DOptimized final : public BConv2D {
 public:
  Status Init(const BConv2DParams& p, const ConvGeometry& geo, const IsaConfig* isa,
              const uint32_t* filters, const float* multiplier, const float* bias);

  using BConv2D::Run;
  Status Run(const uint32_t* input, const float* residual, void* output, uint32_t* sign_output,
             ThreadPool* pool) override {
    Status st = CheckRunArgs(input, residual, output, sign_output);
    if (!st.ok()) return st;
    const uint32_t* rows_src = rows_->Source(input);
    const FusedOutputs fused{residual, sign_output};
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
  struct Block {  // the segments of one task, and the output words it owns (bitpacked)
    size_t seg_begin, seg_end;
    int word_begin, word_end;
  };

  Status PackWeights(const uint32_t* filters);
  void SetupTiling();
  void RunTask(size_t task, int thread, const uint32_t* in, void* out, const FusedOutputs& fused);

  BConv2DParams p_;
  ConvGeometry geo_;
  BgemmUkernel uk_{};
  const char* isa_ = "";
  size_t ng_pad_ = 0;
  std::vector<uint32_t> weights_;  // [groups][ng_pad][k_words], padding rows zero
  std::unique_ptr<ARows> rows_;
  PaddingCorrection correction_;
  OutputEpilogue epilogue_;
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

Status BConv2DOptimized::Init(const BConv2DParams& p, const ConvGeometry& geo, const IsaConfig* isa,
                              const uint32_t* filters, const float* multiplier, const float* bias) {
  p_ = p;
  geo_ = geo;
  isa_ = isa->isa;
  uk_ =
      geo.k_words <= static_cast<size_t>(isa->small_k_max_words) ? isa->bgemm_small_k : isa->bgemm;
  threads_ = p.num_threads;
  Status st = PackWeights(filters);
  if (!st.ok()) return st;
  epilogue_.Init(p, geo, *isa, multiplier, bias);
  const bool aligned = p.groups == 1 || geo.cg % 32 == 0;
  const bool direct = aligned && p.filter_height == 1 && p.filter_width == 1;
  const bool contiguous_taps = p.groups == 1 && p.dilation_width == 1;
  if (direct) {
    rows_ = MakeDirectARows(p, geo);
  } else if (uk_.fn_segmented != nullptr && contiguous_taps) {
    rows_ = MakeIndirectARows(p, geo);
  } else {
    rows_ = MakeIm2colARows(p, geo);
  }
  correction_.Init(p, geo, weights_.data(), ng_pad_);  // reads the row-major panels
  if (uk_.k_major_panel) {
    // Each panel of NR rows [NR][kw] -> [kw][NR] (panels start at multiples of NR rows).
    const size_t NR = uk_.nr, kw = geo.k_words;
    std::vector<uint32_t> tmp(NR * kw);
    for (size_t p0 = 0; p0 < weights_.size(); p0 += NR * kw) {
      uint32_t* panel = weights_.data() + p0;
      for (size_t n = 0; n < NR; ++n)
        for (size_t k = 0; k < kw; ++k) tmp[k * NR + n] = panel[n * kw + k];
      std::memcpy(panel, tmp.data(), NR * kw * sizeof(uint32_t));
    }
  }
  SetupTiling();
  epilogue_.set_acc_stride(acc_stride_);
  return Status::Ok();
}

// Weights: per group, rows padded to a multiple of NR; tap padding bits masked to 0.
Status BConv2DOptimized::PackWeights(const uint32_t* filters) {
  const BConv2DParams& p = p_;
  const ConvGeometry& geo = geo_;
  const size_t kw = geo.k_words;
  ng_pad_ = RoundUp(geo.ng, uk_.nr);
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
  return Status::Ok();
}

void BConv2DOptimized::SetupTiling() {
  const size_t MR = uk_.mr, NR = uk_.nr;
  const size_t unit = NR / std::gcd(NR, size_t{32}) * 32;  // lcm(NR, 32)
  const size_t kw = geo_.k_words;
  // Row block: the im2col block should stay in L1 (~16 KiB).
  const bool direct = rows_->mode() == ARowMode::kDirect;
  size_t mb = direct ? 64 : (16384 / (kw * 4)) / MR * MR;
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
        blocks_.push_back({segments_.size() - 1, segments_.size(), first / 32, PackedWords(last)});
      }
    }
  }
  if (!split) blocks_.push_back({0, segments_.size(), 0, geo_.cout_words});
  im2col_per_thread_ = mb * rows_->scratch_words_per_row();
  acc_per_thread_ = mb * acc_stride_;
  im2col_.assign(im2col_per_thread_ * threads_, 0u);
  ptrs_.assign(mb * rows_->runs() * threads_, nullptr);
  acc_.assign(acc_per_thread_ * threads_, 0);
}

void BConv2DOptimized::RunTask(size_t task, int thread, const uint32_t* in, void* out,
                               const FusedOutputs& fused) {
  const size_t rb = task / blocks_.size();
  const Block& blk = blocks_[task % blocks_.size()];
  const size_t r0 = rb * mb_;
  const size_t count = std::min(mb_, geo_.rows - r0);
  uint32_t* buf = im2col_.data() + thread * im2col_per_thread_;
  const size_t runs = rows_->runs();
  const uint32_t** ptrs = ptrs_.data() + thread * mb_ * runs;
  const bool segmented = rows_->mode() == ARowMode::kIndirect;
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
      rows_->Build(r0, count, seg.group, in, buf, ptrs);
      built = seg.group;
    }
    const uint32_t* wg = weights_.data() + seg.group * ng_pad_ * kw;
    for (int c0 = seg.c_begin; c0 < seg.c_end; c0 += static_cast<int>(NR)) {
      const size_t nr = std::min(NR, static_cast<size_t>(seg.c_end - c0));
      const uint32_t* panel = wg + static_cast<size_t>(c0) * kw;
      int32_t* acc_c = acc + (c0 - seg.c_begin);
      if (segmented) {
        const size_t run = kw / runs;
        for (size_t m0 = 0; m0 < count; m0 += MR) {
          uk_.fn_segmented(std::min(MR, count - m0), nr, runs, run, ptrs + m0 * runs, panel,
                           acc_c + m0 * acc_stride_, acc_stride_);
        }
        continue;
      }
      for (size_t m0 = 0; m0 < count; m0 += MR) {
        uk_.fn(std::min(MR, count - m0), nr, kw, ptrs + m0, panel, acc_c + m0 * acc_stride_,
               acc_stride_);
      }
    }
    epilogue_.Emit(r0, count, seg.group * geo_.ng + seg.c_begin, seg.c_end - seg.c_begin, acc,
                   correction_, out, fused);
  }
}

}  // namespace

Status CreateBConv2DOptimized(const BConv2DParams& p, const ConvGeometry& geo, const IsaConfig* isa,
                              const uint32_t* filters, const float* multiplier, const float* bias,
                              std::unique_ptr<BConv2D>* op) {
  std::unique_ptr<BConv2DOptimized> o(new BConv2DOptimized());
  Status s = o->Init(p, geo, isa, filters, multiplier, bias);
  if (!s.ok()) return s;
  *op = std::move(o);
  return Status::Ok();
}

}  // namespace internal
}  // namespace kbnn
