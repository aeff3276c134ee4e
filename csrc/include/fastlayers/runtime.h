// Process-wide settings: thread count and the SIMD level kernels dispatch on.
#pragma once
#include <string>

namespace fl {

// Threads used by every kernel; n >= 1. The default, as torch's policy: FASTLAYERS_NUM_THREADS, then
// OMP_NUM_THREADS, then the CPUs this process may run on (its affinity mask, physical cores where sysfs
// tells them apart).
void set_num_threads(int n);
int get_num_threads();
// Where get_num_threads() came from: "set_num_threads", "FASTLAYERS_NUM_THREADS", "OMP_NUM_THREADS",
// "affinity mask (physical cores)" or "affinity mask (logical CPUs)".
const char* num_threads_source();
// Denormal inputs and results read and written as zero (x86 FTZ/DAZ) in the calling thread now and in every
// kernel thread as it next runs; false where the CPU has no such mode (as torch.set_flush_denormal).
bool set_flush_denormal(bool on);
// Brings the calling thread's floating-point mode up to date with set_flush_denormal (kernel threads call it).
void apply_fp_mode();
// Threads a kernel may use right now: 1 in a forked child (an OpenMP team does not survive fork).
int kernel_threads();

enum class SimdLevel : int { Portable = 0, AVX2 = 1, AVX512 = 2 };
// The best level this CPU supports, lowered by the environment variable FASTLAYERS_SIMD
// (portable | avx2 | avx512) and by set_simd_level.
SimdLevel simd_level();
const char* simd_level_name(SimdLevel level);
// The SIMD units compiled into this build, comma-separated ("" for the portable path alone).
const char* simd_units_built();
// Highest level this build and CPU can run.
SimdLevel max_simd_level();
// Forces a level (clamped to max_simd_level()); used by tests to run every path in one process.
void set_simd_level(SimdLevel level);

}  // namespace fl
