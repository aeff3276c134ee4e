// Thread helpers shared by the CPU kernels.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <vector>

#include "fastlayers/runtime.h"

namespace fl::cpu {

// An exception leaving an OpenMP region is std::terminate (a task's scratch buffer failing to grow is
// std::bad_alloc, which must reach Python as MemoryError). Tasks run through run(): the first exception is
// kept, the tasks not yet started are skipped, and rethrow() raises it on the calling thread after the region.
class TaskErrors {
 public:
  template <typename F>
  void run(F& f, int64_t t) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;
    try {
      f(t);
    } catch (...) {
#pragma omp critical(fl_task_errors)
      if (!first_) first_ = std::current_exception();
      failed_.store(true, std::memory_order_relaxed);
    }
  }
  void rethrow() const {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::exception_ptr first_;
  std::atomic<bool> failed_{false};
};

// Runs f(task) for every task in [0, n_tasks) on fl::kernel_threads() OpenMP threads. Each task must
// write disjoint memory, so results do not depend on the thread count. An exception from a task is
// rethrown here, after the region (see TaskErrors).
template <typename F>
void parallel_for(int64_t n_tasks, F&& f) {
  int64_t nt = kernel_threads();
  if (nt > n_tasks) nt = n_tasks;
  apply_fp_mode();
  if (nt <= 1) {
    for (int64_t t = 0; t < n_tasks; ++t) f(t);
    return;
  }
  TaskErrors errors;
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    apply_fp_mode();
#pragma omp for schedule(static)
    for (int64_t t = 0; t < n_tasks; ++t) errors.run(f, t);
  }
  errors.rethrow();
}

// Below about this many elementary operations in a whole call, waking an OpenMP team costs more than the
// work it shares (microseconds on an idle machine, far more on a busy one): such calls stay serial.
constexpr int64_t kMinParallelWork = int64_t(1) << 15;

// parallel_for for tasks of about `work_per_task` elementary operations each: serial below kMinParallelWork
// in all (batch-1 inference), threaded otherwise.
template <typename F>
void parallel_for(int64_t n_tasks, int64_t work_per_task, F&& f) {
  if (n_tasks * work_per_task < kMinParallelWork) {
    apply_fp_mode();
    for (int64_t t = 0; t < n_tasks; ++t) f(t);
    return;
  }
  parallel_for(n_tasks, f);
}

// Like parallel_for, but threads take tasks one at a time as they finish (for tasks of uneven cost,
// or threads of uneven speed). Tasks must still write disjoint memory and not depend on each other.
// Exceptions as parallel_for.
template <typename F>
void parallel_for_dynamic(int64_t n_tasks, F&& f) {
  int64_t nt = kernel_threads();
  if (nt > n_tasks) nt = n_tasks;
  apply_fp_mode();
  if (nt <= 1) {
    for (int64_t t = 0; t < n_tasks; ++t) f(t);
    return;
  }
  TaskErrors errors;
#pragma omp parallel num_threads(static_cast<int>(nt))
  {
    apply_fp_mode();
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < n_tasks; ++t) errors.run(f, t);
  }
  errors.rethrow();
}

// Slots of thread_scratch: 0 .. kSharedSlot - 1 for a task's own buffers; kSharedSlot for a per-call
// buffer that the calling thread fills before a parallel_for and its team only reads.
constexpr int kScratchSlots = 8;
constexpr int kSharedSlot = kScratchSlots - 1;

// A per-thread scratch buffer that only grows, so hot loops never allocate after warm-up.
// slot (< kScratchSlots) separates buffers used at the same time by one thread.
template <typename T>
T* thread_scratch(size_t count, int slot = 0) {
  thread_local std::vector<char> buffers[kScratchSlots];
  std::vector<char>& b = buffers[slot];
  size_t bytes = count * sizeof(T) + 64;
  if (b.size() < bytes) b.resize(bytes);
  // 64-byte alignment for SIMD loads.
  uintptr_t p = reinterpret_cast<uintptr_t>(b.data());
  return reinterpret_cast<T*>((p + 63) & ~uintptr_t(63));
}

}  // namespace fl::cpu
