#include "fastlayers/runtime.h"

#include <omp.h>
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "fastlayers/error.h"

namespace fl {
namespace {

std::atomic<int> g_num_threads{0};  // 0: not yet initialised
std::atomic<bool> g_forked_child{false};

void mark_forked_child() { g_forked_child.store(true); }

struct ForkHandlerInstaller {
  ForkHandlerInstaller() { pthread_atfork(nullptr, nullptr, mark_forked_child); }
} g_fork_handler_installer;

bool cpu_has(const char* feature) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!std::strcmp(feature, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!std::strcmp(feature, "avx512")) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
  (void)feature;
  return false;
}

SimdLevel detect_max_level() {
#if defined(FL_HAVE_X86_SIMD)
  if (cpu_has("avx512")) return SimdLevel::AVX512;
  if (cpu_has("avx2")) return SimdLevel::AVX2;
#endif
  return SimdLevel::Portable;
}

SimdLevel parse_level(const char* s, SimdLevel fallback) {
  if (!s || !*s) return fallback;
  if (!std::strcmp(s, "portable")) return SimdLevel::Portable;
  if (!std::strcmp(s, "avx2")) return SimdLevel::AVX2;
  if (!std::strcmp(s, "avx512")) return SimdLevel::AVX512;
  return fallback;
}

SimdLevel initial_level() {
  SimdLevel max = detect_max_level();
  SimdLevel want = parse_level(std::getenv("FASTLAYERS_SIMD"), max);
  return want < max ? want : max;
}

std::atomic<int> g_simd_level{static_cast<int>(initial_level())};

}  // namespace

void set_num_threads(int n) {
  FL_CHECK_VALUE(n >= 1, "set_num_threads: n must be >= 1, got ", n);
  g_num_threads.store(n);
}

int get_num_threads() {
  int n = g_num_threads.load();
  if (n == 0) {
    n = omp_get_num_procs();
    if (n < 1) n = 1;
    g_num_threads.store(n);
  }
  return n;
}

int kernel_threads() { return g_forked_child.load() ? 1 : get_num_threads(); }

SimdLevel max_simd_level() {
  static const SimdLevel max = detect_max_level();
  return max;
}

SimdLevel simd_level() { return static_cast<SimdLevel>(g_simd_level.load()); }

void set_simd_level(SimdLevel level) {
  SimdLevel max = max_simd_level();
  g_simd_level.store(static_cast<int>(level < max ? level : max));
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::AVX512: return "avx512";
    case SimdLevel::AVX2: return "avx2";
    default: return "portable";
  }
}

}  // namespace fl
