// Popcount ceilings on x86-64: tight XOR+popcount loops over L1-resident data.
// Built with -mavx2 -mpopcnt; only called after a CPU check.
#include <immintrin.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

namespace kbnn_bench {

namespace {
constexpr size_t kWords = 2048;  // 8 KiB per operand: L1 resident
}

// Returns binary MACs (bits) per second / 1e9 for `seconds` of XOR + PSHUFB popcount.
double CeilingAvx2(double seconds, uint64_t* sink) {
  alignas(32) static uint32_t a[kWords], b[kWords];
  for (size_t i = 0; i < kWords; ++i) {
    a[i] = static_cast<uint32_t>(i * 2654435761u);
    b[i] = static_cast<uint32_t>(i * 40503u + 7);
  }
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2,
                                       1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i mask = _mm256_set1_epi8(0x0f);
  uint64_t bits = 0;
  __m256i total = _mm256_setzero_si256();
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int rep = 0; rep < 64; ++rep) {
      // 4 independent byte accumulators, flushed every 8 steps (<= 8*8 = 64 per byte).
      for (size_t k = 0; k < kWords; k += 8 * 4 * 8) {
        __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                          _mm256_setzero_si256()};
        for (size_t s = 0; s < 8; ++s) {
          for (int j = 0; j < 4; ++j) {
            const size_t off = k + (s * 4 + j) * 8;
            const __m256i x =
                _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(a + off)),
                                 _mm256_load_si256(reinterpret_cast<const __m256i*>(b + off)));
            const __m256i lo = _mm256_and_si256(x, mask);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
            acc[j] = _mm256_add_epi8(acc[j], _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                                                             _mm256_shuffle_epi8(lut, hi)));
          }
        }
        const __m256i z = _mm256_setzero_si256();
        total =
            _mm256_add_epi64(total, _mm256_add_epi64(_mm256_add_epi64(_mm256_sad_epu8(acc[0], z),
                                                                      _mm256_sad_epu8(acc[1], z)),
                                                     _mm256_add_epi64(_mm256_sad_epu8(acc[2], z),
                                                                      _mm256_sad_epu8(acc[3], z))));
      }
      bits += kWords * 32;
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  alignas(32) uint64_t t[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(t), total);
  *sink += t[0] + t[1] + t[2] + t[3];
  return static_cast<double>(bits) / elapsed / 1e9;
}

// Same with 64-bit scalar POPCNT, 4 independent accumulators.
double CeilingPopcnt(double seconds, uint64_t* sink) {
  static uint64_t a[kWords / 2], b[kWords / 2];
  for (size_t i = 0; i < kWords / 2; ++i) {
    a[i] = i * 0x9E3779B97F4A7C15ull;
    b[i] = i * 0xC2B2AE3D27D4EB4Full + 1;
  }
  uint64_t bits = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int rep = 0; rep < 64; ++rep) {
      for (size_t i = 0; i < kWords / 2; i += 4) {
        s0 += _mm_popcnt_u64(a[i] ^ b[i]);
        s1 += _mm_popcnt_u64(a[i + 1] ^ b[i + 1]);
        s2 += _mm_popcnt_u64(a[i + 2] ^ b[i + 2]);
        s3 += _mm_popcnt_u64(a[i + 3] ^ b[i + 3]);
      }
      bits += kWords * 32;
      __asm__ volatile("" : "+r"(s0), "+r"(s1), "+r"(s2), "+r"(s3));
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  *sink += s0 + s1 + s2 + s3;
  return static_cast<double>(bits) / elapsed / 1e9;
}

}  // namespace kbnn_bench
