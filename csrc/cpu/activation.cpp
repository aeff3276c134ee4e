// Fast CPU kernels of the activation family. Gradients are written (=).
// Element-wise ops run over chunks of a flat array in parallel; each chunk is a contiguous loop the
// compiler vectorizes at -O3. float32 transcendentals use exp_f below (range reduction + polynomial,
// plain arithmetic so it vectorizes) instead of libm calls, which do not; float64 keeps libm for accuracy.
// softmax runs one (outer, inner) row per task with a three-pass max / sum / scale loop.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/activation_simd.h"
#include "cpu/vec_math.h"
#include "cpu/kernels.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

static_assert(int(ActKind::ReLU) == kActReLU && int(ActKind::ELU) == kActELU && int(ActKind::GELU) == kActGELU &&
                  int(ActKind::Mish) == kActMish && int(ActKind::Softplus) == kActSoftplus &&
                  int(ActKind::Tanh) == kActTanh && int(ActKind::Hardswish) == kActHardswish,
              "ActSimdKind must number the kinds as ActKind does");

// The float32 SIMD kernels for the current fl::simd_level(), or null for the portable loops below.
const ActSimdKernels* simd_kernels_f32() {
#if defined(FL_HAVE_X86_SIMD)
  static const ActSimdKernels avx512 = detail::act_kernels_avx512_f32();
  if (simd_level() == SimdLevel::AVX512) return &avx512;
#endif
  return nullptr;
}

ActArgs act_args(const ActivationParams& p) {
  return ActArgs{static_cast<int>(p.kind), float(p.alpha), float(p.scale), float(p.input_scale), float(p.beta),
                 float(p.threshold), float(p.min_val), float(p.max_val)};
}

constexpr int64_t kChunk = 1 << 15;  // elements per task of an element-wise op


// erfc for float32 (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7 everywhere).
inline float erfc_f(float x) {
  float z = std::fabs(x);
  float t = 1.0f / (1.0f + 0.5f * z);
  float poly = -0.82215223f + t * 0.17087277f;
  poly = 1.48851587f + t * poly;
  poly = -1.13520398f + t * poly;
  poly = 0.27886807f + t * poly;
  poly = -0.18628806f + t * poly;
  poly = 0.09678418f + t * poly;
  poly = 0.37409196f + t * poly;
  poly = 1.00002368f + t * poly;
  poly = -1.26551223f + t * poly;
  float ans = t * exp_f(-z * z + poly);
  return x >= 0 ? ans : 2.0f - ans;
}
inline double erfc_f(double x) { return std::erfc(x); }

// tanh from exp: 1 - 2 / (e^{2x} + 1), odd-symmetric; absolute error ~eps near 0.
template <typename T> inline T tanh_f(T x) {
  T a = std::fabs(x);
  T t = T(1) - T(2) / (exp_f(T(2) * a) + T(1));
  return x < 0 ? -t : t;
}
inline double tanh_f(double x) { return std::tanh(x); }

template <typename T> inline T sigmoid_f(T x) { return T(1) / (T(1) + exp_f(-x)); }

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluC = 0.044715;

// Runs body(begin, end) over chunks of [0, n) in parallel.
template <typename F> void chunked(int64_t n, F&& body) {
  const int64_t tasks = (n + kChunk - 1) / kChunk;
  parallel_for(tasks, [&](int64_t t) {
    const int64_t b = t * kChunk;
    body(b, b + kChunk < n ? b + kChunk : n);
  });
}

template <typename T, typename F> void map1(T* y, const T* x, int64_t n, F f) {
  chunked(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}
template <typename T, typename F> void map2(T* d, const T* g, const T* s, int64_t n, F f) {
  chunked(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) d[i] = f(g[i], s[i]);
  });
}

template <typename T>
void forward_t(T* y, const T* x, const ActivationParams& p) {
  const int64_t n = p.numel;
  const T alpha = T(p.alpha), scale = T(p.scale), iscale = T(p.input_scale), beta = T(p.beta),
          thr = T(p.threshold), lo = T(p.min_val), hi = T(p.max_val);
  switch (p.kind) {
    case ActKind::ReLU: map1(y, x, n, [](T v) { return v > T(0) ? v : T(0); }); break;
    case ActKind::LeakyReLU: map1(y, x, n, [=](T v) { return v > T(0) ? v : v * alpha; }); break;
    case ActKind::ELU:
      map1(y, x, n, [=](T v) {
        T neg = scale * alpha * (exp_f(v * iscale) - T(1));
        return v > T(0) ? scale * v : neg;
      });
      break;
    case ActKind::GELU:
      map1(y, x, n, [](T v) { return T(0.5) * v * erfc_f(-v * T(kSqrt1_2)); });
      break;
    case ActKind::GELUTanh:
      // 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation where tanh(u) is near -1.
      map1(y, x, n, [](T v) { return v * sigmoid_f(T(2 * kSqrt2OverPi) * (v + T(kGeluC) * v * v * v)); });
      break;
    case ActKind::SiLU: map1(y, x, n, [](T v) { return v / (T(1) + exp_f(-v)); }); break;
    case ActKind::Mish:
      // tanh(log(1 + e)) = ((1 + e)^2 - 1) / ((1 + e)^2 + 1) = m / (m + 2) with m = e (e + 2).
      map1(y, x, n, [](T v) {
        T e = exp_f(v < T(20) ? v : T(20));
        T m = e * (e + T(2));
        return v < T(20) ? v * m / (m + T(2)) : v;
      });
      break;
    case ActKind::Softplus:
      map1(y, x, n, [=](T v) {
        T z = v * beta;
        T soft = std::log1p(exp_f(z < thr ? z : thr)) / beta;
        return z > thr ? v : soft;
      });
      break;
    case ActKind::Sigmoid: map1(y, x, n, [](T v) { return sigmoid_f(v); }); break;
    case ActKind::Tanh: map1(y, x, n, [](T v) { return tanh_f(v); }); break;
    case ActKind::Hardtanh:
      map1(y, x, n, [=](T v) { return v < lo ? lo : (v > hi ? hi : v); });
      break;
    case ActKind::Hardsigmoid:
      map1(y, x, n, [](T v) { return v <= T(-3) ? T(0) : (v >= T(3) ? T(1) : v / T(6) + T(0.5)); });
      break;
    case ActKind::Hardswish:
      map1(y, x, n, [](T v) { return v <= T(-3) ? T(0) : (v >= T(3) ? v : v * (v + T(3)) / T(6)); });
      break;
  }
}

template <typename T>
void backward_input_t(T* d, const T* g, const T* x, const ActivationParams& p) {
  const int64_t n = p.numel;
  const T alpha = T(p.alpha), scale = T(p.scale), iscale = T(p.input_scale), beta = T(p.beta),
          thr = T(p.threshold), lo = T(p.min_val), hi = T(p.max_val);
  switch (p.kind) {
    case ActKind::ReLU: map2(d, g, x, n, [](T gv, T v) { return v > T(0) ? gv : T(0); }); break;
    case ActKind::LeakyReLU: map2(d, g, x, n, [=](T gv, T v) { return v > T(0) ? gv : gv * alpha; }); break;
    case ActKind::ELU:
      map2(d, g, x, n, [=](T gv, T v) {
        T neg = gv * iscale * scale * alpha * exp_f(v * iscale);
        return v > T(0) ? gv * scale : neg;
      });
      break;
    case ActKind::GELU:
      map2(d, g, x, n, [](T gv, T v) {
        T cdf = T(0.5) * erfc_f(-v * T(kSqrt1_2));
        T pdf = T(kInvSqrt2Pi) * exp_f(T(-0.5) * v * v);
        return gv * (cdf + v * pdf);
      });
      break;
    case ActKind::GELUTanh:
      map2(d, g, x, n, [](T gv, T v) {
        // with s = sigmoid(2u): 0.5 (1 + t) = s and 1 - t^2 = 4 s (1 - s)
        T s = sigmoid_f(T(2 * kSqrt2OverPi) * (v + T(kGeluC) * v * v * v));
        T inner_d = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluC) * v * v);
        return gv * (s + T(2) * v * s * (T(1) - s) * inner_d);
      });
      break;
    case ActKind::SiLU:
      map2(d, g, x, n, [](T gv, T v) {
        T s = sigmoid_f(v);
        return gv * s * (T(1) + v * (T(1) - s));
      });
      break;
    case ActKind::Mish:
      map2(d, g, x, n, [](T gv, T v) {
        T e = exp_f(v < T(20) ? v : T(20));
        T m = e * (e + T(2));
        T t = v < T(20) ? m / (m + T(2)) : T(1);
        T s = e / (T(1) + e);
        return gv * (t + v * s * (T(1) - t * t));
      });
      break;
    case ActKind::Softplus:
      map2(d, g, x, n, [=](T gv, T v) {
        T z = v * beta;
        T e = exp_f(z < thr ? z : thr);
        return z > thr ? gv : gv * e / (e + T(1));
      });
      break;
    case ActKind::Sigmoid:
      map2(d, g, x, n, [](T gv, T v) { T s = sigmoid_f(v); return gv * s * (T(1) - s); });
      break;
    case ActKind::Tanh:
      map2(d, g, x, n, [](T gv, T v) { T t = tanh_f(v); return gv * (T(1) - t * t); });
      break;
    case ActKind::Hardtanh:
      map2(d, g, x, n, [=](T gv, T v) { return (v <= lo || v >= hi) ? T(0) : gv; });
      break;
    case ActKind::Hardsigmoid:
      map2(d, g, x, n, [](T gv, T v) { return (v > T(-3) && v < T(3)) ? gv * T(1.0f / 6.0f) : T(0); });
      break;
    case ActKind::Hardswish:
      map2(d, g, x, n, [](T gv, T v) {
        return v <= T(-3) ? T(0) : (v < T(3) ? gv * (v / T(3) + T(0.5)) : gv);
      });
      break;
  }
}

template <typename T>
void backward_output_t(T* d, const T* g, const T* y, const ActivationParams& p) {
  const int64_t n = p.numel;
  const T alpha = T(p.alpha), scale = T(p.scale), iscale = T(p.input_scale), lo = T(p.min_val),
          hi = T(p.max_val);
  switch (p.kind) {
    case ActKind::ReLU: map2(d, g, y, n, [](T gv, T v) { return v > T(0) ? gv : T(0); }); break;
    case ActKind::LeakyReLU: map2(d, g, y, n, [=](T gv, T v) { return v > T(0) ? gv : gv * alpha; }); break;
    case ActKind::ELU:
      map2(d, g, y, n, [=](T gv, T v) { return v > T(0) ? gv * scale : gv * iscale * (v + scale * alpha); });
      break;
    case ActKind::Sigmoid: map2(d, g, y, n, [](T gv, T v) { return gv * v * (T(1) - v); }); break;
    case ActKind::Tanh: map2(d, g, y, n, [](T gv, T v) { return gv * (T(1) - v * v); }); break;
    case ActKind::Hardtanh:
      map2(d, g, y, n, [=](T gv, T v) { return (v <= lo || v >= hi) ? T(0) : gv; });
      break;
    default: break;  // the front door only sends kinds with backward_from_output_ok()
  }
}

// ---- softmax over (outer, dim, inner) ----
template <typename T>
void softmax_forward_t(T* y, const T* x, const SoftmaxParams& p) {
  const int64_t D = p.dim, I = p.inner;
  if (I == 1) {
    parallel_for(p.outer, [&](int64_t o) {
      const T* xr = x + o * D;
      T* yr = y + o * D;
      const T m = row_max(xr, D);
      // exp into the output first (a loop that vectorizes), then a lane-split sum (fixed order).
      for (int64_t d = 0; d < D; ++d) yr[d] = exp_f(xr[d] - m);
      const T sum = row_sum(yr, D);
      if (p.log) {
        const T lse = m + std::log(sum);
        for (int64_t d = 0; d < D; ++d) yr[d] = xr[d] - lse;
      } else {
        const T inv = T(1) / sum;
        for (int64_t d = 0; d < D; ++d) yr[d] *= inv;
      }
    });
    return;
  }
  // Strided rows: one task per outer index, vectorized across the inner axis with a row of scratch.
  parallel_for(p.outer, [&](int64_t o) {
    const T* xo = x + o * D * I;
    T* yo = y + o * D * I;
    T* m = thread_scratch<T>(static_cast<size_t>(2 * I));
    T* sum = m + I;
    for (int64_t i = 0; i < I; ++i) { m[i] = xo[i]; sum[i] = 0; }
    for (int64_t d = 1; d < D; ++d)
      for (int64_t i = 0; i < I; ++i) m[i] = xo[d * I + i] > m[i] ? xo[d * I + i] : m[i];
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < I; ++i) {
        T e = exp_f(xo[d * I + i] - m[i]);
        sum[i] += e;
        if (!p.log) yo[d * I + i] = e;
      }
    if (p.log) {
      for (int64_t i = 0; i < I; ++i) m[i] += std::log(sum[i]);
      for (int64_t d = 0; d < D; ++d)
        for (int64_t i = 0; i < I; ++i) yo[d * I + i] = xo[d * I + i] - m[i];
    } else {
      for (int64_t i = 0; i < I; ++i) sum[i] = T(1) / sum[i];
      for (int64_t d = 0; d < D; ++d)
        for (int64_t i = 0; i < I; ++i) yo[d * I + i] *= sum[i];
    }
  });
}

template <typename T>
void softmax_backward_t(T* dx, const T* dy, const T* y, const SoftmaxParams& p) {
  const int64_t D = p.dim, I = p.inner;
  parallel_for(p.outer, [&](int64_t o) {
    const T* g = dy + o * D * I;
    const T* yo = y + o * D * I;
    T* d = dx + o * D * I;
    T* dot = thread_scratch<T>(static_cast<size_t>(I));
    for (int64_t i = 0; i < I; ++i) dot[i] = 0;
    for (int64_t k = 0; k < D; ++k)
      for (int64_t i = 0; i < I; ++i) dot[i] += p.log ? g[k * I + i] : g[k * I + i] * yo[k * I + i];
    for (int64_t k = 0; k < D; ++k)
      for (int64_t i = 0; i < I; ++i) {
        const int64_t j = k * I + i;
        d[j] = p.log ? g[j] - exp_f(yo[j]) * dot[i] : yo[j] * (g[j] - dot[i]);
      }
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
  const ActSimdKernels* k = x.dtype == DType::Float32 ? simd_kernels_f32() : nullptr;
  if (k) {
    const ActArgs a = act_args(p);
    float* yp = y.ptr<float>();
    const float* xp = x.ptr<float>();
    chunked(p.numel, [&](int64_t b, int64_t e) { k->forward(yp + b, xp + b, e - b, a); });
  } else if (x.dtype == DType::Float32) forward_t(y.ptr<float>(), x.ptr<float>(), p);
  else forward_t(y.ptr<double>(), x.ptr<double>(), p);
}

void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p) {
  const ActSimdKernels* k = dy.dtype == DType::Float32 ? simd_kernels_f32() : nullptr;
  if (k) {
    const ActArgs a = act_args(p);
    const ActBackwardFn fn = from_output ? k->backward_output : k->backward_input;
    float* dp = dx.ptr<float>();
    const float* gp = dy.ptr<float>();
    const float* sp = saved.ptr<float>();
    chunked(p.numel, [&](int64_t b, int64_t e) { fn(dp + b, gp + b, sp + b, e - b, a); });
  } else if (dy.dtype == DType::Float32) {
    if (from_output) backward_output_t(dx.ptr<float>(), dy.ptr<float>(), saved.ptr<float>(), p);
    else backward_input_t(dx.ptr<float>(), dy.ptr<float>(), saved.ptr<float>(), p);
  } else {
    if (from_output) backward_output_t(dx.ptr<double>(), dy.ptr<double>(), saved.ptr<double>(), p);
    else backward_input_t(dx.ptr<double>(), dy.ptr<double>(), saved.ptr<double>(), p);
  }
}

void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p) {
  const ActSimdKernels* k = x.dtype == DType::Float32 ? simd_kernels_f32() : nullptr;
  if (k) {
    const int64_t slab = p.dim * p.inner;
    float* yp = y.ptr<float>();
    const float* xp = x.ptr<float>();
    parallel_for(p.outer, [&](int64_t o) { k->softmax(yp + o * slab, xp + o * slab, p.dim, p.inner, p.log); });
  } else if (x.dtype == DType::Float32) softmax_forward_t(y.ptr<float>(), x.ptr<float>(), p);
  else softmax_forward_t(y.ptr<double>(), x.ptr<double>(), p);
}

void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p) {
  const ActSimdKernels* k = y.dtype == DType::Float32 ? simd_kernels_f32() : nullptr;
  if (k) {
    const int64_t slab = p.dim * p.inner;
    float* dp = dx.ptr<float>();
    const float* gp = dy.ptr<float>();
    const float* yp = y.ptr<float>();
    parallel_for(p.outer, [&](int64_t o) {
      k->softmax_backward(dp + o * slab, gp + o * slab, yp + o * slab, p.dim, p.inner, p.log);
    });
  } else if (y.dtype == DType::Float32) softmax_backward_t(dx.ptr<float>(), dy.ptr<float>(), y.ptr<float>(), p);
  else softmax_backward_t(dx.ptr<double>(), dy.ptr<double>(), y.ptr<double>(), p);
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
