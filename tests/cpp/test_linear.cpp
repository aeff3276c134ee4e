// C++ tests of the fast CPU linear kernels against the naive reference (run by ctest).
//
// For every SIMD level this build and CPU can run, float32 and float64, and a table of shapes (M rows,
// K in_features, N out_features), the front door fl::linear_* (which picks the fast kernels) is
// compared with fl::ref::linear_*: forward with and without bias, backward data, backward weight with
// dw and db, dw only, db only. Data lie on a coarse grid so most sums are exact; the tolerance is
// absolute plus relative, scaled by the reduction length. Outputs are pre-filled with garbage so a
// kernel that accumulates instead of writing shows up. With random data, 1 and 2 threads must give
// bitwise identical results.
//
// Exit status is non-zero on any failure; the last line is "N passed, M failed".
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "fastlayers/runtime.h"

#include "check.h"

namespace {

using namespace fl_test;

struct Shape {
  int64_t M, K, N;
};

const Shape kShapes[] = {
    {1, 1, 1},      {1, 256, 200}, {64, 256, 200}, {64, 200, 10}, {3, 5, 7},     {7, 15, 9},
    {5, 16, 1},     {13, 17, 33},  {1, 31, 65},    {33, 47, 70},  {2, 300, 3},   {9, 520, 11},
    {40, 8, 300},   {300, 20, 5},  {17, 600, 37},  {0, 8, 4},     {4, 0, 5},     {1, 1000, 1},
    {65, 64, 64},   {8, 12, 100},
};

template <typename T>
struct Buffers {
  std::vector<T> x, w, b, y, dy, dx, dw, db;
};

template <typename T>
void alloc(Buffers<T>& B, const fl::LinearParams& p) {
  B.x.assign(p.M * p.K, T(0));
  B.w.assign(p.N * p.K, T(0));
  B.b.assign(p.N, T(0));
  B.y.assign(p.M * p.N, T(0));
  B.dy.assign(p.M * p.N, T(0));
  B.dx.assign(p.M * p.K, T(0));
  B.dw.assign(p.N * p.K, T(0));
  B.db.assign(p.N, T(0));
}

// mode: 0 dw and db, 1 dw only, 2 db only
template <typename T>
void run_fast(Buffers<T>& B, const fl::LinearParams& p, bool with_bias, int mode) {
  for (auto* v : {&B.y, &B.dx, &B.dw, &B.db}) std::fill(v->begin(), v->end(), T(7));
  auto b = with_bias ? view(B.b, {p.N}) : absent<T>();
  fl::linear_forward(view(B.y, {p.M, p.N}), view(B.x, {p.M, p.K}), view(B.w, {p.N, p.K}), b, p);
  fl::linear_backward_data(view(B.dx, {p.M, p.K}), view(B.dy, {p.M, p.N}), view(B.w, {p.N, p.K}), p);
  fl::linear_backward_weight(mode != 2 ? view(B.dw, {p.N, p.K}) : absent<T>(),
                             mode != 1 ? view(B.db, {p.N}) : absent<T>(), view(B.dy, {p.M, p.N}),
                             view(B.x, {p.M, p.K}), p);
}

template <typename T>
void run_ref(Buffers<T>& B, const fl::LinearParams& p, bool with_bias) {
  auto b = with_bias ? view(B.b, {p.N}) : absent<T>();
  fl::ref::linear_forward(view(B.y, {p.M, p.N}), view(B.x, {p.M, p.K}), view(B.w, {p.N, p.K}), b, p);
  fl::ref::linear_backward_data(view(B.dx, {p.M, p.K}), view(B.dy, {p.M, p.N}), view(B.w, {p.N, p.K}), p);
  fl::ref::linear_backward_weight(view(B.dw, {p.N, p.K}), view(B.db, {p.N}), view(B.dy, {p.M, p.N}),
                                  view(B.x, {p.M, p.K}), p);
}

template <typename T>
void test_shape(const Shape& s, fl::SimdLevel level) {
  fl::LinearParams p;
  p.M = s.M;
  p.K = s.K;
  p.N = s.N;
  const std::string id = std::string(fl::dtype_name(fl::dtype_of<T>())) + " " + fl::simd_level_name(level) + " " +
                         p.str() + " [" + fl::linear_impl_name(p, "forward") + "]";
  std::mt19937 rng(static_cast<unsigned>(s.M * 1000003 + s.K * 1009 + s.N));
  Buffers<T> ref, got;
  alloc(ref, p);
  for (auto* v : {&ref.x, &ref.w, &ref.b, &ref.dy}) fill_grid(*v, rng, 8, 8.0);
  for (bool with_bias : {true, false}) {
    run_ref(ref, p, with_bias);
    for (int mode = 0; mode < 3; ++mode) {
      got = ref;
      run_fast(got, p, with_bias, mode);
      const std::string tag = id + (with_bias ? " bias" : " nobias");
      if (mode == 0) {
        check_close(got.y, ref.y, p.K, tag + " forward");
        check_close(got.dx, ref.dx, p.N, tag + " backward_data");
      }
      if (mode != 2) check_close(got.dw, ref.dw, p.M, tag + " grad_weight mode " + std::to_string(mode));
      if (mode != 1) check_close(got.db, ref.db, p.M, tag + " grad_bias mode " + std::to_string(mode));
    }
  }
  // Random (off-grid) data: 1 and 2 threads bitwise equal.
  for (auto* v : {&got.x, &got.w, &got.dy}) fill_random(*v, rng);
  Buffers<T> two = got;
  fl::set_num_threads(1);
  run_fast(got, p, true, 0);
  fl::set_num_threads(2);
  run_fast(two, p, true, 0);
  const bool same = got.y == two.y && got.dx == two.dx && got.dw == two.dw && got.db == two.db;
  report(same, id + " 1 vs 2 threads bitwise", same ? 0.0 : 1.0, 0.0);
}

}  // namespace

// float16 / bfloat16 views are CUDA-only: the cpu front doors refuse them with a TypeError naming the op,
// the argument and the dtype.
void test_half_refused_on_cpu() {
  for (fl::DType dt : {fl::DType::Float16, fl::DType::BFloat16}) {
    std::vector<uint16_t> x(6), w(6), y(4);
    fl::LinearParams p;
    p.M = 2; p.K = 3; p.N = 2;
    std::string msg;
    try {
      fl::linear_forward(fl::make_view(y.data(), dt, {2, 2}), fl::make_view(x.data(), dt, {2, 3}),
                         fl::make_view(w.data(), dt, {2, 3}), fl::TensorView(), p);
    } catch (const fl::TypeError& e) {
      msg = e.what();
    }
    const std::string want = std::string("linear_forward: input has dtype ") + fl::dtype_name(dt) +
                             ", which is supported on cuda only";
    const bool ok = msg.find(want) != std::string::npos;
    report(ok, std::string("half on cpu (") + fl::dtype_name(dt) + "): expected a TypeError containing '" + want +
               "', got '" + msg + "'", ok ? 0 : 1, 0);
  }
}

int main() {
  test_half_refused_on_cpu();
  fl_test::for_each_simd_level([](fl::SimdLevel level) {
    for (const Shape& s : kShapes) {
      test_shape<float>(s, level);
      test_shape<double>(s, level);
    }
  });
  return fl_test::finish();
}
