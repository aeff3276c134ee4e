// STREAM-style memory bandwidth kernels for bench/peak.py, which compiles this file on demand and calls it
// through ctypes.
//
// copy:  c[i] = a[i]              (8 bytes moved per element: one read, one write)
// triad: a[i] = b[i] + s * c[i]   (12 bytes per element: two reads, one write)
// Bytes are counted as STREAM counts them (no write-allocate traffic). Each of n std::threads owns one
// contiguous slice of every array and touches it first, so pages sit near the thread that uses them;
// std::thread rather than OpenMP so no second thread pool runs beside torch's. The arrays are far
// larger than the last-level cache, so every pass streams from memory.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

struct Arrays {
  float* a;
  float* b;
  float* c;
  int64_t n;
};

template <typename F>
double run_threads(int threads, int64_t n, F&& body) {
  std::vector<std::thread> pool;
  const auto t0 = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    const int64_t lo = n * t / threads, hi = n * (t + 1) / threads;
    pool.emplace_back([&body, lo, hi] { body(lo, hi); });
  }
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

extern "C" {

// Best time in seconds over `reps` passes of kernel 0 (copy) or 1 (triad) on arrays of n floats with
// `threads` threads (after one untimed pass); negative if the arrays cannot be allocated.
double fl_stream_seconds(int threads, int64_t n, int kernel, int reps) {
  if (threads < 1) threads = 1;
  Arrays x{static_cast<float*>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64)),
           static_cast<float*>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64)),
           static_cast<float*>(std::aligned_alloc(64, ((n * 4 + 63) / 64) * 64)), n};
  if (!x.a || !x.b || !x.c) {
    std::free(x.a);
    std::free(x.b);
    std::free(x.c);
    return -1.0;
  }
  run_threads(threads, n, [&](int64_t lo, int64_t hi) {  // first touch by the owning thread
    for (int64_t i = lo; i < hi; ++i) {
      x.a[i] = 1.0f;
      x.b[i] = 2.0f;
      x.c[i] = 0.5f;
    }
  });
  const float s = 3.0f;
  auto pass = [&]() {
    if (kernel == 0)
      return run_threads(threads, n, [&](int64_t lo, int64_t hi) {
        float* __restrict c = x.c;
        const float* __restrict a = x.a;
        for (int64_t i = lo; i < hi; ++i) c[i] = a[i];
      });
    return run_threads(threads, n, [&](int64_t lo, int64_t hi) {
      float* __restrict a = x.a;
      const float* __restrict b = x.b;
      const float* __restrict c = x.c;
      for (int64_t i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
    });
  };
  pass();
  double best = 1e30;
  for (int r = 0; r < (reps < 1 ? 1 : reps); ++r) {
    const double dt = pass();
    if (dt < best) best = dt;
  }
  std::free(x.a);
  std::free(x.b);
  std::free(x.c);
  return best;
}

// Bytes moved per element by kernel 0 (copy) or 1 (triad), as STREAM counts them.
int fl_stream_bytes_per_element(int kernel) { return kernel == 0 ? 8 : 12; }

}  // extern "C"
