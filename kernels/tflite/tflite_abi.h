#pragma once
// The subset of the TFLite C ABI (tensorflow/lite/core/c/common.h) that the kbnn delegate uses,
// declared here from the public headers' documented layout: no TFLite header ships with the
// runtimes we target. Only the struct PREFIXES below are relied on (see docs/architecture.md §4);
// everything past them is either never read or, for structs the runtime copies from us, padded
// with zeroed reserved bytes so newer fields read as "unset".
#include <cstddef>
#include <cstdint>

extern "C" {

typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

// TfLiteType (C API enum; NOT the flatbuffer TensorType enum: float32 is 1 here, 0 there).
typedef enum {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt64 = 4,
  kTfLiteString = 5,
  kTfLiteBool = 6,
  kTfLiteInt16 = 7,
  kTfLiteComplex64 = 8,
  kTfLiteInt8 = 9,
  kTfLiteFloat16 = 10,
} TfLiteType;

typedef enum {
  kTfLiteMemNone = 0,
  kTfLiteMmapRo = 1,
  kTfLiteArenaRw = 2,
  kTfLiteArenaRwPersistent = 3,
  kTfLiteDynamic = 4,
  kTfLitePersistentRo = 5,
} TfLiteAllocationType;

constexpr int kTfLiteOptionalTensor = -1;
constexpr int32_t kTfLiteBuiltinCustom = 32;    // BuiltinOperator_CUSTOM
constexpr int32_t kTfLiteBuiltinDelegate = 51;  // BuiltinOperator_DELEGATE
constexpr int64_t kTfLiteDelegateFlagsAllowDynamicTensors = 1;

// Variable-length: allocated with malloc (the runtime frees arrays handed to ResizeTensor).
typedef struct TfLiteIntArray {
  int size;
  int data[1];  // really `int data[]`; sizeof is not relied on
} TfLiteIntArray;

typedef struct {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef struct {
  int type;
  void* params;
} TfLiteQuantization;

struct TfLiteDelegate;
struct TfLiteContext;

typedef struct TfLiteTensor {
  int type;                       // TfLiteType
  void* data;                     // TfLitePtrUnion: every member is a pointer
  TfLiteIntArray* dims;
  TfLiteQuantizationParams params;
  int allocation_type;            // TfLiteAllocationType
  size_t bytes;
  const void* allocation;
  const char* name;
  TfLiteDelegate* delegate;
  int buffer_handle;
  bool data_is_stale;
  bool is_variable;
  TfLiteQuantization quantization;
  void* sparsity;
  const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
  // ... (delegate, might_have_side_effect, ...): never read
} TfLiteNode;

struct TfLiteRegistration;

typedef struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(TfLiteContext* context, TfLiteIntArray** execution_plan);
  TfLiteTensor* tensors;
  void* impl_;
  TfLiteStatus (*ResizeTensor)(TfLiteContext*, TfLiteTensor* tensor, TfLiteIntArray* new_size);
  void (*ReportError)(TfLiteContext*, const char* format, ...);
  TfLiteStatus (*AddTensors)(TfLiteContext*, int tensors_to_add, int* first_new_tensor_index);
  TfLiteStatus (*GetNodeAndRegistration)(TfLiteContext*, int node_index, TfLiteNode** node,
                                         TfLiteRegistration** registration);
  // Takes the registration BY VALUE: the callee reads its own (possibly larger) struct size.
  TfLiteStatus (*ReplaceNodeSubsetsWithDelegateKernels)(TfLiteContext*,
                                                        struct TfLiteRegistrationWithPadding,
                                                        const TfLiteIntArray* nodes_to_replace,
                                                        TfLiteDelegate* delegate);
  int recommended_num_threads;
  void* GetExternalContext;
  void* SetExternalContext;
  bool allow_fp32_relax_to_fp16;
  void* profiler;
  void* AllocatePersistentBuffer;
  void* AllocateBufferForEval;
  void* RequestScratchBufferInArena;
  void* GetScratchBuffer;
  void* ResizeTensorExplicit;
  void* PreviewDelegatePartitioning;
  TfLiteTensor* (*GetTensor)(const TfLiteContext* context, int tensor_idx);  // NULL in practice
} TfLiteContext;

typedef struct TfLiteRegistration {
  void* (*init)(TfLiteContext* context, const char* buffer, size_t length);
  void (*free)(TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node);
  const char* (*profiling_string)(const TfLiteContext* context, const TfLiteNode* node);
  int32_t builtin_code;
  const char* custom_name;
  int version;
} TfLiteRegistration;

// What we pass by value to ReplaceNodeSubsetsWithDelegateKernels: the classic prefix followed by
// zeroed bytes covering the fields newer runtimes append (registration_external, async_kernel,
// inplace_operator, ...).
struct TfLiteRegistrationWithPadding {
  TfLiteRegistration prefix;
  unsigned char reserved[256];
};

typedef struct TfLiteDelegate {
  void* data_;
  TfLiteStatus (*Prepare)(TfLiteContext* context, TfLiteDelegate* delegate);
  TfLiteStatus (*CopyFromBufferHandle)(TfLiteContext*, TfLiteDelegate*, int, TfLiteTensor*);
  TfLiteStatus (*CopyToBufferHandle)(TfLiteContext*, TfLiteDelegate*, int, TfLiteTensor*);
  void (*FreeBufferHandle)(TfLiteContext*, TfLiteDelegate*, int* handle);
  int64_t flags;
  // opaque_delegate_builder and later fields: zeroed reserved bytes (see below)
} TfLiteDelegate;

// Init buffer of a delegate kernel (length argument is 0).
typedef struct TfLiteDelegateParams {
  TfLiteDelegate* delegate;
  TfLiteIntArray* nodes_to_replace;
  TfLiteIntArray* input_tensors;
  TfLiteIntArray* output_tensors;
} TfLiteDelegateParams;

}  // extern "C"

// Layout checks for the 64-bit targets the offsets were verified on (x86-64, aarch64).
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
static_assert(sizeof(TfLiteTensor) == 112, "TfLiteTensor must be 112 bytes");
static_assert(offsetof(TfLiteTensor, data) == 8, "TfLiteTensor.data");
static_assert(offsetof(TfLiteTensor, dims) == 16, "TfLiteTensor.dims");
static_assert(offsetof(TfLiteTensor, allocation_type) == 32, "TfLiteTensor.allocation_type");
static_assert(offsetof(TfLiteTensor, bytes) == 40, "TfLiteTensor.bytes");
static_assert(offsetof(TfLiteTensor, name) == 56, "TfLiteTensor.name");
static_assert(offsetof(TfLiteNode, custom_initial_data) == 48, "TfLiteNode.custom_initial_data");
static_assert(offsetof(TfLiteNode, custom_initial_data_size) == 56, "TfLiteNode.custom_data_size");
static_assert(offsetof(TfLiteContext, tensors) == 16, "TfLiteContext.tensors");
static_assert(offsetof(TfLiteContext, ResizeTensor) == 32, "TfLiteContext.ResizeTensor");
static_assert(offsetof(TfLiteContext, ReportError) == 40, "TfLiteContext.ReportError");
static_assert(offsetof(TfLiteContext, GetNodeAndRegistration) == 56, "GetNodeAndRegistration");
static_assert(offsetof(TfLiteContext, ReplaceNodeSubsetsWithDelegateKernels) == 64, "Replace...");
static_assert(offsetof(TfLiteContext, recommended_num_threads) == 72, "recommended_num_threads");
static_assert(offsetof(TfLiteContext, GetTensor) == 160, "TfLiteContext.GetTensor");
static_assert(offsetof(TfLiteRegistration, builtin_code) == 40, "TfLiteRegistration.builtin_code");
static_assert(offsetof(TfLiteRegistration, custom_name) == 48, "TfLiteRegistration.custom_name");
static_assert(offsetof(TfLiteRegistration, version) == 56, "TfLiteRegistration.version");
static_assert(offsetof(TfLiteDelegate, flags) == 40, "TfLiteDelegate.flags");
static_assert(sizeof(TfLiteDelegateParams) == 32, "TfLiteDelegateParams");
#endif
