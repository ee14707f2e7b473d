#include "kbnn/bitpack.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "common.h"
#include "kbnn/dispatch.h"

namespace kbnn {
namespace {

Status CheckRows(const void* in, const void* out, size_t rows, int channels, const char* what) {
  if (in == nullptr || out == nullptr) {
    return Status::InvalidArgument(std::string(what) + ": null input or output pointer");
  }
  if (channels <= 0) {
    return Status::InvalidArgument(std::string(what) + ": channels must be >= 1, got " +
                                   internal::Str(channels));
  }
  size_t n;
  if (!internal::CheckedMul(rows, static_cast<size_t>(channels), &n)) {
    return Status::InvalidArgument(std::string(what) + ": rows * channels overflows");
  }
  return Status::Ok();
}

// Packs one row; Pred(i) says whether value i is negative (-> bit 1).
template <class Pred>
inline void PackRow(int channels, uint32_t* out, Pred negative) {
  const int words = PackedWords(channels);
  for (int w = 0; w < words; ++w) {
    const int base = w * kBitsPerWord;
    const int n = channels - base < kBitsPerWord ? channels - base : kBitsPerWord;
    uint32_t bits = 0;
    for (int b = 0; b < n; ++b) bits |= static_cast<uint32_t>(negative(base + b)) << b;
    out[w] = bits;
  }
}

}  // namespace

Status QuantizeFloat(const float* input, size_t rows, int channels, uint32_t* output) {
  Status s = CheckRows(input, output, rows, channels, "QuantizeFloat");
  if (!s.ok()) return s;
  // The ISA's bitpacking microkernel (if any) packs the full 32-channel words of each row;
  // the portable loop packs the rest (and everything under KBNN_KERNEL=reference|scalar).
  const IsaConfig* config = nullptr;
  F32BitpackUkernelFn fast = nullptr;
  if (ResolveKernel(KernelChoice::kAuto, &config).ok() && config != nullptr) {
    fast = config->bitpack_f32;
  }
  const size_t words = PackedWords(channels);
  const int full = fast != nullptr ? channels / kBitsPerWord : 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* x = input + r * channels;
    uint32_t* out = output + r * words;
    if (full > 0) fast(static_cast<size_t>(full), x, out);
    const int done = full * kBitsPerWord;
    if (done < channels) {
      const float* rest = x + done;
      PackRow(channels - done, out + full, [rest](int i) { return rest[i] < 0.0f; });
    }
  }
  return Status::Ok();
}

Status QuantizeFloatThreshold(const float* input, size_t rows, int channels,
                              const float* thresholds, uint32_t* output) {
  Status s = CheckRows(input, output, rows, channels, "QuantizeFloatThreshold");
  if (!s.ok()) return s;
  if (thresholds == nullptr) {
    return Status::InvalidArgument(
        "QuantizeFloatThreshold: null thresholds pointer (pass one float per channel)");
  }
  // The ISA's microkernel packs each row's full 32-channel words; the portable loop packs the
  // tail word (and everything under KBNN_KERNEL=reference).
  const IsaConfig* config = nullptr;
  F32BitpackThresholdUkernelFn fast = nullptr;
  if (ResolveKernel(KernelChoice::kAuto, &config).ok() && config != nullptr) {
    fast = config->bitpack_f32_threshold;
  }
  const size_t words = PackedWords(channels);
  const int full = fast != nullptr ? channels / kBitsPerWord : 0;
  const int done = full * kBitsPerWord;
  const float* t = thresholds + done;
  for (size_t r = 0; r < rows; ++r) {
    const float* x = input + r * channels;
    uint32_t* out = output + r * words;
    if (full > 0) fast(static_cast<size_t>(full), x, thresholds, out);
    if (done < channels) {
      const float* rest = x + done;
      PackRow(channels - done, out + full, [rest, t](int i) { return rest[i] < t[i]; });
    }
  }
  return Status::Ok();
}

Status QuantizeInt8Threshold(const int8_t* input, size_t rows, int channels,
                             const int32_t* thresholds, uint32_t* output) {
  Status s = CheckRows(input, output, rows, channels, "QuantizeInt8Threshold");
  if (!s.ok()) return s;
  if (thresholds == nullptr) {
    return Status::InvalidArgument(
        "QuantizeInt8Threshold: null thresholds pointer (pass one int32 per channel)");
  }
  const size_t words = PackedWords(channels);
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* x = input + r * channels;
    PackRow(channels, output + r * words,
            [x, thresholds](int i) { return static_cast<int32_t>(x[i]) < thresholds[i]; });
  }
  return Status::Ok();
}

Status QuantizeInt8(const int8_t* input, size_t rows, int channels, int32_t zero_point,
                    uint32_t* output) {
  Status s = CheckRows(input, output, rows, channels, "QuantizeInt8");
  if (!s.ok()) return s;
  if (zero_point < -128 || zero_point > 127) {
    return Status::InvalidArgument("QuantizeInt8: zero_point must be in [-128, 127], got " +
                                   internal::Str(zero_point));
  }
  const size_t words = PackedWords(channels);
  // SSE2 (every x86-64 CPU) packs the full 32-channel words with a byte compare + movemask,
  // AArch64 NEON (baseline there) with a byte compare, bit weights and pairwise adds, unless
  // KBNN_KERNEL=reference; the portable loop packs the rest (and everything elsewhere).
  int full = 0;
#if defined(__SSE2__) || defined(__aarch64__)
  const IsaConfig* config = nullptr;
  if (ResolveKernel(KernelChoice::kAuto, &config).ok() && config != nullptr) {
    full = channels / kBitsPerWord;
  }
#endif
#if defined(__SSE2__)
  const __m128i zp = _mm_set1_epi8(static_cast<char>(zero_point));
#elif defined(__aarch64__)
  const int8x16_t zp = vdupq_n_s8(static_cast<int8_t>(zero_point));
  static const uint8_t kWeights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t weights = vld1q_u8(kWeights);
#endif
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* x = input + r * channels;
    uint32_t* out = output + r * words;
#if defined(__SSE2__)
    for (int w = 0; w < full; ++w) {
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + w * kBitsPerWord));
      const __m128i hi =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + w * kBitsPerWord + 16));
      const uint32_t bits_lo = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmplt_epi8(lo, zp)));
      const uint32_t bits_hi = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmplt_epi8(hi, zp)));
      out[w] = bits_lo | (bits_hi << 16);
    }
#elif defined(__aarch64__)
    for (int w = 0; w < full; ++w) {
      const int8_t* p = x + w * kBitsPerWord;
      const uint8x16_t lo = vandq_u8(vcltq_s8(vld1q_s8(p), zp), weights);
      const uint8x16_t hi = vandq_u8(vcltq_s8(vld1q_s8(p + 16), zp), weights);
      uint8x16_t sum = vpaddq_u8(lo, hi);  // byte j: channels 2j, 2j + 1
      sum = vpaddq_u8(sum, sum);           // byte j < 8: channels 4j..4j+3
      sum = vpaddq_u8(sum, sum);           // byte j < 4: channels 8j..8j+7
      const uint32_t bits = vgetq_lane_u32(vreinterpretq_u32_u8(sum), 0);
      std::memcpy(out + w, &bits, sizeof(bits));
    }
#endif
    const int done = full * kBitsPerWord;
    if (done < channels) {
      const int8_t* rest = x + done;
      PackRow(channels - done, out + full,
              [rest, zero_point](int i) { return static_cast<int32_t>(rest[i]) < zero_point; });
    }
  }
  return Status::Ok();
}

Status Dequantize(const uint32_t* input, size_t rows, int channels, float* output) {
  Status s = CheckRows(input, output, rows, channels, "Dequantize");
  if (!s.ok()) return s;
  const size_t words = PackedWords(channels);
  for (size_t r = 0; r < rows; ++r) {
    const uint32_t* px = input + r * words;
    float* y = output + r * channels;
    for (int c = 0; c < channels; ++c) y[c] = PackedBit(px, c) ? -1.0f : 1.0f;
  }
  return Status::Ok();
}

Status PackedFilterWords(int channels_out, int filter_height, int filter_width,
                         int channels_in_per_group, size_t* words) {
  *words = 0;
  if (channels_out <= 0 || filter_height <= 0 || filter_width <= 0 || channels_in_per_group <= 0) {
    return Status::InvalidArgument(
        "PackFilters: all dimensions must be >= 1, got channels_out=" +
        internal::Str(channels_out) + " filter_height=" + internal::Str(filter_height) +
        " filter_width=" + internal::Str(filter_width) +
        " channels_in_per_group=" + internal::Str(channels_in_per_group));
  }
  size_t n;
  if (!internal::CheckedProduct({channels_out, filter_height, filter_width, channels_in_per_group},
                                &n) ||
      !internal::CheckedProduct({channels_out, filter_height, filter_width,
                                 PackedWords(channels_in_per_group)},
                                words)) {
    return Status::InvalidArgument("PackFilters: filter size overflows");
  }
  return Status::Ok();
}

Status PackFilters(const float* ohwi, int channels_out, int filter_height, int filter_width,
                   int channels_in_per_group, uint32_t* output) {
  size_t words;
  Status s =
      PackedFilterWords(channels_out, filter_height, filter_width, channels_in_per_group, &words);
  if (!s.ok()) return s;
  if (ohwi == nullptr || output == nullptr) {
    return Status::InvalidArgument("PackFilters: null input or output pointer");
  }
  const size_t taps = static_cast<size_t>(channels_out) * filter_height * filter_width;
  return QuantizeFloat(ohwi, taps, channels_in_per_group, output);
}

}  // namespace kbnn
