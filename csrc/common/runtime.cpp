#include "fastlayers/runtime.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <utility>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

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

namespace {

// A positive thread count from environment variable `name` (OMP_NUM_THREADS may be a list: its first entry
// is the outer level's), else 0: an unset or malformed value falls through to the next source, as torch's.
int env_threads(const char* name) {
  const char* s = std::getenv(name);
  if (!s || !*s) return 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || (*end != '\0' && *end != ',') || v < 1 || v > 1 << 16) return 0;
  return static_cast<int>(v);
}

// The CPUs this process may run on (its affinity mask), counted as physical cores where sysfs tells
// SMT siblings apart (as torch's default), else as logical CPUs.
int affinity_threads(const char** source) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    *source = "omp_get_num_procs";
    return omp_get_num_procs();
  }
  std::set<std::pair<long, long>> cores;
  bool topology = true;
  for (int cpu = 0; cpu < CPU_SETSIZE && topology; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream pkg(dir + "physical_package_id"), core(dir + "core_id");
    long p = -1, c = -1;
    topology = static_cast<bool>(pkg >> p) && static_cast<bool>(core >> c);
    cores.emplace(p, c);
  }
  if (topology && !cores.empty()) {
    *source = "affinity mask (physical cores)";
    return static_cast<int>(cores.size());
  }
  *source = "affinity mask (logical CPUs)";
  return CPU_COUNT(&set);
}

std::atomic<const char*> g_num_threads_source{nullptr};

}  // namespace

void set_num_threads(int n) {
  FL_CHECK_VALUE(n >= 1, "set_num_threads: n must be >= 1, got ", n);
  g_num_threads.store(n);
  g_num_threads_source.store("set_num_threads");
}

int get_num_threads() {
  int n = g_num_threads.load();
  if (n == 0) {
    const char* source = "FASTLAYERS_NUM_THREADS";
    n = env_threads(source);
    if (n == 0) n = env_threads(source = "OMP_NUM_THREADS");
    if (n == 0) n = affinity_threads(&source);
    if (n < 1) n = 1;
    int expected = 0;  // a concurrent set_num_threads wins over the default
    if (g_num_threads.compare_exchange_strong(expected, n)) g_num_threads_source.store(source);
    n = g_num_threads.load();
  }
  return n;
}

const char* num_threads_source() {
  get_num_threads();
  return g_num_threads_source.load();
}

namespace {
// Denormal flushing: the wanted mode, and (per thread) the one last applied to its MXCSR.
std::atomic<int> g_flush_denormal{0};
thread_local int t_flush_denormal = 0;

void write_fp_mode(int flush) {
#if defined(__x86_64__) || defined(__i386__)
  constexpr unsigned kFtzDaz = 0x8040;  // MXCSR flush-to-zero (bit 15) and denormals-are-zero (bit 6)
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(flush ? (csr | kFtzDaz) : (csr & ~kFtzDaz));
#endif
  t_flush_denormal = flush;
}
}  // namespace

bool set_flush_denormal(bool on) {
#if defined(__x86_64__) || defined(__i386__)
  g_flush_denormal.store(on ? 1 : 0);
  write_fp_mode(on ? 1 : 0);  // the calling thread now, as torch; kernel threads as they next run
  return true;
#else
  (void)on;
  return false;
#endif
}

void apply_fp_mode() {
  const int want = g_flush_denormal.load(std::memory_order_relaxed);
  if (want != t_flush_denormal) write_fp_mode(want);
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

const char* simd_units_built() {
#if defined(FL_HAVE_X86_SIMD)
  return "avx2,avx512";
#else
  return "";
#endif
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::AVX512: return "avx512";
    case SimdLevel::AVX2: return "avx2";
    default: return "portable";
  }
}

}  // namespace fl
