// x86-64 binary GEMM with the scalar POPCNT instruction (built with -mpopcnt), 2x4 tile.
// Used for short reductions (few k words), where vector setup and reduction do not pay off.
#include "bgemm-scalar-impl.h"
#include "ukernels.h"

namespace kbnn {

void kbnn_b32_bgemm_2x4__popcnt(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                                const uint32_t* b, int32_t* c, size_t c_stride) {
  ukernel_impl::BgemmScalar<2, 4>(mr, nr, k_words, a, b, c, c_stride);
}

}  // namespace kbnn
