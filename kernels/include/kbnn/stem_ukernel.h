#pragma once
// The stem convolution's int8 GEMM microkernels (kbnn/stem_conv2d.h). Values are int8 in
// [-127, 127] held in int16 lanes, so every product fits int16 (|p| <= 16129) and the int32 sums of
// kStemMaxPatch products cannot overflow: the kernels are exact, whatever instruction they use.
#include <cstddef>
#include <cstdint>

namespace kbnn {

// For m < mr (mr <= MR) and n < nr (nr <= NR):
//   c[m * c_stride + n] = sum_{k < kc} a[m * a_stride + k] * w(k, n)
// a: int16 rows (the im2col patch of one output pixel, zero-padded to kc); kc is a multiple of 4.
// w: one panel of NR channels, k-major in blocks of KR: w(k, n) = w[(k / KR) * NR * KR + n * KR +
//    k % KR]; channels >= nr of the panel are zero. Rows m >= mr are not read.
using StemGemmUkernelFn = void (*)(size_t mr, size_t nr, size_t kc, const int16_t* a,
                                   size_t a_stride, const int16_t* w, int32_t* c, size_t c_stride);

// The int8 variant (dot product instructions): a and w hold int8, otherwise identical.
using StemGemmI8UkernelFn = void (*)(size_t mr, size_t nr, size_t kc, const int8_t* a,
                                     size_t a_stride, const int8_t* w, int32_t* c, size_t c_stride);

struct StemGemmUkernel {
  const char* name = nullptr;
  StemGemmUkernelFn fn = nullptr;     // int16-held A and w
  StemGemmI8UkernelFn fn_i8 = nullptr;  // or int8 A and w (then fn is nullptr)
  int mr = 0;
  int nr = 0;
  int kr = 1;
  const char* isa = nullptr;
};

// Every stem microkernel compiled in and usable on this CPU (for the tester), scalar first.
// (Defined in src/dispatch.cc.)

}  // namespace kbnn
