#include "ops/bconv2d/output_epilogue.h"

#include <algorithm>

#include "common.h"
#include "ops/bconv2d/output_pixel.h"
#include "ukernels/ukernels.h"

namespace kbnn {
namespace internal {

void OutputEpilogue::Init(const BConv2DParams& p, const ConvGeometry& geo, const IsaConfig& isa,
                          const float* multiplier, const float* bias) {
  output_height_ = geo.output_height;
  output_width_ = geo.output_width;
  channels_out_ = p.channels_out;
  cout_words_ = geo.cout_words;
  multiplier_.assign(p.channels_out, 1.0f);
  bias_.assign(p.channels_out, 0.0f);
  if (multiplier != nullptr) multiplier_.assign(multiplier, multiplier + p.channels_out);
  if (bias != nullptr) bias_.assign(bias, bias + p.channels_out);
  if (p.output.type == OutputType::kBitpacked) {
    bit_threshold_.resize(p.channels_out);
    bit_flip_.assign(geo.cout_words, 0u);
    for (int c = 0; c < p.channels_out; ++c) {
      const BitThreshold t = ComputeBitThreshold(multiplier_[c], bias_[c], p.output, geo.k);
      bit_threshold_[c] = t.threshold;
      bit_flip_[c / 32] |= t.flip << (c % 32);
    }
  }
  params_.k = geo.k;
  params_.out_stride = p.output.type == OutputType::kBitpacked ? geo.cout_words : p.channels_out;
  params_.sign_stride = geo.cout_words;
  params_.output = p.output;
  params_.multiplier = multiplier_.data();
  params_.bias = bias_.data();
  params_.threshold = bit_threshold_.data();
  params_.flip = bit_flip_.data();
  isa_f32_ = isa.output_f32;
  isa_int8_ = isa.output_int8;
  isa_bits_ = isa.output_bits;
  isa_f32_residual_ = isa.output_f32_residual;
  bitpack_f32_ = isa.bitpack_f32;
}

void OutputEpilogue::Emit(size_t r0, size_t count, int c0, int nc, const int32_t* acc,
                          const PaddingCorrection& correction, void* out,
                          const FusedOutputs& fused) const {
  const OutputType type = params_.output.type;
  const size_t Cout = channels_out_, ch = static_cast<size_t>(c0), n = static_cast<size_t>(nc);
  const bool word_aligned = c0 % 32 == 0;
  const bool fuse = fused.residual != nullptr || fused.sign != nullptr;
  // The ISA's microkernel takes chunks of up to 64 rows; the portable one goes row by row (the
  // fused pass then follows each row while it is in L1).
  const bool isa_kernel = (type == OutputType::kFloat32 && isa_f32_ != nullptr) ||
                          (type == OutputType::kInt8 && isa_int8_ != nullptr) ||
                          (type == OutputType::kBitpacked && isa_bits_ != nullptr && word_aligned);
  constexpr size_t kChunk = 64;
  const size_t chunk = isa_kernel ? kChunk : 1;
  const int32_t* corr_rows[kChunk];
  const int32_t* const* corr = correction.active() ? corr_rows : nullptr;
  OutputPixel px(r0, output_height_, output_width_);
  for (size_t i0 = 0; i0 < count; i0 += chunk) {
    const size_t rows = std::min(chunk, count - i0);
    if (corr != nullptr) {
      for (size_t i = 0; i < rows; ++i, px.Next()) corr_rows[i] = correction.At(px.oh, px.ow);
    }
    const int32_t* a = acc + i0 * params_.acc_stride;
    const size_t r = r0 + i0;
    switch (type) {
      case OutputType::kFloat32: {
        float* y = static_cast<float*>(out) + r * Cout;
        if (fuse && isa_f32_residual_ != nullptr && word_aligned) {
          isa_f32_residual_(rows, n, ch, a, corr,
                            fused.residual != nullptr ? fused.residual + r * Cout : nullptr, y,
                            fused.sign != nullptr ? fused.sign + r * cout_words_ : nullptr,
                            params_);
          break;
        }
        (isa_kernel ? isa_f32_ : kbnn_output_f32__scalar)(rows, n, ch, a, corr, y, params_);
        if (fuse) FusedPass(r, rows, c0, nc, static_cast<float*>(out), fused);
        break;
      }
      case OutputType::kInt8:
        (isa_kernel ? isa_int8_ : kbnn_output_int8__scalar)(rows, n, ch, a, corr,
                                                            static_cast<int8_t*>(out) + r * Cout,
                                                            params_);
        break;
      case OutputType::kBitpacked:
        (isa_kernel ? isa_bits_
                    : kbnn_output_bits__scalar)(rows, n, ch, a, corr,
                                                static_cast<uint32_t*>(out) + r * cout_words_,
                                                params_);
        break;
      case OutputType::kInt32Dot:
        kbnn_output_i32__scalar(rows, n, ch, a, corr, static_cast<int32_t*>(out) + r * Cout,
                                params_);
        break;
    }
  }
}

void OutputEpilogue::FusedPass(size_t r, size_t rows, int c0, int nc, float* out,
                               const FusedOutputs& fused) const {
  const size_t Cout = channels_out_, cw = cout_words_;
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

}  // namespace internal
}  // namespace kbnn
