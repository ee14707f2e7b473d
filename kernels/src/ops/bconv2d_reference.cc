// Reference bconv2d: plain loops over every output, tap and channel bit. The oracle.
#include <cstring>
#include <vector>

#include "bconv2d_internal.h"
#include "common.h"
#include "kbnn/bitpack.h"

namespace kbnn {
namespace internal {
namespace {

class BConv2DReference final : public BConv2D {
 public:
  BConv2DReference(const BConv2DParams& p, const ConvGeometry& geo, const uint32_t* filters,
                   const float* multiplier, const float* bias)
      : p_(p),
        geo_(geo),
        filters_(filters, filters + geo.filter_words),
        multiplier_(p.channels_out, 1.0f),
        bias_(p.channels_out, 0.0f) {
    if (multiplier != nullptr) multiplier_.assign(multiplier, multiplier + p.channels_out);
    if (bias != nullptr) bias_.assign(bias, bias + p.channels_out);
  }

  using BConv2D::Run;
  Status Run(const uint32_t* input, const float* residual, void* output, uint32_t* sign_output,
             ThreadPool* /*pool*/) override {
    Status st = CheckRunArgs(input, residual, output, sign_output);
    if (!st.ok()) return st;
    const int KH = p_.filter_height, KW = p_.filter_width;
    const int H = p_.input_height, W = p_.input_width;
    const OutputParams& out = p_.output;
    if (out.type == OutputType::kBitpacked) {
      std::memset(output, 0, geo_.output_bytes);
    }
    if (sign_output != nullptr) {
      std::memset(sign_output, 0, geo_.rows * geo_.cout_words * sizeof(uint32_t));
    }
    size_t row = 0;
    for (int n = 0; n < p_.batch; ++n) {
      for (int oh = 0; oh < geo_.output_height; ++oh) {
        for (int ow = 0; ow < geo_.output_width; ++ow, ++row) {
          for (int co = 0; co < p_.channels_out; ++co) {
            const int g = co / geo_.ng;
            int32_t dot = 0;
            for (int kh = 0; kh < KH; ++kh) {
              for (int kw = 0; kw < KW; ++kw) {
                const long ih = static_cast<long>(oh) * p_.stride_height - geo_.pad_top +
                                static_cast<long>(kh) * p_.dilation_height;
                const long iw = static_cast<long>(ow) * p_.stride_width - geo_.pad_left +
                                static_cast<long>(kw) * p_.dilation_width;
                const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
                const uint32_t* px =
                    inside ? input + ((static_cast<size_t>(n) * H + ih) * W + iw) * geo_.cin_words
                           : nullptr;
                const uint32_t* wt =
                    filters_.data() + (static_cast<size_t>(co) * KH * KW + kh * KW + kw) * geo_.cgw;
                for (int ci = 0; ci < geo_.cg; ++ci) {
                  const int w = PackedBit(wt, ci) ? -1 : 1;
                  int x;
                  if (inside) {
                    x = PackedBit(px, g * geo_.cg + ci) ? -1 : 1;
                  } else {
                    x = p_.pad_value == 1 ? 1 : 0;
                  }
                  dot += x * w;
                }
              }
            }
            Emit(row, co, dot, residual, output, sign_output);
          }
        }
      }
    }
    return Status::Ok();
  }

  const char* kernel_name() const override { return "reference"; }
  const char* isa() const override { return "reference"; }

 private:
  void Emit(size_t row, int co, int32_t dot, const float* residual, void* output,
            uint32_t* sign_output) const {
    const OutputParams& out = p_.output;
    const size_t idx = row * p_.channels_out + co;
    switch (out.type) {
      case OutputType::kInt32Dot: static_cast<int32_t*>(output)[idx] = dot; break;
      case OutputType::kFloat32: {
        float y = FloatOutput(dot, multiplier_[co], bias_[co], out);
        if (residual != nullptr) y += residual[idx];
        static_cast<float*>(output)[idx] = y;
        if (sign_output != nullptr) {
          sign_output[row * geo_.cout_words + co / 32] |= static_cast<uint32_t>(y < 0.0f)
                                                          << (co % 32);
        }
        break;
      }
      case OutputType::kInt8:
        static_cast<int8_t*>(output)[idx] =
            Int8FromFloat(FloatOutput(dot, multiplier_[co], bias_[co], out), out);
        break;
      case OutputType::kBitpacked: {
        const bool negative = FloatOutput(dot, multiplier_[co], bias_[co], out) < 0.0f;
        static_cast<uint32_t*>(output)[row * geo_.cout_words + co / 32] |=
            static_cast<uint32_t>(negative) << (co % 32);
        break;
      }
    }
  }

  BConv2DParams p_;
  ConvGeometry geo_;
  std::vector<uint32_t> filters_;
  std::vector<float> multiplier_, bias_;
};

}  // namespace

Status CreateBConv2DReference(const BConv2DParams& p, const ConvGeometry& geo,
                              const uint32_t* filters, const float* multiplier, const float* bias,
                              std::unique_ptr<BConv2D>* op) {
  op->reset(new BConv2DReference(p, geo, filters, multiplier, bias));
  return Status::Ok();
}

}  // namespace internal
}  // namespace kbnn
