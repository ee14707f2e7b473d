// The delegate through its C ABI against a fake TfLiteContext (no TFLite runtime): claiming,
// partition init/prepare/invoke with internal tensors, resize + re-prepare, threads, errors and
// the tensor-layout check. Runs in ctest, so the sanitizer builds of kernels/ cover the delegate.
#include <flatbuffers/flexbuffers.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kbnn/bconv2d.h"
#include "kbnn/bitpack.h"
#include "kbnn/bmaxpool2d.h"
#include "kbnn/dispatch.h"
#include "tflite_abi.h"

extern "C" {
const char* kbnn_delegate_kernel_isa();
TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n,
                                              void (*report_error)(const char*));
void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate);
}

namespace {

TfLiteIntArray* IntArray(const std::vector<int>& v) {
  auto* a = static_cast<TfLiteIntArray*>(std::malloc(sizeof(int) * (v.size() + 1)));
  a->size = static_cast<int>(v.size());
  for (size_t i = 0; i < v.size(); ++i) a->data[i] = v[i];
  return a;
}

size_t Bytes(int type, const std::vector<int>& shape) {
  size_t n = type == kTfLiteInt8 ? 1 : 4;
  for (int d : shape) n *= d;
  return n;
}

struct FakeNode {
  TfLiteNode node;
  TfLiteRegistration reg;
  std::vector<uint8_t> options;
};

// A graph of custom nodes; every tensor is "allocated" by the fake runtime except the tensors
// the delegate owns (internal to the partition), which keep data == nullptr as in TFLite.
struct FakeGraph {
  TfLiteContext context;
  std::vector<TfLiteTensor> tensors;
  std::vector<std::vector<uint64_t>> storage;
  std::vector<std::unique_ptr<FakeNode>> nodes;
  TfLiteIntArray* plan = nullptr;
  std::string errors;
  // Captured by ReplaceNodeSubsetsWithDelegateKernels.
  TfLiteRegistrationWithPadding kernel_reg;
  std::vector<int> replaced;
  int replace_calls = 0;

  static FakeGraph* Self(TfLiteContext* c) { return reinterpret_cast<FakeGraph*>(c); }

  static void ReportError(TfLiteContext* c, const char* fmt, ...) {
    char buf[2048];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    Self(c)->errors += std::string(buf) + "\n";
  }

  FakeGraph() {
    static_assert(offsetof(FakeGraph, context) == 0, "context first");
    std::memset(&context, 0, sizeof(context));
    context.GetExecutionPlan = [](TfLiteContext* c, TfLiteIntArray** p) {
      *p = Self(c)->plan;
      return kTfLiteOk;
    };
    context.GetNodeAndRegistration = [](TfLiteContext* c, int i, TfLiteNode** n,
                                        TfLiteRegistration** r) {
      FakeGraph* g = Self(c);
      if (i < 0 || i >= static_cast<int>(g->nodes.size())) return kTfLiteError;
      *n = &g->nodes[i]->node;
      *r = &g->nodes[i]->reg;
      return kTfLiteOk;
    };
    context.ReplaceNodeSubsetsWithDelegateKernels =
        [](TfLiteContext* c, TfLiteRegistrationWithPadding reg, const TfLiteIntArray* nodes,
           TfLiteDelegate*) {
          FakeGraph* g = Self(c);
          g->kernel_reg = reg;
          g->replaced.assign(nodes->data, nodes->data + nodes->size);
          ++g->replace_calls;
          return kTfLiteOk;
        };
    context.ResizeTensor = [](TfLiteContext* c, TfLiteTensor* t, TfLiteIntArray* dims) {
      FakeGraph* g = Self(c);
      std::free(t->dims);
      t->dims = dims;
      std::vector<int> shape(dims->data, dims->data + dims->size);
      t->bytes = Bytes(t->type, shape);
      const size_t index = static_cast<size_t>(t - g->tensors.data());
      g->storage[index].assign(t->bytes / 8 + 1, 0);
      t->data = g->storage[index].data();
      return kTfLiteOk;
    };
    context.ReportError = ReportError;
    context.recommended_num_threads = -1;
  }
  ~FakeGraph() {
    for (auto& t : tensors) std::free(t.dims);
    for (auto& n : nodes) {
      std::free(n->node.inputs);
      std::free(n->node.outputs);
    }
    std::free(plan);
  }

  int Tensor(int type, const std::vector<int>& shape, const void* data = nullptr) {
    TfLiteTensor t;
    std::memset(&t, 0, sizeof(t));
    t.type = type;
    t.dims = IntArray(shape);
    t.bytes = Bytes(type, shape);
    t.allocation_type = data ? kTfLiteMmapRo : kTfLiteArenaRw;
    tensors.push_back(t);
    storage.emplace_back(t.bytes / 8 + 1, 0);
    if (data) std::memcpy(storage.back().data(), data, t.bytes);
    return static_cast<int>(tensors.size()) - 1;
  }

  void Node(const char* name, const std::vector<int>& in, const std::vector<int>& out,
            std::vector<uint8_t> options) {
    auto n = std::make_unique<FakeNode>();
    std::memset(&n->node, 0, sizeof(n->node));
    std::memset(&n->reg, 0, sizeof(n->reg));
    n->options = std::move(options);
    n->node.inputs = IntArray(in);
    n->node.outputs = IntArray(out);
    n->node.custom_initial_data = n->options.data();
    n->node.custom_initial_data_size = static_cast<int>(n->options.size());
    n->reg.builtin_code = kTfLiteBuiltinCustom;
    n->reg.custom_name = name;
    nodes.push_back(std::move(n));
  }

  // Finalizes the tensor array and the plan (all nodes in order).
  void Finish() {
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i].data = storage[i].data();
    context.tensors = tensors.data();
    context.tensors_size = tensors.size();
    std::vector<int> p;
    for (size_t i = 0; i < nodes.size(); ++i) p.push_back(static_cast<int>(i));
    plan = IntArray(p);
  }
};

std::vector<uint8_t> Options(const std::function<void(flexbuffers::Builder&)>& fill) {
  flexbuffers::Builder fbb;
  fbb.Map([&] { fill(fbb); });
  fbb.Finish();
  return fbb.GetBuffer();
}

struct Delegate {
  TfLiteDelegate* d = nullptr;
  explicit Delegate(int threads, const char* kernel = "auto") {
    std::string t = std::to_string(threads);
    char* keys[] = {const_cast<char*>("num_threads"), const_cast<char*>("kernel")};
    char* values[] = {const_cast<char*>(t.c_str()), const_cast<char*>(kernel)};
    d = tflite_plugin_create_delegate(keys, values, 2, nullptr);
  }
  ~Delegate() { tflite_plugin_destroy_delegate(d); }
};

// quantize(x) -> bconv (bitpacked, SAME) -> bmaxpool 2x2 -> dequantize; only x's quantized form,
// the conv output and the pool output are internal.
struct ChainModel {
  FakeGraph g;
  int x, y;
  std::vector<float> filters_f, mult, bias;
  int n = 2, h = 8, w = 6, cin = 45, cout = 37;

  explicit ChainModel(int num_conv_options_version = 1) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd;
    filters_f.resize(static_cast<size_t>(cout) * 9 * cin);
    for (auto& v : filters_f) v = nd(rng);
    mult.resize(cout);
    bias.resize(cout);
    for (int c = 0; c < cout; ++c) {
      mult[c] = 0.5f + (c % 7) * 0.1f;
      bias[c] = nd(rng);
    }
    size_t words = 0;
    kbnn::PackedFilterWords(cout, 3, 3, cin, &words);
    std::vector<uint32_t> packed(words);
    kbnn::PackFilters(filters_f.data(), cout, 3, 3, cin, packed.data());
    x = g.Tensor(kTfLiteFloat32, {n, h, w, cin});
    const int q = g.Tensor(kTfLiteInt32, {n, h, w, kbnn::PackedWords(cin)});
    const int f = g.Tensor(kTfLiteInt32, {cout, 3, 3, kbnn::PackedWords(cin)}, packed.data());
    const int m = g.Tensor(kTfLiteFloat32, {cout}, mult.data());
    const int b = g.Tensor(kTfLiteFloat32, {cout}, bias.data());
    const int c = g.Tensor(kTfLiteInt32, {n, h, w, kbnn::PackedWords(cout)});
    const int p = g.Tensor(kTfLiteInt32, {n, h / 2, w / 2, kbnn::PackedWords(cout)});
    y = g.Tensor(kTfLiteFloat32, {n, h / 2, w / 2, cout});
    g.Node("KbnnQuantize", {x}, {q},
           Options([](flexbuffers::Builder& o) { o.Int("kbnn_version", 1); }));
    g.Node("KbnnBconv2d", {q, f, m, b}, {c}, Options([&](flexbuffers::Builder& o) {
             o.Int("kbnn_version", num_conv_options_version);
             o.Int("channels_in", cin);
             o.Int("filter_height", 3);
             o.Int("filter_width", 3);
             o.String("padding", "SAME");
             o.Int("T", 2);
           }));
    g.Node("KbnnBMaxPool2d", {c}, {p}, Options([&](flexbuffers::Builder& o) {
             o.Int("kbnn_version", 1);
             o.Int("channels", cout);
             o.Int("filter_height", 2);
             o.Int("filter_width", 2);
             o.Int("stride_height", 2);
             o.Int("stride_width", 2);
           }));
    g.Node("KbnnDequantize", {p}, {y}, Options([&](flexbuffers::Builder& o) {
             o.Int("kbnn_version", 1);
             o.Int("channels", cout);
           }));
    g.Finish();
  }

  std::vector<float> Reference(const float* xv, int batch) {
    std::vector<uint32_t> qx(static_cast<size_t>(batch) * h * w * kbnn::PackedWords(cin));
    kbnn::QuantizeFloat(xv, static_cast<size_t>(batch) * h * w, cin, qx.data());
    size_t words = 0;
    kbnn::PackedFilterWords(cout, 3, 3, cin, &words);
    std::vector<uint32_t> packed(words);
    kbnn::PackFilters(filters_f.data(), cout, 3, 3, cin, packed.data());
    kbnn::BConv2DParams cp;
    cp.batch = batch;
    cp.input_height = h;
    cp.input_width = w;
    cp.channels_in = cin;
    cp.channels_out = cout;
    cp.filter_height = cp.filter_width = 3;
    cp.padding = kbnn::Padding::kSame;
    cp.output.type = kbnn::OutputType::kBitpacked;
    cp.kernel = kbnn::KernelChoice::kReference;
    std::unique_ptr<kbnn::BConv2D> conv;
    EXPECT_TRUE(kbnn::BConv2D::Create(cp, packed.data(), mult.data(), bias.data(), &conv).ok());
    std::vector<uint32_t> cv(conv->output_elements());
    EXPECT_TRUE(conv->Run(qx.data(), cv.data(), nullptr).ok());
    kbnn::BMaxPool2DParams mp;
    mp.batch = batch;
    mp.input_height = h;
    mp.input_width = w;
    mp.channels = cout;
    mp.filter_height = mp.filter_width = mp.stride_height = mp.stride_width = 2;
    mp.kernel = kbnn::KernelChoice::kReference;
    std::unique_ptr<kbnn::BMaxPool2D> pool;
    EXPECT_TRUE(kbnn::BMaxPool2D::Create(mp, &pool).ok());
    std::vector<uint32_t> pv(pool->output_words());
    EXPECT_TRUE(pool->Run(cv.data(), pv.data(), nullptr).ok());
    std::vector<float> out(static_cast<size_t>(batch) * (h / 2) * (w / 2) * cout);
    kbnn::Dequantize(pv.data(), static_cast<size_t>(batch) * (h / 2) * (w / 2), cout, out.data());
    return out;
  }
};

TfLiteNode RunPartition(FakeGraph& g, TfLiteDelegate* d, void** user_data) {
  TfLiteDelegateParams params;
  params.delegate = d;
  params.nodes_to_replace = IntArray(g.replaced);
  params.input_tensors = IntArray({});
  params.output_tensors = IntArray({static_cast<int>(g.tensors.size()) - 1});
  *user_data = g.kernel_reg.prefix.init(&g.context, reinterpret_cast<const char*>(&params), 0);
  std::free(params.nodes_to_replace);
  std::free(params.input_tensors);
  std::free(params.output_tensors);
  TfLiteNode node;
  std::memset(&node, 0, sizeof(node));
  node.user_data = *user_data;
  return node;
}

void Fill(FakeGraph& g, int t, std::mt19937& rng) {
  std::normal_distribution<float> nd;
  auto* p = static_cast<float*>(g.tensors[t].data);
  for (size_t i = 0; i < g.tensors[t].bytes / 4; ++i) p[i] = nd(rng);
}

TEST(Delegate, ChainOnePartitionResizeAndThreads) {
  for (int threads : {1, 2}) {
    ChainModel model;
    FakeGraph& g = model.g;
    Delegate d(threads);
    ASSERT_NE(d.d, nullptr);
    EXPECT_EQ(d.d->flags & kTfLiteDelegateFlagsAllowDynamicTensors, 1);
    ASSERT_EQ(d.d->Prepare(&g.context, d.d), kTfLiteOk) << g.errors;
    ASSERT_EQ(g.replace_calls, 1);
    EXPECT_EQ(g.replaced, (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(g.kernel_reg.prefix.builtin_code, kTfLiteBuiltinDelegate);
    for (unsigned char byte : g.kernel_reg.reserved) ASSERT_EQ(byte, 0);
    void* state = nullptr;
    TfLiteNode node = RunPartition(g, d.d, &state);
    ASSERT_NE(state, nullptr) << g.errors;
    std::mt19937 rng(threads);
    for (int batch : {2, 3, 1}) {
      if (batch != model.n || g.tensors[model.x].dims->data[0] != batch) {
        g.context.ResizeTensor(&g.context, &g.tensors[model.x],
                               IntArray({batch, model.h, model.w, model.cin}));
      }
      for (int rep = 0; rep < 2; ++rep) {  // prepare twice, as the runtime does
        ASSERT_EQ(g.kernel_reg.prefix.prepare(&g.context, &node), kTfLiteOk) << g.errors;
      }
      EXPECT_EQ(g.tensors[model.y].dims->data[0], batch);
      Fill(g, model.x, rng);
      ASSERT_EQ(g.kernel_reg.prefix.invoke(&g.context, &node), kTfLiteOk) << g.errors;
      const auto ref = model.Reference(static_cast<const float*>(g.tensors[model.x].data), batch);
      ASSERT_EQ(g.tensors[model.y].bytes, ref.size() * 4);
      EXPECT_EQ(std::memcmp(g.tensors[model.y].data, ref.data(), ref.size() * 4), 0);
    }
    g.kernel_reg.prefix.free(&g.context, state);
  }
}

// Create/destroy cycles of the delegate, each claiming the chain, running its partition and
// freeing it: under LeakSanitizer (the ASan ctest, scripts/test_delegate_lsan.sh) every allocation
// of the delegate must be released. KBNN_SOAK_CYCLES / KBNN_SOAK_INVOKES size it (ctest: 20 x 5;
// the LSan script: 1000 x 10). KBNN_SOAK_LEAK_ON_PURPOSE=1 skips one destroy, the negative
// control that shows LeakSanitizer reports the delegate's allocations.
int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

TEST(Delegate, SoakCreateDestroyCycles) {
  const int cycles = EnvInt("KBNN_SOAK_CYCLES", 20), invokes = EnvInt("KBNN_SOAK_INVOKES", 5);
  const bool leak_one = EnvInt("KBNN_SOAK_LEAK_ON_PURPOSE", 0) != 0;
  ChainModel model;
  FakeGraph& g = model.g;
  std::mt19937 rng(11);
  Fill(g, model.x, rng);
  const auto ref = model.Reference(static_cast<const float*>(g.tensors[model.x].data), model.n);
  for (int cycle = 0; cycle < cycles; ++cycle) {
    auto d = std::make_unique<Delegate>(1 + cycle % 2, cycle % 3 == 0 ? "reference" : "auto");
    ASSERT_NE(d->d, nullptr);
    ASSERT_EQ(d->d->Prepare(&g.context, d->d), kTfLiteOk) << g.errors;
    void* state = nullptr;
    TfLiteNode node = RunPartition(g, d->d, &state);
    ASSERT_NE(state, nullptr) << g.errors;
    ASSERT_EQ(g.kernel_reg.prefix.prepare(&g.context, &node), kTfLiteOk) << g.errors;
    for (int i = 0; i < invokes; ++i) {
      ASSERT_EQ(g.kernel_reg.prefix.invoke(&g.context, &node), kTfLiteOk) << g.errors;
    }
    ASSERT_EQ(std::memcmp(g.tensors[model.y].data, ref.data(), ref.size() * 4), 0)
        << "cycle " << cycle;
    g.kernel_reg.prefix.free(&g.context, state);
    if (leak_one && cycle == 0) {
      std::printf("leaking one delegate on purpose\n");
      d->d = nullptr;  // never destroyed (tflite_plugin_destroy_delegate(nullptr) is a no-op)
    }
  }
}

TEST(Delegate, UnsupportedVersionNotClaimedAndReported) {
  ChainModel model(/*conv version*/ 9);
  Delegate d(1);
  ASSERT_EQ(d.d->Prepare(&model.g.context, d.d), kTfLiteOk);
  EXPECT_EQ(model.g.replaced, (std::vector<int>{0, 2, 3}));
  EXPECT_NE(model.g.errors.find("node 1 (KbnnBconv2d) not claimed"), std::string::npos)
      << model.g.errors;
  EXPECT_NE(model.g.errors.find("unsupported kbnn_version 9"), std::string::npos);
}

TEST(Delegate, TensorLayoutCheckRefuses) {
  ChainModel model;
  model.g.tensors[model.x].bytes +=
      4;  // what a runtime with another TfLiteTensor layout looks like
  Delegate d(1);
  EXPECT_EQ(d.d->Prepare(&model.g.context, d.d), kTfLiteError);
  EXPECT_EQ(model.g.replace_calls, 0);
  EXPECT_NE(model.g.errors.find("TfLiteTensor layout"), std::string::npos) << model.g.errors;
}

TEST(Delegate, PrepareReportsShapeErrors) {
  ChainModel model;
  Delegate d(1);
  ASSERT_EQ(d.d->Prepare(&model.g.context, d.d), kTfLiteOk);
  void* state = nullptr;
  TfLiteNode node = RunPartition(model.g, d.d, &state);
  // Input channels no longer match channels_in.
  model.g.context.ResizeTensor(&model.g.context, &model.g.tensors[model.x],
                               IntArray({2, model.h, model.w, 80}));
  EXPECT_EQ(model.g.kernel_reg.prefix.prepare(&model.g.context, &node), kTfLiteError);
  EXPECT_NE(model.g.errors.find("node 1 (KbnnBconv2d): bitpacked input [2, 8, 6, 3]"),
            std::string::npos)
      << model.g.errors;
  model.g.kernel_reg.prefix.free(&model.g.context, state);
}

// Issue 22: 45 and 50 channels both pack into 2 words per pixel; the delegate must still refuse
// 50 channels for channels_in=45 (the extra bits would be read as data), naming node, op, the
// expected and the actual count. An empty batch is an error without reading the other dims.
TEST(Delegate, PrepareChecksTheChannelCountNotOnlyTheWords) {
  ChainModel model;
  Delegate d(1);
  ASSERT_EQ(d.d->Prepare(&model.g.context, d.d), kTfLiteOk);
  void* state = nullptr;
  TfLiteNode node = RunPartition(model.g, d.d, &state);
  ASSERT_EQ(model.g.kernel_reg.prefix.prepare(&model.g.context, &node), kTfLiteOk)
      << model.g.errors;
  for (int channels : {50, 33, 64}) {
    ASSERT_EQ(kbnn::PackedWords(channels), kbnn::PackedWords(model.cin));
    model.g.errors.clear();
    model.g.context.ResizeTensor(&model.g.context, &model.g.tensors[model.x],
                                 IntArray({2, model.h, model.w, channels}));
    EXPECT_EQ(model.g.kernel_reg.prefix.prepare(&model.g.context, &node), kTfLiteError);
    EXPECT_NE(model.g.errors.find("node 1 (KbnnBconv2d): bitpacked input tensor 1 carries " +
                                  std::to_string(channels) +
                                  " channels but the op has channels_in=45"),
              std::string::npos)
        << model.g.errors;
  }
  model.g.errors.clear();
  model.g.context.ResizeTensor(&model.g.context, &model.g.tensors[model.x],
                               IntArray({0, model.h, model.w, model.cin}));
  EXPECT_EQ(model.g.kernel_reg.prefix.prepare(&model.g.context, &node), kTfLiteError);
  EXPECT_NE(model.g.errors.find("node 0 (KbnnQuantize): input tensor 0 is empty (dimension 0 is 0"),
            std::string::npos)
      << model.g.errors;
  // Back to the converted shape: prepares and runs again.
  model.g.context.ResizeTensor(&model.g.context, &model.g.tensors[model.x],
                               IntArray({1, model.h, model.w, model.cin}));
  EXPECT_EQ(model.g.kernel_reg.prefix.prepare(&model.g.context, &node), kTfLiteOk)
      << model.g.errors;
  model.g.kernel_reg.prefix.free(&model.g.context, state);
}

// Found by the file fuzz (issue 22): a bitpacked input no claimed op wrote (here a graph input)
// with bits beyond channels_in made the reference and the optimized kernels disagree; the
// delegate checks those bits at invoke.
TEST(Delegate, UnknownBitpackedInputPaddingBitsAreChecked) {
  for (const char* kernel : {"reference", "auto"}) {
    FakeGraph g;
    const int cin = 40, cout = 4;
    std::vector<float> filters(static_cast<size_t>(cout) * 9 * cin, 1.0f);
    size_t words = 0;
    kbnn::PackedFilterWords(cout, 3, 3, cin, &words);
    std::vector<uint32_t> packed(words);
    kbnn::PackFilters(filters.data(), cout, 3, 3, cin, packed.data());
    std::vector<float> mult(cout, 1.0f), bias(cout, 0.0f);
    const int x = g.Tensor(kTfLiteInt32, {1, 4, 4, kbnn::PackedWords(cin)});
    const int f = g.Tensor(kTfLiteInt32, {cout, 3, 3, kbnn::PackedWords(cin)}, packed.data());
    const int m = g.Tensor(kTfLiteFloat32, {cout}, mult.data());
    const int b = g.Tensor(kTfLiteFloat32, {cout}, bias.data());
    g.Tensor(kTfLiteFloat32, {1, 2, 2, cout});
    const int y = static_cast<int>(g.tensors.size()) - 1;
    g.Node("KbnnBconv2d", {x, f, m, b}, {y}, Options([&](flexbuffers::Builder& o) {
             o.Int("kbnn_version", 1);
             o.Int("channels_in", cin);
             o.Int("filter_height", 3);
             o.Int("filter_width", 3);
             o.Int("T", 0);
           }));
    g.Finish();
    Delegate d(1, kernel);
    ASSERT_EQ(d.d->Prepare(&g.context, d.d), kTfLiteOk) << g.errors;
    void* state = nullptr;
    TfLiteNode node = RunPartition(g, d.d, &state);
    ASSERT_EQ(g.kernel_reg.prefix.prepare(&g.context, &node), kTfLiteOk) << g.errors;
    ASSERT_EQ(g.kernel_reg.prefix.invoke(&g.context, &node), kTfLiteOk) << g.errors;
    EXPECT_EQ(static_cast<const float*>(g.tensors[y].data)[0], 9.0f * cin);  // all +1: dot = K
    static_cast<uint32_t*>(g.tensors[x].data)[2 * 5 + 1] |= 1u << 8;  // row 5, channel 40
    EXPECT_EQ(g.kernel_reg.prefix.invoke(&g.context, &node), kTfLiteError);
    EXPECT_NE(g.errors.find("node 0 (KbnnBconv2d): bitpacked input tensor 0 has bits set beyond 40 "
                            "channels (row 5)"),
              std::string::npos)
        << g.errors;
    g.kernel_reg.prefix.free(&g.context, state);
  }
}

TEST(Delegate, BadOptionsReturnNull) {
  std::string reported;
  static std::string* sink = nullptr;
  sink = &reported;
  char* keys[] = {const_cast<char*>("kernel")};
  char* values[] = {const_cast<char*>("fast")};
  TfLiteDelegate* d =
      tflite_plugin_create_delegate(keys, values, 1, [](const char* m) { *sink += m; });
  EXPECT_EQ(d, nullptr);
  EXPECT_NE(reported.find("kernel='fast'"), std::string::npos) << reported;
}

// The int8 path of the int8 option of kbnn.convert: an int8 tensor (zero point from its
// quantization parameters) -> KbnnQuantize -> KbnnBconv2d with int8 output, whose output tensor
// carries the same scale / zero point. Checked against QuantizeFloat of (q - zero_point) and the
// reference kernel, so the int8 input path is tested independently of QuantizeInt8.
struct Int8Model {
  FakeGraph g;
  int x, y;
  int n = 2, h = 5, w = 7, cin = 40, cout = 33;
  int32_t in_zp = -3, out_zp = 4;
  float out_scale = 0.37f;
  std::vector<float> filters_f, mult, bias;
  std::vector<uint32_t> packed;

  explicit Int8Model(float tensor_scale, int32_t tensor_zp) {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd;
    filters_f.resize(static_cast<size_t>(cout) * 9 * cin);
    for (auto& v : filters_f) v = nd(rng);
    mult.resize(cout);
    bias.resize(cout);
    for (int c = 0; c < cout; ++c) {
      mult[c] = 0.2f + (c % 5) * 0.15f;
      bias[c] = 3.0f * nd(rng);
    }
    size_t words = 0;
    kbnn::PackedFilterWords(cout, 3, 3, cin, &words);
    packed.resize(words);
    kbnn::PackFilters(filters_f.data(), cout, 3, 3, cin, packed.data());
    x = g.Tensor(kTfLiteInt8, {n, h, w, cin});
    g.tensors[x].params = {0.05f, in_zp};
    const int q = g.Tensor(kTfLiteInt32, {n, h, w, kbnn::PackedWords(cin)});
    const int f = g.Tensor(kTfLiteInt32, {cout, 3, 3, kbnn::PackedWords(cin)}, packed.data());
    const int m = g.Tensor(kTfLiteFloat32, {cout}, mult.data());
    const int b = g.Tensor(kTfLiteFloat32, {cout}, bias.data());
    y = g.Tensor(kTfLiteInt8, {n, h, w, cout});
    g.tensors[y].params = {tensor_scale, tensor_zp};
    g.Node("KbnnQuantize", {x}, {q},
           Options([](flexbuffers::Builder& o) { o.Int("kbnn_version", 1); }));
    g.Node("KbnnBconv2d", {q, f, m, b}, {y}, Options([&](flexbuffers::Builder& o) {
             o.Int("kbnn_version", 1);
             o.Int("channels_in", cin);
             o.Int("filter_height", 3);
             o.Int("filter_width", 3);
             o.String("padding", "SAME");
             o.String("activation", "RELU");
             o.Int("T", 9);
             o.Float("int8_scale", out_scale);
             o.Int("int8_zero_point", out_zp);
           }));
    g.Finish();
  }

  std::vector<int8_t> Reference(const int8_t* xv) {
    const size_t rows = static_cast<size_t>(n) * h * w;
    std::vector<float> centered(rows * cin);
    for (size_t i = 0; i < centered.size(); ++i) centered[i] = static_cast<float>(xv[i] - in_zp);
    std::vector<uint32_t> qx(rows * kbnn::PackedWords(cin));
    kbnn::QuantizeFloat(centered.data(), rows, cin, qx.data());
    kbnn::BConv2DParams cp;
    cp.batch = n;
    cp.input_height = h;
    cp.input_width = w;
    cp.channels_in = cin;
    cp.channels_out = cout;
    cp.filter_height = cp.filter_width = 3;
    cp.padding = kbnn::Padding::kSame;
    cp.output.type = kbnn::OutputType::kInt8;
    cp.output.activation = kbnn::Activation::kRelu;
    cp.output.int8_scale = out_scale;
    cp.output.int8_zero_point = out_zp;
    cp.kernel = kbnn::KernelChoice::kReference;
    std::unique_ptr<kbnn::BConv2D> conv;
    EXPECT_TRUE(kbnn::BConv2D::Create(cp, packed.data(), mult.data(), bias.data(), &conv).ok());
    std::vector<int8_t> out(rows * cout);
    EXPECT_TRUE(conv->Run(qx.data(), out.data(), nullptr).ok());
    return out;
  }
};

TEST(Delegate, Int8InputQuantizeAndInt8OutputConv) {
  Int8Model model(0.37f, 4);
  FakeGraph& g = model.g;
  Delegate d(2);
  ASSERT_EQ(d.d->Prepare(&g.context, d.d), kTfLiteOk) << g.errors;
  EXPECT_EQ(g.replaced, (std::vector<int>{0, 1}));
  void* state = nullptr;
  TfLiteNode node = RunPartition(g, d.d, &state);
  ASSERT_NE(state, nullptr) << g.errors;
  ASSERT_EQ(g.kernel_reg.prefix.prepare(&g.context, &node), kTfLiteOk) << g.errors;
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> ud(-128, 127);
  auto* xv = static_cast<int8_t*>(g.tensors[model.x].data);
  for (size_t i = 0; i < g.tensors[model.x].bytes; ++i) xv[i] = static_cast<int8_t>(ud(rng));
  xv[0] = static_cast<int8_t>(model.in_zp);  // exactly at the zero point: sign(0) = +1
  ASSERT_EQ(g.kernel_reg.prefix.invoke(&g.context, &node), kTfLiteOk) << g.errors;
  const auto ref = model.Reference(xv);
  ASSERT_EQ(g.tensors[model.y].bytes, ref.size());
  EXPECT_EQ(std::memcmp(g.tensors[model.y].data, ref.data(), ref.size()), 0);
  int distinct = 0;
  for (size_t i = 1; i < ref.size(); ++i) distinct += ref[i] != ref[0];
  EXPECT_GT(distinct, 0);  // not a constant output
  g.kernel_reg.prefix.free(&g.context, state);
}

TEST(Delegate, Int8ErrorsNameTheQuantizationMismatch) {
  {  // the output tensor's quantization disagrees with int8_scale / int8_zero_point
    Int8Model model(0.5f, 4);
    Delegate d(1);
    ASSERT_EQ(d.d->Prepare(&model.g.context, d.d), kTfLiteOk);
    void* state = nullptr;
    TfLiteNode node = RunPartition(model.g, d.d, &state);
    EXPECT_EQ(model.g.kernel_reg.prefix.prepare(&model.g.context, &node), kTfLiteError);
    EXPECT_NE(model.g.errors.find("is quantized with scale=0.5"), std::string::npos)
        << model.g.errors;
    model.g.kernel_reg.prefix.free(&model.g.context, state);
  }
  {  // an int8 input without quantization parameters
    Int8Model model(0.37f, 4);
    model.g.tensors[model.x].params = {0.0f, 0};
    Delegate d(1);
    ASSERT_EQ(d.d->Prepare(&model.g.context, d.d), kTfLiteOk);
    void* state = nullptr;
    TfLiteNode node = RunPartition(model.g, d.d, &state);
    EXPECT_EQ(model.g.kernel_reg.prefix.prepare(&model.g.context, &node), kTfLiteError);
    EXPECT_NE(model.g.errors.find(
                  "node 0 (KbnnQuantize): int8 input needs per-tensor quantization"),
              std::string::npos)
        << model.g.errors;
    model.g.kernel_reg.prefix.free(&model.g.context, state);
  }
}

TEST(Delegate, KernelIsaIsTheDispatchChoice) {
  const char* isa = kbnn_delegate_kernel_isa();
  ASSERT_NE(isa, nullptr);
  EXPECT_STREQ(isa, kbnn::SelectedIsa());
  const auto available = kbnn::AvailableIsas();
  const bool known = std::string(isa) == "reference" ||
                     std::find(available.begin(), available.end(), isa) != available.end();
  EXPECT_TRUE(known) << isa;
  ASSERT_TRUE(kbnn::SetForcedIsa("scalar").ok());
  EXPECT_STREQ(kbnn_delegate_kernel_isa(), "scalar");
  ASSERT_TRUE(kbnn::SetForcedIsa("auto").ok());
  EXPECT_STREQ(kbnn_delegate_kernel_isa(), isa);
}

}  // namespace
