// The delegate kernel that runs one partition: a run of adjacent claimed nodes the runtime fused.
// Tensors produced and consumed only inside a partition are not allocated by the interpreter:
// the kernel owns their buffers. Outputs of the partition are resized by the kernel (dynamic
// tensors allowed). Each node is an OpKernel of the registry (ops/registry.h), prepared and
// invoked in execution order through a NodeContext (ops/op_kernel.h), implemented here.
// Threading: the delegate's one ThreadPool, shared by its kernels (runs are serialized).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "delegate.h"
#include "kbnn/bitpack.h"
#include "ops/op_kernel.h"
#include "ops/registry.h"
#include "tensor_util.h"

namespace kbnn {
namespace delegate {

std::vector<int> ToVector(const TfLiteIntArray* a) {
  std::vector<int> v;
  if (a == nullptr || a->size < 0) return v;
  v.assign(a->data, a->data + a->size);
  return v;
}

TfLiteIntArray* NewIntArray(const std::vector<int>& v) {
  auto* a = static_cast<TfLiteIntArray*>(std::malloc(sizeof(int) * (v.size() + 1)));
  if (a == nullptr) return nullptr;
  a->size = static_cast<int>(v.size());
  std::copy(v.begin(), v.end(), a->data);
  return a;
}

size_t ElementSize(int type) {
  switch (type) {
    case kTfLiteFloat32:
    case kTfLiteInt32: return 4;
    case kTfLiteInt8:
    case kTfLiteUInt8:
    case kTfLiteBool: return 1;
    case kTfLiteInt16:
    case kTfLiteFloat16: return 2;
    case kTfLiteInt64: return 8;
    default: return 0;
  }
}

int OutputTfLiteType(OutputType t) {
  switch (t) {
    case OutputType::kFloat32: return kTfLiteFloat32;
    case OutputType::kBitpacked: return kTfLiteInt32;
    case OutputType::kInt8: return kTfLiteInt8;
    case OutputType::kInt32Dot: return kTfLiteInt32;
  }
  return kTfLiteNoType;
}

struct NodeOp {
  int node_index = -1;
  std::unique_ptr<OpKernel> kernel;
  std::vector<int> inputs, outputs;
  // A bitpacked input whose producer is unknown (a model input, a constant, a builtin op): its
  // bits beyond `pad_check_channels` must be 0, checked at invoke over `pad_rows` rows (0: off).
  int pad_check_channels = 0;
  size_t pad_rows = 0;
  const char* name() const { return kernel ? kernel->name() : "?"; }
};

struct Partition {
  Delegate* delegate = nullptr;
  std::vector<NodeOp> nodes;
  std::set<int> internal;                  // tensors owned by this kernel
  std::vector<int> internal_index;         // tensor -> slot in buffers (-1 when not internal)
  std::vector<TensorInfo> internal_info;   // per slot
  std::vector<std::vector<uint64_t>> buffers;
  std::string init_error;
  std::shared_ptr<ChannelRecord> channels;  // the delegate's record (kept alive by the partition)
  std::set<int> recorded_channels;  // tensors this partition recorded there
};

namespace {

struct Err {
  TfLiteContext* context;
  const NodeOp* node;
  TfLiteStatus operator()(const std::string& msg) const {
    if (node != nullptr) {
      context->ReportError(context, "kbnn delegate: node %d (%s): %s", node->node_index,
                           node->name(), msg.c_str());
    } else {
      context->ReportError(context, "kbnn delegate: %s", msg.c_str());
    }
    return kTfLiteError;
  }
};

bool IsConstantTensor(const TfLiteTensor& t) {
  return t.allocation_type == kTfLiteMmapRo || t.allocation_type == kTfLitePersistentRo;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// NodeContext

const std::vector<int>& NodeContext::inputs() const { return node_->inputs; }
const std::vector<int>& NodeContext::outputs() const { return node_->outputs; }
KernelChoice NodeContext::kernel() const { return partition_->delegate->options.kernel; }
int NodeContext::num_threads() const {
  return partition_->delegate->pool ? partition_->delegate->pool->num_threads() : 1;
}

TfLiteStatus NodeContext::Error(const std::string& msg) const { return Err{context_, node_}(msg); }

bool NodeContext::Info(int t, TensorInfo* info) const {
  if (!InRange(t)) return false;
  const int slot = partition_->internal_index[t];
  if (slot >= 0) {
    *info = partition_->internal_info[slot];
    return true;
  }
  const TfLiteTensor& tensor = context_->tensors[t];
  info->type = tensor.type;
  info->shape = ToVector(tensor.dims);
  return true;
}

bool NodeContext::IsInternal(int t) const {
  return InRange(t) && partition_->internal_index[t] >= 0;
}

bool NodeContext::IsConstant(int t) const {
  return InRange(t) && partition_->internal_index[t] < 0 && IsConstantTensor(context_->tensors[t]);
}

const void* NodeContext::ConstData(int t) const {
  return IsConstant(t) ? context_->tensors[t].data : nullptr;
}

void* NodeContext::Data(int t) const {
  if (!InRange(t)) return nullptr;
  const int slot = partition_->internal_index[t];
  if (slot >= 0) return partition_->buffers[slot].data();
  return context_->tensors[t].data;
}

TfLiteStatus NodeContext::SetOutput(int t, int type, const std::vector<int>& shape) const {
  // Byte size in 64-bit arithmetic, capped at 2^40 and at half the address space (32-bit ABIs).
  const uint64_t limit = std::min<uint64_t>(uint64_t{1} << 40, SIZE_MAX / 2);
  uint64_t bytes = ElementSize(type);
  for (int d : shape) {
    if (d < 0 || (d > 0 && bytes > limit / static_cast<uint64_t>(d))) {
      return Error("output shape " + ShapeString(shape) + " is too large");
    }
    bytes *= static_cast<uint64_t>(d);
  }
  const size_t n = static_cast<size_t>(bytes);
  Partition* p = partition_;
  const int slot = p->internal_index[t];
  if (slot >= 0) {
    p->internal_info[slot].shape = shape;
    p->internal_info[slot].type = type;
    p->buffers[slot].assign((n + 7) / 8 + 1, 0);
    return kTfLiteOk;
  }
  TfLiteTensor& tensor = context_->tensors[t];
  if (tensor.type != type) {
    return Error("output tensor " + std::to_string(t) + " ('" + (tensor.name ? tensor.name : "") +
                 "') has type " + TypeName(tensor.type) + ", the op produces " + TypeName(type));
  }
  if (ToVector(tensor.dims) == shape && tensor.dims != nullptr) return kTfLiteOk;
  TfLiteIntArray* dims = NewIntArray(shape);
  if (dims == nullptr) return Error("out of memory");
  if (context_->ResizeTensor(context_, &tensor, dims) != kTfLiteOk) {
    return Error("cannot resize output tensor " + std::to_string(t) + " to " + ShapeString(shape));
  }
  return kTfLiteOk;
}

void NodeContext::RecordChannels(int t, int channels) const {
  Partition* p = partition_;
  if (!p->channels || t < 0) return;
  std::lock_guard<std::mutex> lock(p->channels->mutex);
  p->channels->packed[{context_, t}] = channels;
  p->recorded_channels.insert(t);
}

int NodeContext::KnownChannels(int t) const {
  Partition* p = partition_;
  if (!p->channels || t < 0) return 0;
  std::lock_guard<std::mutex> lock(p->channels->mutex);
  auto it = p->channels->packed.find({context_, t});
  return it == p->channels->packed.end() ? 0 : it->second;
}

TfLiteStatus NodeContext::CheckTensor(const char* what, const TensorInfo& info, int type,
                                      int rank) const {
  if (info.type != type) {
    return Error(std::string(what) + " must be " + TypeName(type) + ", got " + TypeName(info.type));
  }
  if (rank >= 0 && static_cast<int>(info.shape.size()) != rank) {
    return Error(std::string(what) + " must have rank " + std::to_string(rank) + ", got shape " +
                 ShapeString(info.shape));
  }
  for (int d : info.shape) {
    if (d < 0) {
      return Error(std::string(what) + " has a negative dimension " + ShapeString(info.shape));
    }
  }
  return kTfLiteOk;
}

// The words per pixel match for 8 and 16 channels alike, and the extra bits would be read as
// data.
TfLiteStatus NodeContext::CheckChannels(int t, int expected, const char* attr) const {
  const int known = KnownChannels(t);
  if (known > 0 && known != expected) {
    return Error("bitpacked input tensor " + std::to_string(t) + " carries " +
                 std::to_string(known) + " channels but the op has " + attr + "=" +
                 std::to_string(expected) + ": expected " + std::to_string(expected) +
                 " channels, got " + std::to_string(known) + " (an input of the wrong shape?)");
  }
  return kTfLiteOk;
}

// An empty batch leaves the other dimensions of tensors produced by some runtime kernels unset:
// they must not be read.
TfLiteStatus NodeContext::CheckNotEmpty(int t, const std::vector<int>& shape) const {
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] <= 0) {
      return Error("input tensor " + std::to_string(t) + " is empty (dimension " +
                   std::to_string(d) + " is " + std::to_string(shape[d]) +
                   ", e.g. a batch of 0): kbnn ops need at least one element per dimension");
    }
  }
  return kTfLiteOk;
}

// Kernels may treat bits beyond the channel count differently: the reference ignores them, the
// optimized ones need them 0.
void NodeContext::ArmPaddingCheck(const std::vector<int>& shape, int channels) const {
  node_->pad_check_channels = 0;
  if (channels % static_cast<int>(kBitsPerWord) == 0 || KnownChannels(node_->inputs[0]) > 0 ||
      shape.empty()) {
    return;
  }
  node_->pad_check_channels = channels;
  node_->pad_rows = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d) node_->pad_rows *= static_cast<size_t>(shape[d]);
}

TfLiteStatus NodeContext::ConstFloats(int index, const char* what, int n, const float** out) const {
  *out = nullptr;
  const std::vector<int>& in = node_->inputs;
  if (static_cast<int>(in.size()) <= index || in[index] == kTfLiteOptionalTensor) return kTfLiteOk;
  const int t = in[index];
  if (!IsConstant(t)) return Error(std::string(what) + " must be a constant tensor");
  TensorInfo info;
  Info(t, &info);
  if (CheckTensor(what, info, kTfLiteFloat32, 1) != kTfLiteOk) return kTfLiteError;
  if (info.shape[0] != n) {
    return Error(std::string(what) + " has " + std::to_string(info.shape[0]) +
                 " elements, expected " + std::to_string(n) + " (output channels)");
  }
  *out = static_cast<const float*>(context_->tensors[t].data);
  if (*out == nullptr) return Error(std::string(what) + " has no data");
  return kTfLiteOk;
}

// Otherwise the output's consumers would misread every value.
TfLiteStatus NodeContext::CheckInt8Output(const OutputParams& o, int t) const {
  if (o.type != OutputType::kInt8 || partition_->internal_index[t] >= 0) return kTfLiteOk;
  const TfLiteTensor& tensor = context_->tensors[t];
  if (tensor.type != kTfLiteInt8 || tensor.params.scale == 0.0f) return kTfLiteOk;
  if (tensor.params.scale != o.int8_scale || tensor.params.zero_point != o.int8_zero_point) {
    return Error("int8 output tensor " + std::to_string(t) +
                 " is quantized with scale=" + std::to_string(tensor.params.scale) +
                 ", zero_point=" + std::to_string(tensor.params.zero_point) +
                 " but the op writes int8_scale=" + std::to_string(o.int8_scale) +
                 ", int8_zero_point=" + std::to_string(o.int8_zero_point) +
                 " (re-convert the model)");
  }
  return kTfLiteOk;
}

// ---------------------------------------------------------------------------------------------
// Partition kernel

namespace {

void* KernelInitImpl(TfLiteContext* context, const char* buffer, size_t) {
  auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  auto* p = new Partition;
  p->delegate = FromBase(params->delegate);
  if (p->delegate != nullptr) p->channels = p->delegate->channels;
  const std::vector<int> outputs = ToVector(params->output_tensors);
  const std::set<int> partition_outputs(outputs.begin(), outputs.end());
  p->internal_index.assign(context->tensors_size, -1);
  for (int node_index : ToVector(params->nodes_to_replace)) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    NodeOp op;
    op.node_index = node_index;
    if (context->GetNodeAndRegistration(context, node_index, &node, &reg) != kTfLiteOk) {
      p->init_error = "cannot read node " + std::to_string(node_index);
      break;
    }
    if (!IsKnownOpName(reg->custom_name)) {
      p->init_error = "node " + std::to_string(node_index) + " is not a kbnn op";
      break;
    }
    const Status st =
        CreateOpKernel(reg->custom_name, reg->version, node->custom_initial_data,
                       static_cast<size_t>(std::max(node->custom_initial_data_size, 0)),
                       &op.kernel);
    if (!st.ok()) {
      p->init_error = "node " + std::to_string(node_index) + ": " + st.message();
      break;
    }
    op.inputs = ToVector(node->inputs);
    op.outputs = ToVector(node->outputs);
    for (int t : op.outputs) {
      if (t >= 0 && static_cast<size_t>(t) < context->tensors_size &&
          partition_outputs.count(t) == 0) {
        p->internal.insert(t);
        p->internal_index[t] = static_cast<int>(p->internal_info.size());
        p->internal_info.emplace_back();
        p->buffers.emplace_back();
      }
    }
    p->nodes.push_back(std::move(op));
  }
  return p;
}

void KernelFree(TfLiteContext* context, void* buffer) {
  auto* p = static_cast<Partition*>(buffer);
  if (p != nullptr && p->channels) {
    std::lock_guard<std::mutex> lock(p->channels->mutex);
    for (int t : p->recorded_channels) p->channels->packed.erase({context, t});
  }
  delete p;
}

// The invoke-time check armed by NodeContext::ArmPaddingCheck.
TfLiteStatus CheckPaddingBits(const Err& err, const NodeOp& op, const void* data) {
  if (op.pad_check_channels == 0 || data == nullptr) return kTfLiteOk;
  const int words = PackedWords(op.pad_check_channels);
  const uint32_t used = op.pad_check_channels % kBitsPerWord;
  const uint32_t mask = ~((uint32_t{1} << used) - 1u);
  const auto* w = static_cast<const uint32_t*>(data);
  for (size_t r = 0; r < op.pad_rows; ++r) {
    if (w[r * words + words - 1] & mask) {
      return err("bitpacked input tensor " + std::to_string(op.inputs[0]) +
                 " has bits set beyond " + std::to_string(op.pad_check_channels) +
                 " channels (row " + std::to_string(r) +
                 "): it was not packed for this op's channel count (packed by an op other than a "
                 "kbnn/LCE quantize?)");
    }
  }
  return kTfLiteOk;
}

TfLiteStatus PrepareNode(TfLiteContext* context, Partition* p, NodeOp& op) {
  const NodeContext node(context, p, &op);
  if (!op.inputs.empty()) {
    TensorInfo first;
    if (node.Info(op.inputs[0], &first) &&
        node.CheckNotEmpty(op.inputs[0], first.shape) != kTfLiteOk) {
      return kTfLiteError;
    }
  }
  return op.kernel->Prepare(node);
}

TfLiteStatus KernelPrepareImpl(TfLiteContext* context, TfLiteNode* node) {
  auto* p = static_cast<Partition*>(node->user_data);
  if (p == nullptr) return Err{context, nullptr}("kernel has no state");
  if (!p->init_error.empty()) return Err{context, nullptr}(p->init_error);
  for (NodeOp& op : p->nodes) {
    if (PrepareNode(context, p, op) != kTfLiteOk) return kTfLiteError;
  }
  return kTfLiteOk;
}

TfLiteStatus KernelInvokeImpl(TfLiteContext* context, TfLiteNode* node) {
  auto* p = static_cast<Partition*>(node->user_data);
  if (p == nullptr) return Err{context, nullptr}("kernel has no state");
  if (!p->init_error.empty()) return Err{context, nullptr}(p->init_error);
  ThreadPool* pool = p->delegate->pool.get();
  const bool profiling = !p->delegate->options.profile.empty();
  std::vector<Profile::NodeTime> times;
  if (profiling) times.reserve(p->nodes.size());
  for (NodeOp& op : p->nodes) {
    const Err err{context, &op};
    const NodeContext ctx(context, p, &op);
    const auto start =
        profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    const void* in = ctx.Data(op.inputs[0]);
    if (CheckPaddingBits(err, op, in) != kTfLiteOk) return kTfLiteError;
    void* out = ctx.Data(op.outputs[0]);
    if (in == nullptr || out == nullptr) return err("input or output tensor has no data");
    const Status st = op.kernel->Invoke(ctx, in, out, pool);
    if (!st.ok()) return err(st.message());
    if (profiling) {
      using std::chrono::nanoseconds;
      const auto end = std::chrono::steady_clock::now();
      const auto since_epoch = [](std::chrono::steady_clock::time_point t) {
        return static_cast<int64_t>(
            std::chrono::duration_cast<nanoseconds>(t.time_since_epoch()).count());
      };
      times.push_back(
          {op.node_index, op.name(),
           static_cast<uint64_t>(std::chrono::duration_cast<nanoseconds>(end - start).count()),
           since_epoch(start), since_epoch(end)});
    }
  }
  if (profiling) p->delegate->profile.Add(times);
  return kTfLiteOk;
}

// No C++ exception may cross the C ABI: every callback catches and reports.
void* KernelInit(TfLiteContext* context, const char* buffer, size_t length) {
  try {
    return KernelInitImpl(context, buffer, length);
  } catch (const std::exception& e) {
    context->ReportError(context, "kbnn delegate: init failed: %s", e.what());
  } catch (...) {
    context->ReportError(context, "kbnn delegate: init failed");
  }
  return nullptr;
}

TfLiteStatus KernelPrepare(TfLiteContext* context, TfLiteNode* node) {
  try {
    return KernelPrepareImpl(context, node);
  } catch (const std::bad_alloc&) {
    return Err{context, nullptr}("out of memory while preparing (tensor shapes too large?)");
  } catch (const std::exception& e) {
    return Err{context, nullptr}(std::string("prepare failed: ") + e.what());
  } catch (...) {
    return Err{context, nullptr}("prepare failed");
  }
}

TfLiteStatus KernelInvoke(TfLiteContext* context, TfLiteNode* node) {
  try {
    return KernelInvokeImpl(context, node);
  } catch (...) {
    return Err{context, nullptr}("invoke failed with an exception");
  }
}

}  // namespace

TfLiteRegistrationWithPadding PartitionKernelRegistration() {
  TfLiteRegistrationWithPadding reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.prefix.init = KernelInit;
  reg.prefix.free = KernelFree;
  reg.prefix.prepare = KernelPrepare;
  reg.prefix.invoke = KernelInvoke;
  reg.prefix.builtin_code = kTfLiteBuiltinDelegate;
  reg.prefix.custom_name = "KbnnDelegate";
  reg.prefix.version = 1;
  return reg;
}

}  // namespace delegate
}  // namespace kbnn
