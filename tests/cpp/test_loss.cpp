// C++ tests of the fused cross-entropy and nll_loss kernels against their naive references (run by ctest).
//
// For every SIMD level this build and CPU can run, float32 and float64, and a table of configurations (rows
// and spatial layouts, index and probability targets, weight, ignore_index, label smoothing, the three
// reductions), the fast front door is compared with impl="reference": the loss, the saved lse, total_weight
// and the gradient. Then, with 1 and 2 threads, results must be bitwise identical.
//
// Exit status is non-zero on any failure; the last line is "N passed, M failed".
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "fastlayers/runtime.h"

#include "check.h"

namespace {

using namespace fl_test;

struct Cfg {
  int64_t N, C, S;
  bool prob, weighted;
  int64_t ignore_index;  // rows whose target is ignored: every third when >= 0 ... see make_targets
  double eps;
  fl::Reduction red;
};

const Cfg kConfigs[] = {
    {4, 5, 1, false, false, -100, 0.0, fl::Reduction::Mean},
    {64, 10, 1, false, false, -100, 0.0, fl::Reduction::Sum},
    {33, 37, 1, false, true, 2, 0.0, fl::Reduction::Mean},     // odd sizes, weight, ignore_index
    {17, 100, 1, false, false, 3, 0.1, fl::Reduction::Mean},   // smoothing, unweighted mean with ignores
    {17, 100, 1, false, true, 3, 0.25, fl::Reduction::Mean},   // smoothing with weight
    {9, 1000, 1, false, true, -100, 0.2, fl::Reduction::None},
    {40, 3, 1, true, false, -100, 0.0, fl::Reduction::Mean},   // probability targets
    {12, 21, 1, true, true, -100, 0.3, fl::Reduction::Sum},
    {5, 1, 1, false, false, -100, 0.0, fl::Reduction::Mean},   // one class
    {3, 4, 70, false, false, -100, 0.0, fl::Reduction::Mean},  // spatial: two tiles per batch index
    {2, 7, 129, false, true, 1, 0.15, fl::Reduction::None},    // spatial, tail tile, weight, ignores
    {2, 6, 65, false, false, 0, 0.1, fl::Reduction::Mean},
    {2, 5, 33, true, true, -100, 0.1, fl::Reduction::Mean},    // spatial probability targets
    {3, 5, 1, false, false, 4, 0.0, fl::Reduction::Sum},
};

std::string name(const Cfg& c, const char* dtype, fl::SimdLevel level) {
  fl::CrossEntropyParams p;
  p.N = c.N; p.C = c.C; p.S = c.S; p.prob_target = c.prob; p.ignore_index = c.ignore_index;
  p.label_smoothing = c.eps; p.reduction = c.red;
  return p.str() + (c.weighted ? "_w_" : "_") + dtype + "_" + fl::simd_level_name(level);
}

template <typename T> fl::DType dt() { return fl::dtype_of<T>(); }

template <typename T>
double err_beyond_tol(const std::vector<T>& a, const std::vector<T>& b, double& tol_out, double scale) {
  double worst = 0, tol = 0;
  const double eps = std::is_same<T, float>::value ? 1.2e-7 : 2.3e-16;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = std::fabs(double(a[i]) - double(b[i]));
    const double t = 64 * eps * scale * (1 + std::fabs(double(b[i])));
    if (e - t > worst - tol || i == 0) { worst = e; tol = t; }
    if (!(e <= t) && !(std::isnan(double(a[i])) && std::isnan(double(b[i])))) { tol_out = t; return e; }
  }
  tol_out = tol;
  return 0;
}


template <typename T>
struct Data {
  std::vector<T> x, q, w, g;
  std::vector<int64_t> t;
};

template <typename T>
Data<T> make_data(const Cfg& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-4, 4), pos(0.1, 2);
  Data<T> d;
  const int64_t R = c.N * c.S, X = R * c.C;
  d.x.resize(X);
  for (auto& v : d.x) v = static_cast<T>(u(rng));
  if (c.prob) {
    d.q.resize(X);
    for (auto& v : d.q) v = static_cast<T>(pos(rng) / 2);
  }
  d.t.resize(R);
  for (int64_t i = 0; i < R; ++i) {
    d.t[i] = static_cast<int64_t>(rng() % c.C);
    if (c.ignore_index >= 0 && i % 3 == 1) d.t[i] = c.ignore_index;
  }
  if (c.weighted) {
    d.w.resize(c.C);
    for (auto& v : d.w) v = static_cast<T>(pos(rng));
  }
  d.g.resize(c.red == fl::Reduction::None ? R : 1);
  for (auto& v : d.g) v = static_cast<T>(u(rng));
  return d;
}

template <typename T>
void run(const Cfg& c, Data<T>& d, const char* impl, std::vector<T>& loss, std::vector<T>& lse, double& tw,
         std::vector<T>& dx) {
  fl::CrossEntropyParams p;
  p.N = c.N; p.C = c.C; p.S = c.S; p.prob_target = c.prob; p.ignore_index = c.ignore_index;
  p.label_smoothing = c.eps; p.reduction = c.red;
  const int64_t R = c.N * c.S, X = R * c.C;
  loss.assign(c.red == fl::Reduction::None ? R : 1, T(0));
  lse.assign(R, T(0));
  dx.assign(X, T(0));
  const fl::DType ty = dt<T>();
  fl::TensorView vx = fl::make_view(d.x.data(), ty, {c.N, c.C, c.S});
  fl::TensorView vq = c.prob ? fl::make_view(d.q.data(), ty, {c.N, c.C, c.S}) : fl::TensorView{};
  fl::TensorView vw = c.weighted ? fl::make_view(d.w.data(), ty, {c.C}) : fl::TensorView{};
  fl::TensorView vl = fl::make_view(loss.data(), ty, {static_cast<int64_t>(loss.size())});
  fl::TensorView vlse = fl::make_view(lse.data(), ty, {R});
  fl::TensorView vg = fl::make_view(d.g.data(), ty, {static_cast<int64_t>(d.g.size())});
  fl::TensorView vdx = fl::make_view(dx.data(), ty, {c.N, c.C, c.S});
  const int64_t* tp = c.prob ? nullptr : d.t.data();
  fl::cross_entropy_forward(vl, vlse, &tw, vx, tp, vq, vw, p, impl);
  fl::cross_entropy_backward(vdx, vg, vx, tp, vq, vw, vlse, tw, p, impl);
}

template <typename T>
void test_config(const Cfg& c, fl::SimdLevel level) {
  const std::string id = name(c, std::is_same<T, float>::value ? "f32" : "f64", level);
  Data<T> d = make_data<T>(c, static_cast<uint32_t>(c.N * 131 + c.C * 7 + c.S));
  std::vector<T> l0, s0, g0, l1, s1, g1;
  double tw0 = 0, tw1 = 0;
  run(c, d, "reference", l0, s0, tw0, g0);
  run(c, d, "fast", l1, s1, tw1, g1);
  double tol;
  const double scale = std::sqrt(double(c.C * c.N * c.S));
  double e = err_beyond_tol(l1, l0, tol, scale);
  report(e == 0, id + " loss", e, tol);
  e = err_beyond_tol(s1, s0, tol, 1);
  report(e == 0, id + " lse", e, tol);
  report(std::fabs(tw1 - tw0) <= 1e-6 * (1 + std::fabs(tw0)), id + " total_weight", std::fabs(tw1 - tw0), 1e-6);
  e = err_beyond_tol(g1, g0, tol, std::sqrt(double(c.C)));
  report(e == 0, id + " grad_input", e, tol);
  // Thread count independence: bitwise identical with 1 and 2 threads.
  std::vector<T> la, sa, ga, lb, sb, gb;
  double twa = 0, twb = 0;
  fl::set_num_threads(1);
  run(c, d, "fast", la, sa, twa, ga);
  fl::set_num_threads(2);
  run(c, d, "fast", lb, sb, twb, gb);
  const bool same = std::memcmp(la.data(), lb.data(), la.size() * sizeof(T)) == 0 &&
                    std::memcmp(ga.data(), gb.data(), ga.size() * sizeof(T)) == 0 && twa == twb;
  report(same, id + " 1 vs 2 threads bitwise", same ? 0 : 1, 0);
}

// nll_loss fast vs reference, every reduction, with weight and ignores.
template <typename T>
void test_nll(fl::Reduction red, bool weighted) {
  const int64_t N = 7, C = 6, S = 5;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-3, 0);
  std::vector<T> x(N * C * S), w(C), g(red == fl::Reduction::None ? N * S : 1);
  std::vector<int64_t> t(N * S);
  for (auto& v : x) v = static_cast<T>(u(rng));
  for (auto& v : w) v = static_cast<T>(-u(rng) + 0.5);
  for (auto& v : g) v = static_cast<T>(u(rng));
  for (int64_t i = 0; i < N * S; ++i) t[i] = i % 4 == 2 ? -1 : static_cast<int64_t>(rng() % C);
  fl::NLLLossParams p;
  p.N = N; p.C = C; p.S = S; p.ignore_index = -1; p.reduction = red;
  const fl::DType ty = dt<T>();
  std::vector<T> out[2], dx[2];
  double tw[2];
  const char* impls[2] = {"reference", "fast"};
  for (int k = 0; k < 2; ++k) {
    out[k].assign(g.size(), T(0));
    dx[k].assign(x.size(), T(7));
    fl::TensorView vw = weighted ? fl::make_view(w.data(), ty, {C}) : fl::TensorView{};
    fl::nll_loss_forward(fl::make_view(out[k].data(), ty, {static_cast<int64_t>(g.size())}), &tw[k],
                         fl::make_view(x.data(), ty, {N, C, S}), t.data(), vw, p, impls[k]);
    fl::nll_loss_backward(fl::make_view(dx[k].data(), ty, {N, C, S}),
                          fl::make_view(g.data(), ty, {static_cast<int64_t>(g.size())}), t.data(), vw, tw[k], p,
                          impls[k]);
  }
  double tol;
  const std::string id = p.str() + (weighted ? "_w" : "") + (std::is_same<T, float>::value ? "_f32" : "_f64");
  double e = err_beyond_tol(out[1], out[0], tol, std::sqrt(double(N * S)));
  report(e == 0, id + " loss", e, tol);
  e = err_beyond_tol(dx[1], dx[0], tol, 1);
  report(e == 0, id + " grad_input", e, tol);
  report(tw[0] == tw[1] || std::fabs(tw[0] - tw[1]) < 1e-9 * std::fabs(tw[0]), id + " total_weight", tw[1] - tw[0], 0);
}

// An out-of-range class index is refused before any kernel runs.
void test_out_of_range() {
  float x[6] = {0, 1, 2, 3, 4, 5}, loss = 0, lse[2];
  int64_t t[2] = {1, 3};
  fl::CrossEntropyParams p;
  p.N = 2; p.C = 3;
  double tw;
  bool thrown = false;
  try {
    fl::cross_entropy_forward(fl::make_view(&loss, fl::DType::Float32, {1}),
                              fl::make_view(lse, fl::DType::Float32, {2}), &tw,
                              fl::make_view(x, fl::DType::Float32, {2, 3}), t, fl::TensorView{}, fl::TensorView{}, p);
  } catch (const fl::IndexError& e) {
    thrown = std::strstr(e.what(), "Target 3 is out of bounds") != nullptr;
  }
  report(thrown, "cross_entropy target 3 with 3 classes raises IndexError", thrown ? 0 : 1, 0);
}

}  // namespace

int main() {
  fl_test::for_each_simd_level([](fl::SimdLevel level) {
    for (const Cfg& c : kConfigs) {
      test_config<float>(c, level);
      test_config<double>(c, level);
    }
  });
  for (auto red : {fl::Reduction::None, fl::Reduction::Mean, fl::Reduction::Sum})
    for (bool weighted : {false, true}) {
      test_nll<float>(red, weighted);
      test_nll<double>(red, weighted);
    }
  test_out_of_range();
  return fl_test::finish();
}
