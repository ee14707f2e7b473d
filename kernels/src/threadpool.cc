#include "kbnn/threadpool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace kbnn {

struct ThreadPool::Impl {
  std::mutex call_mutex;  // serializes ParallelFor callers
  std::mutex mutex;
  std::condition_variable work_cv;
  std::condition_variable done_cv;
  std::vector<std::thread> workers;
  uint64_t generation = 0;
  bool stop = false;
  // The current job.
  TaskFn fn = nullptr;
  void* context = nullptr;
  size_t num_tasks = 0;
  int job_threads = 0;
  std::atomic<size_t> next{0};
  int pending = 0;  // workers that have not finished the current job

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
      {
        std::unique_lock<std::mutex> lock(mutex);
        work_cv.wait(lock, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
        if (index >= job_threads) continue;  // not part of this job
      }
      Drain(index);
      std::lock_guard<std::mutex> lock(mutex);
      if (--pending == 0) done_cv.notify_one();
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
    impl_->stop = true;
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
    impl_->pending = threads - 1;
    ++impl_->generation;
  }
  impl_->work_cv.notify_all();
  impl_->Drain(0);
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->done_cv.wait(lock, [&] { return impl_->pending == 0; });
}

}  // namespace kbnn
