#pragma once
#include <cstddef>
#include <cstdint>

#include "kbnn/types.h"
namespace kbnn {
// Binary GEMM microkernel. For m < mr (mr <= MR) and n < nr (nr <= NR):
//   c[m * c_stride + n] = sum_{k < k_words} popcount(a[m][k] ^ b[n * k_words + k])
// a: mr row pointers, each to k_words contiguous uint32 words (im2col rows or indirection).
// b: a panel of NR packed weight rows, row-major [NR][k_words], rows >= nr zero-filled.
// c: int32 raw popcount accumulators (the caller turns them into dot = K - 2*c).
// k_words >= 1. No alignment is guaranteed for a or b.
// With k_major_panel (BgemmUkernel), b is stored k-major instead: [k_words][NR], word k of row n
// at b[k * NR + n] (same size; columns >= nr zero-filled).
using BgemmUkernelFn = void (*)(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                                const uint32_t* b, int32_t* c, size_t c_stride);
// Indirection variant (optional): A row m is the concatenation of `segments` runs of seg_words
// words, run s at a[m * segments + s]; k_words = segments * seg_words. Otherwise as above.
using BgemmSegmentedUkernelFn = void (*)(size_t mr, size_t nr, size_t segments, size_t seg_words,
                                         const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                         size_t c_stride);
struct BgemmUkernel {
  const char* name = nullptr;
  BgemmUkernelFn fn = nullptr;
  int mr = 0;
  int nr = 0;
  const char* isa = nullptr;
  bool k_major_panel = false;  // b is [k_words][NR] (see above), not [NR][k_words]
  BgemmSegmentedUkernelFn fn_segmented = nullptr;  // same kernel reading segmented A rows
};

// Float bitpacking microkernel: packs `words` full words of 32 floats each,
//   out[w] bit b = (x[32 * w + b] < 0)   (ordered compare: -0.0f and NaN give 0, i.e. +1).
// No alignment is guaranteed for x or out.
using F32BitpackUkernelFn = void (*)(size_t words, const float* x, uint32_t* out);

// Float bitpacking against per-channel thresholds (ReActNet's RSign, Liu et al., ECCV 2020,
// arXiv:2003.03488: sign(x - alpha_c) with a learnable alpha per channel): `words` full words,
//   out[w] bit b = (x[32 * w + b] < threshold[32 * w + b])   (ordered: NaN on either side gives 0).
// threshold holds 32 * words values, the row's channels in order. No alignment is guaranteed.
using F32BitpackThresholdUkernelFn = void (*)(size_t words, const float* x, const float* threshold,
                                              uint32_t* out);

// Output transform microkernels. Their per-op constants are one struct, filled once when the op
// is created (as XNNPACK passes its microkernels a params struct); a call names only its block.
// Channel-indexed arrays cover all channels_out; a call's block starts at `channel`.
struct OutputUkernelParams {
  int32_t k = 0;            // the dot product length
  size_t acc_stride = 0;    // int32 popcounts per accumulator row
  size_t out_stride = 0;  // elements per output row (words when bitpacked); also the residual's
  size_t sign_stride = 0;  // words per row of the fused sign output
  OutputParams output;  // activation, int8 scale and zero point
  const float* multiplier = nullptr;  // float / int8 output: channels_out values
  const float* bias = nullptr;  // float / int8 output: channels_out values
  const int32_t* threshold = nullptr;  // bitpacked output: channels_out values
  const uint32_t* flip = nullptr;  // bitpacked output: PackedWords(channels_out) words
};

// A call transforms `rows` rows of n channels [channel, channel + n), from the popcounts
// acc[i * acc_stride + j] of dot products of length k. corr: nullptr, or one pointer per row
// (nullptr or the row's SAME zero-padding correction, indexed by channel like the params' arrays):
//   dot[i][j] = k - 2 * acc[i * acc_stride + j] - corr[i][channel + j]
// The output pointers are the block's first row at channel 0; the kernel writes its channels.
// Float output: y[i * out_stride + channel + j] = Activate(float(m * float(dot)) + b, o) with
// m = multiplier[channel + j], b = bias[channel + j], bit-exact with the scalar formula in
// src/common.h (two roundings, no FMA).
using OutputF32UkernelFn = void (*)(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                    const int32_t* const* corr, float* y,
                                    const OutputUkernelParams& params);
// Fused Bi-Real epilogue, float output: v = the float output above, then v += the residual
// r[i * out_stride + channel + j] when r is not nullptr (one float add), y[...] = v, and when
// sign is not nullptr bit (channel + j) % 32 of sign[i * sign_stride + (channel + j) / 32] |=
// (v < 0) (channel is a multiple of 32; the words are OR'ed into, the caller zeroes them).
using OutputF32ResidualUkernelFn = void (*)(size_t rows, size_t n, size_t channel,
                                            const int32_t* acc, const int32_t* const* corr,
                                            const float* r, float* y, uint32_t* sign,
                                            const OutputUkernelParams& params);
// Int8 output: y[i * out_stride + channel + j] = Int8FromFloat(the float output above, o)
// (src/common.h).
using OutputInt8UkernelFn = void (*)(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                     const int32_t* const* corr, int8_t* y,
                                     const OutputUkernelParams& params);
// Int32 dot product output: y[i * out_stride + channel + j] = dot[i][j].
using OutputI32UkernelFn = void (*)(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                    const int32_t* const* corr, int32_t* y,
                                    const OutputUkernelParams& params);
// Bitpacked output: bit c = channel + j of row i = (dot[i][j] < threshold[c]) ^ (bit c of flip),
// OR'ed into out[i * out_stride + c / 32] bit c % 32. channel is a multiple of 32.
using OutputBitsUkernelFn = void (*)(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                     const int32_t* const* corr, uint32_t* out,
                                     const OutputUkernelParams& params);
}  // namespace kbnn
