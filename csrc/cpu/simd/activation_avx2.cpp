// The activation family's plain loops (cpu/activation_loops.h) compiled with -mavx2 -mfma: the float32
// element loops and softmax slabs vectorize 8 wide here (the AVX-512 kernels are hand-written in
// activation_avx512.cpp). Chosen at run time at SimdLevel::AVX2.
#include "cpu/activation_loops.h"

namespace fl::cpu::detail {
ActSimdKernels act_kernels_avx2_f32() { return loops::table_f32("avx2_f32"); }
}  // namespace fl::cpu::detail
