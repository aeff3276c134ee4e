// Process-wide settings: thread count and the SIMD level kernels dispatch on.
#pragma once
#include <string>

namespace fl {

// Threads used by every kernel; n >= 1. The default is the number of processors OpenMP sees.
void set_num_threads(int n);
int get_num_threads();
// Threads a kernel may use right now: 1 in a forked child (an OpenMP team does not survive fork).
int kernel_threads();

enum class SimdLevel : int { Portable = 0, AVX2 = 1, AVX512 = 2 };
// The best level this CPU supports, lowered by the environment variable FASTLAYERS_SIMD
// (portable | avx2 | avx512) and by set_simd_level.
SimdLevel simd_level();
const char* simd_level_name(SimdLevel level);
// Highest level this build and CPU can run.
SimdLevel max_simd_level();
// Forces a level (clamped to max_simd_level()); used by tests to run every path in one process.
void set_simd_level(SimdLevel level);

}  // namespace fl
