#pragma once
// Small helpers shared by the delegate (delegate.cc) and the LCE mapping layer (lce_ops.cc) for
// error messages about TFLite tensors.
#include <string>
#include <vector>

#include "tflite_abi.h"

namespace kbnn {
namespace delegate {

inline const char* TypeName(int type) {
  switch (type) {
    case kTfLiteFloat32: return "float32";
    case kTfLiteInt32: return "int32";
    case kTfLiteInt8: return "int8";
    case kTfLiteUInt8: return "uint8";
    case kTfLiteInt64: return "int64";
    case kTfLiteInt16: return "int16";
    case kTfLiteBool: return "bool";
    case kTfLiteFloat16: return "float16";
    default: return "other";
  }
}

inline std::string ShapeString(const std::vector<int>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

}  // namespace delegate
}  // namespace kbnn
