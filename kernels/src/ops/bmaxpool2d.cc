// bmaxpool2d: the max of +-1 values is the AND of their packed bits (bit 1 = -1).
#include "kbnn/bmaxpool2d.h"

#include <cstdint>
#include <vector>

#include "common.h"
#include "kbnn/bitpack.h"
#include "kbnn/dispatch.h"

namespace kbnn {

Status BMaxPool2D::Create(const BMaxPool2DParams& p, std::unique_ptr<BMaxPool2D>* op) {
  if (op == nullptr) return Status::InvalidArgument("BMaxPool2D: op output pointer is null");
  op->reset();
  auto bad = [](const std::string& m) { return Status::InvalidArgument("BMaxPool2D: " + m); };
  if (p.batch < 1 || p.input_height < 1 || p.input_width < 1 || p.channels < 1) {
    return bad("batch, input_height, input_width and channels must be >= 1; received batch=" +
               internal::Str(p.batch) + " input=" + internal::Str(p.input_height) + "x" +
               internal::Str(p.input_width) + "x" + internal::Str(p.channels));
  }
  if (p.num_threads < 1 || p.num_threads > 1024) {
    return bad("num_threads must be in [1, 1024]; received " + internal::Str(p.num_threads));
  }
  std::unique_ptr<BMaxPool2D> o(new BMaxPool2D());
  Status s = internal::SpatialOutput("height", p.input_height, p.filter_height, p.stride_height, 1,
                                     p.padding, &o->output_height_, &o->pad_top_);
  if (!s.ok()) return bad(s.message());
  s = internal::SpatialOutput("width", p.input_width, p.filter_width, p.stride_width, 1, p.padding,
                              &o->output_width_, &o->pad_left_);
  if (!s.ok()) return bad(s.message());
  const int words = PackedWords(p.channels);
  if (!internal::CheckedProduct({p.batch, p.input_height, p.input_width, words},
                                &o->input_words_) ||
      !internal::CheckedProduct({p.batch, o->output_height_, o->output_width_, words},
                                &o->output_words_)) {
    return bad("tensor sizes overflow");
  }
  const IsaConfig* isa = nullptr;
  s = ResolveKernel(p.kernel, &isa);
  if (!s.ok()) return s;
  o->reference_ = isa == nullptr;
  o->params_ = p;
  *op = std::move(o);
  return Status::Ok();
}

namespace {

// y[w] &= px[w]. The output never overlaps the input (Run rejects overlapping buffers); saying so
// lets the compiler vectorize the loop (AArch64: 128-bit AND, no run-time alias check, which GCC 12
// did not emit here and left the loop scalar).
inline void AndInto(uint32_t* __restrict y, const uint32_t* __restrict px, int words) {
  for (int w = 0; w < words; ++w) y[w] &= px[w];
}

}  // namespace

Status BMaxPool2D::Run(const uint32_t* input, uint32_t* output, ThreadPool* pool) const {
  if (input == nullptr || output == nullptr) {
    return Status::InvalidArgument("BMaxPool2D::Run: null input or output");
  }
  {
    const uintptr_t in0 = reinterpret_cast<uintptr_t>(input);
    const uintptr_t out0 = reinterpret_cast<uintptr_t>(output);
    if (in0 < out0 + output_words_ * sizeof(uint32_t) &&
        out0 < in0 + input_words_ * sizeof(uint32_t)) {
      return Status::InvalidArgument(
          "BMaxPool2D::Run: input and output overlap; pass separate buffers (in-place pooling is "
          "not supported)");
    }
  }
  const BMaxPool2DParams& p = params_;
  const int words = PackedWords(p.channels);
  const long H = p.input_height, W = p.input_width;
  if (reference_) {
    // One channel bit at a time: out = -1 iff every in-bounds tap is -1.
    for (int n = 0; n < p.batch; ++n)
      for (int oh = 0; oh < output_height_; ++oh)
        for (int ow = 0; ow < output_width_; ++ow) {
          uint32_t* y =
              output +
              ((static_cast<size_t>(n) * output_height_ + oh) * output_width_ + ow) * words;
          for (int w = 0; w < words; ++w) y[w] = 0;
          for (int c = 0; c < p.channels; ++c) {
            bool all_negative = true;
            for (int kh = 0; kh < p.filter_height; ++kh)
              for (int kw = 0; kw < p.filter_width; ++kw) {
                const long ih = static_cast<long>(oh) * p.stride_height - pad_top_ + kh;
                const long iw = static_cast<long>(ow) * p.stride_width - pad_left_ + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const uint32_t* px = input + ((n * H + ih) * W + iw) * words;
                all_negative = all_negative && PackedBit(px, c);
              }
            y[c / 32] |= static_cast<uint32_t>(all_negative) << (c % 32);
          }
        }
    return Status::Ok();
  }
  // Optimized: whole-word ANDs, output rows split across threads.
  const size_t out_rows = static_cast<size_t>(p.batch) * output_height_;
  auto task = [&](size_t row, int /*thread*/) {
    const long n = static_cast<long>(row / output_height_);
    const long oh = static_cast<long>(row % output_height_);
    const long ih0 = oh * p.stride_height - pad_top_;
    const long kh0 = ih0 < 0 ? -ih0 : 0;
    const long kh1 = std::min<long>(p.filter_height, H - ih0);
    for (long ow = 0; ow < output_width_; ++ow) {
      const long iw0 = ow * p.stride_width - pad_left_;
      const long kw0 = iw0 < 0 ? -iw0 : 0;
      const long kw1 = std::min<long>(p.filter_width, W - iw0);
      uint32_t* y = output + (row * output_width_ + ow) * words;
      for (int w = 0; w < words; ++w) y[w] = ~0u;
      for (long kh = kh0; kh < kh1; ++kh) {
        const uint32_t* line = input + ((n * H + ih0 + kh) * W + iw0) * words;
        for (long kw = kw0; kw < kw1; ++kw) {
          AndInto(y, line + kw * words, words);
        }
      }
    }
  };
  ParallelForMaybe(pool, out_rows, p.num_threads, task);
  return Status::Ok();
}

}  // namespace kbnn
