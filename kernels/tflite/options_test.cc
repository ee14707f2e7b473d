// Options parser: valid maps, every failure mode, and a fuzz loop over generated and mutated
// flexbuffers (random bytes, truncations, bit flips, wrong types, huge values). The parser must
// never crash and must always return either ok or an error.
//   KBNN_FUZZ_ITERATIONS=N  (default 100000) sets the number of fuzz cases; e.g. 10000000 for a
//   long run, ideally in the ASan/UBSan build of kernels/scripts/ci.sh.
#include "options.h"

#include <flatbuffers/flexbuffers.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "lce_options.h"

namespace kbnn {
namespace delegate {
namespace {

using Fill = std::function<void(flexbuffers::Builder&)>;

std::vector<uint8_t> Map(const Fill& fill) {
  flexbuffers::Builder fbb;
  fbb.Map([&] { fill(fbb); });
  fbb.Finish();
  return fbb.GetBuffer();
}

std::vector<uint8_t> ValidConv(int version = 1) {
  return Map([&](flexbuffers::Builder& b) {
    b.Int("kbnn_version", version);
    b.Int("channels_in", 40);
    b.Int("filter_height", 3);
    b.Int("filter_width", 3);
    b.Int("stride_height", 2);
    b.Int("stride_width", 1);
    b.Int("dilation_height", 1);
    b.Int("dilation_width", 1);
    b.String("padding", "SAME");
    b.Int("pad_values", 0);
    b.Int("groups", 2);
    b.String("activation", "RELU");
    b.Float("clamp_min", -std::numeric_limits<float>::infinity());
    b.Float("clamp_max", std::numeric_limits<float>::infinity());
    b.Int("T", 2);
    b.Float("int8_scale", 1.0f);
    b.Int("int8_zero_point", 0);
  });
}

const schema::OpDef& Op(const char* name) {
  const schema::OpDef* op = FindOp(name);
  EXPECT_NE(op, nullptr);
  return *op;
}

TEST(Options, ValidBconv2d) {
  const auto buf = ValidConv();
  OpOptions o;
  Status st = ParseOpOptions(Op(schema::kBconv2dName), buf.data(), buf.size(), &o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(o.kind, OpKind::kBconv2d);
  EXPECT_EQ(o.channels_in, 40);
  EXPECT_EQ(o.filter_height, 3);
  EXPECT_EQ(o.stride_height, 2);
  EXPECT_EQ(o.padding, Padding::kSame);
  EXPECT_EQ(o.pad_values, 0);
  EXPECT_EQ(o.groups, 2);
  EXPECT_EQ(o.output.activation, Activation::kRelu);
  EXPECT_EQ(o.output.type, OutputType::kBitpacked);
}

void ExpectError(const std::vector<uint8_t>& buf, const char* op, const char* needle);

// KbnnBconv2dResidual: the conv attrs and the activation; no T / int8 attrs (float output).
std::vector<uint8_t> ValidResidualConv() {
  return Map([&](flexbuffers::Builder& b) {
    b.Int("kbnn_version", 1);
    b.Int("channels_in", 64);
    b.Int("filter_height", 3);
    b.Int("filter_width", 3);
    b.Int("stride_height", 1);
    b.Int("stride_width", 1);
    b.Int("dilation_height", 1);
    b.Int("dilation_width", 1);
    b.String("padding", "SAME");
    b.Int("pad_values", 1);
    b.Int("groups", 1);
    b.String("activation", "NONE");
    b.Float("clamp_min", -std::numeric_limits<float>::infinity());
    b.Float("clamp_max", std::numeric_limits<float>::infinity());
  });
}

TEST(Options, ValidBconv2dResidual) {
  const auto buf = ValidResidualConv();
  OpOptions o;
  Status st = ParseOpOptions(Op(schema::kBconv2dResidualName), buf.data(), buf.size(), &o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(o.kind, OpKind::kBconv2dResidual);
  EXPECT_EQ(o.channels_in, 64);
  EXPECT_EQ(o.padding, Padding::kSame);
  EXPECT_EQ(o.output.type, OutputType::kFloat32);
  // Even a stray T (a hand-made file) cannot turn the fused op's output into bits or int8.
  const auto stray = Map([](flexbuffers::Builder& b) {
    b.Int("kbnn_version", 1);
    b.Int("channels_in", 8);
    b.Int("filter_height", 1);
    b.Int("filter_width", 1);
    b.Int("T", 2);
  });
  ASSERT_TRUE(
      ParseOpOptions(Op(schema::kBconv2dResidualName), stray.data(), stray.size(), &o).ok());
  EXPECT_EQ(o.output.type, OutputType::kFloat32);
}

TEST(Options, Bconv2dResidualErrors) {
  const char* op = schema::kBconv2dResidualName;
  auto with = [](const Fill& extra) {
    return Map([&](flexbuffers::Builder& b) {
      b.Int("kbnn_version", 1);
      b.Int("filter_height", 3);
      b.Int("filter_width", 3);
      extra(b);
    });
  };
  ExpectError(with([](flexbuffers::Builder& b) { b.Int("channels_in", 0); }), op, "channels_in");
  ExpectError(with([](flexbuffers::Builder& b) {
                b.Int("channels_in", 10);
                b.Int("groups", 3);
              }),
              op, "not divisible by groups");
  ExpectError(with([](flexbuffers::Builder& b) {
                b.Int("channels_in", 8);
                b.String("activation", "TANH");
              }),
              op, "activation");
  ExpectError(with([](flexbuffers::Builder& b) {
                b.Int("channels_in", 8);
                b.String("padding", "FULL");
              }),
              op, "padding");
  auto v2 = Map([](flexbuffers::Builder& b) {
    b.Int("kbnn_version", 2);
    b.Int("channels_in", 8);
    b.Int("filter_height", 1);
    b.Int("filter_width", 1);
  });
  ExpectError(v2, op, "unsupported kbnn_version 2");
}

TEST(Options, DefaultsForOptionalAttrs) {
  const auto buf = Map([](flexbuffers::Builder& b) {
    b.Int("kbnn_version", 1);
    b.Int("channels_in", 7);
    b.Int("filter_height", 1);
    b.Int("filter_width", 5);
  });
  OpOptions o;
  ASSERT_TRUE(ParseOpOptions(Op(schema::kBconv2dName), buf.data(), buf.size(), &o).ok());
  EXPECT_EQ(o.padding, Padding::kValid);
  EXPECT_EQ(o.output.type, OutputType::kFloat32);
  EXPECT_EQ(o.groups, 1);
}

TEST(Options, OtherOps) {
  OpOptions o;
  auto q = Map([](flexbuffers::Builder& b) { b.Int("kbnn_version", 1); });
  EXPECT_TRUE(ParseOpOptions(Op(schema::kQuantizeName), q.data(), q.size(), &o).ok());
  auto dq = Map([](flexbuffers::Builder& b) {
    b.Int("kbnn_version", 1);
    b.Int("channels", 33);
  });
  ASSERT_TRUE(ParseOpOptions(Op(schema::kDequantizeName), dq.data(), dq.size(), &o).ok());
  EXPECT_EQ(o.channels, 33);
  auto fc = Map([](flexbuffers::Builder& b) {
    b.Int("kbnn_version", 1);
    b.Int("input_size", 100);
    b.Int("T", 9);
    b.Float("int8_scale", 0.5f);
    b.Int("int8_zero_point", -3);
  });
  ASSERT_TRUE(ParseOpOptions(Op(schema::kBFullyConnectedName), fc.data(), fc.size(), &o).ok());
  EXPECT_EQ(o.output.type, OutputType::kInt8);
  EXPECT_EQ(o.output.int8_zero_point, -3);
  auto mp = Map([](flexbuffers::Builder& b) {
    b.Int("kbnn_version", 1);
    b.Int("channels", 64);
    b.Int("filter_height", 2);
    b.Int("filter_width", 2);
    b.Int("stride_height", 2);
    b.Int("stride_width", 2);
  });
  ASSERT_TRUE(ParseOpOptions(Op(schema::kBMaxPool2dName), mp.data(), mp.size(), &o).ok());
  EXPECT_EQ(o.channels, 64);
}

void ExpectError(const std::vector<uint8_t>& buf, const char* op, const char* needle) {
  OpOptions o;
  Status st = ParseOpOptions(Op(op), buf.data(), buf.size(), &o);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
}

TEST(Options, Errors) {
  ExpectError(ValidConv(2), schema::kBconv2dName, "unsupported kbnn_version 2");
  ExpectError(ValidConv(0), schema::kBconv2dName, "unsupported kbnn_version 0");
  ExpectError(Map([](flexbuffers::Builder& b) { b.Int("channels", 3); }), schema::kDequantizeName,
              "missing attr 'kbnn_version'");
  ExpectError(Map([](flexbuffers::Builder& b) { b.Int("kbnn_version", 1); }),
              schema::kDequantizeName, "missing attr 'channels'");
  ExpectError(Map([](flexbuffers::Builder& b) {
                b.Int("kbnn_version", 1);
                b.String("channels", "3");
              }),
              schema::kDequantizeName, "'channels' must be int");
  ExpectError(Map([](flexbuffers::Builder& b) {
                b.Int("kbnn_version", 1);
                b.Int("channels", int64_t{1} << 40);
              }),
              schema::kDequantizeName, "out of range");
  ExpectError(Map([](flexbuffers::Builder& b) {
                b.Int("kbnn_version", 1);
                b.UInt("channels", std::numeric_limits<uint64_t>::max());
              }),
              schema::kDequantizeName, "out of range");
  ExpectError(Map([](flexbuffers::Builder& b) {
                b.Int("kbnn_version", 1);
                b.Int("input_size", 8);
                b.Int("T", 1);
              }),
              schema::kBFullyConnectedName, "attr 'T'");
  ExpectError(Map([](flexbuffers::Builder& b) {
                b.Int("kbnn_version", 1);
                b.Int("input_size", 8);
                b.Int("activation", 1);
              }),
              schema::kBFullyConnectedName, "'activation' must be a string");
  ExpectError(Map([](flexbuffers::Builder& b) {
                b.Int("kbnn_version", 1);
                b.Int("input_size", 8);
                b.String("activation", "GELU");
              }),
              schema::kBFullyConnectedName, "GELU");
  ExpectError(Map([](flexbuffers::Builder& b) {
                b.Int("kbnn_version", 1);
                b.Int("channels", 8);
                b.Int("filter_height", 2);
                b.Int("filter_width", 2);
                b.String("padding", "FULL");
              }),
              schema::kBMaxPool2dName, "padding");
  std::vector<uint8_t> garbage = {1, 2, 3, 4, 5};
  ExpectError(garbage, schema::kQuantizeName, "not a valid flexbuffer");
  ExpectError({}, schema::kQuantizeName, "no custom options");
  flexbuffers::Builder vec;
  vec.Vector([&] { vec.Int(1); });
  vec.Finish();
  ExpectError(vec.GetBuffer(), schema::kQuantizeName, "not a flexbuffer map");
}

TEST(Options, DelegateOptions) {
  DelegateOptions o;
  const char* k1[] = {"num_threads", "kernel"};
  const char* v1[] = {"2", "reference"};
  ASSERT_TRUE(ParseDelegateOptions(k1, v1, 2, &o).ok());
  EXPECT_EQ(o.num_threads, 2);
  EXPECT_EQ(o.kernel, KernelChoice::kReference);
  const char* v2[] = {"two", "auto"};
  EXPECT_FALSE(ParseDelegateOptions(k1, v2, 2, &o).ok());
  const char* v3[] = {"1", "sse9"};
  EXPECT_FALSE(ParseDelegateOptions(k1, v3, 2, &o).ok());
  const char* k4[] = {"threads"};
  const char* v4[] = {"1"};
  EXPECT_FALSE(ParseDelegateOptions(k4, v4, 1, &o).ok());
  const char* v5[] = {"99999999999999999999", "auto"};
  EXPECT_FALSE(ParseDelegateOptions(k1, v5, 2, &o).ok());
  EXPECT_TRUE(ParseDelegateOptions(nullptr, nullptr, 0, &o).ok());
}

TEST(Options, SchemaJsonMentionsEveryOp) {
  const std::string& j = SchemaJson();
  for (const auto& op : schema::kOps) EXPECT_NE(j.find(op.name), std::string::npos);
}

// Random maps with the right keys and random-typed values.
std::vector<uint8_t> RandomMap(std::mt19937_64& rng, const schema::OpDef& op) {
  static const char* kExtraKeys[] = {"T", "padding", "zzz", "", "kbnn_version"};
  return Map([&](flexbuffers::Builder& b) {
    std::vector<std::string> keys;
    for (size_t a = 0; a < op.num_attrs; ++a) {
      if (rng() % 5 != 0) keys.push_back(op.attrs[a].name);
    }
    keys.push_back(kExtraKeys[rng() % 5]);
    for (const std::string& k : keys) {
      const char* key = k.c_str();
      switch (rng() % 9) {
        case 0: b.Int(key, static_cast<int64_t>(rng())); break;
        case 1: b.Int(key, static_cast<int64_t>(rng() % 70) - 3); break;
        case 2: b.UInt(key, rng()); break;
        case 3:
          b.Float(key, static_cast<float>(static_cast<int64_t>(rng() % 2000) - 1000) / 7.f);
          break;
        case 4: b.String(key, rng() % 2 ? "SAME" : "RELU6"); break;
        case 5: b.Bool(key, rng() % 2); break;
        case 6:
          b.Vector(key, [&] {
            b.Int(1);
            b.Int(2);
          });
          break;
        case 7: b.Double(key, std::numeric_limits<double>::quiet_NaN()); break;
        default: b.Int(key, 1); break;
      }
    }
  });
}

std::vector<uint8_t> ValidLceConv() {
  return Map([](flexbuffers::Builder& b) {
    b.Int("channels_in", 33);
    b.Int("dilation_height_factor", 2);
    b.Int("dilation_width_factor", 1);
    b.Int("fused_activation_function", 3);
    b.Int("pad_values", 1);
    b.Int("padding", 0);
    b.Int("stride_height", 1);
    b.Int("stride_width", 2);
  });
}

std::vector<uint8_t> ValidLcePool() {
  return Map([](flexbuffers::Builder& b) {
    b.Int("filter_height", 3);
    b.Int("filter_width", 2);
    b.Int("padding", 1);
    b.Int("stride_height", 2);
    b.Int("stride_width", 2);
  });
}

constexpr const char* kLceNames[] = {"LceQuantize", "LceDequantize", "LceBconv2d", "LceBMaxPool2d"};

TEST(LceOptions, Valid) {
  lce::LceOptions o;
  auto conv = ValidLceConv();
  Status st = lce::ParseLceOptions("LceBconv2d", 1, conv.data(), conv.size(), &o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(o.kind, lce::LceKind::kBconv2d);
  EXPECT_EQ(o.channels_in, 33);
  EXPECT_EQ(o.dilation_height, 2);
  EXPECT_EQ(o.stride_width, 2);
  EXPECT_EQ(o.padding, Padding::kSame);
  EXPECT_EQ(o.pad_values, 1);
  EXPECT_EQ(o.activation, lce::LceActivation::kRelu6);
  auto pool = ValidLcePool();
  st = lce::ParseLceOptions("LceBMaxPool2d", 1, pool.data(), pool.size(), &o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(o.kind, lce::LceKind::kBMaxPool2d);
  EXPECT_EQ(o.filter_width, 2);
  EXPECT_EQ(o.padding, Padding::kValid);
  st = lce::ParseLceOptions("LceQuantize", 1, nullptr, 0, &o);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(lce::IsLceOpName("LceWhatever"));
  EXPECT_FALSE(lce::IsLceOpName("KbnnBconv2d"));
}

TEST(LceOptions, Errors) {
  lce::LceOptions o;
  auto conv = ValidLceConv();
  auto expect_error = [&](const char* name, int version, const std::vector<uint8_t>& buf,
                          const char* needle) {
    Status st =
        lce::ParseLceOptions(name, version, buf.empty() ? nullptr : buf.data(), buf.size(), &o);
    ASSERT_FALSE(st.ok()) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  };
  expect_error("LceBconv2d", 2, conv, "unsupported op version 2");
  expect_error("LceBconv3d", 1, conv, "not supported by kbnn");
  expect_error("LceBconv2d", 1, {}, "no custom options");
  expect_error("LceBconv2d", 1, {1, 2, 3}, "not a valid flexbuffer");
  auto with = [&](const char* key, int value) {
    return Map([&](flexbuffers::Builder& b) {
      b.Int("channels_in", std::strcmp(key, "channels_in") == 0 ? value : 33);
      b.Int("dilation_height_factor", std::strcmp(key, "dilation_height_factor") == 0 ? value : 1);
      b.Int("dilation_width_factor", 1);
      b.Int("fused_activation_function",
            std::strcmp(key, "fused_activation_function") == 0 ? value : 0);
      b.Int("pad_values", std::strcmp(key, "pad_values") == 0 ? value : 1);
      b.Int("padding", std::strcmp(key, "padding") == 0 ? value : 0);
      b.Int("stride_height", std::strcmp(key, "stride_height") == 0 ? value : 1);
      b.Int("stride_width", 1);
    });
  };
  expect_error("LceBconv2d", 1, with("fused_activation_function", 4),
               "fused_activation_function' = 4");
  expect_error("LceBconv2d", 1, with("padding", 2), "not a TFLite padding");
  expect_error("LceBconv2d", 1, with("pad_values", -1), "pad_values' = -1");
  expect_error("LceBconv2d", 1, with("stride_height", 0), "stride_height' = 0");
  expect_error("LceBconv2d", 1, with("channels_in", 0), "channels_in' = 0");
  expect_error("LceBconv2d", 1, with("dilation_height_factor", 1 << 20), "dilation_height_factor'");
  expect_error("LceBconv2d", 1, Map([](flexbuffers::Builder& b) { b.Int("channels_in", 3); }),
               "missing option");
  expect_error("LceBconv2d", 1,
               Map([](flexbuffers::Builder& b) { b.String("stride_height", "1"); }),
               "must be an integer");
  expect_error("LceBMaxPool2d", 1, conv, "missing option 'filter_height'");
}

TEST(Options, FuzzNeverCrashes) {
  long iterations = 100000;
  if (const char* env = std::getenv("KBNN_FUZZ_ITERATIONS")) iterations = std::atol(env);
  std::mt19937_64 rng(12345);
  size_t ok = 0, failed = 0, lce_ok = 0;
  std::vector<std::vector<uint8_t>> seeds;
  seeds.push_back(ValidConv());
  seeds.push_back(ValidResidualConv());
  seeds.push_back(ValidLceConv());
  seeds.push_back(ValidLcePool());
  for (const auto& op : schema::kOps) seeds.push_back(RandomMap(rng, op));
  for (long i = 0; i < iterations; ++i) {
    const schema::OpDef& op = schema::kOps[rng() % schema::kNumOps];
    std::vector<uint8_t> buf;
    switch (i % 6) {
      case 0: {  // random bytes
        buf.resize(rng() % 96);
        for (auto& c : buf) c = static_cast<uint8_t>(rng());
        break;
      }
      case 1: {  // truncation of a valid buffer
        buf = seeds[rng() % seeds.size()];
        buf.resize(rng() % (buf.size() + 1));
        break;
      }
      case 2:
      case 3: {  // bit flips / byte sets in a valid buffer
        buf = seeds[rng() % seeds.size()];
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips && !buf.empty(); ++f) {
          const size_t at = rng() % buf.size();
          if (rng() % 2) buf[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          else buf[at] = static_cast<uint8_t>(rng());
        }
        break;
      }
      default: {  // well-formed map with random types and values
        buf = RandomMap(rng, op);
        if (rng() % 8 == 0) seeds[rng() % seeds.size()] = buf;
        break;
      }
    }
    // The LCE parser sees every case too (kbnn and LCE maps share the seeds).
    {
      lce::LceOptions lo;
      const char* lce_name = kLceNames[rng() % 4];
      const int version = rng() % 16 == 0 ? static_cast<int>(rng() % 5) : 1;
      Status lst = lce::ParseLceOptions(lce_name, version, buf.empty() ? nullptr : buf.data(),
                                        buf.size(), &lo);
      if (lst.ok()) {
        ++lce_ok;
        EXPECT_GE(lo.stride_height, 1);
        EXPECT_TRUE(lo.pad_values == 0 || lo.pad_values == 1);
      } else {
        EXPECT_FALSE(lst.message().empty());
      }
    }
    OpOptions o;
    Status st = ParseOpOptions(op, buf.empty() ? nullptr : buf.data(), buf.size(), &o);
    if (st.ok()) {
      ++ok;
      EXPECT_GE(o.version, 1);
      EXPECT_TRUE(o.def == &op);
      if (o.kind == OpKind::kBconv2dResidual) EXPECT_EQ(o.output.type, OutputType::kFloat32);
    } else {
      ++failed;
      EXPECT_FALSE(st.message().empty());
    }
  }
  EXPECT_EQ(ok + failed, static_cast<size_t>(iterations));
  std::printf("fuzz: %zu ok, %zu errors; LCE parser: %zu ok\n", ok, failed, lce_ok);
}

}  // namespace
}  // namespace delegate
}  // namespace kbnn
