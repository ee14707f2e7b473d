#pragma once
// Runs Larq Compute Engine's custom ops (see lce_options.h) on kbnn's kernels. No kernel is
// forked: this layer maps LCE's conventions onto kbnn's and does the small remaining arithmetic.
//
// Conventions mapped (checked bit-exact against LCE 0.16's interpreter, tests/test_lce_ops.py):
//  * Bitpacking is the same: 32-bit words along channels, LSB = channel 0, bit 1 = negative
//    (x < 0, or x < zero_point for int8), unused high bits 0. Filters are OHWI with the input
//    channels (per group) packed into words: kbnn's bconv2d filter layout.
//  * LCE's accumulator is acc = popcount(input XOR filter) over K = fh * fw * channels_in/groups
//    bits, so kbnn's dot = K - 2 * acc. Padding with pad_values=1 packs zero bits in both.
//  * Bitpacked output: bit = acc > threshold[c]  <=>  dot < K - 2 * threshold[c]: kbnn's
//    bitpacked output with multiplier 1 and bias -(K - 2 * threshold[c]), exact.
//  * Float / int8 output: LCE clamps the accumulator for the fused activation and then applies
//    y = float(clamp(2 * acc)) * m'[c] + b'[c] with m' = -mul / scale and
//    b' = (bias + K * mul) / scale + zero_point computed in double (scale 1, zero point 0 for
//    float); int8 = saturate(round-half-away(y)). Float output without a fused activation runs
//    kbnn's float output (y = mul * dot + bias; equal up to float rounding); the other cases use
//    kbnn's raw integer dot product and this exact transform.
//  * Groups: filter.shape[3] words per group; LCE requires channels_in/groups % 32 == 0.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kbnn/status.h"
#include "kbnn/threadpool.h"
#include "kbnn/types.h"
#include "lce_options.h"
#include "tflite_abi.h"

namespace kbnn {
namespace delegate {
namespace lce {

// What the delegate's partition kernel gives an LCE node (tensor indices are the interpreter's).
struct Host {
  TfLiteContext* context = nullptr;
  // Type and current shape of tensor t (the partition's record for tensors it owns).
  std::function<bool(int t, int* type, std::vector<int>* shape)> info;
  // Constant (read-only, model-supplied) data of tensor t, or nullptr.
  std::function<const void*(int t)> const_data;
  // Declares output tensor t (type, shape).
  std::function<TfLiteStatus(int t, int type, const std::vector<int>& shape)> set_output;
  // Data pointer of tensor t at invoke time.
  std::function<void*(int t)> data;
  // Logical channel count recorded for bitpacked tensor t (0: unknown), and its record.
  std::function<int(int t)> channels;
  std::function<void(int t, int channels)> set_channels;
  // Reports an error for this node and returns kTfLiteError.
  std::function<TfLiteStatus(const std::string&)> error;
  KernelChoice kernel = KernelChoice::kAuto;
  int num_threads = 1;
};

class LceNode;
void DeleteLceNode(LceNode* node);
struct LceNodeDeleter {
  void operator()(LceNode* n) const { DeleteLceNode(n); }
};
using LceNodePtr = std::unique_ptr<LceNode, LceNodeDeleter>;

// Creates the node state for parsed options.
LceNodePtr MakeLceNode(const LceOptions& options);
// Prepare (shape inference, kernel construction) and invoke of one node.
TfLiteStatus PrepareLceNode(LceNode* node, const Host& host, const std::vector<int>& inputs,
                            const std::vector<int>& outputs);
TfLiteStatus InvokeLceNode(LceNode* node, const Host& host, const std::vector<int>& inputs,
                           const std::vector<int>& outputs, ThreadPool* pool);
const LceOptions& LceNodeOptions(const LceNode* node);

}  // namespace lce
}  // namespace delegate
}  // namespace kbnn
