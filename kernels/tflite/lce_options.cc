#include "lce_options.h"

#include <flatbuffers/flexbuffers.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "flexmap.h"

namespace kbnn {
namespace delegate {
namespace lce {
namespace {

constexpr int64_t kMaxDim = 1 << 24;
constexpr int64_t kMaxWindow = 1 << 16;

struct Names {
  const char* name;
  LceKind kind;
};
constexpr Names kLceOps[] = {
    {"LceQuantize", LceKind::kQuantize},
    {"LceDequantize", LceKind::kDequantize},
    {"LceBconv2d", LceKind::kBconv2d},
    {"LceBMaxPool2d", LceKind::kBMaxPool2d},
};

Status Bad(const char* op, const std::string& what) {
  return Status::InvalidArgument(std::string(op) + " (Larq Compute Engine) options: " + what);
}

// Reads integer option `key` (flexbuffer int or uint) into *out within [lo, hi].
Status ReadInt(const char* op, const flexbuffers::Map& map, const char* key, int64_t lo, int64_t hi,
               int* out) {
  const flexbuffers::Reference r = map[key];
  if (r.IsNull()) return Bad(op, std::string("missing option '") + key + "'");
  int64_t v = 0;
  if (r.IsInt()) {
    v = r.AsInt64();
  } else if (r.IsUInt()) {
    const uint64_t u = r.AsUInt64();
    v = u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
            ? std::numeric_limits<int64_t>::max()
            : static_cast<int64_t>(u);
  } else {
    return Bad(op, std::string("option '") + key + "' must be an integer");
  }
  if (v < lo || v > hi) {
    return Bad(op, std::string("option '") + key + "' = " + std::to_string(v) +
                       " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = static_cast<int>(v);
  return Status::Ok();
}

Status ReadPadding(const char* op, const flexbuffers::Map& map, Padding* out) {
  int p = 0;
  Status st = ReadInt(op, map, "padding", std::numeric_limits<int32_t>::min(),
                      std::numeric_limits<int32_t>::max(), &p);
  if (!st.ok()) return st;
  if (p == 0) {
    *out = Padding::kSame;
  } else if (p == 1) {
    *out = Padding::kValid;
  } else {
    return Bad(op, "option 'padding' = " + std::to_string(p) +
                       " is not a TFLite padding (0 = SAME, 1 = VALID)");
  }
  return Status::Ok();
}

}  // namespace

bool IsLceOpName(const char* custom_name) {
  return custom_name != nullptr && std::strncmp(custom_name, "Lce", 3) == 0;
}

Status ParseLceOptions(const char* custom_name, int version, const void* data, size_t size,
                       LceOptions* out) {
  if (custom_name == nullptr) return Status::InvalidArgument("LCE op without a name");
  const Names* found = nullptr;
  for (const auto& n : kLceOps) {
    if (std::strcmp(n.name, custom_name) == 0) found = &n;
  }
  if (found == nullptr) {
    return Status::InvalidArgument(
        std::string(custom_name) +
        ": Larq Compute Engine op not supported by kbnn (supported: LceQuantize, LceDequantize, "
        "LceBconv2d, LceBMaxPool2d)");
  }
  const char* op = found->name;
  if (version != kLceOpVersion) {
    return Bad(op, "unsupported op version " + std::to_string(version) + " (kbnn maps version " +
                       std::to_string(kLceOpVersion) + ", as written by larq-compute-engine 0.16)");
  }
  LceOptions o;
  o.kind = found->kind;
  o.name = op;
  if (o.kind == LceKind::kQuantize || o.kind == LceKind::kDequantize) {
    *out = o;  // no options; whatever bytes are there are ignored, like LCE does
    return Status::Ok();
  }
  FlexMap flex;
  if (const char* why = flex.Load(data, size)) return Bad(op, why);
  const flexbuffers::Map map = flex.map();
  Status st;
#define KBNN_LCE_INT(key, field, lo, hi)          \
  do {                                            \
    st = ReadInt(op, map, key, lo, hi, &o.field); \
    if (!st.ok()) return st;                      \
  } while (0)
  KBNN_LCE_INT("stride_height", stride_height, 1, kMaxWindow);
  KBNN_LCE_INT("stride_width", stride_width, 1, kMaxWindow);
  st = ReadPadding(op, map, &o.padding);
  if (!st.ok()) return st;
  if (o.kind == LceKind::kBconv2d) {
    KBNN_LCE_INT("channels_in", channels_in, 1, kMaxDim);
    KBNN_LCE_INT("dilation_height_factor", dilation_height, 1, kMaxWindow);
    KBNN_LCE_INT("dilation_width_factor", dilation_width, 1, kMaxWindow);
    KBNN_LCE_INT("pad_values", pad_values, 0, 1);
    int act = 0;
    st = ReadInt(op, map, "fused_activation_function", std::numeric_limits<int32_t>::min(),
                 std::numeric_limits<int32_t>::max(), &act);
    if (!st.ok()) return st;
    if (act < 0 || act > 3) {
      return Bad(op, "option 'fused_activation_function' = " + std::to_string(act) +
                         " is not supported (0 NONE, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6)");
    }
    o.activation = static_cast<LceActivation>(act);
  } else {
    KBNN_LCE_INT("filter_height", filter_height, 1, kMaxWindow);
    KBNN_LCE_INT("filter_width", filter_width, 1, kMaxWindow);
  }
#undef KBNN_LCE_INT
  *out = o;
  return Status::Ok();
}

}  // namespace lce
}  // namespace delegate
}  // namespace kbnn
