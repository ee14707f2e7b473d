#pragma once
// A minimal fork-join pool: std::thread + std::condition_variable, no allocation per call.
#include <cstddef>
#include <memory>

namespace kbnn {

class ThreadPool {
 public:
  // num_threads counts the calling thread: ThreadPool(1) has no worker threads and runs inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  using TaskFn = void (*)(void* context, size_t task, int thread_index);

  // Runs fn(context, task, thread_index) for every task in [0, num_tasks) on at most
  // min(max_threads, num_threads()) threads (thread_index < that count; 0 is the caller) and
  // returns when all tasks are done. Tasks are handed out dynamically. Calls from several
  // threads at once are serialized.
  void ParallelFor(size_t num_tasks, int max_threads, TaskFn fn, void* context);

  // Convenience: f(task, thread_index); f is passed by reference, nothing is allocated.
  template <class F>
  void ParallelFor(size_t num_tasks, int max_threads, F& f) {
    ParallelFor(
        num_tasks, max_threads,
        [](void* ctx, size_t task, int thread) { (*static_cast<F*>(ctx))(task, thread); }, &f);
  }

 private:
  struct Impl;
  int num_threads_;
  std::unique_ptr<Impl> impl_;
};

// Runs the tasks on `pool` when it is non-null and more than one thread is usable, otherwise
// inline on the calling thread (no pool overhead).
template <class F>
void ParallelForMaybe(ThreadPool* pool, size_t num_tasks, int max_threads, F& f) {
  if (pool == nullptr || pool->num_threads() <= 1 || max_threads <= 1 || num_tasks <= 1) {
    for (size_t t = 0; t < num_tasks; ++t) f(t, 0);
    return;
  }
  pool->ParallelFor(num_tasks, max_threads, f);
}

}  // namespace kbnn
