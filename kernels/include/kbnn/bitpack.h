#pragma once
// Quantize (bitpack) and dequantize. Tensors are seen as `rows` pixels of `channels` values
// (NHWC flattened: rows = N * H * W); every row packs into PackedWords(channels) words.
#include <cstddef>
#include <cstdint>

#include "kbnn/status.h"
#include "kbnn/types.h"

namespace kbnn {

// bit = (x < 0): sign(0) = +1, -0.0f -> +1, NaN -> +1.
Status QuantizeFloat(const float* input, size_t rows, int channels, uint32_t* output);

// int8 x is treated as sign(x - zero_point): bit = (x < zero_point).
Status QuantizeInt8(const int8_t* input, size_t rows, int channels, int32_t zero_point,
                    uint32_t* output);

// Per-channel thresholds (ReActNet's RSign, Liu et al., ECCV 2020, arXiv:2003.03488: the sign of
// x - alpha_c with a learned shift alpha_c per channel): bit c of each row = (x[c] <
// thresholds[c]), an ordered compare (NaN in x or in the threshold gives 0, i.e. +1; -0.0f < +0.0f
// is false). thresholds: `channels` values, shared by every row. Any channel count (the last word
// of a row is zero-padded above the channels). Errors name the bad argument (null pointers,
// channels < 1, overflow). The full words use the ISA's bitpack_f32_threshold microkernel
// (KBNN_KERNEL picks it; "reference" runs the portable loop).
Status QuantizeFloatThreshold(const float* input, size_t rows, int channels,
                              const float* thresholds, uint32_t* output);

// Int8 with per-channel integer thresholds in the quantized domain: bit c = (q[c] < thresholds[c]).
// A threshold <= -128 gives 0 and one >= 128 gives 1 for every q (any int32 is accepted).
Status QuantizeInt8Threshold(const int8_t* input, size_t rows, int channels,
                             const int32_t* thresholds, uint32_t* output);

// Packed -> float +1.0f / -1.0f.
Status Dequantize(const uint32_t* input, size_t rows, int channels, float* output);

// Packs float filters OHWI [channels_out, filter_height, filter_width, channels_in_per_group]
// into the bconv2d layout [channels_out, filter_height, filter_width,
// PackedWords(channels_in_per_group)] (bit = w < 0).
Status PackFilters(const float* ohwi, int channels_out, int filter_height, int filter_width,
                   int channels_in_per_group, uint32_t* output);

// Number of uint32 words of PackFilters' output (0 and an error for bad/overflowing shapes).
Status PackedFilterWords(int channels_out, int filter_height, int filter_width,
                         int channels_in_per_group, size_t* words);

// Reads one channel bit of a packed pixel (helper for tests and reference code).
inline bool PackedBit(const uint32_t* pixel, int channel) {
  return (pixel[channel / kBitsPerWord] >> (channel % kBitsPerWord)) & 1u;
}

}  // namespace kbnn
