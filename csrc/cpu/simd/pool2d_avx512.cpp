// The pooling plane kernels (cpu/pool2d_planes.h) compiled with -mavx512f: 16 float32 / 8 float64 output
// columns per vector. Chosen at run time at SimdLevel::AVX512.
#define FL_POOL_PLANES_VBYTES 64
#include "cpu/pool2d_planes.h"

namespace fl::cpu::detail {
PoolPlaneKernels pool_planes_avx512() { return plane_table("avx512"); }
}  // namespace fl::cpu::detail
