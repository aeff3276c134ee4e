// AVX-512F float32 copies of the cross-entropy row kernels (cpu/loss_rows.h), compiled with -mavx512f -mfma:
// the shared loops (and the polynomial exp of cpu/vec_math.h) auto-vectorize 16 wide. Everything is
// internal linkage except the table getter.
#include "cpu/loss_rows.h"

namespace fl::cpu::detail {

LossSimdKernels loss_kernels_avx512_f32() {
  return LossSimdKernels{"avx512_f32", &ce_forward_tile<float>, &ce_backward_tile<float>};
}

}  // namespace fl::cpu::detail
