// Portable scalar binary GEMM, 2x4 tile. Built WITHOUT -mpopcnt so it runs on any CPU.
#include "bgemm-scalar-impl.h"
#include "ukernels.h"

namespace kbnn {

void kbnn_b32_bgemm_2x4__scalar(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                                const uint32_t* b, int32_t* c, size_t c_stride) {
  ukernel_impl::BgemmScalar<2, 4>(mr, nr, k_words, a, b, c, c_stride);
}

}  // namespace kbnn
