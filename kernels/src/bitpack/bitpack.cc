#include "kbnn/bitpack.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
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

Status QuantizeInt8(const int8_t* input, size_t rows, int channels, int32_t zero_point,
                    uint32_t* output) {
  Status s = CheckRows(input, output, rows, channels, "QuantizeInt8");
  if (!s.ok()) return s;
  if (zero_point < -128 || zero_point > 127) {
    return Status::InvalidArgument("QuantizeInt8: zero_point must be in [-128, 127], got " +
                                   internal::Str(zero_point));
  }
  const size_t words = PackedWords(channels);
  // SSE2 (every x86-64 CPU) packs the full 32-channel words with a byte compare + movemask
  // unless KBNN_KERNEL=reference; the portable loop packs the rest (and everything elsewhere).
  int full = 0;
#if defined(__SSE2__)
  const IsaConfig* config = nullptr;
  if (ResolveKernel(KernelChoice::kAuto, &config).ok() && config != nullptr) {
    full = channels / kBitsPerWord;
  }
  const __m128i zp = _mm_set1_epi8(static_cast<char>(zero_point));
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
