// The activation family's element loops and softmax slabs written as plain loops (float32
// transcendentals by exp_f of cpu/vec_math.h: range reduction + polynomial in plain arithmetic, so they vectorize;
// float64 keeps libm for accuracy). Compiled twice for float32: in cpu/activation.cpp (the portable
// path, and float64) and in simd/activation_avx2.cpp under AVX2 flags (cpu/activation_simd.h).
//
// For that reason everything here has internal linkage and calls only compiler builtins and the
// internal-linkage helpers of cpu/vec_math.h, so no AVX2 code can be linked into baseline code.
#pragma once
#include <cstdint>

#include "cpu/activation_simd.h"
#include "cpu/vec_math.h"

namespace fl::cpu {
namespace {
namespace loops {

inline float log1p_f(float v) { return __builtin_log1pf(v); }
inline double log1p_f(double v) { return __builtin_log1p(v); }
inline float log_f(float v) { return __builtin_logf(v); }
inline double log_f(double v) { return __builtin_log(v); }


// erfc for float32 (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7 everywhere).
inline float erfc_f(float x) {
  float z = __builtin_fabsf(x);
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
inline double erfc_f(double x) { return __builtin_erfc(x); }

// tanh from exp: 1 - 2 / (e^{2x} + 1), odd-symmetric; absolute error ~eps near 0.
template <typename T> inline T tanh_f(T x) {
  T a = x < T(0) ? -x : x;
  T t = T(1) - T(2) / (exp_f(T(2) * a) + T(1));
  return x < 0 ? -t : t;
}
inline double tanh_f(double x) { return __builtin_tanh(x); }

template <typename T> inline T sigmoid_f(T x) { return T(1) / (T(1) + exp_f(-x)); }

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluC = 0.044715;

template <typename T, typename F> inline void map1(T* y, const T* x, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
template <typename T, typename F> inline void map2(T* d, const T* g, const T* s, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) d[i] = f(g[i], s[i]);
}

template <typename T>
void forward_range(T* y, const T* x, int64_t n, const ActArgsT<T>& p) {
  const T alpha = p.alpha, scale = p.scale, iscale = p.iscale, beta = p.beta, thr = p.thr, lo = p.lo, hi = p.hi;
  switch (p.kind) {
    case kActReLU: map1(y, x, n, [](T v) { return v <= T(0) ? T(0) : v; }); break;  // NaN stays NaN (torch)
    case kActLeakyReLU: map1(y, x, n, [=](T v) { return v > T(0) ? v : v * alpha; }); break;
    case kActELU:
      map1(y, x, n, [=](T v) {
        T neg = scale * alpha * (exp_f(v * iscale) - T(1));
        return v > T(0) ? scale * v : neg;
      });
      break;
    case kActGELU:
      map1(y, x, n, [](T v) { return T(0.5) * v * erfc_f(-v * T(kSqrt1_2)); });
      break;
    case kActGELUTanh:
      // 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation where tanh(u) is near -1.
      map1(y, x, n, [](T v) { return v * sigmoid_f(T(2 * kSqrt2OverPi) * (v + T(kGeluC) * v * v * v)); });
      break;
    case kActSiLU: map1(y, x, n, [](T v) { return v / (T(1) + exp_f(-v)); }); break;
    case kActMish:
      // tanh(log(1 + e)) = ((1 + e)^2 - 1) / ((1 + e)^2 + 1) = m / (m + 2) with m = e (e + 2).
      map1(y, x, n, [](T v) {
        T e = exp_f(v < T(20) ? v : T(20));
        T m = e * (e + T(2));
        return v < T(20) ? v * m / (m + T(2)) : v;
      });
      break;
    case kActSoftplus:
      map1(y, x, n, [=](T v) {
        T z = v * beta;
        T soft = log1p_f(exp_f(z > thr ? thr : z)) / beta;  // NaN reaches exp_f and stays NaN (torch)
        return z > thr ? v : soft;
      });
      break;
    case kActSigmoid: map1(y, x, n, [](T v) { return sigmoid_f(v); }); break;
    case kActTanh: map1(y, x, n, [](T v) { return tanh_f(v); }); break;
    case kActHardtanh:
      map1(y, x, n, [=](T v) { return v < lo ? lo : (v > hi ? hi : v); });
      break;
    case kActHardsigmoid:
      map1(y, x, n, [](T v) { return v <= T(-3) ? T(0) : (v >= T(3) ? T(1) : v / T(6) + T(0.5)); });
      break;
    case kActHardswish:
      // torch's x * relu6(x + 3) / 6: -0.0 below -3, and NaN at -inf (-inf * 0)
      map1(y, x, n, [](T v) { return v <= T(-3) ? v * T(0) : (v >= T(3) ? v : v * (v + T(3)) / T(6)); });
      break;
  }
}

template <typename T>
void backward_input_range(T* d, const T* g, const T* x, int64_t n, const ActArgsT<T>& p) {
  const T alpha = p.alpha, scale = p.scale, iscale = p.iscale, beta = p.beta, thr = p.thr, lo = p.lo, hi = p.hi;
  switch (p.kind) {
    case kActReLU: map2(d, g, x, n, [](T gv, T v) { return v <= T(0) ? T(0) : gv; }); break;  // g at NaN (torch)
    case kActLeakyReLU: map2(d, g, x, n, [=](T gv, T v) { return v > T(0) ? gv : gv * alpha; }); break;
    case kActELU:
      map2(d, g, x, n, [=](T gv, T v) {
        T neg = gv * iscale * scale * alpha * exp_f(v * iscale);
        return v > T(0) ? gv * scale : neg;
      });
      break;
    case kActGELU:
      map2(d, g, x, n, [](T gv, T v) {
        T cdf = T(0.5) * erfc_f(-v * T(kSqrt1_2));
        T pdf = T(kInvSqrt2Pi) * exp_f(T(-0.5) * v * v);
        return gv * (cdf + v * pdf);
      });
      break;
    case kActGELUTanh:
      map2(d, g, x, n, [](T gv, T v) {
        // with s = sigmoid(2u): 0.5 (1 + t) = s and 1 - t^2 = 4 s (1 - s)
        T s = sigmoid_f(T(2 * kSqrt2OverPi) * (v + T(kGeluC) * v * v * v));
        T inner_d = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluC) * v * v);
        // where s saturates (s (1 - s) == 0) at a finite v, v * inner_d may be inf: the term is 0, not
        // 0 * inf = NaN (at v = +-inf torch gives NaN, and so does this)
        T w = s * (T(1) - s);
        return gv * (s + (w == T(0) && v - v == T(0) ? T(0) : T(2) * v * w * inner_d));
      });
      break;
    case kActSiLU:
      map2(d, g, x, n, [](T gv, T v) {
        T s = sigmoid_f(v);
        return gv * s * (T(1) + v * (T(1) - s));
      });
      break;
    case kActMish:
      map2(d, g, x, n, [](T gv, T v) {
        T e = exp_f(v < T(20) ? v : T(20));
        T m = e * (e + T(2));
        T t = v < T(20) ? m / (m + T(2)) : T(1);
        T s = e / (T(1) + e);
        return gv * (t + v * s * (T(1) - t * t));
      });
      break;
    case kActSoftplus:
      map2(d, g, x, n, [=](T gv, T v) {
        T z = v * beta;
        T e = exp_f(z > thr ? thr : z);  // NaN stays NaN (torch)
        return z > thr ? gv : gv * e / (e + T(1));
      });
      break;
    case kActSigmoid:
      map2(d, g, x, n, [](T gv, T v) { T s = sigmoid_f(v); return gv * s * (T(1) - s); });
      break;
    case kActTanh:
      map2(d, g, x, n, [](T gv, T v) { T t = tanh_f(v); return gv * (T(1) - t * t); });
      break;
    case kActHardtanh:  // 0 at NaN, as torch's vectorized kernel (its scalar tail loop gives g)
      map2(d, g, x, n, [=](T gv, T v) { return (v > lo && v < hi) ? gv : T(0); });
      break;
    case kActHardsigmoid:
      map2(d, g, x, n, [](T gv, T v) { return (v > T(-3) && v < T(3)) ? gv * T(1.0f / 6.0f) : T(0); });
      break;
    case kActHardswish:
      map2(d, g, x, n, [](T gv, T v) {
        // NaN takes the middle branch (NaN), as torch's vectorized kernel
        return v <= T(-3) ? T(0) : (v >= T(3) ? gv : gv * (v / T(3) + T(0.5)));
      });
      break;
  }
}

template <typename T>
void backward_output_range(T* d, const T* g, const T* y, int64_t n, const ActArgsT<T>& p) {
  const T alpha = p.alpha, scale = p.scale, iscale = p.iscale, lo = p.lo, hi = p.hi;
  switch (p.kind) {
    case kActReLU: map2(d, g, y, n, [](T gv, T v) { return v <= T(0) ? T(0) : gv; }); break;
    case kActLeakyReLU: map2(d, g, y, n, [=](T gv, T v) { return v > T(0) ? gv : gv * alpha; }); break;
    case kActELU:
      map2(d, g, y, n, [=](T gv, T v) { return v > T(0) ? gv * scale : gv * iscale * (v + scale * alpha); });
      break;
    case kActSigmoid: map2(d, g, y, n, [](T gv, T v) { return gv * v * (T(1) - v); }); break;
    case kActTanh: map2(d, g, y, n, [](T gv, T v) { return gv * (T(1) - v * v); }); break;
    case kActHardtanh:
      map2(d, g, y, n, [=](T gv, T v) { return (v > lo && v < hi) ? gv : T(0); });
      break;
    default: break;  // the front door only sends kinds with backward_from_output_ok()
  }
}

// ---- softmax over (outer, dim, inner) ----
// row_max / row_sum (fixed-order, vectorizing reductions) come from cpu/vec_math.h.
// softmax / log_softmax of one outer slab: x and y are D x I (row stride I), reduced along D.
template <typename T>
void softmax_slab(T* y, const T* x, int64_t D, int64_t I, bool log) {
  if (I == 1) {
    const T m = row_max(x, D);
    // exp into the output first (a loop that vectorizes), then a lane-split sum (fixed order).
    for (int64_t d = 0; d < D; ++d) y[d] = exp_f(x[d] - m);
    const T sum = row_sum(y, D);
    if (log) {
      // (x - max) - log(sum), as torch: max + log(sum) would round log(sum) away when |max| is huge
      const T ls = log_f(sum);
      for (int64_t d = 0; d < D; ++d) y[d] = (x[d] - m) - ls;
    } else {
      const T inv = T(1) / sum;
      for (int64_t d = 0; d < D; ++d) y[d] *= inv;
    }
    return;
  }
  // Strided rows: vectorized across the inner axis, kCols columns at a time with their running
  // maxima and sums on the stack.
  constexpr int64_t kCols = 64;
  for (int64_t i0 = 0; i0 < I; i0 += kCols) {
    const int64_t nc = I - i0 < kCols ? I - i0 : kCols;
    const T* xo = x + i0;
    T* yo = y + i0;
    T m[kCols], sum[kCols];
    for (int64_t i = 0; i < nc; ++i) { m[i] = xo[i]; sum[i] = 0; }
    for (int64_t d = 1; d < D; ++d)
      for (int64_t i = 0; i < nc; ++i) m[i] = xo[d * I + i] > m[i] ? xo[d * I + i] : m[i];
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < nc; ++i) {
        T e = exp_f(xo[d * I + i] - m[i]);
        sum[i] += e;
        if (!log) yo[d * I + i] = e;
      }
    if (log) {
      for (int64_t i = 0; i < nc; ++i) sum[i] = log_f(sum[i]);
      for (int64_t d = 0; d < D; ++d)
        for (int64_t i = 0; i < nc; ++i) yo[d * I + i] = (xo[d * I + i] - m[i]) - sum[i];
    } else {
      for (int64_t i = 0; i < nc; ++i) sum[i] = T(1) / sum[i];
      for (int64_t d = 0; d < D; ++d)
        for (int64_t i = 0; i < nc; ++i) yo[d * I + i] *= sum[i];
    }
  }
}

// Its gradient from dy and the output y: softmax dx = y (dy - sum(dy y)); log_softmax dx = dy - e^y sum(dy).
template <typename T>
void softmax_backward_slab(T* dx, const T* dy, const T* y, int64_t D, int64_t I, bool log) {
  constexpr int64_t kCols = 64;
  for (int64_t i0 = 0; i0 < I; i0 += kCols) {
    const int64_t nc = I - i0 < kCols ? I - i0 : kCols;
    const T* g = dy + i0;
    const T* yo = y + i0;
    T* d = dx + i0;
    T dot[kCols];
    for (int64_t i = 0; i < nc; ++i) dot[i] = 0;
    for (int64_t k = 0; k < D; ++k)
      for (int64_t i = 0; i < nc; ++i) dot[i] += log ? g[k * I + i] : g[k * I + i] * yo[k * I + i];
    for (int64_t k = 0; k < D; ++k)
      for (int64_t i = 0; i < nc; ++i) {
        const int64_t j = k * I + i;
        d[j] = log ? g[j] - exp_f(yo[j]) * dot[i] : yo[j] * (g[j] - dot[i]);
      }
  }
}

// The float32 table of these loops (portable or AVX2, by the flags of the including file).
inline ActSimdKernels table_f32(const char* name) {
  return ActSimdKernels{name, forward_range<float>, backward_input_range<float>, backward_output_range<float>,
                        softmax_slab<float>, softmax_backward_slab<float>};
}

}  // namespace loops
}  // namespace
}  // namespace fl::cpu
