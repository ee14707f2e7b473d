#pragma once
// Prototypes of every microkernel (signatures: kbnn/ukernel.h).
#include <cstddef>
#include <cstdint>

#include "kbnn/ukernel.h"

#define KBNN_DECLARE_BGEMM_UKERNEL(name)                                                       \
  void name(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a, const uint32_t* b, \
            int32_t* c, size_t c_stride)

namespace kbnn {

KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_2x4__scalar);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_2x4__popcnt);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_4x8__avx2);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_8x32__avx512vpopcnt);
void kbnn_b32_bgemm_8x32__avx512vpopcnt_seg(size_t mr, size_t nr, size_t segments, size_t seg_words,
                                            const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                            size_t c_stride);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_6x4__aarch64_neon);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_12x8__aarch64_neon);
KBNN_DECLARE_BGEMM_UKERNEL(kbnn_b32_bgemm_4x4__armv7_neon);

void kbnn_f32_bitpack__scalar(size_t words, const float* x, uint32_t* out);
void kbnn_f32_bitpack__avx2(size_t words, const float* x, uint32_t* out);
void kbnn_f32_bitpack__avx512(size_t words, const float* x, uint32_t* out);
void kbnn_f32_bitpack__aarch64_neon(size_t words, const float* x, uint32_t* out);
void kbnn_f32_bitpack__armv7_neon(size_t words, const float* x, uint32_t* out);

void kbnn_f32_bitpack_threshold__scalar(size_t words, const float* x, const float* t,
                                        uint32_t* out);
void kbnn_f32_bitpack_threshold__avx2(size_t words, const float* x, const float* t, uint32_t* out);
void kbnn_f32_bitpack_threshold__avx512(size_t words, const float* x, const float* t,
                                        uint32_t* out);
void kbnn_f32_bitpack_threshold__aarch64_neon(size_t words, const float* x, const float* t,
                                              uint32_t* out);
void kbnn_f32_bitpack_threshold__armv7_neon(size_t words, const float* x, const float* t,
                                            uint32_t* out);

void kbnn_output_f32__scalar(size_t rows, size_t n, size_t channel, const int32_t* acc,
                             const int32_t* const* corr, float* y, const OutputUkernelParams& p);
void kbnn_output_int8__scalar(size_t rows, size_t n, size_t channel, const int32_t* acc,
                              const int32_t* const* corr, int8_t* y, const OutputUkernelParams& p);
void kbnn_output_bits__scalar(size_t rows, size_t n, size_t channel, const int32_t* acc,
                              const int32_t* const* corr, uint32_t* out,
                              const OutputUkernelParams& p);
void kbnn_output_i32__scalar(size_t rows, size_t n, size_t channel, const int32_t* acc,
                             const int32_t* const* corr, int32_t* y, const OutputUkernelParams& p);
void kbnn_output_f32__avx512(size_t rows, size_t n, size_t channel, const int32_t* acc,
                             const int32_t* const* corr, float* y, const OutputUkernelParams& p);
void kbnn_output_f32_residual__avx512(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                      const int32_t* const* corr, const float* r, float* y,
                                      uint32_t* sign, const OutputUkernelParams& p);
void kbnn_output_int8__avx512(size_t rows, size_t n, size_t channel, const int32_t* acc,
                              const int32_t* const* corr, int8_t* y, const OutputUkernelParams& p);
void kbnn_output_bits__avx512(size_t rows, size_t n, size_t channel, const int32_t* acc,
                              const int32_t* const* corr, uint32_t* out,
                              const OutputUkernelParams& p);
void kbnn_output_f32__aarch64_neon(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                   const int32_t* const* corr, float* y,
                                   const OutputUkernelParams& p);
void kbnn_output_f32_residual__aarch64_neon(size_t rows, size_t n, size_t channel,
                                            const int32_t* acc, const int32_t* const* corr,
                                            const float* r, float* y, uint32_t* sign,
                                            const OutputUkernelParams& p);
void kbnn_output_int8__aarch64_neon(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                    const int32_t* const* corr, int8_t* y,
                                    const OutputUkernelParams& p);
void kbnn_output_bits__aarch64_neon(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                    const int32_t* const* corr, uint32_t* out,
                                    const OutputUkernelParams& p);
void kbnn_output_bits__armv7_neon(size_t rows, size_t n, size_t channel, const int32_t* acc,
                                  const int32_t* const* corr, uint32_t* out,
                                  const OutputUkernelParams& p);

// Stem convolution int8 GEMM microkernels (kbnn/stem_ukernel.h).
void kbnn_qs8_gemm_2x8__scalar(size_t mr, size_t nr, size_t kc, const int16_t* a, size_t a_stride,
                               const int16_t* w, int32_t* c, size_t c_stride);
void kbnn_qs8_gemm_4x16c2__avx2(size_t mr, size_t nr, size_t kc, const int16_t* a, size_t a_stride,
                                const int16_t* w, int32_t* c, size_t c_stride);
void kbnn_qs8_gemm_4x8c4__aarch64_neondot(size_t mr, size_t nr, size_t kc, const int8_t* a,
                                          size_t a_stride, const int8_t* w, int32_t* c,
                                          size_t c_stride);
void kbnn_qs8_gemm_4x8__aarch64_neon(size_t mr, size_t nr, size_t kc, const int16_t* a,
                                     size_t a_stride, const int16_t* w, int32_t* c,
                                     size_t c_stride);

}  // namespace kbnn
