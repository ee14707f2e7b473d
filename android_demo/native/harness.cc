// kbnn_harness: runs a .tflite model through the stock TFLite C API (libLiteRtRuntimeCApi.so from
// the ai-edge-litert wheel, or any libtensorflowlite_c.so) with the kbnn delegate attached through
// its external-delegate plugin entry point -- the same path the Android app takes through JNI.
//
//   kbnn_harness --model M.tflite --samples S.bin [--delegate libkbnn_delegate.so]
//                [--threads N] [--runs R]
//
// S.bin holds the samples back to back, each exactly the model's input size in bytes (float32
// images; any input type is copied as raw bytes). The output must be float32.
// Output, one line per sample:   sample <i> pred <argmax> out <v0> <v1> ...
// then:                          latency_us median <m> runs <R> threads <N>
// Exit status 0 on success; any failure prints "error: ..." to stderr and exits 1.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

// The few TFLite C API declarations used here (tensorflow/lite/core/c/c_api.h and
// c_api_types.h). Handles are opaque; enums are passed as int.
extern "C" {
struct TfLiteModel;
struct TfLiteInterpreterOptions;
struct TfLiteInterpreter;
struct TfLiteTensor;
struct TfLiteDelegate;

TfLiteModel* TfLiteModelCreateFromFile(const char* model_path);
void TfLiteModelDelete(TfLiteModel* model);
TfLiteInterpreterOptions* TfLiteInterpreterOptionsCreate(void);
void TfLiteInterpreterOptionsDelete(TfLiteInterpreterOptions* options);
void TfLiteInterpreterOptionsSetNumThreads(TfLiteInterpreterOptions* options, int32_t num_threads);
// Declared with TfLiteOpaqueDelegate* in current headers; the runtime stores it as TfLiteDelegate*.
void TfLiteInterpreterOptionsAddDelegate(TfLiteInterpreterOptions* options,
                                         TfLiteDelegate* delegate);
void TfLiteInterpreterOptionsSetErrorReporter(TfLiteInterpreterOptions* options,
                                              void (*reporter)(void* user_data, const char* format,
                                                               va_list args),
                                              void* user_data);
TfLiteInterpreter* TfLiteInterpreterCreate(const TfLiteModel* model,
                                           const TfLiteInterpreterOptions* optional_options);
void TfLiteInterpreterDelete(TfLiteInterpreter* interpreter);
int32_t TfLiteInterpreterGetInputTensorCount(const TfLiteInterpreter* interpreter);
TfLiteTensor* TfLiteInterpreterGetInputTensor(const TfLiteInterpreter* interpreter,
                                              int32_t input_index);
int TfLiteInterpreterAllocateTensors(TfLiteInterpreter* interpreter);
int TfLiteInterpreterInvoke(TfLiteInterpreter* interpreter);
int32_t TfLiteInterpreterGetOutputTensorCount(const TfLiteInterpreter* interpreter);
const TfLiteTensor* TfLiteInterpreterGetOutputTensor(const TfLiteInterpreter* interpreter,
                                                     int32_t output_index);
int TfLiteTensorType(const TfLiteTensor* tensor);
size_t TfLiteTensorByteSize(const TfLiteTensor* tensor);
int TfLiteTensorCopyFromBuffer(TfLiteTensor* tensor, const void* input_data,
                               size_t input_data_size);
int TfLiteTensorCopyToBuffer(const TfLiteTensor* output_tensor, void* output_data,
                             size_t output_data_size);
}

namespace {

constexpr int kTfLiteOk = 0;
constexpr int kTfLiteFloat32 = 1;

// The kbnn external-delegate plugin ABI (kernels/tflite).
using CreateDelegateFn = TfLiteDelegate* (*)(char** keys, char** values, size_t num_options,
                                             void (*report_error)(const char*));
using DestroyDelegateFn = void (*)(TfLiteDelegate* delegate);

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  std::exit(1);
}

void ReportRuntimeError(void* /*user_data*/, const char* format, va_list args) {
  std::fputs("tflite: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
}

void ReportDelegateError(const char* message) {
  std::fprintf(stderr, "kbnn delegate: %s\n", message);
}

struct Args {
  std::string model;
  std::string samples;
  std::string delegate;
  int threads = 1;
  int runs = 20;
};

int ParsePositive(const char* flag, const char* text) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < 1 || value > 1000000) {
    Fail(std::string(flag) + " needs a positive integer, got '" + text + "'");
  }
  return static_cast<int>(value);
}

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Fail("missing value after " + flag);
    const char* value = argv[++i];
    if (flag == "--model") {
      args.model = value;
    } else if (flag == "--samples") {
      args.samples = value;
    } else if (flag == "--delegate") {
      args.delegate = value;
    } else if (flag == "--threads") {
      args.threads = ParsePositive("--threads", value);
    } else if (flag == "--runs") {
      args.runs = ParsePositive("--runs", value);
    } else {
      Fail("unknown flag " + flag);
    }
  }
  if (args.model.empty() || args.samples.empty()) {
    Fail(
        "usage: kbnn_harness --model M.tflite --samples S.bin [--delegate LIB.so] "
        "[--threads N] [--runs R]");
  }
  return args;
}

std::vector<char> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("cannot open " + path);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Owns the delegate library and the delegate it created.
class PluginDelegate {
 public:
  PluginDelegate(const std::string& library, int threads) {
    handle_ = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) Fail(std::string("dlopen: ") + dlerror());
    auto create =
        reinterpret_cast<CreateDelegateFn>(dlsym(handle_, "tflite_plugin_create_delegate"));
    destroy_ =
        reinterpret_cast<DestroyDelegateFn>(dlsym(handle_, "tflite_plugin_destroy_delegate"));
    if (create == nullptr || destroy_ == nullptr) {
      Fail(library + " does not export the tflite_plugin_{create,destroy}_delegate entry points");
    }
    std::string key = "num_threads";
    std::string value = std::to_string(threads);
    char* keys[] = {key.data()};
    char* values[] = {value.data()};
    delegate_ = create(keys, values, 1, ReportDelegateError);
    if (delegate_ == nullptr) Fail("tflite_plugin_create_delegate returned null");
  }
  ~PluginDelegate() {
    if (delegate_ != nullptr) destroy_(delegate_);
    // The library stays loaded: the process exits right after and unloading buys nothing.
  }
  PluginDelegate(const PluginDelegate&) = delete;
  PluginDelegate& operator=(const PluginDelegate&) = delete;
  TfLiteDelegate* get() const { return delegate_; }

 private:
  void* handle_ = nullptr;
  DestroyDelegateFn destroy_ = nullptr;
  TfLiteDelegate* delegate_ = nullptr;
};

int Run(const Args& args) {
  TfLiteModel* model = TfLiteModelCreateFromFile(args.model.c_str());
  if (model == nullptr) Fail("cannot load model " + args.model);

  // Declared before the interpreter so it is destroyed after it.
  std::unique_ptr<PluginDelegate> delegate;
  if (!args.delegate.empty())
    delegate = std::make_unique<PluginDelegate>(args.delegate, args.threads);

  TfLiteInterpreterOptions* options = TfLiteInterpreterOptionsCreate();
  TfLiteInterpreterOptionsSetNumThreads(options, args.threads);
  TfLiteInterpreterOptionsSetErrorReporter(options, ReportRuntimeError, nullptr);
  if (delegate) TfLiteInterpreterOptionsAddDelegate(options, delegate->get());
  TfLiteInterpreter* interpreter = TfLiteInterpreterCreate(model, options);
  TfLiteInterpreterOptionsDelete(options);
  if (interpreter == nullptr) Fail("TfLiteInterpreterCreate failed (see the tflite: lines above)");
  if (TfLiteInterpreterAllocateTensors(interpreter) != kTfLiteOk) Fail("AllocateTensors failed");
  if (TfLiteInterpreterGetInputTensorCount(interpreter) != 1 ||
      TfLiteInterpreterGetOutputTensorCount(interpreter) != 1) {
    Fail("the harness expects a model with one input and one output");
  }
  TfLiteTensor* input = TfLiteInterpreterGetInputTensor(interpreter, 0);
  const TfLiteTensor* output = TfLiteInterpreterGetOutputTensor(interpreter, 0);
  // Inputs are copied as raw bytes (float32 images, or already-bitpacked int32 words for
  // single-op test models); outputs are read as float32.
  if (TfLiteTensorType(output) != kTfLiteFloat32) Fail("the harness expects a float32 output");
  const size_t in_bytes = TfLiteTensorByteSize(input);
  const size_t out_bytes = TfLiteTensorByteSize(output);
  const std::vector<char> samples = ReadFile(args.samples);
  if (in_bytes == 0 || samples.empty() || samples.size() % in_bytes != 0) {
    Fail(args.samples + " has " + std::to_string(samples.size()) +
         " bytes, not a positive multiple of the input size " + std::to_string(in_bytes));
  }
  const size_t num_samples = samples.size() / in_bytes;
  std::vector<float> out(out_bytes / sizeof(float));

  for (size_t i = 0; i < num_samples; ++i) {
    if (TfLiteTensorCopyFromBuffer(input, samples.data() + i * in_bytes, in_bytes) != kTfLiteOk ||
        TfLiteInterpreterInvoke(interpreter) != kTfLiteOk ||
        TfLiteTensorCopyToBuffer(output, out.data(), out_bytes) != kTfLiteOk) {
      Fail("inference failed on sample " + std::to_string(i));
    }
    const size_t pred = static_cast<size_t>(std::max_element(out.begin(), out.end()) - out.begin());
    std::printf("sample %zu pred %zu out", i, pred);
    for (float v : out) std::printf(" %.9g", v);
    std::printf("\n");
  }

  // Latency: median of `runs` invocations on the first sample.
  std::vector<double> micros;
  micros.reserve(args.runs);
  TfLiteTensorCopyFromBuffer(input, samples.data(), in_bytes);
  for (int r = 0; r < args.runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    if (TfLiteInterpreterInvoke(interpreter) != kTfLiteOk) Fail("invoke failed while timing");
    micros.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::nth_element(micros.begin(), micros.begin() + micros.size() / 2, micros.end());
  std::printf("latency_us median %.1f runs %d threads %d\n", micros[micros.size() / 2], args.runs,
              args.threads);

  TfLiteInterpreterDelete(interpreter);
  TfLiteModelDelete(model);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(ParseArgs(argc, argv)); }
