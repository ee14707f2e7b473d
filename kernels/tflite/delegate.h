#pragma once
// The delegate object (delegate.cc) as its partition kernels (partition.cc) see it.
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "kbnn/threadpool.h"
#include "options.h"
#include "profile.h"
#include "tflite_abi.h"

#define KBNN_EXPORT extern "C" __attribute__((visibility("default")))

namespace kbnn {
namespace delegate {

// Logical channel count of each bitpacked tensor written by a claimed node, keyed by
// (interpreter context, tensor): the words per pixel alone do not tell 8 channels from 16, so
// the consumer's channels_in / input_size / channels are checked against this record.
// Producers are prepared before consumers (execution order), across partitions too.
struct ChannelRecord {
  std::mutex mutex;
  std::map<std::pair<const TfLiteContext*, int>, int> packed;
};

struct Delegate {
  TfLiteDelegate base;              // the runtime sees &base; base.data_ == this
  unsigned char reserved[256];      // zeroed: fields newer runtimes read past the classic prefix
  DelegateOptions options;
  void (*report_error)(const char*) = nullptr;
  std::mutex pool_mutex;  // the pool is created by the first DelegatePrepare without num_threads
  std::unique_ptr<ThreadPool> pool;
  Profile profile;  // used when options.profile is set
  // Shared with the partitions: a runtime may free its kernels after the delegate.
  std::shared_ptr<ChannelRecord> channels = std::make_shared<ChannelRecord>();
};

// base.data_ points back at the Delegate (no reliance on the member's offset).
inline Delegate* FromBase(TfLiteDelegate* d) {
  return d ? static_cast<Delegate*>(d->data_) : nullptr;
}

std::vector<int> ToVector(const TfLiteIntArray* a);
// Bytes per element of a TFLite type (0: a type the delegate does not size).
size_t ElementSize(int type);
// malloc'ed, as the runtime frees it; nullptr when out of memory.
TfLiteIntArray* NewIntArray(const std::vector<int>& v);

// The registration of the kernel that runs a partition of claimed nodes (partition.cc).
TfLiteRegistrationWithPadding PartitionKernelRegistration();

}  // namespace delegate
}  // namespace kbnn
