// Row primitives of the normalization kernels (csrc/cpu/norm.cpp): the loops that touch every element.
// The float32 set is compiled once per instruction set (norm.cpp for the portable path,
// simd/norm_avx2.cpp, simd/norm_avx512.cpp) and chosen at run time from fl::simd_level(); float64 uses
// the portable instantiation.
//
// Only plain types cross the table boundary, and the loops below live in an anonymous namespace and
// use no template or inline function of another header, so nothing compiled with wider instruction
// sets can be linked into baseline code.
//
// Sums: float32 values are added in kLanes independent float accumulators (a loop the compiler
// vectorizes without reassociation flags) over blocks of kBlock elements, and each block's total is
// added in double, so long rows lose no more than a block's worth of float rounding. The order is
// fixed by the row alone, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace fl::cpu {

template <typename T> struct NormRows {
  const char* name;
  // sum(x)
  double (*sum)(const T* x, int64_t n);
  // sum((x - m)^2)
  double (*sq_dev)(const T* x, int64_t n, T m);
  // *sdy = sum(dy), *sdyx = sum(dy (x - m))
  void (*dy_sums)(const T* dy, const T* x, int64_t n, T m, double* sdy, double* sdyx);
  // *A = sum(g dy), *B = sum(g dy (x - m))
  void (*weighted_dy_sums)(const T* dy, const T* x, const T* g, int64_t n, T m, double* A,
                           double* B);
  // y = (x - m) s + b
  void (*affine)(T* y, const T* x, int64_t n, T m, T s, T b);
  // y = (x - m) r g + b (per-element g, b)
  void (*affine_vec)(T* y, const T* x, const T* g, const T* b, int64_t n, T m, T r);
  // dx = a dy + k (x - m) + k0
  void (*dx)(T* dx, const T* dy, const T* x, int64_t n, T a, T k, T m, T k0);
  // dx = r g dy + k (x - m) + k0 (per-element g)
  void (*dx_vec)(T* dx, const T* dy, const T* x, const T* g, int64_t n, T r, T k, T m,
                 T k0);
  // sdy[i] += dy[i], sdyx[i] += dy[i] (x[i] - m) r: one row's share of per-column sums
  void (*col_sums)(double* sdy, double* sdyx, const T* dy, const T* x, int64_t n, T m, T r);
};
using NormRowKernels = NormRows<float>;

// The table for the current fl::simd_level() (defined in norm.cpp).
const NormRowKernels& norm_rows_f32();

namespace detail {
NormRowKernels norm_rows_portable_f32();
#if defined(FL_HAVE_X86_SIMD)
NormRowKernels norm_rows_avx2_f32();
NormRowKernels norm_rows_avx512_f32();
#endif
}  // namespace detail

}  // namespace fl::cpu

// ---------------------------------------------------------------------------------------------------
// The loops, for the translation units that build a table (define FL_NORM_ROWS_IMPL before including).
#if defined(FL_NORM_ROWS_IMPL)
namespace fl::cpu {
namespace {
namespace rows {

constexpr int kLanes = 16;
constexpr int64_t kBlock = 512;

template <typename T> inline double fold(const T* a) {
  double s[kLanes / 2];
  for (int j = 0; j < kLanes / 2; ++j) s[j] = static_cast<double>(a[j]) + static_cast<double>(a[j + kLanes / 2]);
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

// Runs body(acc, i) over [0, n) in kLanes-wide steps with a fresh zeroed block of accumulators per
// kBlock elements, then tail(i) on the last n % kLanes elements; returns the total in double.
template <typename T, typename Body, typename Tail>
inline double blocked(int64_t n, Body body, Tail tail) {
  double total = 0;
  int64_t i = 0;
  while (i + kLanes <= n) {
    T a[kLanes] = {};
    const int64_t end = (n - i) / kLanes * kLanes > kBlock ? i + kBlock : i + (n - i) / kLanes * kLanes;
    for (; i < end; i += kLanes) body(a, i);
    total += fold(a);
  }
  for (; i < n; ++i) total += tail(i);
  return total;
}

template <typename T> double sum(const T* x, int64_t n) {
  return blocked<T>(
      n, [&](T* a, int64_t i) { for (int j = 0; j < kLanes; ++j) a[j] += x[i + j]; },
      [&](int64_t i) { return static_cast<double>(x[i]); });
}

template <typename T> double sq_dev(const T* x, int64_t n, T m) {
  return blocked<T>(
      n,
      [&](T* a, int64_t i) {
        for (int j = 0; j < kLanes; ++j) {
          const T d = x[i + j] - m;
          a[j] += d * d;
        }
      },
      [&](int64_t i) {
        const double d = static_cast<double>(x[i] - m);
        return d * d;
      });
}

// The same with two sums formed in one pass: body(a, b, i) adds lanes into a and b, tail(i, ta, tb).
template <typename T, typename Body, typename Tail>
inline void blocked2(int64_t n, Body body, Tail tail, double* A, double* B) {
  double ta = 0, tb = 0;
  int64_t i = 0;
  while (i + kLanes <= n) {
    T a[kLanes] = {}, b[kLanes] = {};
    const int64_t end = (n - i) / kLanes * kLanes > kBlock ? i + kBlock : i + (n - i) / kLanes * kLanes;
    for (; i < end; i += kLanes) body(a, b, i);
    ta += fold(a);
    tb += fold(b);
  }
  for (; i < n; ++i) tail(i, ta, tb);
  *A = ta;
  *B = tb;
}

template <typename T> void dy_sums(const T* dy, const T* x, int64_t n, T m, double* sdy, double* sdyx) {
  blocked2<T>(
      n,
      [&](T* a, T* b, int64_t i) {
        for (int j = 0; j < kLanes; ++j) {
          a[j] += dy[i + j];
          b[j] += dy[i + j] * (x[i + j] - m);
        }
      },
      [&](int64_t i, double& ta, double& tb) {
        ta += static_cast<double>(dy[i]);
        tb += static_cast<double>(dy[i] * (x[i] - m));
      },
      sdy, sdyx);
}

template <typename T>
void weighted_dy_sums(const T* dy, const T* x, const T* g, int64_t n, T m, double* A, double* B) {
  blocked2<T>(
      n,
      [&](T* a, T* b, int64_t i) {
        for (int j = 0; j < kLanes; ++j) {
          const T gd = g[i + j] * dy[i + j];
          a[j] += gd;
          b[j] += gd * (x[i + j] - m);
        }
      },
      [&](int64_t i, double& ta, double& tb) {
        const T gd = g[i] * dy[i];
        ta += static_cast<double>(gd);
        tb += static_cast<double>(gd * (x[i] - m));
      },
      A, B);
}

template <typename T> void affine(T* y, const T* x, int64_t n, T m, T s, T b) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * s + b;
}

template <typename T> void affine_vec(T* y, const T* x, const T* g, const T* b, int64_t n, T m, T r) {
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) * r * g[i] + b[i];
}

template <typename T> void dx(T* d, const T* dy, const T* x, int64_t n, T a, T k, T m, T k0) {
  for (int64_t i = 0; i < n; ++i) d[i] = a * dy[i] + k * (x[i] - m) + k0;
}

template <typename T> void dx_vec(T* d, const T* dy, const T* x, const T* g, int64_t n, T r, T k, T m, T k0) {
  for (int64_t i = 0; i < n; ++i) d[i] = r * g[i] * dy[i] + k * (x[i] - m) + k0;
}

template <typename T> void col_sums(double* sdy, double* sdyx, const T* dy, const T* x, int64_t n, T m, T r) {
  for (int64_t i = 0; i < n; ++i) {
    sdy[i] += static_cast<double>(dy[i]);
    sdyx[i] += static_cast<double>(dy[i] * (x[i] - m) * r);
  }
}

template <typename T> NormRows<T> table(const char* name) {
  return NormRows<T>{name, sum<T>, sq_dev<T>, dy_sums<T>, weighted_dy_sums<T>, affine<T>, affine_vec<T>, dx<T>,
                     dx_vec<T>, col_sums<T>};
}

}  // namespace rows
}  // namespace
}  // namespace fl::cpu
#endif
