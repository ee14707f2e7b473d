#include "kbnn/threadpool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace kbnn {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

// Waits (bounded, ~kSpinMicros) until pred() holds; returns whether it did. Avoids the
// condition-variable wake-up latency (tens of microseconds) for back-to-back jobs. After a short
// busy spin it yields the CPU, so an oversubscribed machine still runs the threads that have
// work (a pure spin there made 2 threads slower than 1).
constexpr int kSpinMicros = 100;
template <class Pred>
bool SpinFor(Pred pred) {
  for (int i = 0; i < 256; ++i) {
    if (pred()) return true;
    CpuRelax();
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
  for (;;) {
    for (int i = 0; i < 8; ++i) {
      if (pred()) return true;
      std::this_thread::yield();
    }
    if (std::chrono::steady_clock::now() > deadline) return pred();
  }
}

}  // namespace

struct ThreadPool::Impl {
  std::mutex call_mutex;  // serializes ParallelFor callers
  std::mutex mutex;
  std::condition_variable work_cv;
  std::condition_variable done_cv;
  std::vector<std::thread> workers;
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stop{false};
  // The current job (written before `generation` is bumped).
  TaskFn fn = nullptr;
  void* context = nullptr;
  size_t num_tasks = 0;
  int job_threads = 0;
  std::atomic<size_t> next{0};
  std::atomic<int> pending{0};  // workers that have not finished the current job

  void Drain(int thread_index) {
    for (;;) {
      const size_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= num_tasks) break;
      fn(context, t, thread_index);
    }
  }

  void WorkerLoop(int index) {
    uint64_t seen = 0;
    for (;;) {
      auto ready = [&] {
        return stop.load(std::memory_order_acquire) ||
               generation.load(std::memory_order_acquire) != seen;
      };
      if (!SpinFor(ready)) {
        std::unique_lock<std::mutex> lock(mutex);
        work_cv.wait(lock, ready);
      }
      bool participate;
      {
        // Snapshot the generation and the job under the lock the caller writes them under.
        std::lock_guard<std::mutex> lock(mutex);
        if (stop.load(std::memory_order_acquire)) return;
        seen = generation.load(std::memory_order_acquire);
        participate = index < job_threads;
      }
      if (!participate) continue;
      Drain(index);
      if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex);
        done_cv.notify_one();
      }
    }
  }
};

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads < 1 ? 1 : num_threads), impl_(new Impl) {
  for (int i = 1; i < num_threads_; ++i) {
    impl_->workers.emplace_back([this, i] { impl_->WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop.store(true, std::memory_order_release);
  }
  impl_->work_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

void ThreadPool::ParallelFor(size_t num_tasks, int max_threads, TaskFn fn, void* context) {
  int threads = max_threads < num_threads_ ? max_threads : num_threads_;
  if (static_cast<size_t>(threads) > num_tasks) threads = static_cast<int>(num_tasks);
  if (threads <= 1) {
    for (size_t t = 0; t < num_tasks; ++t) fn(context, t, 0);
    return;
  }
  std::lock_guard<std::mutex> call_lock(impl_->call_mutex);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->fn = fn;
    impl_->context = context;
    impl_->num_tasks = num_tasks;
    impl_->job_threads = threads;
    impl_->next.store(0, std::memory_order_relaxed);
    impl_->pending.store(threads - 1, std::memory_order_relaxed);
    impl_->generation.fetch_add(1, std::memory_order_release);
  }
  impl_->work_cv.notify_all();
  impl_->Drain(0);
  auto done = [&] { return impl_->pending.load(std::memory_order_acquire) == 0; };
  if (!SpinFor(done)) {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    impl_->done_cv.wait(lock, done);
  }
}

}  // namespace kbnn
