#pragma once
// Prototypes of every binary GEMM microkernel (signature: kbnn::BgemmUkernelFn).
#include <cstddef>
#include <cstdint>

#include "kbnn/ukernel.h"

#define KBNN_DECLARE_BGEMM_UKERNEL(name)                                              \
  void name(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,           \
            const uint32_t* b, int32_t* c, size_t c_stride)

namespace kbnn {

KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_2x4__scalar);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_2x4__popcnt);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_4x8__avx2);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_8x32__avx512vpopcnt);
void kbnn_b32_bgemm_8x32__avx512vpopcnt_seg(size_t mr, size_t nr, size_t segments,
                                            size_t seg_words, const uint32_t* const* a,
                                            const uint32_t* b, int32_t* c, size_t c_stride);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_4x4__aarch64_neon);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_4x4__armv7_neon);

void kbnn_f32_bitpack__avx2(size_t words, const float* x, uint32_t* out);
void kbnn_f32_bitpack__avx512(size_t words, const float* x, uint32_t* out);

void kbnn_output_f32__avx512(size_t rows, size_t n, const int32_t* acc, size_t acc_stride,
                             int32_t k, const int32_t* const* corr, const float* m,
                             const float* b, const OutputParams& o, float* y, size_t y_stride);
void kbnn_output_f32_residual__avx512(size_t rows, size_t n, const int32_t* acc,
                                      size_t acc_stride, int32_t k, const int32_t* const* corr,
                                      const float* m, const float* b, const OutputParams& o,
                                      const float* r, size_t r_stride, float* y, size_t y_stride,
                                      uint32_t* sign, size_t sign_stride);
void kbnn_output_int8__avx512(size_t rows, size_t n, const int32_t* acc, size_t acc_stride,
                              int32_t k, const int32_t* const* corr, const float* m,
                              const float* b, const OutputParams& o, int8_t* y, size_t y_stride);
void kbnn_output_bits__avx512(size_t rows, size_t n, const int32_t* acc, size_t acc_stride,
                              int32_t k, const int32_t* const* corr, const int32_t* threshold,
                              const uint32_t* flip, uint32_t* out, size_t out_stride);

}  // namespace kbnn
