#include "options.h"

#include <flatbuffers/flexbuffers.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <vector>

#include "flexmap.h"

namespace kbnn {
namespace delegate {
namespace {

// Attr value after the type check, before the range checks.
struct Value {
  bool present = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
};

const char* TypeName(schema::AttrType t) {
  switch (t) {
    case schema::AttrType::kInt: return "int";
    case schema::AttrType::kFloat: return "float";
    case schema::AttrType::kString: return "string";
    case schema::AttrType::kBool: return "bool";
    case schema::AttrType::kType: return "type";
  }
  return "?";
}

bool IsRequired(const schema::AttrDef& a) {
  return std::strcmp(a.name, schema::kVersionAttr) == 0 || std::strchr(a.tf_spec, '=') == nullptr;
}

Status Bad(const schema::OpDef& op, const std::string& what) {
  return Status::InvalidArgument(std::string(op.name) + " options: " + what);
}

Status IntIn(const schema::OpDef& op, const char* name, int64_t v, int64_t lo, int64_t hi,
             int* out) {
  if (v < lo || v > hi) {
    return Bad(op, std::string("attr '") + name + "' = " + std::to_string(v) +
                       " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = static_cast<int>(v);
  return Status::Ok();
}

Status ParsePadding(const schema::OpDef& op, const std::string& s, Padding* p) {
  if (s == "VALID") {
    *p = Padding::kValid;
    return Status::Ok();
  }
  if (s == "SAME") {
    *p = Padding::kSame;
    return Status::Ok();
  }
  return Bad(op, "attr 'padding' = '" + s + "' is not VALID or SAME");
}

Status ParseActivation(const schema::OpDef& op, const std::string& s, Activation* a) {
  if (s == "NONE") {
    *a = Activation::kNone;
    return Status::Ok();
  }
  if (s == "RELU") {
    *a = Activation::kRelu;
    return Status::Ok();
  }
  if (s == "RELU6") {
    *a = Activation::kRelu6;
    return Status::Ok();
  }
  if (s == "CLAMP") {
    *a = Activation::kClamp;
    return Status::Ok();
  }
  return Bad(op, "attr 'activation' = '" + s + "' is not NONE, RELU, RELU6 or CLAMP");
}

constexpr int64_t kMaxDim = 1 << 24;     // channels, sizes
constexpr int64_t kMaxWindow = 1 << 16;  // filter, stride, dilation

}  // namespace

const schema::OpDef* FindOp(const char* custom_name) {
  if (custom_name == nullptr) return nullptr;
  for (const auto& op : schema::kOps) {
    if (std::strcmp(op.name, custom_name) == 0) return &op;
  }
  return nullptr;
}

Status ParseOpOptions(const schema::OpDef& op, const void* data, size_t size, OpOptions* out) {
  FlexMap flex;
  if (const char* why = flex.Load(data, size)) return Bad(op, why);
  const flexbuffers::Map map = flex.map();

  std::map<std::string, Value> values;
  for (size_t a = 0; a < op.num_attrs; ++a) {
    const schema::AttrDef& def = op.attrs[a];
    const flexbuffers::Reference r = map[def.name];
    Value v;
    if (r.IsNull()) {
      if (IsRequired(def)) return Bad(op, std::string("missing attr '") + def.name + "'");
      values[def.name] = v;
      continue;
    }
    v.present = true;
    switch (def.type) {
      case schema::AttrType::kInt:
      case schema::AttrType::kType:
        if (r.IsInt()) {
          v.i = r.AsInt64();
        } else if (r.IsUInt()) {
          const uint64_t u = r.AsUInt64();
          v.i = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                    ? std::numeric_limits<int64_t>::max()
                    : static_cast<int64_t>(u);
        } else {
          return Bad(op, std::string("attr '") + def.name + "' must be " + TypeName(def.type));
        }
        break;
      case schema::AttrType::kFloat:
        if (r.IsFloat()) {
          v.f = r.AsDouble();
        } else if (r.IsInt()) {
          v.f = static_cast<double>(r.AsInt64());
        } else {
          return Bad(op, std::string("attr '") + def.name + "' must be a float");
        }
        break;
      case schema::AttrType::kString:
        if (r.IsString()) {
          v.s = r.AsString().str();
        } else if (r.IsKey()) {
          v.s = r.AsKey();
        } else if (r.IsBlob()) {
          const auto blob = r.AsBlob();
          v.s.assign(reinterpret_cast<const char*>(blob.data()), blob.size());
        } else {
          return Bad(op, std::string("attr '") + def.name + "' must be a string");
        }
        break;
      case schema::AttrType::kBool:
        if (r.IsBool()) {
          v.i = r.AsBool();
        } else if (r.IsInt()) {
          v.i = r.AsInt64() != 0;
        } else {
          return Bad(op, std::string("attr '") + def.name + "' must be a bool");
        }
        break;
    }
    values[def.name] = v;
  }

  OpOptions o;
  o.def = &op;
  auto get = [&](const char* name) -> const Value& { return values[name]; };
  // Version first: an unknown version must be reported as such, whatever the other attrs say.
  {
    const Value& v = get(schema::kVersionAttr);
    if (v.i < 1 || v.i > op.version) {
      return Bad(op, "unsupported kbnn_version " + std::to_string(v.i) +
                         " (this delegate supports 1.." + std::to_string(op.version) +
                         "; update kbnn)");
    }
    o.version = static_cast<int>(v.i);
  }
  Status st;
#define KBNN_INT(name, field, lo, hi)               \
  do {                                              \
    const Value& v_ = get(name);                    \
    if (v_.present) {                               \
      st = IntIn(op, name, v_.i, lo, hi, &o.field); \
      if (!st.ok()) return st;                      \
    }                                               \
  } while (0)

  const std::string name = op.name;
  auto parse_output = [&]() -> Status {
    const Value& act = get("activation");
    if (act.present) {
      Status s = ParseActivation(op, act.s, &o.output.activation);
      if (!s.ok()) return s;
    }
    const Value& cmin = get("clamp_min");
    if (cmin.present) o.output.clamp_min = static_cast<float>(cmin.f);
    const Value& cmax = get("clamp_max");
    if (cmax.present) o.output.clamp_max = static_cast<float>(cmax.f);
    if (std::isnan(o.output.clamp_min) || std::isnan(o.output.clamp_max) ||
        o.output.clamp_min > o.output.clamp_max) {
      return Bad(op, "clamp_min/clamp_max must be ordered numbers");
    }
    const Value& t = get("T");
    if (t.present) {
      if (t.i == schema::kTfLiteFloat32Enum) {
        o.output.type = OutputType::kFloat32;
      } else if (t.i == schema::kTfLiteInt32Enum) {
        o.output.type = OutputType::kBitpacked;
      } else if (t.i == schema::kTfLiteInt8Enum) {
        o.output.type = OutputType::kInt8;
      } else {
        return Bad(op, "attr 'T' = " + std::to_string(t.i) +
                           " is not float32 (0), int32/bitpacked (2) or int8 (9)");
      }
    }
    const Value& sc = get("int8_scale");
    if (sc.present) {
      if (!(std::isfinite(sc.f) && sc.f > 0.0 && sc.f < 3.0e38)) {
        return Bad(op, "attr 'int8_scale' must be a positive finite float");
      }
      o.output.int8_scale = static_cast<float>(sc.f);
    }
    const Value& zp = get("int8_zero_point");
    if (zp.present) {
      int z = 0;
      Status s = IntIn(op, "int8_zero_point", zp.i, -128, 127, &z);
      if (!s.ok()) return s;
      o.output.int8_zero_point = z;
    }
    return Status::Ok();
  };

  if (name == schema::kQuantizeName) {
    o.kind = OpKind::kQuantize;
  } else if (name == schema::kDequantizeName) {
    o.kind = OpKind::kDequantize;
    KBNN_INT("channels", channels, 1, kMaxDim);
  } else if (name == schema::kBconv2dName || name == schema::kBconv2dResidualName) {
    const bool residual = name == schema::kBconv2dResidualName;
    o.kind = residual ? OpKind::kBconv2dResidual : OpKind::kBconv2d;
    KBNN_INT("channels_in", channels_in, 1, kMaxDim);
    KBNN_INT("filter_height", filter_height, 1, kMaxWindow);
    KBNN_INT("filter_width", filter_width, 1, kMaxWindow);
    KBNN_INT("stride_height", stride_height, 1, kMaxWindow);
    KBNN_INT("stride_width", stride_width, 1, kMaxWindow);
    KBNN_INT("dilation_height", dilation_height, 1, kMaxWindow);
    KBNN_INT("dilation_width", dilation_width, 1, kMaxWindow);
    KBNN_INT("pad_values", pad_values, 0, 1);
    KBNN_INT("groups", groups, 1, kMaxDim);
    const Value& pad = get("padding");
    if (pad.present) {
      st = ParsePadding(op, pad.s, &o.padding);
      if (!st.ok()) return st;
    }
    if (o.channels_in % o.groups != 0) {
      return Bad(op, "channels_in " + std::to_string(o.channels_in) +
                         " is not divisible by groups " + std::to_string(o.groups));
    }
    st = parse_output();  // KbnnBconv2dResidual has no T / int8 attrs: float32 output
    if (!st.ok()) return st;
    if (residual) o.output.type = OutputType::kFloat32;
  } else if (name == schema::kBFullyConnectedName) {
    o.kind = OpKind::kBFullyConnected;
    KBNN_INT("input_size", input_size, 1, kMaxDim);
    st = parse_output();
    if (!st.ok()) return st;
  } else if (name == schema::kBMaxPool2dName) {
    o.kind = OpKind::kBMaxPool2d;
    KBNN_INT("channels", channels, 1, kMaxDim);
    KBNN_INT("filter_height", filter_height, 1, kMaxWindow);
    KBNN_INT("filter_width", filter_width, 1, kMaxWindow);
    KBNN_INT("stride_height", stride_height, 1, kMaxWindow);
    KBNN_INT("stride_width", stride_width, 1, kMaxWindow);
    const Value& pad = get("padding");
    if (pad.present) {
      st = ParsePadding(op, pad.s, &o.padding);
      if (!st.ok()) return st;
    }
  } else if (name == schema::kStemConv2dName) {
    o.kind = OpKind::kStemConv2d;
    KBNN_INT("channels_in", channels_in, 1, kStemMaxChannelsIn);
    KBNN_INT("filter_height", filter_height, 1, kMaxWindow);
    KBNN_INT("filter_width", filter_width, 1, kMaxWindow);
    KBNN_INT("stride_height", stride_height, 1, kMaxWindow);
    KBNN_INT("stride_width", stride_width, 1, kMaxWindow);
    KBNN_INT("pool_height", stem.pool_height, 0, kMaxWindow);
    KBNN_INT("pool_width", stem.pool_width, 0, kMaxWindow);
    KBNN_INT("pool_stride_height", stem.pool_stride_height, 1, kMaxWindow);
    KBNN_INT("pool_stride_width", stem.pool_stride_width, 1, kMaxWindow);
    if ((o.stem.pool_height == 0) != (o.stem.pool_width == 0)) {
      return Bad(op, "pool_height and pool_width must both be 0 (no pool) or both >= 1");
    }
    for (const char* attr : {"padding", "pool_padding"}) {
      const Value& pad = get(attr);
      if (!pad.present) continue;
      const bool pool = std::strcmp(attr, "pool_padding") == 0;
      st = ParsePadding(op, pad.s, pool ? &o.stem.pool_padding : &o.padding);
      if (!st.ok()) return st;
    }
    const Value& act = get("activation");
    if (act.present) {
      if (act.s == "NONE") o.stem.activation = StemActivation::kNone;
      else if (act.s == "RELU") o.stem.activation = StemActivation::kRelu;
      else if (act.s == "PRELU") o.stem.activation = StemActivation::kPRelu;
      else return Bad(op, "attr 'activation' = '" + act.s + "' is not NONE, RELU or PRELU");
    }
  } else {
    return Bad(op, "op not implemented by this delegate");
  }
#undef KBNN_INT
  *out = o;
  return Status::Ok();
}

Status ParseDelegateOptions(const char* const* keys, const char* const* values, size_t n,
                            DelegateOptions* out) {
  DelegateOptions o;
  if (n > 0 && (keys == nullptr || values == nullptr)) {
    return Status::InvalidArgument("kbnn delegate: null option arrays");
  }
  for (size_t i = 0; i < n; ++i) {
    if (keys[i] == nullptr || values[i] == nullptr) {
      return Status::InvalidArgument("kbnn delegate: null option key or value");
    }
    const std::string key = keys[i];
    const std::string value = values[i];
    if (key == "num_threads") {
      errno = 0;
      char* end = nullptr;
      const long v = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || errno != 0 || end == nullptr || *end != '\0' || v < 0 || v > 256) {
        return Status::InvalidArgument("kbnn delegate: option num_threads='" + value +
                                       "' must be an integer in [0, 256] (0 = automatic)");
      }
      o.num_threads = static_cast<int>(v);
    } else if (key == "kernel") {
      if (value == "auto") o.kernel = KernelChoice::kAuto;
      else if (value == "reference") o.kernel = KernelChoice::kReference;
      else if (value == "scalar") o.kernel = KernelChoice::kScalar;
      else if (value == "avx2") o.kernel = KernelChoice::kAvx2;
      else if (value == "avx512") o.kernel = KernelChoice::kAvx512;
      else if (value == "neon") o.kernel = KernelChoice::kNeon;
      else {
        return Status::InvalidArgument(
            "kbnn delegate: option kernel='" + value +
            "' is not one of auto, reference, scalar, avx2, avx512, neon");
      }
    } else if (key == "profile") {
      const bool ok =
          !value.empty() && value.size() <= 64 &&
          std::all_of(value.begin(), value.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
          });
      if (!ok) {
        return Status::InvalidArgument("kbnn delegate: option profile='" + value +
                                       "' must be 1-64 characters of [A-Za-z0-9_.-]");
      }
      o.profile = value;
    } else {
      return Status::InvalidArgument("kbnn delegate: unknown option '" + key +
                                     "' (known: num_threads, kernel, profile)");
    }
  }
  *out = o;
  return Status::Ok();
}

const std::string& SchemaJson() {
  static const std::string json = [] {
    std::string s = "{\"schema_version\": " + std::to_string(schema::kSchemaVersion) +
                    ", \"version_attr\": \"" + schema::kVersionAttr + "\", \"ops\": [";
    for (size_t i = 0; i < schema::kNumOps; ++i) {
      const schema::OpDef& op = schema::kOps[i];
      if (i) s += ", ";
      s += "{\"name\": \"" + std::string(op.name) +
           "\", \"version\": " + std::to_string(op.version) + ", \"inputs\": [";
      for (size_t j = 0; j < op.num_inputs; ++j) {
        if (j) s += ", ";
        s += "{\"name\": \"" + std::string(op.inputs[j].name) + "\", \"dtype\": \"" +
             op.inputs[j].dtype + "\"}";
      }
      s += "], \"outputs\": [";
      for (size_t j = 0; j < op.num_outputs; ++j) {
        if (j) s += ", ";
        s += "{\"name\": \"" + std::string(op.outputs[j].name) + "\", \"dtype\": \"" +
             op.outputs[j].dtype + "\"}";
      }
      s += "], \"attrs\": [";
      for (size_t j = 0; j < op.num_attrs; ++j) {
        if (j) s += ", ";
        s += "{\"name\": \"" + std::string(op.attrs[j].name) + "\", \"type\": \"" +
             TypeName(op.attrs[j].type) +
             "\", \"required\": " + (IsRequired(op.attrs[j]) ? "true" : "false") + "}";
      }
      s += "]}";
    }
    s += "]}";
    return s;
  }();
  return json;
}

}  // namespace delegate
}  // namespace kbnn
