// x86-64 AVX2 binary GEMM, 4x8 tile, "pair streaming" (built with -mavx2 -mpopcnt).
//
// For each A row and each quad of 4 B rows, streams over k with 4 independent byte counters
// (XOR + PSHUFB nibble-LUT popcount, flushed with VPSADBW every <= 31 steps) and reduces the
// quad to 4 int32 with a handful of shuffles. Only ~10 ymm registers are live, so nothing spills,
// and the large tile amortizes the call and reduction overhead for short k (1x1 layers, 3x3x64).
// 8 <= k_words < 40 takes fully unrolled quads (QuadFixed): no loop/flush logic, one VPSADBW per
// B row, and a 1-2 word tail counted by scalar POPCNT packed into one vector insert.
#include <immintrin.h>

#include <cstring>

#include "ukernels.h"

namespace kbnn {
namespace {

inline __m256i PopcountBytes(__m256i x, __m256i lut, __m256i low_mask) {
  const __m256i lo = _mm256_and_si256(x, low_mask);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), low_mask);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

// Sums the four 64-bit lanes of t0..t3 into 4 int32 (t* hold values < 2^32).
inline __m128i Reduce4(__m256i t0, __m256i t1, __m256i t2, __m256i t3) {
  const __m256i x01 = _mm256_or_si256(t0, _mm256_slli_epi64(t1, 32));
  const __m256i x23 = _mm256_or_si256(t2, _mm256_slli_epi64(t3, 32));
  const __m256i z =
      _mm256_add_epi32(_mm256_unpacklo_epi64(x01, x23), _mm256_unpackhi_epi64(x01, x23));
  return _mm_add_epi32(_mm256_castsi256_si128(z), _mm256_extracti128_si256(z, 1));
}

// popcount(a ^ b) of 64-bit words for 4 B rows, as 4 int32 (scalar POPCNT on the integer pipes;
// the four counts (<= 64 each) are packed into one 64-bit register and widened in one step,
// cheaper than four PINSRDs on the vector pipes).
inline __m128i ScalarTail(const uint32_t* a, const uint32_t* b0, const uint32_t* b1,
                          const uint32_t* b2, const uint32_t* b3, size_t k, size_t rem) {
  uint64_t p0, p1, p2, p3;
  if (rem == 2) {
    uint64_t x;
    std::memcpy(&x, a + k, 8);
    auto pc = [&](const uint32_t* p) {
      uint64_t y;
      std::memcpy(&y, p + k, 8);
      return static_cast<uint64_t>(_mm_popcnt_u64(x ^ y));
    };
    p0 = pc(b0), p1 = pc(b1), p2 = pc(b2), p3 = pc(b3);
  } else {
    const uint32_t x = a[k];
    p0 = _mm_popcnt_u32(x ^ b0[k]), p1 = _mm_popcnt_u32(x ^ b1[k]);
    p2 = _mm_popcnt_u32(x ^ b2[k]), p3 = _mm_popcnt_u32(x ^ b3[k]);
  }
  const uint64_t packed = p0 | (p1 << 16) | (p2 << 32) | (p3 << 48);
  return _mm_cvtepu16_epi32(_mm_cvtsi64_si128(static_cast<long long>(packed)));
}

// popcount(a ^ b_j) for j < 4 over k_words = 8 * V + rem words (rem < 8), fully unrolled:
// short k (3x3x64 = 18 words, 1x1x256 = 8 words) is dominated by per-quad overhead, so the
// byte counters start from the first vector, the masked tail (rem > 2) is added before the
// single VPSADBW, and there is no loop or flush logic (bytes stay <= 8 * (V + 1) <= 40).
template <int V, int RK>  // RK: 0 rem == 0, 1 rem in {1, 2} (scalar), 2 rem > 2 (masked vector)
inline __m128i QuadFixed(const uint32_t* a, const uint32_t* b0, const uint32_t* b1,
                         const uint32_t* b2, const uint32_t* b3, size_t rem) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i zero = _mm256_setzero_si256();
  auto ld = [](const uint32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  };
  __m256i va = ld(a);
  __m256i c0 = PopcountBytes(_mm256_xor_si256(va, ld(b0)), lut, low_mask);
  __m256i c1 = PopcountBytes(_mm256_xor_si256(va, ld(b1)), lut, low_mask);
  __m256i c2 = PopcountBytes(_mm256_xor_si256(va, ld(b2)), lut, low_mask);
  __m256i c3 = PopcountBytes(_mm256_xor_si256(va, ld(b3)), lut, low_mask);
  for (int v = 1; v < V; ++v) {
    const size_t k = 8 * static_cast<size_t>(v);
    va = ld(a + k);
    c0 = _mm256_add_epi8(c0, PopcountBytes(_mm256_xor_si256(va, ld(b0 + k)), lut, low_mask));
    c1 = _mm256_add_epi8(c1, PopcountBytes(_mm256_xor_si256(va, ld(b1 + k)), lut, low_mask));
    c2 = _mm256_add_epi8(c2, PopcountBytes(_mm256_xor_si256(va, ld(b2 + k)), lut, low_mask));
    c3 = _mm256_add_epi8(c3, PopcountBytes(_mm256_xor_si256(va, ld(b3 + k)), lut, low_mask));
  }
  constexpr size_t k = 8 * V;
  if (RK == 2) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    auto mld = [&](const uint32_t* p) {
      return _mm256_maskload_epi32(reinterpret_cast<const int*>(p + k), mask);
    };
    const __m256i vt = mld(a);
    c0 = _mm256_add_epi8(c0, PopcountBytes(_mm256_xor_si256(vt, mld(b0)), lut, low_mask));
    c1 = _mm256_add_epi8(c1, PopcountBytes(_mm256_xor_si256(vt, mld(b1)), lut, low_mask));
    c2 = _mm256_add_epi8(c2, PopcountBytes(_mm256_xor_si256(vt, mld(b2)), lut, low_mask));
    c3 = _mm256_add_epi8(c3, PopcountBytes(_mm256_xor_si256(vt, mld(b3)), lut, low_mask));
  }
  __m128i r = Reduce4(_mm256_sad_epu8(c0, zero), _mm256_sad_epu8(c1, zero),
                      _mm256_sad_epu8(c2, zero), _mm256_sad_epu8(c3, zero));
  if (RK == 1) r = _mm_add_epi32(r, ScalarTail(a, b0, b1, b2, b3, k, rem));
  return r;
}

// popcount(a ^ b_j) for j < 4 over k_words words (any k_words; used for k_words < 8 or >= 40).
inline __m128i Quad(const uint32_t* a, const uint32_t* b0, const uint32_t* b1, const uint32_t* b2,
                    const uint32_t* b3, size_t k_words) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i zero = _mm256_setzero_si256();
  __m256i t0 = zero, t1 = zero, t2 = zero, t3 = zero;
  size_t k = 0;
  size_t vectors = k_words / 8;
  const size_t rem = k_words % 8;
  while (vectors != 0) {
    size_t steps = vectors < 31 ? vectors : 31;
    vectors -= steps;
    __m256i c0 = zero, c1 = zero, c2 = zero, c3 = zero;
    for (; steps != 0; --steps, k += 8) {
      const __m256i va = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k));
      c0 = _mm256_add_epi8(
          c0, PopcountBytes(_mm256_xor_si256(va, _mm256_loadu_si256(
                                                     reinterpret_cast<const __m256i*>(b0 + k))),
                            lut, low_mask));
      c1 = _mm256_add_epi8(
          c1, PopcountBytes(_mm256_xor_si256(va, _mm256_loadu_si256(
                                                     reinterpret_cast<const __m256i*>(b1 + k))),
                            lut, low_mask));
      c2 = _mm256_add_epi8(
          c2, PopcountBytes(_mm256_xor_si256(va, _mm256_loadu_si256(
                                                     reinterpret_cast<const __m256i*>(b2 + k))),
                            lut, low_mask));
      c3 = _mm256_add_epi8(
          c3, PopcountBytes(_mm256_xor_si256(va, _mm256_loadu_si256(
                                                     reinterpret_cast<const __m256i*>(b3 + k))),
                            lut, low_mask));
    }
    t0 = _mm256_add_epi64(t0, _mm256_sad_epu8(c0, zero));
    t1 = _mm256_add_epi64(t1, _mm256_sad_epu8(c1, zero));
    t2 = _mm256_add_epi64(t2, _mm256_sad_epu8(c2, zero));
    t3 = _mm256_add_epi64(t3, _mm256_sad_epu8(c3, zero));
  }
  if (rem > 2) {
    // One masked vector (masked-off lanes are not read and load as 0).
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rem)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    auto ld = [&](const uint32_t* p) {
      return _mm256_maskload_epi32(reinterpret_cast<const int*>(p + k), mask);
    };
    const __m256i va = ld(a);
    t0 = _mm256_add_epi64(
        t0, _mm256_sad_epu8(PopcountBytes(_mm256_xor_si256(va, ld(b0)), lut, low_mask), zero));
    t1 = _mm256_add_epi64(
        t1, _mm256_sad_epu8(PopcountBytes(_mm256_xor_si256(va, ld(b1)), lut, low_mask), zero));
    t2 = _mm256_add_epi64(
        t2, _mm256_sad_epu8(PopcountBytes(_mm256_xor_si256(va, ld(b2)), lut, low_mask), zero));
    t3 = _mm256_add_epi64(
        t3, _mm256_sad_epu8(PopcountBytes(_mm256_xor_si256(va, ld(b3)), lut, low_mask), zero));
  }
  __m128i r = Reduce4(t0, t1, t2, t3);
  if (rem != 0 && rem <= 2) {
    // Scalar POPCNT tail (integer pipes).
    if (rem == 2) {
      uint64_t x;
      std::memcpy(&x, a + k, 8);
      auto pc = [&](const uint32_t* p) {
        uint64_t y;
        std::memcpy(&y, p + k, 8);
        return static_cast<int>(_mm_popcnt_u64(x ^ y));
      };
      r = _mm_add_epi32(r, _mm_setr_epi32(pc(b0), pc(b1), pc(b2), pc(b3)));
    } else {
      const uint32_t x = a[k];
      r = _mm_add_epi32(r, _mm_setr_epi32(_mm_popcnt_u32(x ^ b0[k]), _mm_popcnt_u32(x ^ b1[k]),
                                          _mm_popcnt_u32(x ^ b2[k]), _mm_popcnt_u32(x ^ b3[k])));
    }
  }
  return r;
}

// The 4x8 tile: for each A row, whole quads of B rows (rows nr..7 of the panel are zero-filled by
// contract), storing only the nr valid columns.
template <class QuadFn>
inline void Tile(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a, const uint32_t* b,
                 int32_t* c, size_t c_stride, QuadFn quad) {
  const size_t quads = (nr + 3) / 4;
  for (size_t m = 0; m < mr; ++m) {
    int32_t* cm = c + m * c_stride;
    for (size_t q = 0; q < quads; ++q) {
      const uint32_t* bq = b + 4 * q * k_words;
      const __m128i r = quad(a[m], bq, bq + k_words, bq + 2 * k_words, bq + 3 * k_words);
      const size_t n = nr - 4 * q;
      if (n >= 4) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(cm + 4 * q), r);
      } else {
        alignas(16) int32_t tmp[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), r);
        for (size_t j = 0; j < n; ++j) cm[4 * q + j] = tmp[j];
      }
    }
  }
}

// Out of line per (V, RK) so that the generic path below keeps its own register allocation.
template <int V, int RK>
__attribute__((noinline)) void TileFixed(size_t mr, size_t nr, size_t k_words,
                                         const uint32_t* const* a, const uint32_t* b, int32_t* c,
                                         size_t c_stride) {
  const size_t rem = k_words % 8;
  Tile(mr, nr, k_words, a, b, c, c_stride,
       [rem](const uint32_t* x, const uint32_t* b0, const uint32_t* b1, const uint32_t* b2,
             const uint32_t* b3) { return QuadFixed<V, RK>(x, b0, b1, b2, b3, rem); });
}

// k_words == 8 (1x1 layers with 256 channels): one vector per (A row, B row), so the 4 VPSADBWs
// and the reduction of a quad cost as much as the popcounts. Instead, each quad of B rows is
// transposed once per call into 4 vectors of 64-bit chunks [b0 | b1 | b2 | b3] (reused by the
// mr A rows); each A chunk is broadcast, and one VPSADBW yields the 4 sums of the quad directly.
__attribute__((noinline)) void Tile8(size_t mr, size_t nr, const uint32_t* const* a,
                                     const uint32_t* b, int32_t* c, size_t c_stride) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  auto ld = [](const uint32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  };
  auto bc = [](const uint32_t* p) {
    long long x;
    std::memcpy(&x, p, 8);
    return _mm256_set1_epi64x(x);
  };
  const size_t quads = (nr + 3) / 4;
  for (size_t q = 0; q < quads; ++q) {
    const uint32_t* bq = b + 32 * q;
    const __m256i r0 = ld(bq), r1 = ld(bq + 8), r2 = ld(bq + 16), r3 = ld(bq + 24);
    const __m256i lo01 = _mm256_unpacklo_epi64(r0, r1), hi01 = _mm256_unpackhi_epi64(r0, r1);
    const __m256i lo23 = _mm256_unpacklo_epi64(r2, r3), hi23 = _mm256_unpackhi_epi64(r2, r3);
    const __m256i v0 = _mm256_permute2x128_si256(lo01, lo23, 0x20);  // words 0-1 of b0..b3
    const __m256i v1 = _mm256_permute2x128_si256(hi01, hi23, 0x20);  // words 2-3
    const __m256i v2 = _mm256_permute2x128_si256(lo01, lo23, 0x31);  // words 4-5
    const __m256i v3 = _mm256_permute2x128_si256(hi01, hi23, 0x31);  // words 6-7
    const size_t n = nr - 4 * q;
    for (size_t m = 0; m < mr; ++m) {
      const uint32_t* x = a[m];
      __m256i cnt = PopcountBytes(_mm256_xor_si256(bc(x), v0), lut, low_mask);
      cnt = _mm256_add_epi8(cnt, PopcountBytes(_mm256_xor_si256(bc(x + 2), v1), lut, low_mask));
      cnt = _mm256_add_epi8(cnt, PopcountBytes(_mm256_xor_si256(bc(x + 4), v2), lut, low_mask));
      cnt = _mm256_add_epi8(cnt, PopcountBytes(_mm256_xor_si256(bc(x + 6), v3), lut, low_mask));
      const __m128i r =
          _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_sad_epu8(cnt, zero), even));
      int32_t* cm = c + m * c_stride + 4 * q;
      if (n >= 4) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(cm), r);
      } else {
        alignas(16) int32_t tmp[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), r);
        for (size_t j = 0; j < n; ++j) cm[j] = tmp[j];
      }
    }
  }
}

template <int V>
inline void TileFixedV(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                       const uint32_t* b, int32_t* c, size_t c_stride) {
  const size_t rem = k_words % 8;
  if (rem == 0) {
    TileFixed<V, 0>(mr, nr, k_words, a, b, c, c_stride);
  } else if (rem <= 2) {
    TileFixed<V, 1>(mr, nr, k_words, a, b, c, c_stride);
  } else {
    TileFixed<V, 2>(mr, nr, k_words, a, b, c, c_stride);
  }
}

}  // namespace

void kbnn_b32_bgemm_4x8__avx2(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                              const uint32_t* b, int32_t* c, size_t c_stride) {
  // 8 <= k_words < 40 (1x1 layers with 256..1279 channels, 3x3x64, 3x3x128): unrolled quads.
  if (k_words == 8) return Tile8(mr, nr, a, b, c, c_stride);
  switch (k_words / 8) {
    case 1: return TileFixedV<1>(mr, nr, k_words, a, b, c, c_stride);
    case 2: return TileFixedV<2>(mr, nr, k_words, a, b, c, c_stride);
    case 3: return TileFixedV<3>(mr, nr, k_words, a, b, c, c_stride);
    case 4: return TileFixedV<4>(mr, nr, k_words, a, b, c, c_stride);
    default: break;
  }
  // B rows nr..7 of the panel are zero-filled by contract, so whole quads can be computed.
  const size_t quads = (nr + 3) / 4;
  for (size_t m = 0; m < mr; ++m) {
    int32_t* cm = c + m * c_stride;
    for (size_t q = 0; q < quads; ++q) {
      const uint32_t* bq = b + 4 * q * k_words;
      const __m128i r = Quad(a[m], bq, bq + k_words, bq + 2 * k_words, bq + 3 * k_words, k_words);
      const size_t n = nr - 4 * q;
      if (n >= 4) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(cm + 4 * q), r);
      } else {
        alignas(16) int32_t tmp[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), r);
        for (size_t j = 0; j < n; ++j) cm[4 * q + j] = tmp[j];
      }
    }
  }
}

}  // namespace kbnn
