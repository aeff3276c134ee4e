// AVX2 + FMA float32 copies of the cross-entropy row kernels (cpu/loss_rows.h), for CPUs without AVX-512.
// Compiled with -mavx2 -mfma -fno-trapping-math: without mask registers GCC if-converts the clamps of the
// polynomial exp (cpu/vec_math.h) into blends only when comparisons may not trap, and the rows never read
// the floating-point exception flags. Everything is internal linkage except the table getter.
#include "cpu/loss_rows.h"

namespace fl::cpu::detail {

LossSimdKernels loss_kernels_avx2_f32() {
  return LossSimdKernels{"avx2_f32", &ce_forward_tile<float>, &ce_backward_tile<float>};
}

}  // namespace fl::cpu::detail
