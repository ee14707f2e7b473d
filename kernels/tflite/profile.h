#pragma once
// Delegate option profile=<id>: per-node invoke time (steady clock, ns) accumulated over all the
// partitions of a delegate, keyed by the node's index in the interpreter's execution plan, and
// readable by id through kbnn_delegate_profile_json / kbnn_delegate_profile_reset (profile.cc).
// Each node also keeps the steady-clock start and end of its latest invoke (ns since the clock's
// epoch: CLOCK_MONOTONIC on Linux, Python's time.monotonic_ns()), from which the benchmark times
// the builtin ops that run between kbnn nodes (kbnn_runtime/benchmark.py).
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace kbnn {
namespace delegate {

class Profile {
 public:
  struct NodeTime {
    int node;        // index in the execution plan
    const char* op;  // custom op name
    uint64_t ns;
    int64_t start_ns;  // steady clock at the start and the end of this invoke of the node
    int64_t end_ns;
  };
  // Adds one invoke of a partition: one time per node.
  void Add(const std::vector<NodeTime>& times);
  // {"nodes": [{"node": i, "op": "KbnnBconv2d", "ns": total, "count": n, "start_ns": s,
  //             "end_ns": e}, ...]} (start/end: the latest invoke)
  std::string Json();
  void Reset();

 private:
  struct Entry {
    std::string op;
    uint64_t ns = 0;
    uint64_t count = 0;
    int64_t start_ns = 0;
    int64_t end_ns = 0;
  };
  std::mutex mutex_;
  std::map<int, Entry> nodes_;
};

// The latest delegate created with an id owns it: Register replaces, Unregister removes the id
// only while `profile` still owns it. Register may throw std::bad_alloc.
void RegisterProfile(const std::string& id, Profile* profile);
void UnregisterProfile(const std::string& id, const Profile* profile);

}  // namespace delegate
}  // namespace kbnn
