#include "kbnn/bconv2d.h"

#include "bconv2d_internal.h"
#include "common.h"

namespace kbnn {
namespace internal {

Status ValidateBConv2D(const BConv2DParams& p, ConvGeometry* geo) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("BConv2D: " + m); };
  if (p.batch < 1 || p.input_height < 1 || p.input_width < 1 || p.channels_in < 1 ||
      p.channels_out < 1 || p.filter_height < 1 || p.filter_width < 1) {
    return bad(
        "batch, input_height, input_width, channels_in, channels_out, filter_height and "
        "filter_width must all be >= 1; received batch=" +
        Str(p.batch) + " input=" + Str(p.input_height) + "x" + Str(p.input_width) + "x" +
        Str(p.channels_in) + " channels_out=" + Str(p.channels_out) +
        " filter=" + Str(p.filter_height) + "x" + Str(p.filter_width));
  }
  if (p.groups < 1 || p.channels_in % p.groups != 0 || p.channels_out % p.groups != 0) {
    return bad("groups must be >= 1 and divide channels_in and channels_out; received groups=" +
               Str(p.groups) + " channels_in=" + Str(p.channels_in) +
               " channels_out=" + Str(p.channels_out));
  }
  if (p.padding != Padding::kValid && p.padding != Padding::kSame) {
    return bad("unknown padding enum value");
  }
  if (p.pad_value != 0 && p.pad_value != 1) {
    return bad("pad_value must be 0 or 1; received " + Str(p.pad_value));
  }
  if (p.num_threads < 1 || p.num_threads > 1024) {
    return bad("num_threads must be in [1, 1024]; received " + Str(p.num_threads));
  }
  Status s = ValidateOutputParams(p.output);
  if (!s.ok()) return bad(s.message());
  if ((p.residual || p.sign_output) && p.output.type != OutputType::kFloat32) {
    return bad(
        "residual and sign_output (the fused shortcut add / re-binarization) need "
        "float32 output; received output type " +
        Str(static_cast<int>(p.output.type)) + " with residual=" + Str(p.residual) +
        " sign_output=" + Str(p.sign_output));
  }
  s = SpatialOutput("height", p.input_height, p.filter_height, p.stride_height, p.dilation_height,
                    p.padding, &geo->output_height, &geo->pad_top);
  if (!s.ok()) return bad(s.message());
  s = SpatialOutput("width", p.input_width, p.filter_width, p.stride_width, p.dilation_width,
                    p.padding, &geo->output_width, &geo->pad_left);
  if (!s.ok()) return bad(s.message());

  geo->cg = p.channels_in / p.groups;
  geo->cgw = PackedWords(geo->cg);
  geo->cin_words = PackedWords(p.channels_in);
  geo->ng = p.channels_out / p.groups;
  geo->cout_words = PackedWords(p.channels_out);
  size_t k;
  if (!CheckedProduct({p.filter_height, p.filter_width, geo->cg}, &k) || k > (1u << 28)) {
    return bad("filter_height * filter_width * channels_in / groups is too large (max 2^28)");
  }
  geo->k = static_cast<int32_t>(k);
  if (!CheckedProduct({p.filter_height, p.filter_width, geo->cgw}, &geo->k_words) ||
      !CheckedProduct({p.batch, geo->output_height, geo->output_width}, &geo->rows) ||
      !CheckedMul(geo->k_words, static_cast<size_t>(p.channels_out), &geo->filter_words) ||
      !CheckedProduct({p.batch, p.input_height, p.input_width, geo->cin_words},
                      &geo->input_words)) {
    return bad("tensor sizes overflow");
  }
  if (geo->rows > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return bad("batch * output_height * output_width must be < 2^31");
  }
  const bool packed = p.output.type == OutputType::kBitpacked;
  const size_t per_row = packed ? geo->cout_words : p.channels_out;
  const size_t elem = p.output.type == OutputType::kInt8 ? 1 : 4;
  if (!CheckedMul(geo->rows, per_row, &geo->output_elements) ||
      !CheckedMul(geo->output_elements, elem, &geo->output_bytes)) {
    return bad("output size overflows");
  }
  return Status::Ok();
}

}  // namespace internal

Status BConv2DOutputSize(const BConv2DParams& params, int* output_height, int* output_width) {
  internal::ConvGeometry geo;
  Status s = internal::ValidateBConv2D(params, &geo);
  if (!s.ok()) return s;
  *output_height = geo.output_height;
  *output_width = geo.output_width;
  return Status::Ok();
}

Status BConv2D::Create(const BConv2DParams& params, const uint32_t* packed_filters,
                       const float* multiplier, const float* bias, std::unique_ptr<BConv2D>* op) {
  if (op == nullptr) return Status::InvalidArgument("BConv2D: op output pointer is null");
  op->reset();
  if (packed_filters == nullptr) {
    return Status::InvalidArgument("BConv2D: packed_filters is null");
  }
  internal::ConvGeometry geo;
  Status s = internal::ValidateBConv2D(params, &geo);
  if (!s.ok()) return s;
  const IsaConfig* isa = nullptr;
  s = ResolveKernel(params.kernel, &isa);
  if (!s.ok()) return s;
  if (isa == nullptr) {
    s = internal::CreateBConv2DReference(params, geo, packed_filters, multiplier, bias, op);
  } else {
    s = internal::CreateBConv2DOptimized(params, geo, isa, packed_filters, multiplier, bias, op);
  }
  if (!s.ok()) return s;
  BConv2D* o = op->get();
  o->params_ = params;
  o->output_height_ = geo.output_height;
  o->output_width_ = geo.output_width;
  o->input_words_ = geo.input_words;
  o->output_elements_ = geo.output_elements;
  o->output_bytes_ = geo.output_bytes;
  o->sign_output_words_ = params.sign_output ? geo.rows * geo.cout_words : 0;
  return Status::Ok();
}

Status BConv2D::CheckRunArgs(const uint32_t* input, const float* residual, const void* output,
                             const uint32_t* sign_output) const {
  if (input == nullptr || output == nullptr) {
    return Status::InvalidArgument("BConv2D::Run: null input or output");
  }
  if (params_.residual != (residual != nullptr)) {
    return Status::InvalidArgument(
        params_.residual ? "BConv2D::Run: the op was created with residual=true: pass the "
                           "residual tensor (use the Run overload with residual)"
                         : "BConv2D::Run: a residual tensor was passed but the op was created "
                           "with residual=false");
  }
  if (params_.sign_output != (sign_output != nullptr)) {
    return Status::InvalidArgument(
        params_.sign_output ? "BConv2D::Run: the op was created with sign_output=true: pass "
                              "the sign output buffer (sign_output_words() words)"
                            : "BConv2D::Run: a sign output buffer was passed but the op was "
                              "created with sign_output=false");
  }
  return Status::Ok();
}

}  // namespace kbnn
