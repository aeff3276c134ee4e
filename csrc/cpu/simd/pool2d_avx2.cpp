// The pooling plane kernels (cpu/pool2d_planes.h) compiled with -mavx2: 8 float32 / 4 float64 output
// columns per vector. Chosen at run time at SimdLevel::AVX2.
#define FL_POOL_PLANES_VBYTES 32
#include "cpu/pool2d_planes.h"

namespace fl::cpu::detail {
PoolPlaneKernels pool_planes_avx2() { return plane_table("avx2"); }
}  // namespace fl::cpu::detail
