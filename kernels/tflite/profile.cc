#include "profile.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "delegate.h"

namespace kbnn {
namespace delegate {
namespace {

std::mutex& ProfileRegistryMutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, Profile*>& ProfileRegistry() {
  static auto* r = new std::map<std::string, Profile*>;
  return *r;
}

}  // namespace

void Profile::Add(const std::vector<NodeTime>& times) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const NodeTime& t : times) {
    Entry& e = nodes_[t.node];
    if (e.op.empty()) e.op = t.op;
    e.ns += t.ns;
    ++e.count;
    e.start_ns = t.start_ns;
    e.end_ns = t.end_ns;
  }
}

std::string Profile::Json() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string json = "{\"nodes\": [";
  bool first = true;
  for (const auto& [node, e] : nodes_) {
    if (!first) json += ", ";
    first = false;
    json += "{\"node\": " + std::to_string(node) + ", \"op\": \"" + e.op +
            "\", \"ns\": " + std::to_string(e.ns) + ", \"count\": " + std::to_string(e.count) +
            ", \"start_ns\": " + std::to_string(e.start_ns) +
            ", \"end_ns\": " + std::to_string(e.end_ns) + "}";
  }
  json += "]}";
  return json;
}

void Profile::Reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  nodes_.clear();
}

void RegisterProfile(const std::string& id, Profile* profile) {
  std::lock_guard<std::mutex> lock(ProfileRegistryMutex());
  ProfileRegistry()[id] = profile;
}

void UnregisterProfile(const std::string& id, const Profile* profile) {
  std::lock_guard<std::mutex> lock(ProfileRegistryMutex());
  auto it = ProfileRegistry().find(id);
  if (it != ProfileRegistry().end() && it->second == profile) ProfileRegistry().erase(it);
}

}  // namespace delegate
}  // namespace kbnn

// The per-node times accumulated since creation or the last reset, as JSON (Profile::Json;
// node: index in the interpreter's execution plan). Writes at most size-1 bytes and a NUL into
// buf; returns the full length (call with size 0 to ask), or -1 when no delegate has this id.
KBNN_EXPORT long kbnn_delegate_profile_json(const char* id, char* buf, size_t size) {
  using namespace kbnn::delegate;
  if (id == nullptr) return -1;
  std::string json;
  try {
    std::lock_guard<std::mutex> lock(ProfileRegistryMutex());
    auto it = ProfileRegistry().find(id);
    if (it == ProfileRegistry().end()) return -1;
    json = it->second->Json();
  } catch (...) {
    return -1;
  }
  if (buf != nullptr && size > 0) {
    const size_t n = std::min(size - 1, json.size());
    std::memcpy(buf, json.data(), n);
    buf[n] = '\0';
  }
  return static_cast<long>(json.size());
}

// Clears the accumulated profile of the delegate with this id; 0, or -1 when there is none.
KBNN_EXPORT int kbnn_delegate_profile_reset(const char* id) {
  using namespace kbnn::delegate;
  if (id == nullptr) return -1;
  std::lock_guard<std::mutex> lock(ProfileRegistryMutex());
  auto it = ProfileRegistry().find(id);
  if (it == ProfileRegistry().end()) return -1;
  it->second->Reset();
  return 0;
}
