// Per-ISA float32 kernels of the activation family (element-wise activations and softmax), chosen at
// run time from fl::simd_level() by csrc/cpu/activation.cpp; the portable loops there stay the fallback
// (and the float64 path).
//
// Only plain types cross this boundary (no params struct with inline members): the SIMD translation
// units are compiled with wider instruction sets and must not provide a shared out-of-line copy of
// anything baseline code could link against.
#pragma once
#include <cstdint>

namespace fl::cpu {

// Same numbering as fl::ActKind (checked by static_assert in activation.cpp).
enum ActSimdKind : int {
  kActReLU = 0, kActLeakyReLU, kActELU, kActGELU, kActGELUTanh, kActSiLU, kActMish, kActSoftplus,
  kActSigmoid, kActTanh, kActHardtanh, kActHardsigmoid, kActHardswish
};

// The scalar parameters of an element-wise activation (float32 for the SIMD tables).
template <typename T> struct ActArgsT {
  int kind;
  T alpha, scale, iscale, beta, thr, lo, hi;
};
using ActArgs = ActArgsT<float>;

// y[i] = act(x[i]) for i < n (y may be x).
using ActForwardFn = void (*)(float* y, const float* x, int64_t n, const ActArgs& a);
// d[i] = g[i] * act'(s[i]) where s is the input (backward_input) or the output (backward_output, only
// for the kinds whose ActivationParams::backward_from_output_ok()).
using ActBackwardFn = void (*)(float* d, const float* g, const float* s, int64_t n, const ActArgs& a);
// softmax / log_softmax of one outer slab: x and y are D x I (row stride I), reduced along D.
using SoftmaxSlabFn = void (*)(float* y, const float* x, int64_t D, int64_t I, bool log);
// Its gradient: dx from dy and the forward output y, same layout.
using SoftmaxBackwardSlabFn = void (*)(float* dx, const float* dy, const float* y, int64_t D, int64_t I, bool log);

struct ActSimdKernels {
  const char* name;
  ActForwardFn forward;
  ActBackwardFn backward_input;
  ActBackwardFn backward_output;
  SoftmaxSlabFn softmax;
  SoftmaxBackwardSlabFn softmax_backward;
};

namespace detail {
#if defined(FL_HAVE_X86_SIMD)
ActSimdKernels act_kernels_avx512_f32();
// ---- issue 3 performance: AVX2 build of the portable loops (cpu/activation_loops.h) ----
ActSimdKernels act_kernels_avx2_f32();
#endif
}  // namespace detail

}  // namespace fl::cpu
