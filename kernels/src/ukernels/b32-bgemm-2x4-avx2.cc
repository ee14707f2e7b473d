// x86-64 AVX2 binary GEMM, 2x4 tile (built with -mavx2 -mpopcnt).
//
// Per 256-bit chunk of k: XOR, then a PSHUFB nibble-LUT popcount into byte accumulators (at most
// 8 per byte per step, flushed with VPSADBW into 64-bit lanes every <= 31 steps). A tail of
// <= 2 words is done with scalar 64-bit POPCNT (integer pipes, in parallel with the vector ones);
// a longer tail with one masked vector load (measured faster than scalar for 3..7 words).
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
  const __m256i z = _mm256_add_epi32(_mm256_unpacklo_epi64(x01, x23),
                                     _mm256_unpackhi_epi64(x01, x23));
  return _mm_add_epi32(_mm256_castsi256_si128(z), _mm256_extracti128_si256(z, 1));
}

// Byte-wise popcounts of a[m][k0 + 8 * s] ^ b[n][k0 + 8 * s] for `steps` (<= 31) full vectors,
// plus an optional masked vector of `masked` (< 8) words, summed into cnt (<= 8 per byte/step).
template <int MR, int NR>
inline void CountBytes(const uint32_t* const* ap, const uint32_t* const* bp, size_t k,
                       size_t steps, size_t masked, __m256i (&cnt)[MR][NR]) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) cnt[m][n] = _mm256_setzero_si256();
  for (; steps != 0; --steps, k += 8) {
    __m256i va[MR];
    for (int m = 0; m < MR; ++m)
      va[m] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ap[m] + k));
    for (int n = 0; n < NR; ++n) {
      const __m256i vb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp[n] + k));
      for (int m = 0; m < MR; ++m) {
        cnt[m][n] = _mm256_add_epi8(
            cnt[m][n], PopcountBytes(_mm256_xor_si256(va[m], vb), lut, low_mask));
      }
    }
  }
  if (masked != 0) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(masked)),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256i va[MR];
    for (int m = 0; m < MR; ++m)
      va[m] = _mm256_maskload_epi32(reinterpret_cast<const int*>(ap[m] + k), mask);
    for (int n = 0; n < NR; ++n) {
      const __m256i vb = _mm256_maskload_epi32(reinterpret_cast<const int*>(bp[n] + k), mask);
      for (int m = 0; m < MR; ++m) {
        cnt[m][n] = _mm256_add_epi8(
            cnt[m][n], PopcountBytes(_mm256_xor_si256(va[m], vb), lut, low_mask));
      }
    }
  }
}

// Scalar 64-bit POPCNT over `words` (<= 2) words at k: runs on the integer pipes.
template <int MR, int NR>
inline void CountTail(const uint32_t* const* ap, const uint32_t* const* bp, size_t k,
                      size_t words, int32_t (&tail)[MR][NR]) {
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) tail[m][n] = 0;
  for (size_t j = 0; j + 2 <= words; j += 2) {
    uint64_t sa[MR];
    for (int m = 0; m < MR; ++m) std::memcpy(&sa[m], ap[m] + k + j, 8);
    for (int n = 0; n < NR; ++n) {
      uint64_t sb;
      std::memcpy(&sb, bp[n] + k + j, 8);
      for (int m = 0; m < MR; ++m) tail[m][n] += static_cast<int32_t>(_mm_popcnt_u64(sa[m] ^ sb));
    }
  }
  if (words & 1) {
    const size_t j = k + words - 1;
    for (int n = 0; n < NR; ++n)
      for (int m = 0; m < MR; ++m) tail[m][n] += _mm_popcnt_u32(ap[m][j] ^ bp[n][j]);
  }
}

template <int MR, int NR>
inline void Store(size_t mr, size_t nr, const __m128i (&r)[MR][NR / 4], int32_t* c,
                  size_t c_stride) {
  for (int m = 0; m < MR; ++m) {
    if (static_cast<size_t>(m) >= mr) break;
    int32_t* cm = c + m * c_stride;
    for (int q = 0; q < NR / 4; ++q) {
      if (static_cast<size_t>(4 * q + 4) <= nr) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(cm + 4 * q), r[m][q]);
      } else {
        alignas(16) int32_t tmp[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp), r[m][q]);
        for (size_t n = 4 * q; n < nr; ++n) cm[n] = tmp[n - 4 * q];
        break;
      }
    }
  }
}

template <int MR, int NR>
inline void BgemmAvx2(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                      const uint32_t* b, int32_t* c, size_t c_stride) {
  static_assert(NR % 4 == 0, "NR must be a multiple of 4");
  const uint32_t* ap[MR];
  for (int m = 0; m < MR; ++m) ap[m] = a[static_cast<size_t>(m) < mr ? m : mr - 1];
  const uint32_t* bp[NR];
  for (int n = 0; n < NR; ++n) bp[n] = b + n * k_words;
  const __m256i zero = _mm256_setzero_si256();

  const size_t vectors = k_words / 8;
  const size_t rem = k_words % 8;
  const size_t masked = rem > 2 ? rem : 0;   // one masked vector
  const size_t scalar = rem > 2 ? 0 : rem;   // or <= 2 words with scalar POPCNT
  __m128i r[MR][NR / 4];
  if (vectors + (masked != 0) <= 31) {
    // Short reduction (k_words < 248): one pass, byte counters never overflow.
    __m256i cnt[MR][NR];
    CountBytes<MR, NR>(ap, bp, 0, vectors, masked, cnt);
    for (int m = 0; m < MR; ++m)
      for (int q = 0; q < NR / 4; ++q)
        r[m][q] = Reduce4(_mm256_sad_epu8(cnt[m][4 * q], zero),
                          _mm256_sad_epu8(cnt[m][4 * q + 1], zero),
                          _mm256_sad_epu8(cnt[m][4 * q + 2], zero),
                          _mm256_sad_epu8(cnt[m][4 * q + 3], zero));
  } else {
    // Long reduction: flush the byte counters every 31 steps into 64-bit sums kept in memory.
    alignas(32) uint64_t total[MR][NR][4] = {};
    size_t k = 0, left = vectors;
    while (left != 0 || masked != 0) {
      const size_t steps = left < 31 ? left : 31;
      left -= steps;
      const size_t msk = left == 0 && steps < 31 ? masked : 0;
      __m256i cnt[MR][NR];
      CountBytes<MR, NR>(ap, bp, k, steps, msk, cnt);
      k += 8 * steps;
      for (int m = 0; m < MR; ++m)
        for (int n = 0; n < NR; ++n) {
          __m256i* t = reinterpret_cast<__m256i*>(total[m][n]);
          _mm256_store_si256(t, _mm256_add_epi64(_mm256_load_si256(t),
                                                 _mm256_sad_epu8(cnt[m][n], zero)));
        }
      if (msk != 0 || (left == 0 && masked == 0)) break;
    }
    auto t = [&](int m, int n) {
      return _mm256_load_si256(reinterpret_cast<const __m256i*>(total[m][n]));
    };
    for (int m = 0; m < MR; ++m)
      for (int q = 0; q < NR / 4; ++q)
        r[m][q] = Reduce4(t(m, 4 * q), t(m, 4 * q + 1), t(m, 4 * q + 2), t(m, 4 * q + 3));
  }
  if (scalar != 0) {
    int32_t tail[MR][NR];
    CountTail<MR, NR>(ap, bp, 8 * vectors, scalar, tail);
    for (int m = 0; m < MR; ++m)
      for (int q = 0; q < NR / 4; ++q)
        r[m][q] = _mm_add_epi32(r[m][q], _mm_loadu_si128(reinterpret_cast<const __m128i*>(&tail[m][4 * q])));
  }
  Store<MR, NR>(mr, nr, r, c, c_stride);
}

}  // namespace

void kbnn_b32_bgemm_2x4__avx2(size_t mr, size_t nr, size_t k_words, const uint32_t* const* a,
                              const uint32_t* b, int32_t* c, size_t c_stride) {
  BgemmAvx2<2, 4>(mr, nr, k_words, a, b, c, c_stride);
}

}  // namespace kbnn

