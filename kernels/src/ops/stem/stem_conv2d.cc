// StemConv2D: dynamic int8 stem convolution + folded batch norm + activation + optional max pool
// (the arithmetic is defined once, in kbnn/stem_conv2d.h).
#include "kbnn/stem_conv2d.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "common.h"
#include "kbnn/dispatch.h"

namespace kbnn {
namespace {

Status Bad(const std::string& m) { return Status::InvalidArgument("StemConv2D: " + m); }

// The per-item scale s_x of the header's formula, or an error for a non-finite value.
Status ItemScale(const float* x, size_t n, int item, float* s_x) {
  float m = 0.0f;
  bool finite = true;
  for (size_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    finite = finite && a <= FLT_MAX;
    m = a > m ? a : m;
  }
  if (!finite) {
    return Bad("batch item " + internal::Str(item) +
               " of the input holds a NaN or infinite value (the stem quantizes the input per item "
               "from max |x|; feed finite values)");
  }
  *s_x = m / 127.0f;
  return Status::Ok();
}

// q = clamp(nearbyint(x / s_x), -127, 127); s_x == 0: q = 0.
void QuantizeRange(const float* x, size_t n, float s_x, int16_t* q) {
  if (s_x == 0.0f) {
    std::fill(q, q + n, int16_t{0});
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    float r = std::nearbyint(x[i] / s_x);
    r = r < -127.0f ? -127.0f : (r > 127.0f ? 127.0f : r);
    q[i] = static_cast<int16_t>(r);
  }
}

// The im2col row of conv output row r (all conv_width pixels) from the quantized item q: per pixel
// the (kh, kw, ci) patch, zeros for padded taps, then zeros up to kp.
struct Im2col {
  int in_h, in_w, cin, fh, fw, sh, sw, pad_top, pad_left, conv_w, kp;

  template <class T>
  void Row(const int16_t* q, int r, T* a) const {
    const size_t row_elems = static_cast<size_t>(in_w) * cin;
    const int span = fw * cin;
    for (int ow = 0; ow < conv_w; ++ow) {
      T* ap = a + static_cast<size_t>(ow) * kp;
      int k = 0;
      for (int kh = 0; kh < fh; ++kh, k += span) {
        const int ih = r * sh - pad_top + kh;
        if (ih < 0 || ih >= in_h) {
          std::fill(ap + k, ap + k + span, T{0});
          continue;
        }
        const int iw0 = ow * sw - pad_left;
        const int16_t* line = q + static_cast<size_t>(ih) * row_elems;
        if (iw0 >= 0 && iw0 + fw <= in_w) {
          const int16_t* src = line + static_cast<size_t>(iw0) * cin;
          for (int j = 0; j < span; ++j) ap[k + j] = static_cast<T>(src[j]);
          continue;
        }
        for (int kw = 0; kw < fw; ++kw) {
          const int iw = iw0 + kw;
          const bool in = iw >= 0 && iw < in_w;
          for (int ci = 0; ci < cin; ++ci) {
            ap[k + kw * cin + ci] =
                in ? static_cast<T>(line[static_cast<size_t>(iw) * cin + ci]) : T{0};
          }
        }
      }
      std::fill(ap + k, ap + kp, T{0});
    }
  }
};

}  // namespace

StemConv2D::~StemConv2D() = default;

const char* StemConv2D::ukernel_name() const {
  return ukernel_ == nullptr ? "reference" : ukernel_->name;
}

Status StemConv2D::Create(const StemConv2DParams& p, const int8_t* weights,
                          const float* weight_scales, const float* multiplier, const float* bias,
                          const float* slope, std::unique_ptr<StemConv2D>* op) {
  if (op == nullptr) return Bad("op output pointer is null");
  op->reset();
  if (p.batch < 1 || p.input_height < 1 || p.input_width < 1 || p.channels_out < 1) {
    return Bad("batch, input_height, input_width and channels_out must be >= 1; received batch=" +
               internal::Str(p.batch) + " input=" + internal::Str(p.input_height) + "x" +
               internal::Str(p.input_width) + " channels_out=" + internal::Str(p.channels_out));
  }
  if (p.channels_in < 1 || p.channels_in > kStemMaxChannelsIn) {
    return Bad("channels_in must be in [1, " + internal::Str(kStemMaxChannelsIn) + "] (a stem " +
               "takes image channels); received " + internal::Str(p.channels_in) +
               ": convert this layer as a float convolution");
  }
  if (p.channels_out > (1 << 16)) {
    return Bad("channels_out must be <= 65536; received " + internal::Str(p.channels_out));
  }
  if (p.num_threads < 1 || p.num_threads > 1024) {
    return Bad("num_threads must be in [1, 1024]; received " + internal::Str(p.num_threads));
  }
  if (p.activation != StemActivation::kNone && p.activation != StemActivation::kRelu &&
      p.activation != StemActivation::kPRelu) {
    return Bad("unknown activation enum value");
  }
  if (weights == nullptr || weight_scales == nullptr || multiplier == nullptr || bias == nullptr ||
      (p.activation == StemActivation::kPRelu && slope == nullptr)) {
    return Bad("weights, weight_scales, multiplier, bias (and slope for PReLU) must not be null");
  }
  std::unique_ptr<StemConv2D> o(new StemConv2D());
  Status s = internal::SpatialOutput("height", p.input_height, p.filter_height, p.stride_height, 1,
                                     p.padding, &o->conv_height_, &o->pad_top_);
  if (!s.ok()) return Bad(s.message());
  s = internal::SpatialOutput("width", p.input_width, p.filter_width, p.stride_width, 1, p.padding,
                              &o->conv_width_, &o->pad_left_);
  if (!s.ok()) return Bad(s.message());
  const long long patch = static_cast<long long>(p.filter_height) * p.filter_width * p.channels_in;
  if (patch > kStemMaxPatch) {
    return Bad("filter_height * filter_width * channels_in = " + internal::Str(patch) +
               " exceeds " + internal::Str(kStemMaxPatch));
  }
  o->output_height_ = o->conv_height_;
  o->output_width_ = o->conv_width_;
  if (p.pool_height != 0 || p.pool_width != 0) {
    s = internal::SpatialOutput("pool height", o->conv_height_, p.pool_height, p.pool_stride_height,
                                1, p.pool_padding, &o->output_height_, &o->pool_pad_top_);
    if (!s.ok()) return Bad(s.message());
    s = internal::SpatialOutput("pool width", o->conv_width_, p.pool_width, p.pool_stride_width, 1,
                                p.pool_padding, &o->output_width_, &o->pool_pad_left_);
    if (!s.ok()) return Bad(s.message());
  }
  size_t conv_elements = 0;
  if (!internal::CheckedProduct({p.batch, p.input_height, p.input_width, p.channels_in},
                                &o->input_elements_) ||
      !internal::CheckedProduct({p.batch, o->conv_height_, o->conv_width_, p.channels_out},
                                &conv_elements) ||
      !internal::CheckedProduct({p.batch, o->output_height_, o->output_width_, p.channels_out},
                                &o->output_elements_)) {
    return Bad("tensor sizes overflow");
  }
  const size_t nw = static_cast<size_t>(patch) * p.channels_out;
  for (size_t i = 0; i < nw; ++i) {
    if (weights[i] < -127) {
      return Bad("weights must be symmetric int8 in [-127, 127]; found -128");
    }
  }
  for (int c = 0; c < p.channels_out; ++c) {
    const bool ok = std::isfinite(weight_scales[c]) && weight_scales[c] >= 0.0f &&
                    std::isfinite(multiplier[c]) && std::isfinite(bias[c]) &&
                    (p.activation != StemActivation::kPRelu || std::isfinite(slope[c]));
    if (!ok) {
      return Bad("channel " + internal::Str(c) + ": weight scales must be finite and >= 0, " +
                 "multiplier, bias and slope finite");
    }
  }
  const IsaConfig* isa = nullptr;
  s = ResolveKernel(p.kernel, &isa);
  if (!s.ok()) return s;
  o->params_ = p;
  o->patch_ = static_cast<int>(patch);
  o->patch_pad_ = static_cast<int>((patch + 3) / 4 * 4);
  o->weights_.assign(weights, weights + nw);
  o->weight_scales_.assign(weight_scales, weight_scales + p.channels_out);
  o->multiplier_.assign(multiplier, multiplier + p.channels_out);
  o->bias_.assign(bias, bias + p.channels_out);
  o->slope_.assign(p.channels_out, 0.0f);
  if (p.activation == StemActivation::kPRelu) o->slope_.assign(slope, slope + p.channels_out);
  o->ukernel_ = StemGemmOf(isa);
  if (o->ukernel_ != nullptr) {
    // Panels of nr channels, k-major in blocks of kr (kbnn/stem_ukernel.h); zero-filled.
    const int nr = o->ukernel_->nr, kr = o->ukernel_->kr;
    o->packed_channels_ = (p.channels_out + nr - 1) / nr * nr;
    const size_t packed_size = static_cast<size_t>(o->packed_channels_) * o->patch_pad_;
    const bool i8 = o->ukernel_->fn_i8 != nullptr;
    if (i8) o->packed_i8_.assign(packed_size, 0);
    else o->packed_.assign(packed_size, 0);
    for (int c = 0; c < p.channels_out; ++c) {
      const size_t panel = static_cast<size_t>(c / nr) * nr * o->patch_pad_;
      const int n = c % nr;
      for (int k = 0; k < o->patch_; ++k) {
        const size_t at = panel + (k / kr) * nr * kr + n * kr + k % kr;
        const int8_t v = weights[static_cast<size_t>(c) * patch + k];
        if (i8) o->packed_i8_[at] = v;
        else o->packed_[at] = v;
      }
    }
  }
  *op = std::move(o);
  return Status::Ok();
}

Status StemConv2D::Run(const float* input, float* output, ThreadPool* pool) const {
  if (input == nullptr || output == nullptr) {
    return Status::InvalidArgument("StemConv2D::Run: null input or output");
  }
  return ukernel_ == nullptr ? RunReference(input, output) : RunOptimized(input, output, pool);
}

// The formula of the header, one value at a time.
Status StemConv2D::RunReference(const float* input, float* output) const {
  const StemConv2DParams& p = params_;
  const size_t item = static_cast<size_t>(p.input_height) * p.input_width * p.channels_in;
  const int C = p.channels_out;
  std::vector<int16_t> q(item);
  std::vector<float> conv(static_cast<size_t>(conv_height_) * conv_width_ * C);
  for (int n = 0; n < p.batch; ++n) {
    float s_x = 0.0f;
    Status s = ItemScale(input + n * item, item, n, &s_x);
    if (!s.ok()) return s;
    QuantizeRange(input + n * item, item, s_x, q.data());
    for (int oh = 0; oh < conv_height_; ++oh)
      for (int ow = 0; ow < conv_width_; ++ow)
        for (int c = 0; c < C; ++c) {
          int32_t acc = 0;
          for (int kh = 0; kh < p.filter_height; ++kh)
            for (int kw = 0; kw < p.filter_width; ++kw) {
              const int ih = oh * p.stride_height - pad_top_ + kh;
              const int iw = ow * p.stride_width - pad_left_ + kw;
              if (ih < 0 || ih >= p.input_height || iw < 0 || iw >= p.input_width) continue;
              for (int ci = 0; ci < p.channels_in; ++ci) {
                const int32_t w =
                    weights_[((static_cast<size_t>(c) * p.filter_height + kh) * p.filter_width +
                              kw) *
                                 p.channels_in +
                             ci];
                acc += w * q[(static_cast<size_t>(ih) * p.input_width + iw) * p.channels_in + ci];
              }
            }
          conv[(static_cast<size_t>(oh) * conv_width_ + ow) * C + c] =
              StemOutputValue(acc, s_x, weight_scales_[c], multiplier_[c], bias_[c], p.activation,
                              slope_[c]);
        }
    float* y = output + static_cast<size_t>(n) * output_height_ * output_width_ * C;
    if (p.pool_height == 0) {
      std::copy(conv.begin(), conv.end(), y);
      continue;
    }
    for (int oh = 0; oh < output_height_; ++oh)
      for (int ow = 0; ow < output_width_; ++ow)
        for (int c = 0; c < C; ++c) {
          float m = -INFINITY;
          for (int kh = 0; kh < p.pool_height; ++kh)
            for (int kw = 0; kw < p.pool_width; ++kw) {
              const int ih = oh * p.pool_stride_height - pool_pad_top_ + kh;
              const int iw = ow * p.pool_stride_width - pool_pad_left_ + kw;
              if (ih < 0 || ih >= conv_height_ || iw < 0 || iw >= conv_width_) continue;
              const float v = conv[(static_cast<size_t>(ih) * conv_width_ + iw) * C + c];
              m = v > m ? v : m;
            }
          y[(static_cast<size_t>(oh) * output_width_ + ow) * C + c] = m;
        }
  }
  return Status::Ok();
}

// Quantize each item (its scale first), then bands of output rows in parallel: each task computes
// the conv rows it needs (im2col of one row -> the microkernel -> the epilogue), keeping the last
// pool_height of them in a ring, and max-pools them into its output rows.
Status StemConv2D::RunOptimized(const float* input, float* output, ThreadPool* pool) const {
  const StemConv2DParams& p = params_;
  const size_t item = static_cast<size_t>(p.input_height) * p.input_width * p.channels_in;
  const int C = p.channels_out;
  std::vector<float> s_x(p.batch);
  for (int n = 0; n < p.batch; ++n) {
    Status s = ItemScale(input + n * item, item, n, &s_x[n]);
    if (!s.ok()) return s;
  }
  std::vector<int16_t> q(item * p.batch);
  const size_t row_elems = static_cast<size_t>(p.input_width) * p.channels_in;
  const size_t in_rows = static_cast<size_t>(p.batch) * p.input_height;
  auto quantize = [&](size_t r, int) {
    QuantizeRange(input + r * row_elems, row_elems, s_x[r / p.input_height],
                  q.data() + r * row_elems);
  };
  ParallelForMaybe(pool, in_rows, p.num_threads, quantize);

  const bool pooled = p.pool_height != 0;
  const int out_rows_per_item = output_height_;
  const size_t total_rows = static_cast<size_t>(p.batch) * out_rows_per_item;
  const int threads =
      pool == nullptr ? 1 : std::max(1, std::min(p.num_threads, pool->num_threads()));
  const size_t bands = std::min(total_rows, static_cast<size_t>(threads) * 4);
  const size_t band_rows = (total_rows + bands - 1) / bands;
  const size_t num_tasks = (total_rows + band_rows - 1) / band_rows;
  const StemGemmUkernel& uk = *ukernel_;
  const int mr = uk.mr, nr = uk.nr;
  const int KP = patch_pad_;
  const size_t conv_row = static_cast<size_t>(conv_width_) * C;

  auto task = [&](size_t t, int) {
    const bool i8 = uk.fn_i8 != nullptr;
    std::vector<int16_t> a(i8 ? 0 : static_cast<size_t>(conv_width_) * KP, 0);
    std::vector<int8_t> a8(i8 ? static_cast<size_t>(conv_width_) * KP : 0, 0);
    std::vector<int32_t> acc(static_cast<size_t>(mr) * nr);
    std::vector<float> scale(C);
    const int ring = pooled ? p.pool_height : 1;
    std::vector<float> rows(ring * conv_row);
    std::vector<long> ring_id(ring, -1);  // which conv row (item * conv_height + row) is in a slot
    const Im2col im2col{p.input_height,
                        p.input_width,
                        p.channels_in,
                        p.filter_height,
                        p.filter_width,
                        p.stride_height,
                        p.stride_width,
                        pad_top_,
                        pad_left_,
                        conv_width_,
                        KP};
    // Computes conv row r of item n into `dst`.
    auto conv_row_fn = [&](int n, int r, float* dst) {
      const int16_t* qn = q.data() + n * item;
      if (i8) im2col.Row(qn, r, a8.data());
      else im2col.Row(qn, r, a.data());
      for (int m0 = 0; m0 < conv_width_; m0 += mr) {
        const int mb = std::min(mr, conv_width_ - m0);
        for (int c0 = 0; c0 < C; c0 += nr) {
          const int nb = std::min(nr, C - c0);
          if (i8) {
            uk.fn_i8(mb, nb, KP, a8.data() + static_cast<size_t>(m0) * KP, KP,
                     packed_i8_.data() + static_cast<size_t>(c0) * KP, acc.data(), nr);
          } else {
            uk.fn(mb, nb, KP, a.data() + static_cast<size_t>(m0) * KP, KP,
                  packed_.data() + static_cast<size_t>(c0) * KP, acc.data(), nr);
          }
          for (int i = 0; i < mb; ++i) {
            float* y = dst + static_cast<size_t>(m0 + i) * C + c0;
            const int32_t* ai = acc.data() + static_cast<size_t>(i) * nr;
            for (int j = 0; j < nb; ++j) {
              float v = static_cast<float>(ai[j]) * scale[c0 + j];
              v = v * multiplier_[c0 + j];
              v = v + bias_[c0 + j];
              if (p.activation == StemActivation::kRelu) v = v > 0.0f ? v : 0.0f;
              if (p.activation == StemActivation::kPRelu) v = v > 0.0f ? v : v * slope_[c0 + j];
              y[j] = v;
            }
          }
        }
      }
    };
    int scale_item = -1;
    const size_t r0 = t * band_rows, r1 = std::min(total_rows, r0 + band_rows);
    for (size_t row = r0; row < r1; ++row) {
      const int n = static_cast<int>(row / out_rows_per_item);
      const int oh = static_cast<int>(row % out_rows_per_item);
      if (n != scale_item) {
        for (int c = 0; c < C; ++c) scale[c] = s_x[n] * weight_scales_[c];
        scale_item = n;
      }
      float* y = output + row * static_cast<size_t>(output_width_) * C;
      if (!pooled) {
        conv_row_fn(n, oh, y);
        continue;
      }
      const int ih0 = oh * p.pool_stride_height - pool_pad_top_;
      const int kh0 = std::max(0, -ih0), kh1 = std::min(p.pool_height, conv_height_ - ih0);
      for (int kh = kh0; kh < kh1; ++kh) {
        const long id = static_cast<long>(n) * conv_height_ + ih0 + kh;
        const int slot = static_cast<int>((ih0 + kh) % ring);
        if (ring_id[slot] != id) {
          conv_row_fn(n, ih0 + kh, rows.data() + slot * conv_row);
          ring_id[slot] = id;
        }
      }
      for (int ow = 0; ow < output_width_; ++ow) {
        const int iw0 = ow * p.pool_stride_width - pool_pad_left_;
        const int kw0 = std::max(0, -iw0), kw1 = std::min(p.pool_width, conv_width_ - iw0);
        float* yo = y + static_cast<size_t>(ow) * C;
        std::fill(yo, yo + C, -INFINITY);
        for (int kh = kh0; kh < kh1; ++kh) {
          const float* src = rows.data() + ((ih0 + kh) % ring) * conv_row;
          for (int kw = kw0; kw < kw1; ++kw) {
            const float* px = src + static_cast<size_t>(iw0 + kw) * C;
            for (int c = 0; c < C; ++c) yo[c] = px[c] > yo[c] ? px[c] : yo[c];
          }
        }
      }
    }
  };
  ParallelForMaybe(pool, num_tasks, p.num_threads, task);
  return Status::Ok();
}

}  // namespace kbnn
