// FMA throughput microkernel for bench/peak.py, which compiles it on demand and calls it through ctypes.
//
// Each of n std::threads runs kAcc independent chains of vector FMAs (acc = acc * a + b) held in
// registers, enough independent chains to cover the FMA latency on every pipe, so the loop is bound by
// FMA issue throughput alone. No memory traffic, no OpenMP (so no second thread pool beside torch's).
// The widest instruction set the CPU supports is used: AVX-512F (16 floats), else AVX2+FMA (8 floats),
// else SSE mul+add (4 floats, counted as 2 flops per lane like an FMA).
#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

constexpr int kAcc = 16;  // independent accumulators: >= latency (4) x pipes (2), and fits 16 ymm / 32 zmm
std::atomic<float> g_sink{0.f};

__attribute__((target("avx512f"))) float chain_avx512(int64_t iters) {
  __m512 acc[kAcc];
  for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_set1_ps(1e-3f * static_cast<float>(j));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kAcc; ++j) s = _mm512_add_ps(s, acc[j]);
  return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) float chain_avx2(int64_t iters) {
  __m256 acc[kAcc];
  for (int j = 0; j < kAcc; ++j) acc[j] = _mm256_set1_ps(1e-3f * static_cast<float>(j));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  }
  __m256 s = acc[0];
  for (int j = 1; j < kAcc; ++j) s = _mm256_add_ps(s, acc[j]);
  alignas(32) float v[8];
  _mm256_store_ps(v, s);
  return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

float chain_sse(int64_t iters) {
  __m128 acc[kAcc];
  for (int j = 0; j < kAcc; ++j) acc[j] = _mm_set1_ps(1e-3f * static_cast<float>(j));
  const __m128 a = _mm_set1_ps(0.999999f), b = _mm_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kAcc; ++j) acc[j] = _mm_add_ps(_mm_mul_ps(acc[j], a), b);
  }
  __m128 s = acc[0];
  for (int j = 1; j < kAcc; ++j) s = _mm_add_ps(s, acc[j]);
  alignas(16) float v[4];
  _mm_store_ps(v, s);
  return v[0] + v[1] + v[2] + v[3];
}

int best_isa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 256;
  return 128;
}

float run_chain(int isa, int64_t iters) {
  if (isa == 512) return chain_avx512(iters);
  if (isa == 256) return chain_avx2(iters);
  return chain_sse(iters);
}

}  // namespace

extern "C" {

// The vector width in bits this helper uses on this CPU (512, 256 or 128); `isa` 0 means that one.
int fl_peak_isa() { return best_isa(); }

// Seconds for `threads` threads to each run `iters` iterations of kAcc vector FMAs, all started together.
// Flops = 2 * (isa / 32) * kAcc * iters * threads.
double fl_peak_fma_seconds(int threads, int64_t iters, int isa) {
  if (isa == 0) isa = best_isa();
  if (threads < 1) threads = 1;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      float r = run_chain(isa, iters);
      float cur = g_sink.load();
      g_sink.store(cur + r);
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  auto t0 = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

int fl_peak_accumulators() { return kAcc; }

}  // extern "C"
