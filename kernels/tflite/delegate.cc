// libkbnn_delegate.so: a TFLite external delegate that runs the kbnn custom ops (KbnnQuantize,
// KbnnDequantize, KbnnBconv2d, KbnnBFullyConnected, KbnnBMaxPool2d) in the stock interpreters,
// and Larq Compute Engine's (LceQuantize, LceDequantize, LceBconv2d, LceBMaxPool2d) through the
// mapping layer of lce_ops.h.
//
// Claiming: Delegate Prepare walks the execution plan and claims every CUSTOM node whose name is
// a kbnn op and whose options parse with a supported kbnn_version. A kbnn node that cannot be
// claimed is reported through context->ReportError (node, op, reason) and stays unresolved, so
// the interpreter then fails with its "unresolved custom op" error after our message.
// Partitions: the runtime fuses adjacent claimed nodes into one delegate kernel. Tensors produced
// and consumed only inside a partition are not allocated by the interpreter: the kernel owns
// their buffers. Outputs of the partition are resized by the kernel (dynamic tensors allowed).
// Threading: one kbnn::ThreadPool per delegate, shared by its kernels (runs are serialized).
#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kbnn/bconv2d.h"
#include "kbnn/bfully_connected.h"
#include "kbnn/bitpack.h"
#include "kbnn/bmaxpool2d.h"
#include "kbnn/dispatch.h"
#include "kbnn/threadpool.h"
#include "lce_ops.h"
#include "options.h"
#include "tensor_util.h"
#include "tflite_abi.h"

#define KBNN_EXPORT extern "C" __attribute__((visibility("default")))

namespace kbnn {
namespace delegate {
namespace {

constexpr int kMaxAutoThreads = 4;

// Option profile=<id>: per-node invoke time (steady clock, ns) accumulated over all the
// partitions of the delegate, keyed by the node's index in the interpreter's execution plan.
struct ProfileEntry {
  std::string op;
  uint64_t ns = 0;
  uint64_t count = 0;
};

struct Profile {
  std::mutex mutex;
  std::map<int, ProfileEntry> nodes;
};

struct ChannelRecord {
  std::mutex mutex;
  std::map<std::pair<const TfLiteContext*, int>, int> packed;
};

struct Delegate {
  TfLiteDelegate base;              // the runtime sees &base; base.data_ == this
  unsigned char reserved[256];      // zeroed: fields newer runtimes read past the classic prefix
  DelegateOptions options;
  void (*report_error)(const char*) = nullptr;
  std::mutex pool_mutex;  // the pool is created by the first DelegatePrepare without num_threads
  std::unique_ptr<ThreadPool> pool;
  Profile profile;  // used when options.profile is set
  // Logical channel count of each bitpacked tensor written by a claimed node, keyed by
  // (interpreter context, tensor): the words per pixel alone do not tell 8 channels from 16, so
  // the consumer's channels_in / input_size / channels are checked against this record.
  // Producers are prepared before consumers (execution order), across partitions too.
  // Shared with the partitions: a runtime may free its kernels after the delegate.
  std::shared_ptr<struct ChannelRecord> channels = std::make_shared<ChannelRecord>();
};

// Profiling delegates by id (kbnn_delegate_profile_json); the latest delegate created with an
// id owns it.
std::mutex& ProfileRegistryMutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, Delegate*>& ProfileRegistry() {
  static auto* r = new std::map<std::string, Delegate*>;
  return *r;
}

// base.data_ points back at the Delegate (no reliance on the member's offset).
Delegate* FromBase(TfLiteDelegate* d) { return d ? static_cast<Delegate*>(d->data_) : nullptr; }

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
    case kTfLiteFloat32: case kTfLiteInt32: return 4;
    case kTfLiteInt8: case kTfLiteUInt8: case kTfLiteBool: return 1;
    case kTfLiteInt16: case kTfLiteFloat16: return 2;
    case kTfLiteInt64: return 8;
    default: return 0;
  }
}

// Startup check of the TfLiteTensor layout we index context->tensors with: for tensors of known
// element size, bytes must equal the product of dims times that size.
bool TensorLayoutHolds(TfLiteContext* context, const std::vector<int>& indices, std::string* why) {
  int checked = 0;
  for (int t : indices) {
    if (t < 0 || static_cast<size_t>(t) >= context->tensors_size) continue;
    const TfLiteTensor& tensor = context->tensors[t];
    const size_t es = ElementSize(tensor.type);
    if (tensor.type < 0 || tensor.type > 20) {
      *why = "tensor " + std::to_string(t) + " has type " + std::to_string(tensor.type);
      return false;
    }
    if (es == 0 || tensor.dims == nullptr) continue;
    if (tensor.dims->size < 0 || tensor.dims->size > 16) {
      *why = "tensor " + std::to_string(t) + " has rank " + std::to_string(tensor.dims->size);
      return false;
    }
    size_t n = es;
    for (int d = 0; d < tensor.dims->size; ++d) n *= static_cast<size_t>(std::max(tensor.dims->data[d], 0));
    if (tensor.bytes != n) {
      *why = "tensor " + std::to_string(t) + " has bytes=" + std::to_string(tensor.bytes) +
             " but dims x element size = " + std::to_string(n);
      return false;
    }
    ++checked;
  }
  if (checked == 0 && !indices.empty()) {
    *why = "no tensor of a known type to check";
    return false;
  }
  return true;
}

int ResolveThreads(const DelegateOptions& o, TfLiteContext* context) {
  if (o.num_threads > 0) return o.num_threads;
  if (context->recommended_num_threads > 0) return context->recommended_num_threads;
  const unsigned hw = std::thread::hardware_concurrency();
  return std::max(1, std::min(static_cast<int>(hw == 0 ? 1 : hw), kMaxAutoThreads));
}

// ---------------------------------------------------------------------------------------------
// Partition kernel

struct TensorInfo {
  std::vector<int> shape;
  int type = kTfLiteNoType;
};

struct NodeOp {
  int node_index = -1;
  OpOptions opt;
  std::vector<int> inputs, outputs;
  // Built once per input shape.
  std::vector<int> built_for;
  std::unique_ptr<BConv2D> conv;
  std::unique_ptr<BFullyConnected> fc;
  std::unique_ptr<BMaxPool2D> pool;
  size_t rows = 0;  // quantize / dequantize
  int channels = 0;
  bool int8_input = false;  // quantize: int8 input (bit = q < zero_point)
  int32_t zero_point = 0;
  lce::LceNodePtr lce;  // a Larq Compute Engine op (lce_ops.h); opt is unused then
  // A bitpacked input whose producer is unknown (a model input, a constant, a builtin op): its
  // bits beyond `pad_check_channels` must be 0, checked at invoke over `pad_rows` rows (0: off).
  int pad_check_channels = 0;
  size_t pad_rows = 0;
  const char* name() const {
    if (lce) return lce::LceNodeOptions(lce.get()).name;
    return opt.def ? opt.def->name : "?";
  }
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
  std::set<int> recorded_channels;         // tensors this partition recorded there
};

// Records that bitpacked tensor t holds `channels` logical channels.
void RecordChannels(TfLiteContext* context, Partition* p, int t, int channels) {
  if (!p->channels || t < 0) return;
  std::lock_guard<std::mutex> lock(p->channels->mutex);
  p->channels->packed[{context, t}] = channels;
  p->recorded_channels.insert(t);
}

// The logical channel count recorded for bitpacked tensor t, or 0 when unknown (e.g. a
// bitpacked model input).
int KnownChannels(TfLiteContext* context, Partition* p, int t) {
  if (!p->channels || t < 0) return 0;
  std::lock_guard<std::mutex> lock(p->channels->mutex);
  auto it = p->channels->packed.find({context, t});
  return it == p->channels->packed.end() ? 0 : it->second;
}

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

bool IsConstant(const TfLiteTensor& t) {
  return t.allocation_type == kTfLiteMmapRo || t.allocation_type == kTfLitePersistentRo;
}

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
    const schema::OpDef* def = FindOp(reg->custom_name);
    Status st;
    if (lce::IsLceOpName(reg->custom_name)) {
      lce::LceOptions lo;
      st = lce::ParseLceOptions(reg->custom_name, reg->version, node->custom_initial_data,
                                static_cast<size_t>(std::max(node->custom_initial_data_size, 0)), &lo);
      if (st.ok()) op.lce = lce::MakeLceNode(lo);
    } else if (def == nullptr) {
      p->init_error = "node " + std::to_string(node_index) + " is not a kbnn op";
      break;
    } else {
      st = ParseOpOptions(*def, node->custom_initial_data,
                          static_cast<size_t>(std::max(node->custom_initial_data_size, 0)), &op.opt);
    }
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
  (void)context;
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

// Shape/type of tensor t as seen by this partition (internal tensors: our record).
bool GetInfo(TfLiteContext* context, Partition* p, int t, TensorInfo* info) {
  if (t < 0 || static_cast<size_t>(t) >= context->tensors_size) return false;
  const int slot = p->internal_index[t];
  if (slot >= 0) {
    *info = p->internal_info[slot];
    return true;
  }
  const TfLiteTensor& tensor = context->tensors[t];
  info->type = tensor.type;
  info->shape = ToVector(tensor.dims);
  return true;
}

// Declares the shape of output t: internal → our buffer, else ResizeTensor on the interpreter's.
TfLiteStatus SetOutput(TfLiteContext* context, Partition* p, const Err& err, int t, int type,
                       const std::vector<int>& shape) {
  // Byte size in 64-bit arithmetic, capped at 2^40 and at half the address space (32-bit ABIs).
  const uint64_t limit = std::min<uint64_t>(uint64_t{1} << 40, SIZE_MAX / 2);
  uint64_t bytes = ElementSize(type);
  for (int d : shape) {
    if (d < 0 || (d > 0 && bytes > limit / static_cast<uint64_t>(d))) {
      return err("output shape " + ShapeString(shape) + " is too large");
    }
    bytes *= static_cast<uint64_t>(d);
  }
  const size_t n = static_cast<size_t>(bytes);
  const int slot = p->internal_index[t];
  if (slot >= 0) {
    p->internal_info[slot].shape = shape;
    p->internal_info[slot].type = type;
    p->buffers[slot].assign((n + 7) / 8 + 1, 0);
    return kTfLiteOk;
  }
  TfLiteTensor& tensor = context->tensors[t];
  if (tensor.type != type) {
    return err("output tensor " + std::to_string(t) + " ('" + (tensor.name ? tensor.name : "") +
               "') has type " + TypeName(tensor.type) + ", the op produces " + TypeName(type));
  }
  if (ToVector(tensor.dims) == shape && tensor.dims != nullptr) return kTfLiteOk;
  TfLiteIntArray* dims = NewIntArray(shape);
  if (dims == nullptr) return err("out of memory");
  if (context->ResizeTensor(context, &tensor, dims) != kTfLiteOk) {
    return err("cannot resize output tensor " + std::to_string(t) + " to " + ShapeString(shape));
  }
  return kTfLiteOk;
}

void* TensorData(TfLiteContext* context, Partition* p, int t) {
  if (t < 0 || static_cast<size_t>(t) >= context->tensors_size) return nullptr;
  const int slot = p->internal_index[t];
  if (slot >= 0) return p->buffers[slot].data();
  return context->tensors[t].data;
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

TfLiteStatus CheckTensor(const Err& err, const char* what, const TensorInfo& info, int type,
                         int rank) {
  if (info.type != type) {
    return err(std::string(what) + " must be " + TypeName(type) + ", got " + TypeName(info.type));
  }
  if (rank >= 0 && static_cast<int>(info.shape.size()) != rank) {
    return err(std::string(what) + " must have rank " + std::to_string(rank) + ", got shape " +
               ShapeString(info.shape));
  }
  for (int d : info.shape) {
    if (d < 0) return err(std::string(what) + " has a negative dimension " + ShapeString(info.shape));
  }
  return kTfLiteOk;
}

// A bitpacked input must carry the channel count the op was converted for: the words per pixel
// match for 8 and 16 channels alike, and the extra bits would be read as data.
TfLiteStatus CheckChannels(TfLiteContext* context, Partition* p, const Err& err, int t,
                           int expected, const char* attr) {
  const int known = KnownChannels(context, p, t);
  if (known > 0 && known != expected) {
    return err("bitpacked input tensor " + std::to_string(t) + " carries " + std::to_string(known) +
               " channels but the op has " + attr + "=" + std::to_string(expected) +
               ": expected " + std::to_string(expected) + " channels, got " + std::to_string(known) +
               " (an input of the wrong shape?)");
  }
  return kTfLiteOk;
}

// Arms the invoke-time padding-bit check of op's bitpacked input 0 when no claimed node recorded
// its channel count (kernels may treat bits beyond the channel count differently: the reference
// ignores them, the optimized ones need them 0).
void ArmPaddingCheck(TfLiteContext* context, Partition* p, NodeOp& op, const std::vector<int>& shape,
                     int channels) {
  op.pad_check_channels = 0;
  if (channels % static_cast<int>(kBitsPerWord) == 0 || KnownChannels(context, p, op.inputs[0]) > 0 ||
      shape.empty()) {
    return;
  }
  op.pad_check_channels = channels;
  op.pad_rows = 1;
  for (size_t d = 0; d + 1 < shape.size(); ++d) op.pad_rows *= static_cast<size_t>(shape[d]);
}

TfLiteStatus CheckPaddingBits(const Err& err, const NodeOp& op, const void* data) {
  if (op.pad_check_channels == 0 || data == nullptr) return kTfLiteOk;
  const int words = PackedWords(op.pad_check_channels);
  const uint32_t used = op.pad_check_channels % kBitsPerWord;
  const uint32_t mask = ~((uint32_t{1} << used) - 1u);
  const auto* w = static_cast<const uint32_t*>(data);
  for (size_t r = 0; r < op.pad_rows; ++r) {
    if (w[r * words + words - 1] & mask) {
      return err("bitpacked input tensor " + std::to_string(op.inputs[0]) + " has bits set beyond " +
                 std::to_string(op.pad_check_channels) + " channels (row " + std::to_string(r) +
                 "): it was not packed for this op's channel count (packed by an op other than a "
                 "kbnn/LCE quantize?)");
    }
  }
  return kTfLiteOk;
}

// Every dimension of a data input must be >= 1 (an empty batch leaves the other dimensions of
// tensors produced by some runtime kernels unset: they must not be read).
TfLiteStatus CheckNotEmpty(const Err& err, int t, const std::vector<int>& shape) {
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] <= 0) {
      return err("input tensor " + std::to_string(t) + " is empty (dimension " + std::to_string(d) +
                 " is " + std::to_string(shape[d]) + ", e.g. a batch of 0): kbnn ops need at least "
                 "one element per dimension");
    }
  }
  return kTfLiteOk;
}

// Constant float vector of `n` elements, or nullptr when the optional input is absent.
TfLiteStatus ConstFloats(TfLiteContext* context, Partition* p, const Err& err, const NodeOp& op,
                         int index, const char* what, int n, const float** out) {
  *out = nullptr;
  if (static_cast<int>(op.inputs.size()) <= index || op.inputs[index] == kTfLiteOptionalTensor) {
    return kTfLiteOk;
  }
  const int t = op.inputs[index];
  if (t < 0 || static_cast<size_t>(t) >= context->tensors_size || p->internal_index[t] >= 0 ||
      !IsConstant(context->tensors[t])) {
    return err(std::string(what) + " must be a constant tensor");
  }
  TensorInfo info;
  GetInfo(context, p, t, &info);
  if (CheckTensor(err, what, info, kTfLiteFloat32, 1) != kTfLiteOk) return kTfLiteError;
  if (info.shape[0] != n) {
    return err(std::string(what) + " has " + std::to_string(info.shape[0]) +
               " elements, expected " + std::to_string(n) + " (output channels)");
  }
  *out = static_cast<const float*>(context->tensors[t].data);
  if (*out == nullptr) return err(std::string(what) + " has no data");
  return kTfLiteOk;
}

// An int8 output tensor of the interpreter that carries quantization parameters must agree with
// the op's int8_scale / int8_zero_point (otherwise its consumers would misread every value).
TfLiteStatus CheckInt8Output(TfLiteContext* context, Partition* p, const Err& err,
                             const OutputParams& o, int t) {
  if (o.type != OutputType::kInt8 || p->internal_index[t] >= 0) return kTfLiteOk;
  const TfLiteTensor& tensor = context->tensors[t];
  if (tensor.type != kTfLiteInt8 || tensor.params.scale == 0.0f) return kTfLiteOk;
  if (tensor.params.scale != o.int8_scale || tensor.params.zero_point != o.int8_zero_point) {
    return err("int8 output tensor " + std::to_string(t) + " is quantized with scale=" +
               std::to_string(tensor.params.scale) + ", zero_point=" +
               std::to_string(tensor.params.zero_point) + " but the op writes int8_scale=" +
               std::to_string(o.int8_scale) + ", int8_zero_point=" +
               std::to_string(o.int8_zero_point) + " (re-convert the model)");
  }
  return kTfLiteOk;
}

// The partition's tensor access, as the LCE mapping layer (lce_ops.h) sees it.
lce::Host LceHost(TfLiteContext* context, Partition* p, const Err& err) {
  lce::Host h;
  h.context = context;
  h.info = [context, p](int t, int* type, std::vector<int>* shape) {
    TensorInfo info;
    if (!GetInfo(context, p, t, &info)) return false;
    *type = info.type;
    *shape = info.shape;
    return true;
  };
  h.const_data = [context, p](int t) -> const void* {
    if (t < 0 || static_cast<size_t>(t) >= context->tensors_size || p->internal_index[t] >= 0 ||
        !IsConstant(context->tensors[t])) {
      return nullptr;
    }
    return context->tensors[t].data;
  };
  h.set_output = [context, p, err](int t, int type, const std::vector<int>& shape) {
    return SetOutput(context, p, err, t, type, shape);
  };
  h.data = [context, p](int t) { return TensorData(context, p, t); };
  h.error = [err](const std::string& msg) { return err(msg); };
  h.channels = [context, p](int t) { return KnownChannels(context, p, t); };
  h.set_channels = [context, p](int t, int c) { RecordChannels(context, p, t, c); };
  h.kernel = p->delegate->options.kernel;
  h.num_threads = p->delegate->pool ? p->delegate->pool->num_threads() : 1;
  return h;
}

TfLiteStatus PrepareNode(TfLiteContext* context, Partition* p, NodeOp& op) {
  const Err err{context, &op};
  if (!op.inputs.empty()) {
    TensorInfo first;
    if (GetInfo(context, p, op.inputs[0], &first) &&
        CheckNotEmpty(err, op.inputs[0], first.shape) != kTfLiteOk) {
      return kTfLiteError;
    }
  }
  if (op.lce) {
    if (lce::PrepareLceNode(op.lce.get(), LceHost(context, p, err), op.inputs, op.outputs) != kTfLiteOk) {
      return kTfLiteError;
    }
    const lce::LceOptions& lo = lce::LceNodeOptions(op.lce.get());
    TensorInfo first;
    if (lo.kind == lce::LceKind::kBconv2d && GetInfo(context, p, op.inputs[0], &first)) {
      ArmPaddingCheck(context, p, op, first.shape, lo.channels_in);
    }
    return kTfLiteOk;
  }
  const OpOptions& o = op.opt;
  const schema::OpDef& def = *o.def;
  if (op.inputs.size() != def.num_inputs || op.outputs.size() != def.num_outputs) {
    return err("expected " + std::to_string(def.num_inputs) + " inputs and " +
               std::to_string(def.num_outputs) + " outputs, got " +
               std::to_string(op.inputs.size()) + " and " + std::to_string(op.outputs.size()));
  }
  TensorInfo in;
  if (!GetInfo(context, p, op.inputs[0], &in)) return err("bad input tensor index");
  const int out_t = op.outputs[0];
  if (out_t < 0 || static_cast<size_t>(out_t) >= context->tensors_size) {
    return err("bad output tensor index");
  }
  const int threads = p->delegate->pool ? p->delegate->pool->num_threads() : 1;

  switch (o.kind) {
    case OpKind::kQuantize: {
      // float32 input: bit = (x < 0). int8 input (the int8 option of kbnn.convert): the tensor
      // holds q with x = scale * (q - zero_point), so bit = (q < zero_point); the zero point is
      // read from the tensor's quantization parameters.
      op.int8_input = in.type == kTfLiteInt8;
      if (op.int8_input) {
        const TfLiteQuantizationParams& q = context->tensors[op.inputs[0]].params;
        if (!(q.scale > 0.0f) || q.zero_point < -128 || q.zero_point > 127) {
          return err("int8 input needs per-tensor quantization parameters (scale > 0, zero_point "
                     "in [-128, 127]); got scale=" + std::to_string(q.scale) +
                     ", zero_point=" + std::to_string(q.zero_point));
        }
        op.zero_point = q.zero_point;
      } else if (CheckTensor(err, "input", in, kTfLiteFloat32, -1) != kTfLiteOk) {
        return kTfLiteError;
      }
      if (in.shape.empty() || in.shape.back() <= 0) {
        return err("input must have a non-empty channel axis, got " + ShapeString(in.shape));
      }
      op.channels = in.shape.back();
      op.rows = 1;
      for (size_t d = 0; d + 1 < in.shape.size(); ++d) op.rows *= static_cast<size_t>(in.shape[d]);
      std::vector<int> shape = in.shape;
      shape.back() = PackedWords(op.channels);
      RecordChannels(context, p, out_t, op.channels);
      return SetOutput(context, p, err, out_t, kTfLiteInt32, shape);
    }
    case OpKind::kDequantize: {
      if (CheckTensor(err, "input", in, kTfLiteInt32, -1) != kTfLiteOk) return kTfLiteError;
      if (in.shape.empty() || in.shape.back() != PackedWords(o.channels)) {
        return err("bitpacked input " + ShapeString(in.shape) + " must end in " +
                   std::to_string(PackedWords(o.channels)) + " words for channels=" +
                   std::to_string(o.channels));
      }
      if (CheckChannels(context, p, err, op.inputs[0], o.channels, "channels") != kTfLiteOk) {
        return kTfLiteError;
      }
      op.channels = o.channels;
      op.rows = 1;
      for (size_t d = 0; d + 1 < in.shape.size(); ++d) op.rows *= static_cast<size_t>(in.shape[d]);
      std::vector<int> shape = in.shape;
      shape.back() = o.channels;
      return SetOutput(context, p, err, out_t, kTfLiteFloat32, shape);
    }
    case OpKind::kBMaxPool2d: {
      if (CheckTensor(err, "input", in, kTfLiteInt32, 4) != kTfLiteOk) return kTfLiteError;
      if (in.shape[3] != PackedWords(o.channels)) {
        return err("bitpacked input " + ShapeString(in.shape) + " must have " +
                   std::to_string(PackedWords(o.channels)) + " words per pixel for channels=" +
                   std::to_string(o.channels));
      }
      if (CheckChannels(context, p, err, op.inputs[0], o.channels, "channels") != kTfLiteOk) {
        return kTfLiteError;
      }
      ArmPaddingCheck(context, p, op, in.shape, o.channels);
      RecordChannels(context, p, out_t, o.channels);
      if (!op.pool || op.built_for != in.shape) {
        BMaxPool2DParams mp;
        mp.batch = in.shape[0];
        mp.input_height = in.shape[1];
        mp.input_width = in.shape[2];
        mp.channels = o.channels;
        mp.filter_height = o.filter_height;
        mp.filter_width = o.filter_width;
        mp.stride_height = o.stride_height;
        mp.stride_width = o.stride_width;
        mp.padding = o.padding;
        mp.kernel = p->delegate->options.kernel;
        mp.num_threads = threads;
        op.pool.reset();
        Status st = BMaxPool2D::Create(mp, &op.pool);
        if (!st.ok()) return err(st.message());
        op.built_for = in.shape;
      }
      return SetOutput(context, p, err, out_t, kTfLiteInt32,
                       {in.shape[0], op.pool->output_height(), op.pool->output_width(),
                        PackedWords(o.channels)});
    }
    case OpKind::kBconv2d:
    case OpKind::kBconv2dResidual: {
      const bool residual = o.kind == OpKind::kBconv2dResidual;
      if (CheckTensor(err, "input", in, kTfLiteInt32, 4) != kTfLiteOk) return kTfLiteError;
      if (in.shape[3] != PackedWords(o.channels_in)) {
        return err("bitpacked input " + ShapeString(in.shape) + " must have " +
                   std::to_string(PackedWords(o.channels_in)) + " words per pixel for channels_in=" +
                   std::to_string(o.channels_in));
      }
      if (CheckChannels(context, p, err, op.inputs[0], o.channels_in, "channels_in") != kTfLiteOk) {
        return kTfLiteError;
      }
      ArmPaddingCheck(context, p, op, in.shape, o.channels_in);
      const int ft = op.inputs[1];
      if (ft < 0 || static_cast<size_t>(ft) >= context->tensors_size || p->internal_index[ft] >= 0 ||
          !IsConstant(context->tensors[ft])) {
        return err("filter must be a constant tensor");
      }
      TensorInfo fi;
      GetInfo(context, p, ft, &fi);
      if (CheckTensor(err, "filter", fi, kTfLiteInt32, 4) != kTfLiteOk) return kTfLiteError;
      const int cin_g = o.channels_in / o.groups;
      if (fi.shape[1] != o.filter_height || fi.shape[2] != o.filter_width ||
          fi.shape[3] != PackedWords(cin_g) || fi.shape[0] <= 0) {
        return err("filter shape " + ShapeString(fi.shape) + " does not match [Cout, " +
                   std::to_string(o.filter_height) + ", " + std::to_string(o.filter_width) + ", " +
                   std::to_string(PackedWords(cin_g)) + "] (filter size, channels_in/groups)");
      }
      const int cout = fi.shape[0];
      if (cout % o.groups != 0) {
        return err("output channels " + std::to_string(cout) + " not divisible by groups");
      }
      const float *mult = nullptr, *bias = nullptr;
      if (ConstFloats(context, p, err, op, schema::kBconv2dInputMultiplier, "multiplier", cout,
                      &mult) != kTfLiteOk ||
          ConstFloats(context, p, err, op, schema::kBconv2dInputBias, "bias", cout, &bias) !=
              kTfLiteOk) {
        return kTfLiteError;
      }
      if (!op.conv || op.built_for != in.shape) {
        BConv2DParams cp;
        cp.batch = in.shape[0];
        cp.input_height = in.shape[1];
        cp.input_width = in.shape[2];
        cp.channels_in = o.channels_in;
        cp.channels_out = cout;
        cp.filter_height = o.filter_height;
        cp.filter_width = o.filter_width;
        cp.stride_height = o.stride_height;
        cp.stride_width = o.stride_width;
        cp.dilation_height = o.dilation_height;
        cp.dilation_width = o.dilation_width;
        cp.padding = o.padding;
        cp.pad_value = o.pad_values;
        cp.groups = o.groups;
        cp.output = o.output;
        cp.residual = cp.sign_output = residual;
        cp.kernel = p->delegate->options.kernel;
        cp.num_threads = threads;
        const auto* filt = static_cast<const uint32_t*>(context->tensors[ft].data);
        if (filt == nullptr) return err("filter has no data");
        op.conv.reset();
        Status st = BConv2D::Create(cp, filt, mult, bias, &op.conv);
        if (!st.ok()) return err(st.message());
        op.built_for = in.shape;
      }
      const int oc = o.output.type == OutputType::kBitpacked ? PackedWords(cout) : cout;
      const std::vector<int> out_shape = {in.shape[0], op.conv->output_height(),
                                          op.conv->output_width(), oc};
      if (residual) {  // residual input of the output's shape; bitpacked signs as output 1
        TensorInfo ri;
        if (!GetInfo(context, p, op.inputs[schema::kBconv2dResidualInputResidual], &ri)) {
          return err("bad residual tensor index");
        }
        if (CheckTensor(err, "residual", ri, kTfLiteFloat32, 4) != kTfLiteOk) return kTfLiteError;
        if (ri.shape != out_shape) {
          return err("residual shape " + ShapeString(ri.shape) + " must equal the output shape " +
                     ShapeString(out_shape));
        }
        const int bits_t = op.outputs[1];
        if (bits_t < 0 || static_cast<size_t>(bits_t) >= context->tensors_size) {
          return err("bad output_bits tensor index");
        }
        if (SetOutput(context, p, err, bits_t, kTfLiteInt32,
                      {out_shape[0], out_shape[1], out_shape[2], PackedWords(cout)}) != kTfLiteOk) {
          return kTfLiteError;
        }
        RecordChannels(context, p, bits_t, cout);
      }
      if (o.output.type == OutputType::kBitpacked) RecordChannels(context, p, out_t, cout);
      if (CheckInt8Output(context, p, err, o.output, out_t) != kTfLiteOk) return kTfLiteError;
      return SetOutput(context, p, err, out_t, OutputTfLiteType(o.output.type), out_shape);
    }
    case OpKind::kBFullyConnected: {
      if (CheckTensor(err, "input", in, kTfLiteInt32, 2) != kTfLiteOk) return kTfLiteError;
      if (in.shape[1] != PackedWords(o.input_size)) {
        return err("bitpacked input " + ShapeString(in.shape) + " must have " +
                   std::to_string(PackedWords(o.input_size)) + " words per row for input_size=" +
                   std::to_string(o.input_size));
      }
      if (CheckChannels(context, p, err, op.inputs[0], o.input_size, "input_size") != kTfLiteOk) {
        return kTfLiteError;
      }
      ArmPaddingCheck(context, p, op, in.shape, o.input_size);
      const int wt = op.inputs[1];
      if (wt < 0 || static_cast<size_t>(wt) >= context->tensors_size || p->internal_index[wt] >= 0 ||
          !IsConstant(context->tensors[wt])) {
        return err("weights must be a constant tensor");
      }
      TensorInfo wi;
      GetInfo(context, p, wt, &wi);
      if (CheckTensor(err, "weights", wi, kTfLiteInt32, 2) != kTfLiteOk) return kTfLiteError;
      if (wi.shape[1] != PackedWords(o.input_size) || wi.shape[0] <= 0) {
        return err("weights shape " + ShapeString(wi.shape) + " does not match [Cout, " +
                   std::to_string(PackedWords(o.input_size)) + "]");
      }
      const int cout = wi.shape[0];
      const float *mult = nullptr, *bias = nullptr;
      if (ConstFloats(context, p, err, op, schema::kBFullyConnectedInputMultiplier, "multiplier",
                      cout, &mult) != kTfLiteOk ||
          ConstFloats(context, p, err, op, schema::kBFullyConnectedInputBias, "bias", cout,
                      &bias) != kTfLiteOk) {
        return kTfLiteError;
      }
      if (!op.fc || op.built_for != in.shape) {
        BFullyConnectedParams fp;
        fp.batch = in.shape[0];
        fp.input_size = o.input_size;
        fp.output_size = cout;
        fp.output = o.output;
        fp.kernel = p->delegate->options.kernel;
        fp.num_threads = threads;
        const auto* w = static_cast<const uint32_t*>(context->tensors[wt].data);
        if (w == nullptr) return err("weights have no data");
        op.fc.reset();
        Status st = BFullyConnected::Create(fp, w, mult, bias, &op.fc);
        if (!st.ok()) return err(st.message());
        op.built_for = in.shape;
      }
      const int oc = o.output.type == OutputType::kBitpacked ? PackedWords(cout) : cout;
      if (o.output.type == OutputType::kBitpacked) RecordChannels(context, p, out_t, cout);
      if (CheckInt8Output(context, p, err, o.output, out_t) != kTfLiteOk) return kTfLiteError;
      return SetOutput(context, p, err, out_t, OutputTfLiteType(o.output.type), {in.shape[0], oc});
    }
  }
  return err("unknown op kind");
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
  std::vector<uint64_t> elapsed_ns(profiling ? p->nodes.size() : 0);
  size_t op_index = 0;
  for (NodeOp& op : p->nodes) {
    const Err err{context, &op};
    const auto start = profiling ? std::chrono::steady_clock::now()
                                 : std::chrono::steady_clock::time_point();
    Status st;
    if (CheckPaddingBits(err, op, TensorData(context, p, op.inputs[0])) != kTfLiteOk) return kTfLiteError;
    if (op.lce) {  // Larq Compute Engine op: the mapping layer reports its own errors
      if (lce::InvokeLceNode(op.lce.get(), LceHost(context, p, err), op.inputs, op.outputs, pool) !=
          kTfLiteOk) {
        return kTfLiteError;
      }
    } else {
      const void* in = TensorData(context, p, op.inputs[0]);
      void* out = TensorData(context, p, op.outputs[0]);
      if (in == nullptr || out == nullptr) return err("input or output tensor has no data");
      switch (op.opt.kind) {
        case OpKind::kQuantize:
          st = op.int8_input ? QuantizeInt8(static_cast<const int8_t*>(in), op.rows, op.channels,
                                            op.zero_point, static_cast<uint32_t*>(out))
                             : QuantizeFloat(static_cast<const float*>(in), op.rows, op.channels,
                                             static_cast<uint32_t*>(out));
          break;
        case OpKind::kDequantize:
          st = Dequantize(static_cast<const uint32_t*>(in), op.rows, op.channels,
                          static_cast<float*>(out));
          break;
        case OpKind::kBMaxPool2d:
          if (!op.pool) return err("not prepared");
          st = op.pool->Run(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), pool);
          break;
        case OpKind::kBconv2d:
          if (!op.conv) return err("not prepared");
          st = op.conv->Run(static_cast<const uint32_t*>(in), out, pool);
          break;
        case OpKind::kBconv2dResidual: {
          if (!op.conv) return err("not prepared");
          const void* res = TensorData(context, p, op.inputs[schema::kBconv2dResidualInputResidual]);
          void* bits = TensorData(context, p, op.outputs[1]);
          if (res == nullptr || bits == nullptr) return err("residual or output_bits has no data");
          st = op.conv->Run(static_cast<const uint32_t*>(in), static_cast<const float*>(res), out,
                            static_cast<uint32_t*>(bits), pool);
          break;
        }
        case OpKind::kBFullyConnected:
          if (!op.fc) return err("not prepared");
          st = op.fc->Run(static_cast<const uint32_t*>(in), out, pool);
          break;
      }
    }
    if (!st.ok()) return err(st.message());
    if (profiling) {
      elapsed_ns[op_index] = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::steady_clock::now() - start).count());
    }
    ++op_index;
  }
  if (profiling) {
    Profile& prof = p->delegate->profile;
    std::lock_guard<std::mutex> lock(prof.mutex);
    for (size_t i = 0; i < p->nodes.size(); ++i) {
      ProfileEntry& e = prof.nodes[p->nodes[i].node_index];
      if (e.op.empty()) e.op = p->nodes[i].name();
      e.ns += elapsed_ns[i];
      ++e.count;
    }
  }
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

// ---------------------------------------------------------------------------------------------
// Delegate

TfLiteStatus DelegatePrepareImpl(TfLiteContext* context, TfLiteDelegate* base) {
  Delegate* d = FromBase(base);
  TfLiteIntArray* plan = nullptr;
  if (context->GetExecutionPlan(context, &plan) != kTfLiteOk || plan == nullptr) {
    context->ReportError(context, "kbnn delegate: cannot read the execution plan");
    return kTfLiteError;
  }
  std::vector<int> claimed;
  std::vector<int> touched_tensors;
  for (int node_index : ToVector(plan)) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (context->GetNodeAndRegistration(context, node_index, &node, &reg) != kTfLiteOk ||
        node == nullptr || reg == nullptr) {
      continue;
    }
    if (reg->builtin_code != kTfLiteBuiltinCustom || reg->custom_name == nullptr) continue;
    const size_t options_size = static_cast<size_t>(std::max(node->custom_initial_data_size, 0));
    Status st;
    if (lce::IsLceOpName(reg->custom_name)) {  // Larq Compute Engine files (lce_ops.h)
      lce::LceOptions lo;
      st = lce::ParseLceOptions(reg->custom_name, reg->version, node->custom_initial_data,
                                options_size, &lo);
    } else if (std::strncmp(reg->custom_name, "Kbnn", 4) == 0) {
      const schema::OpDef* def = FindOp(reg->custom_name);
      if (def == nullptr) {
        context->ReportError(context,
                             "kbnn delegate: node %d (%s) not claimed: unknown kbnn op (this "
                             "delegate implements schema version %d; update kbnn)",
                             node_index, reg->custom_name, schema::kSchemaVersion);
        continue;
      }
      OpOptions opt;
      st = ParseOpOptions(*def, node->custom_initial_data, options_size, &opt);
    } else {
      continue;
    }
    if (!st.ok()) {
      context->ReportError(context, "kbnn delegate: node %d (%s) not claimed: %s", node_index,
                           reg->custom_name, st.message().c_str());
      continue;
    }
    claimed.push_back(node_index);
    for (int t : ToVector(node->inputs)) touched_tensors.push_back(t);
  }
  if (claimed.empty()) return kTfLiteOk;

  std::string why;
  if (!TensorLayoutHolds(context, touched_tensors, &why)) {
    context->ReportError(context,
                         "kbnn delegate: this runtime's TfLiteTensor layout differs from the one "
                         "the delegate was built for, or the model is corrupted (%s); refusing to run",
                         why.c_str());
    return kTfLiteError;
  }
  {
    std::lock_guard<std::mutex> lock(d->pool_mutex);
    if (!d->pool) d->pool = std::make_unique<ThreadPool>(ResolveThreads(d->options, context));
  }

  TfLiteRegistrationWithPadding reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.prefix.init = KernelInit;
  reg.prefix.free = KernelFree;
  reg.prefix.prepare = KernelPrepare;
  reg.prefix.invoke = KernelInvoke;
  reg.prefix.builtin_code = kTfLiteBuiltinDelegate;
  reg.prefix.custom_name = "KbnnDelegate";
  reg.prefix.version = 1;
  TfLiteIntArray* nodes = NewIntArray(claimed);
  if (nodes == nullptr) return kTfLiteError;
  const TfLiteStatus status =
      context->ReplaceNodeSubsetsWithDelegateKernels(context, reg, nodes, base);
  std::free(nodes);
  return status;
}

TfLiteStatus DelegatePrepare(TfLiteContext* context, TfLiteDelegate* base) {
  try {
    return DelegatePrepareImpl(context, base);
  } catch (...) {
    context->ReportError(context, "kbnn delegate: delegate prepare failed with an exception");
    return kTfLiteError;
  }
}

}  // namespace
}  // namespace delegate
}  // namespace kbnn

KBNN_EXPORT void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate);

KBNN_EXPORT TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values,
                                                          size_t num_options,
                                                          void (*report_error)(const char*)) {
  using namespace kbnn::delegate;
  DelegateOptions options;
  // Python's ctypes passes the count as a C int: only the low 32 bits are meaningful.
  const size_t n = static_cast<size_t>(static_cast<unsigned int>(num_options));
  kbnn::Status st;
  try {
    st = ParseDelegateOptions(keys, values, n, &options);
  } catch (...) {
    st = kbnn::Status::Internal("kbnn delegate: out of memory");
  }
  if (!st.ok()) {
    if (report_error != nullptr) report_error(st.message().c_str());
    return nullptr;
  }
  auto* d = new (std::nothrow) Delegate;
  if (d == nullptr) return nullptr;
  std::memset(&d->base, 0, sizeof(d->base));
  std::memset(d->reserved, 0, sizeof(d->reserved));
  d->base.data_ = d;
  d->base.Prepare = DelegatePrepare;
  d->base.flags = kTfLiteDelegateFlagsAllowDynamicTensors;
  d->options = options;
  d->report_error = report_error;
  if (!options.profile.empty()) {
    try {
      std::lock_guard<std::mutex> lock(ProfileRegistryMutex());
      ProfileRegistry()[options.profile] = d;
    } catch (...) {
      delete d;
      return nullptr;
    }
  }
  if (options.num_threads > 0) {
    try {
      d->pool = std::make_unique<kbnn::ThreadPool>(options.num_threads);
    } catch (...) {
      if (report_error != nullptr) report_error("kbnn delegate: cannot start the thread pool");
      tflite_plugin_destroy_delegate(&d->base);
      return nullptr;
    }
  }
  return &d->base;
}

KBNN_EXPORT void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  using namespace kbnn::delegate;
  Delegate* d = FromBase(delegate);
  if (d != nullptr && !d->options.profile.empty()) {
    std::lock_guard<std::mutex> lock(ProfileRegistryMutex());
    auto it = ProfileRegistry().find(d->options.profile);
    if (it != ProfileRegistry().end() && it->second == d) ProfileRegistry().erase(it);
  }
  delete d;
}

// Profiling (delegate option profile=<id>): the per-node times accumulated since creation or the
// last reset, as JSON {"nodes": [{"node": i, "op": "KbnnBconv2d", "ns": total, "count": n}, ...]}
// (node: index in the interpreter's execution plan). Writes at most size-1 bytes and a NUL into
// buf; returns the full length (call with size 0 to ask), or -1 when no delegate has this id.
KBNN_EXPORT long kbnn_delegate_profile_json(const char* id, char* buf, size_t size) {
  using namespace kbnn::delegate;
  if (id == nullptr) return -1;
  std::string json;
  try {
    std::lock_guard<std::mutex> lock(ProfileRegistryMutex());
    auto it = ProfileRegistry().find(id);
    if (it == ProfileRegistry().end()) return -1;
    Profile& prof = it->second->profile;
    std::lock_guard<std::mutex> plock(prof.mutex);
    json = "{\"nodes\": [";
    bool first = true;
    for (const auto& [node, e] : prof.nodes) {
      if (!first) json += ", ";
      first = false;
      json += "{\"node\": " + std::to_string(node) + ", \"op\": \"" + e.op +
              "\", \"ns\": " + std::to_string(e.ns) + ", \"count\": " +
              std::to_string(e.count) + "}";
    }
    json += "]}";
  } catch (...) {
    return -1;
  }
  if (buf != nullptr && size > 0) {
    const size_t n = std::min(size - 1, json.size());
    std::memcpy(buf, json.data(), n);
    buf[n] = '\0';
  }
  return static_cast<long>(json.size());
}

// Clears the accumulated profile of the delegate with this id; 0, or -1 when there is none.
KBNN_EXPORT int kbnn_delegate_profile_reset(const char* id) {
  using namespace kbnn::delegate;
  if (id == nullptr) return -1;
  std::lock_guard<std::mutex> lock(ProfileRegistryMutex());
  auto it = ProfileRegistry().find(id);
  if (it == ProfileRegistry().end()) return -1;
  std::lock_guard<std::mutex> plock(it->second->profile.mutex);
  it->second->profile.nodes.clear();
  return 0;
}

// The kernel ISA that kernel=auto resolves to on this CPU ("avx2", "scalar", "neon", ...; a
// forced KBNN_KERNEL=reference gives "reference"). Static string, never NULL.
KBNN_EXPORT const char* kbnn_delegate_kernel_isa() {
  try {
    const char* isa = kbnn::SelectedIsa();
    return isa != nullptr ? isa : "unknown";
  } catch (...) {
    return "unknown";
  }
}

// Introspection: the op table this delegate implements, as JSON (see options.h).
KBNN_EXPORT const char* kbnn_delegate_schema_json() {
  return kbnn::delegate::SchemaJson().c_str();
}
