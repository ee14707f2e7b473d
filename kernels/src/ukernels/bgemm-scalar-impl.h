#pragma once
// Portable MR x NR binary GEMM tile with 64-bit popcounts. Included by the scalar and popcnt
// microkernel files, which compile it with different flags (the scalar one without -mpopcnt).
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace kbnn {
namespace ukernel_impl {

template <int MR, int NR>
inline void BgemmScalar(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                        const uint32_t* b, int32_t* c, size_t c_stride) {
  const uint32_t* ap[MR];
  for (int m = 0; m < MR; ++m) ap[m] = a[static_cast<size_t>(m) < mr ? m : mr - 1];
  const uint32_t* bp[NR];
  for (int n = 0; n < NR; ++n) bp[n] = b + n * k_words;
  uint32_t acc[MR][NR] = {};
  size_t k = 0;
  for (; k + 2 <= k_words; k += 2) {
    uint64_t va[MR];
    for (int m = 0; m < MR; ++m) std::memcpy(&va[m], ap[m] + k, sizeof(uint64_t));
    for (int n = 0; n < NR; ++n) {
      uint64_t vb;
      std::memcpy(&vb, bp[n] + k, sizeof(uint64_t));
      for (int m = 0; m < MR; ++m) acc[m][n] += __builtin_popcountll(va[m] ^ vb);
    }
  }
  if (k < k_words) {
    for (int n = 0; n < NR; ++n) {
      for (int m = 0; m < MR; ++m) acc[m][n] += __builtin_popcount(ap[m][k] ^ bp[n][k]);
    }
  }
  for (size_t m = 0; m < mr; ++m) {
    for (size_t n = 0; n < nr; ++n) c[m * c_stride + n] = static_cast<int32_t>(acc[m][n]);
  }
}

}  // namespace ukernel_impl
}  // namespace kbnn
