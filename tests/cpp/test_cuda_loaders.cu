// Host check (no GPU needed) of the index math of the CUDA convolution: the implicit-GEMM loaders the kernels
// run, driven by a plain triple loop C[g][m][n] = sum_k a(g,m,k) b(g,k,n) and stored by the loader, must
// reproduce the CPU reference convolution and transposed convolution (forward, backward data, backward
// weight; strides, padding, dilation, groups, output_padding >= stride), the linear loaders a plain
// matrix product, and the cross-entropy row math a hand-computed loss and finite differences of itself. Built by nvcc where CUDA is on and
// run by ctest; the GPU tiling around the loaders is checked on a device by tests/test_cuda.py.
// Exit status is non-zero on any failure; the last line says how many cases matched.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>
#include "cuda/conv2d.cu"
#include "cuda/linear.cu"
#include "cuda/cross_entropy.cu"
#include "cpu/kernels.h"
#include "fastlayers/ops.h"

using namespace fl;
using namespace fl::cuda;

template <typename L>
void emulate(const L& ld, int64_t G, int64_t M, int64_t N, int64_t K) {
  for (int64_t g = 0; g < G; ++g)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += double(ld.a(g, m, k)) * double(ld.b(g, k, n));
        ld.store(g, m, n, acc);
      }
}

double maxdiff(const std::vector<double>& a, const std::vector<double>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]));
  return e;
}

std::vector<double> rnd(size_t n, std::mt19937& r) {
  std::vector<double> v(n);
  for (auto& x : v) x = double(int(r() % 17) - 8) / 4;
  return v;
}

int main() {
  std::mt19937 rng(1);
  int bad = 0, cases = 0;
  // N C H W K R S stride pad dil groups (conv) ; for transposed: C<->K roles per ConvTranspose2dParams
  const int64_t cfg[][11] = {{2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1}, {1, 4, 8, 9, 6, 2, 3, 2, 1, 1, 2},
                             {2, 6, 7, 7, 6, 3, 3, 2, 2, 2, 3}, {1, 2, 5, 5, 3, 1, 1, 1, 0, 1, 1},
                             {1, 4, 9, 7, 4, 3, 2, 3, 1, 2, 4}};
  for (auto& c : cfg) {
    Conv2dParams p;
    p.N = c[0]; p.C = c[1]; p.H = c[2]; p.W = c[3]; p.K = c[4]; p.R = c[5]; p.S = c[6];
    p.stride_h = p.stride_w = c[7]; p.pad_h = p.pad_w = c[8]; p.dil_h = p.dil_w = c[9]; p.groups = c[10];
    const int64_t P = p.P(), Q = p.Q();
    auto x = rnd(p.N * p.C * p.H * p.W, rng), w = rnd(p.K * p.Cg() * p.R * p.S, rng), b = rnd(p.K, rng);
    auto dy = rnd(p.N * p.K * P * Q, rng);
    std::vector<double> y(dy.size()), yr(dy.size()), dx(x.size()), dxr(x.size()), dw(w.size()), dwr(w.size());
    ConvDims d(p);
    emulate(ForwardLoader<double>{d, x.data(), w.data(), b.data(), y.data()}, p.groups, d.Kg, d.N * P * Q, d.Cg * d.R * d.S);
    emulate(BackwardDataLoader<double>{d, dy.data(), w.data(), dx.data(), nullptr}, p.groups, d.Cg, d.N * d.H * d.W, d.Kg * d.R * d.S);
    emulate(BackwardWeightLoader<double>{d, dy.data(), x.data(), dw.data()}, p.groups, d.Kg, d.Cg * d.R * d.S, d.N * P * Q);
    auto V = [](std::vector<double>& v, std::initializer_list<int64_t> s) { return make_view(v.data(), DType::Float64, s); };
    ref::conv2d_forward(V(yr, {p.N, p.K, P, Q}), V(x, {p.N, p.C, p.H, p.W}), V(w, {p.K, p.Cg(), p.R, p.S}), V(b, {p.K}), p);
    ref::conv2d_backward_data(V(dxr, {p.N, p.C, p.H, p.W}), V(dy, {p.N, p.K, P, Q}), V(w, {p.K, p.Cg(), p.R, p.S}), p);
    ref::conv2d_backward_weight(V(dwr, {p.K, p.Cg(), p.R, p.S}), TensorView(), V(dy, {p.N, p.K, P, Q}), V(x, {p.N, p.C, p.H, p.W}), p);
    double e = std::max({maxdiff(y, yr), maxdiff(dx, dxr), maxdiff(dw, dwr)});
    ++cases;
    if (e > 1e-9) { ++bad; std::printf("conv %s: max error %g\n", p.str().c_str(), e); }
  }
  // transposed convolution, including output_padding >= stride (torch allows it when < dilation)
  const int64_t tcfg[][12] = {{2, 4, 5, 5, 6, 3, 3, 2, 1, 1, 1, 1}, {1, 4, 4, 6, 4, 4, 3, 2, 1, 1, 1, 2},
                              {1, 2, 3, 3, 2, 3, 3, 1, 1, 1, 2, 1}, {2, 3, 4, 3, 6, 2, 2, 1, 0, 1, 2, 3}};
  for (auto& c : tcfg) {
    ConvTranspose2dParams p;
    p.N = c[0]; p.C = c[1]; p.H = c[2]; p.W = c[3]; p.K = c[4]; p.R = c[5]; p.S = c[6];
    p.stride_h = p.stride_w = c[7]; p.pad_h = p.pad_w = c[8]; p.out_pad_h = p.out_pad_w = c[9];
    p.dil_h = p.dil_w = c[10]; p.groups = c[11];
    check_conv_transpose2d_params(p);
    const int64_t P = p.P(), Q = p.Q();
    auto x = rnd(p.N * p.C * p.H * p.W, rng), w = rnd(p.C * p.Kg() * p.R * p.S, rng), b = rnd(p.K, rng);
    auto dy = rnd(p.N * p.K * P * Q, rng);
    std::vector<double> y(dy.size()), yr(dy.size()), dx(x.size()), dxr(x.size()), dw(w.size()), dwr(w.size());
    ConvDims d(p.as_conv());
    d.Pv = p.H; d.Qv = p.W;
    emulate(BackwardDataLoader<double>{d, x.data(), w.data(), y.data(), b.data()}, p.groups, d.Cg, d.N * d.H * d.W, d.Kg * d.R * d.S);
    emulate(ForwardLoader<double>{d, dy.data(), w.data(), nullptr, dx.data()}, p.groups, d.Kg, d.N * d.P * d.Q, d.Cg * d.R * d.S);
    emulate(BackwardWeightLoader<double>{d, x.data(), dy.data(), dw.data()}, p.groups, d.Kg, d.Cg * d.R * d.S, d.N * d.P * d.Q);
    auto V = [](std::vector<double>& v, std::initializer_list<int64_t> s) { return make_view(v.data(), DType::Float64, s); };
    ref::conv_transpose2d_forward(V(yr, {p.N, p.K, P, Q}), V(x, {p.N, p.C, p.H, p.W}), V(w, {p.C, p.Kg(), p.R, p.S}), V(b, {p.K}), p);
    ref::conv_transpose2d_backward_data(V(dxr, {p.N, p.C, p.H, p.W}), V(dy, {p.N, p.K, P, Q}), V(w, {p.C, p.Kg(), p.R, p.S}), p);
    ref::conv_transpose2d_backward_weight(V(dwr, {p.C, p.Kg(), p.R, p.S}), TensorView(), V(dy, {p.N, p.K, P, Q}), V(x, {p.N, p.C, p.H, p.W}), p);
    double e = std::max({maxdiff(y, yr), maxdiff(dx, dxr), maxdiff(dw, dwr)});
    ++cases;
    if (e > 1e-9) { ++bad; std::printf("conv_transpose %s: max error %g (y %g dx %g dw %g)\n", p.str().c_str(), e, maxdiff(y, yr), maxdiff(dx, dxr), maxdiff(dw, dwr)); }
  }
  // linear: y = x w^T + b, dx = dy w, dw = dy^T x, checked against the sums written out
  const int64_t lcfg[][3] = {{5, 7, 3}, {1, 1, 1}, {70, 33, 65}};
  for (auto& c : lcfg) {
    const int64_t M = c[0], K = c[1], N = c[2];
    auto x = rnd(M * K, rng), w = rnd(N * K, rng), b = rnd(N, rng), dy = rnd(M * N, rng);
    std::vector<double> y(M * N), yr(M * N), dx(M * K), dxr(M * K), dw(N * K), dwr(N * K);
    const LinearDims d{M, K, N};
    emulate(LinearForwardLoader<double>{d, x.data(), w.data(), b.data(), y.data()}, 1, N, M, K);
    emulate(LinearBackwardDataLoader<double>{d, dy.data(), w.data(), dx.data()}, 1, K, M, N);
    emulate(LinearBackwardWeightLoader<double>{d, dy.data(), x.data(), dw.data()}, 1, N, K, M);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        yr[m * N + n] = b[n];
        for (int64_t k = 0; k < K; ++k) {
          yr[m * N + n] += x[m * K + k] * w[n * K + k];
          dxr[m * K + k] += dy[m * N + n] * w[n * K + k];
          dwr[n * K + k] += dy[m * N + n] * x[m * K + k];
        }
      }
    double e = std::max({maxdiff(y, yr), maxdiff(dx, dxr), maxdiff(dw, dwr)});
    ++cases;
    if (e > 1e-9) { ++bad; std::printf("linear m%lldk%lldn%lld: max error %g\n", (long long)M, (long long)K, (long long)N, e); }
  }
  // cross-entropy rows: a hand-computed value, then the backward against central differences of the forward
  {
    const double x3[3] = {1, 2, 3};
    const int64_t t3 = 2;
    CrossEntropyArgs a;
    a.N = 1; a.C = 3;
    CeRow<double> r{x3, nullptr, nullptr, &t3, a};
    double l, loss, wt;
    r.forward(0, l, loss, wt);
    const double want = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
    ++cases;
    if (std::abs(loss - want) > 1e-12 || wt != 1) { ++bad; std::printf("cross_entropy hand case: %g vs %g\n", loss, want); }
  }
  for (int variant = 0; variant < 4; ++variant) {
    CrossEntropyArgs a;
    a.N = 3; a.C = 5; a.S = variant == 3 ? 2 : 1;
    a.prob_target = variant == 2;
    a.label_smoothing = variant >= 1 ? 0.2 : 0.0;
    a.ignore_index = 4;
    const int64_t rows = a.N * a.S;
    auto x = rnd(rows * a.C, rng), w = rnd(a.C, rng), tp = rnd(rows * a.C, rng), g = rnd(rows, rng);
    for (auto& v : w) v = std::abs(v) + 0.5;
    std::vector<int64_t> t(rows);
    for (int64_t i = 0; i < rows; ++i) t[i] = i % a.C;  // row 4 (when present) is ignored
    CeRow<double> r{x.data(), a.prob_target ? tp.data() : nullptr, w.data(), t.data(), a};
    auto f = [&]() {
      double total = 0, l, loss, wt;
      for (int64_t i = 0; i < rows; ++i) { r.forward(i, l, loss, wt); total += g[i] * loss; }
      return total;
    };
    std::vector<double> dx(x.size());
    for (int64_t i = 0; i < rows; ++i) {
      double l, loss, wt;
      r.forward(i, l, loss, wt);
      r.backward(i, l, g[i], dx.data());
    }
    double e = 0;
    for (size_t k = 0; k < x.size(); ++k) {
      const double keep = x[k], h = 1e-6;
      x[k] = keep + h; const double fp = f();
      x[k] = keep - h; const double fm = f();
      x[k] = keep;
      e = std::max(e, std::abs((fp - fm) / (2 * h) - dx[k]));
    }
    ++cases;
    if (e > 1e-7) { ++bad; std::printf("cross_entropy variant %d: backward vs finite differences %g\n", variant, e); }
  }
  std::printf("%d of %d loader cases match the CPU reference\n", cases - bad, cases);
  return bad != 0;
}
