// libkbnn_delegate.so: a TFLite external delegate that runs the kbnn custom ops (KbnnQuantize,
// KbnnDequantize, KbnnBconv2d, KbnnBconv2dResidual, KbnnBFullyConnected, KbnnBMaxPool2d) in the
// stock interpreters, and Larq Compute Engine's (LceQuantize, LceDequantize, LceBconv2d,
// LceBMaxPool2d). This file is the plumbing: the C entry points, claiming and partitioning.
//  * ops/registry.h: op name -> kernel, one file per op in ops/ (ops/op_kernel.h: the contract);
//  * partition.cc: the delegate kernel that prepares and invokes a partition's nodes;
//  * profile.cc: the profile=<id> option's per-node times and their C entry points.
//
// Claiming: Delegate Prepare walks the execution plan and claims every CUSTOM node whose name is
// a kbnn op and whose options parse with a supported kbnn_version. A kbnn node that cannot be
// claimed is reported through context->ReportError (node, op, reason) and stays unresolved, so
// the interpreter then fails with its "unresolved custom op" error after our message.
// Partitions: the runtime fuses adjacent claimed nodes into one delegate kernel (partition.cc).
// Threading: one kbnn::ThreadPool per delegate, shared by its kernels (runs are serialized).
#include "delegate.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kbnn/dispatch.h"
#include "ops/registry.h"

namespace kbnn {
namespace delegate {
namespace {

constexpr int kMaxAutoThreads = 4;

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
    for (int d = 0; d < tensor.dims->size; ++d) {
      n *= static_cast<size_t>(std::max(tensor.dims->data[d], 0));
    }
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
    if (!IsClaimableOpName(reg->custom_name)) continue;
    if (!IsKnownOpName(reg->custom_name)) {
      context->ReportError(context,
                           "kbnn delegate: node %d (%s) not claimed: unknown kbnn op (this "
                           "delegate implements schema version %d; update kbnn)",
                           node_index, reg->custom_name, schema::kSchemaVersion);
      continue;
    }
    const size_t options_size = static_cast<size_t>(std::max(node->custom_initial_data_size, 0));
    // Options only: the partition kernel creates the node's kernel.
    const Status st = CreateOpKernel(reg->custom_name, reg->version, node->custom_initial_data,
                                     options_size, nullptr);
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
    context->ReportError(
        context,
        "kbnn delegate: this runtime's TfLiteTensor layout differs from the one "
        "the delegate was built for, or the model is corrupted (%s); refusing to run",
        why.c_str());
    return kTfLiteError;
  }
  {
    std::lock_guard<std::mutex> lock(d->pool_mutex);
    if (!d->pool) d->pool = std::make_unique<ThreadPool>(ResolveThreads(d->options, context));
  }

  const TfLiteRegistrationWithPadding reg = PartitionKernelRegistration();
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
      RegisterProfile(options.profile, &d->profile);
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
  if (d != nullptr && !d->options.profile.empty())
    UnregisterProfile(d->options.profile, &d->profile);
  delete d;
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
KBNN_EXPORT const char* kbnn_delegate_schema_json() { return kbnn::delegate::SchemaJson().c_str(); }
