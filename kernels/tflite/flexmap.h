#pragma once
// A verified, aligned private copy of untrusted flexbuffer bytes that must hold a map (custom-op
// options of kbnn's and LCE's ops). The verifier runs before any value is read.
#include <flatbuffers/flexbuffers.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace kbnn {
namespace delegate {

class FlexMap {
 public:
  // Returns nullptr on success, else what is wrong with the bytes.
  const char* Load(const void* data, size_t size) {
    if (data == nullptr || size == 0) return "no custom options (expected a flexbuffer map)";
    if (size > (64u << 20)) return "custom options larger than 64 MiB";
    storage_.assign((size + 7) / 8, 0);
    std::memcpy(storage_.data(), data, size);
    size_ = size;
    std::vector<uint8_t> reuse_tracker;
    if (!flexbuffers::VerifyBuffer(bytes(), size_, &reuse_tracker)) {
      return "custom options are not a valid flexbuffer";
    }
    if (!flexbuffers::GetRoot(bytes(), size_).IsMap())
      return "custom options are not a flexbuffer map";
    return nullptr;
  }
  // Only after a successful Load.
  flexbuffers::Map map() const { return flexbuffers::GetRoot(bytes(), size_).AsMap(); }

 private:
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(storage_.data()); }
  std::vector<uint64_t> storage_;
  size_t size_ = 0;
};

}  // namespace delegate
}  // namespace kbnn
