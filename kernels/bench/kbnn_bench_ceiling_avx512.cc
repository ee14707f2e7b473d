// AVX-512 popcount ceiling: XOR + VPOPCNTQ + VPADDQ over L1-resident data with a 4x4 register
// tile (4 A rows x 4 B rows, 16 zmm accumulators, K = 4608 bits = the 3x3x512 layer's dot
// length), the horizontal reduction done once per tile. Built with -mavx512f -mavx512vpopcntdq;
// only called after a CPU check.
#include <immintrin.h>

#include <chrono>
#include <cstdint>

namespace kbnn_bench {

namespace {
constexpr int kVectors = 9;  // 9 x 512 bits = 4608 bits per row
}

double CeilingAvx512(double seconds, uint64_t* sink) {
  alignas(64) static uint64_t a[4][kVectors * 8], b[4][kVectors * 8];
  for (int r = 0; r < 4; ++r) {
    for (int i = 0; i < kVectors * 8; ++i) {
      a[r][i] = (i + 1 + 97 * r) * 0x9E3779B97F4A7C15ull;
      b[r][i] = (i + 7 + 31 * r) * 0xC2B2AE3D27D4EB4Full;
    }
  }
  uint64_t bits = 0;
  __m512i total = _mm512_setzero_si512();
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int rep = 0; rep < 256; ++rep) {
      __asm__ volatile("" : : : "memory");  // the data may change: no hoisting out of `rep`
      __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00,
              c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00,
              c31 = c00, c32 = c00, c33 = c00;
      for (int v = 0; v < kVectors; ++v) {
        const __m512i a0 = _mm512_load_si512(a[0] + 8 * v), a1 = _mm512_load_si512(a[1] + 8 * v);
        const __m512i a2 = _mm512_load_si512(a[2] + 8 * v), a3 = _mm512_load_si512(a[3] + 8 * v);
        const __m512i b0 = _mm512_load_si512(b[0] + 8 * v), b1 = _mm512_load_si512(b[1] + 8 * v);
        const __m512i b2 = _mm512_load_si512(b[2] + 8 * v), b3 = _mm512_load_si512(b[3] + 8 * v);
#define KBNN_CEIL_STEP(m, n) \
  c##m##n = _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_xor_si512(a##m, b##n)), c##m##n);
        KBNN_CEIL_STEP(0, 0)
        KBNN_CEIL_STEP(0, 1)
        KBNN_CEIL_STEP(0, 2)
        KBNN_CEIL_STEP(0, 3)
        KBNN_CEIL_STEP(1, 0)
        KBNN_CEIL_STEP(1, 1)
        KBNN_CEIL_STEP(1, 2)
        KBNN_CEIL_STEP(1, 3)
        KBNN_CEIL_STEP(2, 0)
        KBNN_CEIL_STEP(2, 1)
        KBNN_CEIL_STEP(2, 2)
        KBNN_CEIL_STEP(2, 3)
        KBNN_CEIL_STEP(3, 0)
        KBNN_CEIL_STEP(3, 1)
        KBNN_CEIL_STEP(3, 2)
        KBNN_CEIL_STEP(3, 3)
#undef KBNN_CEIL_STEP
      }
      // Once per tile: fold the 16 accumulators (the per-output reduction a real kernel pays).
      const __m512i s0 = _mm512_add_epi64(_mm512_add_epi64(c00, c01), _mm512_add_epi64(c02, c03));
      const __m512i s1 = _mm512_add_epi64(_mm512_add_epi64(c10, c11), _mm512_add_epi64(c12, c13));
      const __m512i s2 = _mm512_add_epi64(_mm512_add_epi64(c20, c21), _mm512_add_epi64(c22, c23));
      const __m512i s3 = _mm512_add_epi64(_mm512_add_epi64(c30, c31), _mm512_add_epi64(c32, c33));
      total = _mm512_add_epi64(total, _mm512_add_epi64(_mm512_add_epi64(s0, s1),
                                                       _mm512_add_epi64(s2, s3)));
      bits += 16ull * kVectors * 512;
      __asm__ volatile("" : "+v"(total));
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  alignas(64) uint64_t t[8];
  _mm512_store_si512(t, total);
  for (uint64_t x : t) *sink += x;
  return static_cast<double>(bits) / elapsed / 1e9;
}

}  // namespace kbnn_bench
