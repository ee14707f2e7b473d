#pragma once
#include <cstddef>
#include <cstdint>
namespace kbnn {
// Binary GEMM microkernel. For m < mr (mr <= MR) and n < nr (nr <= NR):
//   c[m * c_stride + n] = sum_{k < k_words} popcount(a[m][k] ^ b[n * k_words + k])
// a: mr row pointers, each to k_words contiguous uint32 words (im2col rows or indirection).
// b: a panel of NR packed weight rows, row-major [NR][k_words], rows >= nr zero-filled.
// c: int32 raw popcount accumulators (the caller turns them into dot = K - 2*c).
// k_words >= 1. No alignment is guaranteed for a or b.
using BgemmUkernelFn = void (*)(size_t mr, size_t nr, size_t k_words,
                                const uint32_t* const* a, const uint32_t* b,
                                int32_t* c, size_t c_stride);
struct BgemmUkernel { const char* name; BgemmUkernelFn fn; int mr; int nr; const char* isa; };
}  // namespace kbnn
