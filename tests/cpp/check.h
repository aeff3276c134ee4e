// What the C++ test programs share: pass/fail counting with a message naming the case and its largest
// error, views over std::vector, grid and random fills, error measures, and the loop over every SIMD level
// this build and CPU can run. Each program ends with `return fl_test::finish();` (prints "N passed, M
// failed"; the exit status is non-zero on any failure, which ctest reads).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fastlayers/runtime.h"
#include "fastlayers/tensor.h"

namespace fl_test {

inline int g_passed = 0, g_failed = 0;

inline void report(bool ok, const std::string& what, double err, double tol) {
  if (ok) {
    ++g_passed;
    return;
  }
  ++g_failed;
  std::printf("FAIL %s: largest error %.3g (tolerance %.3g)\n", what.c_str(), err, tol);
}

inline int finish() {
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

template <typename T>
fl::TensorView view(std::vector<T>& v, std::initializer_list<int64_t> shape) {
  return fl::make_view(v.data(), fl::dtype_of<T>(), shape);
}
// An absent optional operand (bias, a gradient not asked for) that still carries the dtype.
template <typename T>
fl::TensorView absent() {
  fl::TensorView v;
  v.dtype = fl::dtype_of<T>();
  return v;
}

// Values on a grid: k / den for k in [-span, span], so that most sums of products are exact.
template <typename T>
void fill_grid(std::vector<T>& v, std::mt19937& rng, int span, double den) {
  std::uniform_int_distribution<int> d(-span, span);
  for (T& e : v) e = static_cast<T>(d(rng) / den);
}
template <typename T>
void fill_random(std::vector<T>& v, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  for (T& e : v) e = static_cast<T>(d(rng));
}

// Largest |a - ref| (infinite where a NaN appears); *ref_max gets the largest |ref|.
template <typename T>
double max_err(const std::vector<T>& a, const std::vector<T>& ref, double* ref_max) {
  double e = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - double(ref[i]));
    e = std::isnan(d) ? INFINITY : std::max(e, d);
    m = std::max(m, std::fabs(double(ref[i])));
  }
  if (ref_max) *ref_max = m;
  return e;
}

// Passes when the largest error is within 4 eps per reduction step (len, times scale) plus 4 eps relative.
template <typename T>
void check_close(const std::vector<T>& got, const std::vector<T>& ref, int64_t len, const std::string& what,
                 double scale = 1.0) {
  double ref_max = 0;
  const double err = max_err(got, ref, &ref_max);
  const double eps = std::numeric_limits<T>::epsilon();
  const double tol = 4 * eps * double(len) * scale + 4 * eps * ref_max + 1e-30;
  report(err <= tol, what, err, tol);
}

template <typename T>
void check_bitwise(const std::vector<T>& a, const std::vector<T>& b, const std::string& what) {
  const bool same = a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
  report(same, what, same ? 0.0 : max_err(a, b, nullptr), 0.0);
}

// Runs body(level) at every SIMD level, printing one line per level, then restores the best level and the
// thread count (tests change both).
template <typename F>
void for_each_simd_level(F&& body) {
  const fl::SimdLevel max = fl::max_simd_level();
  const int threads0 = fl::get_num_threads();
  for (int lv = 0; lv <= static_cast<int>(max); ++lv) {
    const auto level = static_cast<fl::SimdLevel>(lv);
    fl::set_simd_level(level);
    const int before = g_failed;
    body(level);
    std::printf("simd level %s: %s\n", fl::simd_level_name(level), g_failed == before ? "ok" : "FAILURES");
  }
  fl::set_simd_level(max);
  fl::set_num_threads(threads0);
}

}  // namespace fl_test
