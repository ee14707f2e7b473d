#include "registry.h"

#include <cstring>
#include <string>

namespace kbnn {
namespace delegate {
namespace {

// The parsers give the op's kind (OpOptions::kind, LceOptions::kind); each kind has one factory.
struct KbnnOpEntry {
  OpKind kind;
  std::unique_ptr<OpKernel> (*create)(const OpOptions&);
};
constexpr KbnnOpEntry kKbnnOps[] = {
    {OpKind::kQuantize, CreateKbnnQuantize},
    {OpKind::kDequantize, CreateKbnnDequantize},
    {OpKind::kBconv2d, CreateKbnnBconv2d},
    {OpKind::kBconv2dResidual, CreateKbnnBconv2d},
    {OpKind::kBFullyConnected, CreateKbnnBFullyConnected},
    {OpKind::kBMaxPool2d, CreateKbnnBMaxPool2d},
    {OpKind::kStemConv2d, CreateKbnnStemConv2d},
};

struct LceOpEntry {
  lce::LceKind kind;
  std::unique_ptr<OpKernel> (*create)(const lce::LceOptions&);
};
constexpr LceOpEntry kLceOps[] = {
    {lce::LceKind::kQuantize, CreateLceQuantize},
    {lce::LceKind::kDequantize, CreateLceDequantize},
    {lce::LceKind::kBconv2d, CreateLceBconv2d},
    {lce::LceKind::kBMaxPool2d, CreateLceBMaxPool2d},
};

}  // namespace

bool IsClaimableOpName(const char* custom_name) {
  return custom_name != nullptr &&
         (lce::IsLceOpName(custom_name) || std::strncmp(custom_name, "Kbnn", 4) == 0);
}

bool IsKnownOpName(const char* custom_name) {
  return lce::IsLceOpName(custom_name) || FindOp(custom_name) != nullptr;
}

Status CreateOpKernel(const char* custom_name, int version, const void* data, size_t size,
                      std::unique_ptr<OpKernel>* out) {
  if (lce::IsLceOpName(custom_name)) {
    lce::LceOptions lo;
    Status st = lce::ParseLceOptions(custom_name, version, data, size, &lo);
    if (!st.ok() || out == nullptr) return st;
    for (const LceOpEntry& e : kLceOps) {
      if (e.kind == lo.kind) {
        *out = e.create(lo);
        return Status::Ok();
      }
    }
    return Status::Internal(std::string(custom_name) + ": no kernel registered");
  }
  const schema::OpDef* def = FindOp(custom_name);
  if (def == nullptr) {
    return Status::InvalidArgument(std::string(custom_name ? custom_name : "?") +
                                   " is not a kbnn op");
  }
  OpOptions opt;
  Status st = ParseOpOptions(*def, data, size, &opt);
  if (!st.ok() || out == nullptr) return st;
  for (const KbnnOpEntry& e : kKbnnOps) {
    if (e.kind == opt.kind) {
      *out = e.create(opt);
      return Status::Ok();
    }
  }
  return Status::Internal(std::string(def->name) + ": no kernel registered");
}

}  // namespace delegate
}  // namespace kbnn
