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
using BgemmUkernelFn = void (*)(size_t mr, size_t nr, size_t k_words,
                                const uint32_t* const* a, const uint32_t* b,
                                int32_t* c, size_t c_stride);
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

// Output transform microkernels of an output block: `rows` rows of n channels, from the
// popcounts acc[i * acc_stride + j] of dot products of length k. corr: nullptr, or one pointer per
// row (nullptr or n values: the SAME zero-padding correction):
//   dot[i][j] = k - 2 * acc[i * acc_stride + j] - corr[i][j]
// Float output: y[i * y_stride + j] = Activate(float(m[j] * float(dot)) + b[j], o), bit-exact
// with the scalar formula in src/common.h (two roundings, no FMA).
using OutputF32UkernelFn = void (*)(size_t rows, size_t n, const int32_t* acc, size_t acc_stride,
                                    int32_t k, const int32_t* const* corr, const float* m,
                                    const float* b, const OutputParams& o, float* y,
                                    size_t y_stride);
// Fused Bi-Real epilogue, float output: v = the float output above, then v += r[i * r_stride + j]
// when r is not nullptr (one float add), y[i * y_stride + j] = v, and when sign is not nullptr
// bit j % 32 of sign[i * sign_stride + j / 32] |= (v < 0) (sign starts at a channel that is a
// multiple of 32; the words are OR'ed into, the caller zeroes them).
using OutputF32ResidualUkernelFn = void (*)(size_t rows, size_t n, const int32_t* acc,
                                            size_t acc_stride, int32_t k,
                                            const int32_t* const* corr, const float* m,
                                            const float* b, const OutputParams& o,
                                            const float* r, size_t r_stride, float* y,
                                            size_t y_stride, uint32_t* sign, size_t sign_stride);
// Int8 output: y[i * y_stride + j] = Int8FromFloat(the float output above, o) (src/common.h).
using OutputInt8UkernelFn = void (*)(size_t rows, size_t n, const int32_t* acc, size_t acc_stride,
                                     int32_t k, const int32_t* const* corr, const float* m,
                                     const float* b, const OutputParams& o, int8_t* y,
                                     size_t y_stride);
// Bitpacked output: bit j of row i = (dot[i][j] < threshold[j]) ^ (bit j of flip), OR'ed into
// out[i * out_stride + j / 32] bit j % 32. threshold, flip and out start at a channel that is a
// multiple of 32.
using OutputBitsUkernelFn = void (*)(size_t rows, size_t n, const int32_t* acc, size_t acc_stride,
                                     int32_t k, const int32_t* const* corr,
                                     const int32_t* threshold, const uint32_t* flip,
                                     uint32_t* out, size_t out_stride);
}  // namespace kbnn
