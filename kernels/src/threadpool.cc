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

// Tasks are claimed through one atomic word (job id << 32 | next task) and the caller waits
// for the tasks to be completed, not for every worker to show up: a worker that wakes late (its
// core taken by another process) finds the job finished, its claim fails on the job id, and it
// never delays the caller. Each worker snapshots the job under the mutex the caller writes it
// under, so a successful claim always runs with that job's fn, context and thread count.
struct ThreadPool::Impl {
  std::mutex call_mutex;  // serializes ParallelFor callers
  std::mutex mutex;
  std::condition_variable work_cv;
  std::condition_variable done_cv;
  std::vector<std::thread> workers;
  std::atomic<uint64_t> generation{0};
  std::atomic<bool> stop{false};
  // The current job (written under `mutex` before `generation` is bumped).
  struct Job {
    TaskFn fn = nullptr;
    void* context = nullptr;
    size_t num_tasks = 0;
    uint32_t id = 0;
  };
  Job job;
  int job_threads = 0;
  std::atomic<uint64_t> cursor{0};     // (job.id << 32) | next task index
  std::atomic<size_t> completed{0};    // tasks of the current job that have finished

  // Claims and runs tasks of `j` until none is left or the pool moved on to another job.
  void RunTasks(const Job& j, int thread_index) {
    for (;;) {
      uint64_t v = cursor.load(std::memory_order_acquire);
      for (;;) {
        if ((v >> 32) != j.id || (v & 0xffffffffu) >= j.num_tasks) return;
        if (cursor.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
          break;
        }
      }
      j.fn(j.context, static_cast<size_t>(v & 0xffffffffu), thread_index);
      if (completed.fetch_add(1, std::memory_order_acq_rel) + 1 == j.num_tasks) {
        std::lock_guard<std::mutex> lock(mutex);
        done_cv.notify_one();
      }
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
      Job j;
      {
        // Snapshot the generation and the job under the lock the caller writes them under.
        std::lock_guard<std::mutex> lock(mutex);
        if (stop.load(std::memory_order_acquire)) return;
        seen = generation.load(std::memory_order_acquire);
        if (index >= job_threads) continue;
        j = job;
      }
      RunTasks(j, index);
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
  if (num_tasks > 0xffffffffu) {  // the cursor holds 32-bit task indices
    for (size_t t = 0; t < num_tasks; ++t) fn(context, t, 0);
    return;
  }
  std::lock_guard<std::mutex> call_lock(impl_->call_mutex);
  Impl::Job j;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    j.fn = fn;
    j.context = context;
    j.num_tasks = num_tasks;
    j.id = impl_->job.id + 1;
    impl_->job = j;
    impl_->job_threads = threads;
    impl_->completed.store(0, std::memory_order_relaxed);
    impl_->cursor.store(static_cast<uint64_t>(j.id) << 32, std::memory_order_release);
    impl_->generation.fetch_add(1, std::memory_order_release);
  }
  impl_->work_cv.notify_all();
  impl_->RunTasks(j, 0);
  auto done = [&] { return impl_->completed.load(std::memory_order_acquire) == num_tasks; };
  if (!SpinFor(done)) {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    impl_->done_cv.wait(lock, done);
  }
}

}  // namespace kbnn
