#include "kbnn/types.h"

namespace kbnn {

const char* ToString(Padding p) {
  switch (p) {
    case Padding::kValid: return "VALID";
    case Padding::kSame: return "SAME";
  }
  return "?";
}

const char* ToString(Activation a) {
  switch (a) {
    case Activation::kNone: return "none";
    case Activation::kRelu: return "relu";
    case Activation::kRelu6: return "relu6";
    case Activation::kClamp: return "clamp";
  }
  return "?";
}

const char* ToString(OutputType t) {
  switch (t) {
    case OutputType::kFloat32: return "float32";
    case OutputType::kBitpacked: return "bitpacked";
    case OutputType::kInt8: return "int8";
    case OutputType::kInt32Dot: return "int32dot";
  }
  return "?";
}

const char* ToString(KernelChoice k) {
  switch (k) {
    case KernelChoice::kAuto: return "auto";
    case KernelChoice::kReference: return "reference";
    case KernelChoice::kScalar: return "scalar";
    case KernelChoice::kAvx2: return "avx2";
    case KernelChoice::kNeon: return "neon";
    case KernelChoice::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace kbnn
