// Fast CPU kernels of the activation family. Gradients are written (=).
// Element-wise ops run over chunks of a flat array in parallel, softmax one outer slab per task; the
// loops themselves are in cpu/activation_loops.h (portable and AVX2 builds) and
// simd/activation_avx512.cpp, chosen at run time for float32 (float64: the portable loops).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/activation_loops.h"
#include "cpu/activation_simd.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

static_assert(int(ActKind::ReLU) == kActReLU && int(ActKind::ELU) == kActELU && int(ActKind::GELU) == kActGELU &&
                  int(ActKind::Mish) == kActMish && int(ActKind::Softplus) == kActSoftplus &&
                  int(ActKind::Tanh) == kActTanh && int(ActKind::Hardswish) == kActHardswish,
              "ActSimdKind must number the kinds as ActKind does");

// The float32 kernels for the current fl::simd_level(): AVX-512 intrinsics, or the loops of
// cpu/activation_loops.h compiled for AVX2 or for the baseline.
const ActSimdKernels* simd_kernels_f32() {
  static const ActSimdKernels portable = loops::table_f32("portable_f32");
#if defined(FL_HAVE_X86_SIMD)
  static const ActSimdKernels avx512 = detail::act_kernels_avx512_f32();
  static const ActSimdKernels avx2 = detail::act_kernels_avx2_f32();
  if (simd_level() == SimdLevel::AVX512) return &avx512;
  if (simd_level() == SimdLevel::AVX2) return &avx2;
#endif
  return &portable;
}

template <typename T> ActArgsT<T> act_args(const ActivationParams& p) {
  return ActArgsT<T>{static_cast<int>(p.kind), T(p.alpha), T(p.scale), T(p.input_scale), T(p.beta),
                     T(p.threshold), T(p.min_val), T(p.max_val)};
}

constexpr int64_t kChunk = 1 << 15;  // elements per task of an element-wise op

// Runs body(begin, end) over chunks of [0, n) in parallel.
template <typename F> void chunked(int64_t n, F&& body) {
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  parallel_for(tasks, [&](int64_t t) {
    const int64_t b = t * kChunk;
    body(b, b + kChunk < n ? b + kChunk : n);
  });
}

// ---- prelu ----
template <typename T>
void prelu_forward_t(T* y, const T* x, const T* w, const PReLUParams& p) {
  const int64_t I = p.inner;
  parallel_for(p.N * p.C, [&](int64_t r) {
    const T a = w[r % p.C];
    const T* xr = x + r * I;
    T* yr = y + r * I;
    for (int64_t i = 0; i < I; ++i) yr[i] = xr[i] > T(0) ? xr[i] : a * xr[i];
  });
}

template <typename T>
void prelu_backward_t(T* dx, T* dw, const T* dy, const T* x, const T* w, const PReLUParams& p) {
  const int64_t I = p.inner;
  if (dx)
    parallel_for(p.N * p.C, [&](int64_t r) {
      const T a = w[r % p.C];
      const T* xr = x + r * I;
      const T* gr = dy + r * I;
      T* dr = dx + r * I;
      for (int64_t i = 0; i < I; ++i) dr[i] = xr[i] > T(0) ? gr[i] : a * gr[i];
    });
  if (dw)
    // One task per channel: the reduction over (N, inner) runs in a fixed order whatever the threads.
    parallel_for(p.C, [&](int64_t c) {
      double acc = 0;
      for (int64_t n = 0; n < p.N; ++n) {
        const T* xr = x + (n * p.C + c) * I;
        const T* gr = dy + (n * p.C + c) * I;
        T part = 0;
        for (int64_t i = 0; i < I; ++i) part += xr[i] > T(0) ? T(0) : xr[i] * gr[i];
        acc += part;
      }
      dw[c] = static_cast<T>(acc);
    });
}

// ---- maxout ----
template <typename T>
void maxout_forward_t(T* y, const T* x, const MaxoutParams& p) {
  const int64_t I = p.inner, P = p.pieces, J = p.Cout();
  parallel_for(p.outer * J, [&](int64_t r) {
    const int64_t o = r / J, j = r % J;
    const T* base = x + (o * p.C + j * P) * I;
    T* yr = y + r * I;
    for (int64_t i = 0; i < I; ++i) yr[i] = base[i];
    for (int64_t k = 1; k < P; ++k) {
      const T* xk = base + k * I;
      for (int64_t i = 0; i < I; ++i) {
        T v = xk[i];
        yr[i] = (v > yr[i] || (v != v && yr[i] == yr[i])) ? v : yr[i];
      }
    }
  });
}

template <typename T>
void maxout_backward_t(T* dx, const T* dy, const T* x, const MaxoutParams& p) {
  const int64_t I = p.inner, P = p.pieces, J = p.Cout();
  parallel_for(p.outer * J, [&](int64_t r) {
    const int64_t o = r / J, j = r % J;
    const T* base = x + (o * p.C + j * P) * I;
    T* dbase = dx + (o * p.C + j * P) * I;
    const T* gr = dy + r * I;
    for (int64_t i = 0; i < I; ++i) {
      int64_t win = 0;
      T best = base[i];
      for (int64_t k = 1; k < P; ++k) {
        T v = base[k * I + i];
        if (v > best || (v != v && best == best)) { best = v; win = k; }
      }
      for (int64_t k = 0; k < P; ++k) dbase[k * I + i] = k == win ? gr[i] : T(0);
    }
  });
}

}  // namespace

void activation_forward(const TensorView& y, const TensorView& x, const ActivationParams& p) {
  if (x.dtype == DType::Float32) {
    const ActSimdKernels* k = simd_kernels_f32();
    const ActArgs a = act_args<float>(p);
    float* yp = y.ptr<float>();
    const float* xp = x.ptr<float>();
    chunked(p.numel, [&](int64_t b, int64_t e) { k->forward(yp + b, xp + b, e - b, a); });
  } else {
    const ActArgsT<double> a = act_args<double>(p);
    double* yp = y.ptr<double>();
    const double* xp = x.ptr<double>();
    chunked(p.numel, [&](int64_t b, int64_t e) { loops::forward_range(yp + b, xp + b, e - b, a); });
  }
}

void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p) {
  if (dy.dtype == DType::Float32) {
    const ActSimdKernels* k = simd_kernels_f32();
    const ActArgs a = act_args<float>(p);
    const ActBackwardFn fn = from_output ? k->backward_output : k->backward_input;
    float* dp = dx.ptr<float>();
    const float* gp = dy.ptr<float>();
    const float* sp = saved.ptr<float>();
    chunked(p.numel, [&](int64_t b, int64_t e) { fn(dp + b, gp + b, sp + b, e - b, a); });
  } else {
    const ActArgsT<double> a = act_args<double>(p);
    double* dp = dx.ptr<double>();
    const double* gp = dy.ptr<double>();
    const double* sp = saved.ptr<double>();
    chunked(p.numel, [&](int64_t b, int64_t e) {
      if (from_output) loops::backward_output_range(dp + b, gp + b, sp + b, e - b, a);
      else loops::backward_input_range(dp + b, gp + b, sp + b, e - b, a);
    });
  }
}

// One outer slab per task (each slab's reductions run inside the task, in a fixed order).
void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p) {
  const int64_t slab = p.dim * p.inner;
  if (x.dtype == DType::Float32) {
    const ActSimdKernels* k = simd_kernels_f32();
    float* yp = y.ptr<float>();
    const float* xp = x.ptr<float>();
    parallel_for(p.outer, [&](int64_t o) { k->softmax(yp + o * slab, xp + o * slab, p.dim, p.inner, p.log); });
  } else {
    double* yp = y.ptr<double>();
    const double* xp = x.ptr<double>();
    parallel_for(p.outer, [&](int64_t o) {
      loops::softmax_slab(yp + o * slab, xp + o * slab, p.dim, p.inner, p.log);
    });
  }
}

void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p) {
  const int64_t slab = p.dim * p.inner;
  if (y.dtype == DType::Float32) {
    const ActSimdKernels* k = simd_kernels_f32();
    float* dp = dx.ptr<float>();
    const float* gp = dy.ptr<float>();
    const float* yp = y.ptr<float>();
    parallel_for(p.outer, [&](int64_t o) {
      k->softmax_backward(dp + o * slab, gp + o * slab, yp + o * slab, p.dim, p.inner, p.log);
    });
  } else {
    double* dp = dx.ptr<double>();
    const double* gp = dy.ptr<double>();
    const double* yp = y.ptr<double>();
    parallel_for(p.outer, [&](int64_t o) {
      loops::softmax_backward_slab(dp + o * slab, gp + o * slab, yp + o * slab, p.dim, p.inner, p.log);
    });
  }
}

void prelu_forward(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p) {
  if (x.dtype == DType::Float32) prelu_forward_t(y.ptr<float>(), x.ptr<float>(), w.ptr<float>(), p);
  else prelu_forward_t(y.ptr<double>(), x.ptr<double>(), w.ptr<double>(), p);
}

void prelu_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                    const TensorView& w, const PReLUParams& p) {
  if (x.dtype == DType::Float32)
    prelu_backward_t(dx.ptr<float>(), dw.ptr<float>(), dy.ptr<float>(), x.ptr<float>(), w.ptr<float>(), p);
  else
    prelu_backward_t(dx.ptr<double>(), dw.ptr<double>(), dy.ptr<double>(), x.ptr<double>(), w.ptr<double>(), p);
}

void maxout_forward(const TensorView& y, const TensorView& x, const MaxoutParams& p) {
  if (x.dtype == DType::Float32) maxout_forward_t(y.ptr<float>(), x.ptr<float>(), p);
  else maxout_forward_t(y.ptr<double>(), x.ptr<double>(), p);
}

void maxout_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p) {
  if (x.dtype == DType::Float32) maxout_backward_t(dx.ptr<float>(), dy.ptr<float>(), x.ptr<float>(), p);
  else maxout_backward_t(dx.ptr<double>(), dy.ptr<double>(), x.ptr<double>(), p);
}

}  // namespace fl::cpu
