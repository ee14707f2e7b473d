#pragma once
// The contract between the delegate's partition kernel (partition.cc) and the per-op kernels
// (ops/<op>.cc, one file per custom op, kbnn's and Larq Compute Engine's alike): every claimed
// node is one OpKernel, prepared and invoked through a NodeContext, its view of the partition.
// The registry (ops/registry.h) maps a custom op name to the function that creates its OpKernel.
#include <cstddef>
#include <string>
#include <vector>

#include "kbnn/status.h"
#include "kbnn/threadpool.h"
#include "kbnn/types.h"
#include "tflite_abi.h"

namespace kbnn {
namespace delegate {

struct TensorInfo {
  std::vector<int> shape;
  int type = kTfLiteNoType;
};

struct Partition;
struct NodeOp;

// One node's access to the tensors of its partition (tensor indices are the interpreter's) and
// to the checks the ops share. Tensors produced and consumed inside the partition are the
// partition's own buffers; the others are the interpreter's.
class NodeContext {
 public:
  NodeContext(TfLiteContext* context, Partition* partition, NodeOp* node)
      : context_(context), partition_(partition), node_(node) {}

  TfLiteContext* context() const { return context_; }
  const std::vector<int>& inputs() const;
  const std::vector<int>& outputs() const;
  KernelChoice kernel() const;
  int num_threads() const;  // of the delegate's thread pool

  // Reports `msg` for this node ("kbnn delegate: node N (Op): msg"); returns kTfLiteError.
  TfLiteStatus Error(const std::string& msg) const;

  bool InRange(int t) const { return t >= 0 && static_cast<size_t>(t) < context_->tensors_size; }
  // The interpreter's tensor t (InRange(t) must hold): quantization parameters, declared shape.
  const TfLiteTensor& Tensor(int t) const { return context_->tensors[t]; }
  // Type and current shape of tensor t (the partition's record for tensors it owns).
  bool Info(int t, TensorInfo* info) const;
  // A model-supplied, read-only tensor of the interpreter (not one the partition owns).
  bool IsConstant(int t) const;
  bool IsInternal(int t) const;
  // Data of constant tensor t (see IsConstant), else nullptr.
  const void* ConstData(int t) const;
  // Data pointer of tensor t at invoke time, or nullptr.
  void* Data(int t) const;
  // Declares output tensor t (type, shape): the partition's buffer, or a resize of the
  // interpreter's tensor (whose type must match).
  TfLiteStatus SetOutput(int t, int type, const std::vector<int>& shape) const;

  // Logical channel count recorded for bitpacked tensor t (0: unknown, e.g. a model input), and
  // its record (the words per pixel alone do not tell 8 channels from 16).
  int KnownChannels(int t) const;
  void RecordChannels(int t, int channels) const;

  // `what` has type `type` and rank `rank` (-1: any) and no negative dimension.
  TfLiteStatus CheckTensor(const char* what, const TensorInfo& info, int type, int rank) const;
  // A bitpacked input t whose producer recorded a channel count must carry `expected` (the
  // op's attr `attr`).
  TfLiteStatus CheckChannels(int t, int expected, const char* attr) const;
  // Every dimension of input t (shape) is >= 1.
  TfLiteStatus CheckNotEmpty(int t, const std::vector<int>& shape) const;
  // Arms the invoke-time check that the bits of the bitpacked input 0 (of `shape`) beyond
  // `channels` are 0, when no claimed node recorded its channel count.
  void ArmPaddingCheck(const std::vector<int>& shape, int channels) const;
  // Constant float vector of `n` elements at input `index`, or nullptr when that optional input
  // is absent.
  TfLiteStatus ConstFloats(int index, const char* what, int n, const float** out) const;
  // An int8 output tensor t of the interpreter with quantization parameters must agree with the
  // op's int8_scale / int8_zero_point.
  TfLiteStatus CheckInt8Output(const OutputParams& o, int t) const;

 private:
  TfLiteContext* context_;
  Partition* partition_;
  NodeOp* node_;
};

// One claimed node: its options, the kernel objects built for the current input shape and the
// state its invoke needs.
class OpKernel {
 public:
  virtual ~OpKernel() = default;
  // The custom op name (static string).
  virtual const char* name() const = 0;
  // Checks the node's tensors, declares its outputs and (re)builds its kernel when the input
  // shape changed. Input 0 is known to be non-empty.
  virtual TfLiteStatus Prepare(const NodeContext& node) = 0;
  // Runs the node; `in` / `out` are the (non-null) data of input 0 and output 0. An error is
  // reported for the node with the Status's message.
  virtual Status Invoke(const NodeContext& node, const void* in, void* out, ThreadPool* pool) = 0;
};

// The TFLite tensor type of a kbnn output type.
int OutputTfLiteType(OutputType t);

// Rows of a tensor seen as [rows, channels]: the product of all but the last dimension.
inline size_t Rows(const std::vector<int>& shape) {
  size_t rows = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d)
    rows *= static_cast<size_t>(shape[d] > 0 ? shape[d] : 0);
  return rows;
}

}  // namespace delegate
}  // namespace kbnn
