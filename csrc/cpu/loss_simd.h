// The float32 SIMD row kernels of the fused cross-entropy (csrc/cpu/simd/loss_avx512.cpp), chosen at run
// time from fl::simd_level() by csrc/cpu/loss.cpp; the baseline copies of the same rows (cpu/loss_rows.h)
// stay the fallback and the float64 path. Only plain types cross this boundary.
#pragma once
#include <cstdint>

namespace fl::cpu {

// The scalars of one cross-entropy call the row kernels need (see cpu/loss_rows.h).
struct CeRowArgs {
  int64_t C, S, ignore_index;
  double eps;          // label smoothing
  double weight_sum;   // sum of the class weights (C when unweighted)
  double cn, cs;       // backward: scale of the target term and of the smoothing term
  int64_t grad_stride; // backward: 1 when grad holds one value per row, 0 for a single value
};

using CeForwardTileFn = void (*)(const CeRowArgs& a, const float* x, const int64_t* tidx, const float* tprob,
                                 const float* w, int64_t n, int64_t s0, int64_t s1, float* lse, float* ta,
                                 float* tb, float* wt, float* scratch);
using CeBackwardTileFn = void (*)(const CeRowArgs& a, float* dx, const float* grad, const float* x,
                                  const int64_t* tidx, const float* tprob, const float* w, const float* lse,
                                  int64_t n, int64_t s0, int64_t s1, float* scratch);

struct LossSimdKernels {
  const char* name;
  CeForwardTileFn ce_forward;
  CeBackwardTileFn ce_backward;
};

namespace detail {
#if defined(FL_HAVE_X86_SIMD)
LossSimdKernels loss_kernels_avx512_f32();
#endif
}  // namespace detail

}  // namespace fl::cpu
