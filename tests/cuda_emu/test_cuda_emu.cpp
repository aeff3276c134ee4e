// Runs every launcher of cuda/kernels.h on the host under the CUDA emulation (cuda_emu.h) and compares it with
// the CPU reference (csrc/cpu/ref, or the CPU front door where there is no reference), float32 and float64, and
// float16 / bfloat16 where the op has a half kernel (against float32 on the same half-rounded inputs, at a half
// tolerance). Each call runs twice, threads and blocks in forward then in reverse order, into outputs
// pre-filled with NaN: the two results must be bitwise equal (deterministic, no missing barrier, nothing
// left unwritten) and match the reference. Exit status non-zero on any failure; the last line counts cases.
#include <array>
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cuda/kernels.h"  // the translated copy: namespace fl::cuda_emu
#include "cuda_emu.h"
#include "fastlayers/ops.h"

using namespace fl;
namespace E = fl::cuda_emu;
using bf16 = __nv_bfloat16;

namespace {

int cases = 0, failures = 0;
// Ops whose launcher refused a half dtype ("no float16 kernel for this op"): listed in the summary.
std::vector<std::string> no_half_kernel;

template <typename T> struct Ty;
template <> struct Ty<float> { static constexpr DType dt = DType::Float32; static constexpr double tol = 1e-5; };
template <> struct Ty<double> { static constexpr DType dt = DType::Float64; static constexpr double tol = 1e-12; };
template <> struct Ty<__half> { static constexpr DType dt = DType::Float16; static constexpr double tol = 5e-3; };
template <> struct Ty<bf16> { static constexpr DType dt = DType::BFloat16; static constexpr double tol = 1.6e-2; };
template <typename T> constexpr bool is_half_v = std::is_same<T, __half>::value || std::is_same<T, bf16>::value;
// The reference's type: float for the half types.
template <typename T> using RefT = std::conditional_t<is_half_v<T>, float, T>;

double D(float v) { return v; }
double D(double v) { return v; }
double D(__half v) { return static_cast<float>(v); }
double D(bf16 v) { return static_cast<float>(v); }
template <typename T> T mk(double v) {
  if constexpr (is_half_v<T>) return T(static_cast<float>(v));
  else return static_cast<T>(v);
}
template <typename T> const char* tname() {
  return std::is_same<T, float>::value ? "float32" : std::is_same<T, double>::value ? "float64"
         : std::is_same<T, __half>::value ? "float16" : "bfloat16";
}

// Values on a grid of odd multiples of 1/32 in (-2, 2): exact in every dtype, away from the kinks at 0 and ±1.
struct Rng {
  std::mt19937 r;
  explicit Rng(const std::string& s) : r(static_cast<unsigned>(std::hash<std::string>()(s))) {}
  std::vector<double> vec(int64_t n, double lo = -2) {
    std::vector<double> v(n);
    for (auto& x : v) x = lo + (2 * int(r() % 64) + 1) / 32.0 * (lo < 0 ? 1 : 0.5);
    return v;
  }
};

template <typename T> std::vector<T> cv(const std::vector<double>& v) {
  std::vector<T> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = mk<T>(v[i]);
  return o;
}
template <typename T> std::vector<double> back(const std::vector<T>& v) {
  std::vector<double> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = D(v[i]);
  return o;
}
// v rounded through T (so the reference sees the values the half kernel sees).
template <typename T> std::vector<double> rt(const std::vector<double>& v) { return back(cv<T>(v)); }

template <typename T> TensorView V(const std::vector<T>& v, std::initializer_list<int64_t> shape) {
  return make_view(const_cast<T*>(v.data()), Ty<T>::dt, shape);
}

struct Out {
  void* p;
  size_t bytes;
};
template <typename T> Out O(std::vector<T>& v) { return {v.data(), v.size() * sizeof(T)}; }

// Runs call in forward then reverse order into outputs filled with 0xff bytes (NaN; -1 for indices) and checks
// that both runs wrote the same bytes. Returns false (and counts a failure) if not, or if the call threw.
bool run(const std::string& op, const std::string& ps, std::vector<Out> outs, const std::function<void()>& call) {
  std::vector<std::vector<char>> first;
  for (int pass = 0; pass < 2; ++pass) {
    fl_emu::set_reverse(pass == 1);
    for (auto& o : outs)
      if (o.bytes) std::memset(o.p, 0xff, o.bytes);
    try {
      call();
    } catch (const std::exception& e) {
      fl_emu::set_reverse(false);
      const std::string what = e.what();
      if (what.find("float16 kernel for this op") != std::string::npos ||
          what.find("bfloat16 kernel for this op") != std::string::npos) {
        const std::string name = op + " " + ps.substr(0, ps.find(' '));
        if (std::find(no_half_kernel.begin(), no_half_kernel.end(), name) == no_half_kernel.end())
          no_half_kernel.push_back(name);
        return false;
      }
      ++cases;
      ++failures;
      std::printf("FAIL %s %s: threw: %s\n", op.c_str(), ps.c_str(), e.what());
      return false;
    }
    for (size_t k = 0; k < outs.size(); ++k) {
      const char* b = static_cast<const char*>(outs[k].p);
      if (pass == 0) {
        first.emplace_back(b, b + outs[k].bytes);
      } else if (outs[k].bytes && std::memcmp(first[k].data(), b, outs[k].bytes) != 0) {
        fl_emu::set_reverse(false);
        ++cases;
        ++failures;
        std::printf("FAIL %s %s: output %zu differs between forward and reverse thread order "
                    "(a missing barrier, a race or an order-dependent reduction)\n", op.c_str(), ps.c_str(), k);
        return false;
      }
    }
  }
  fl_emu::set_reverse(false);
  return true;
}

// |got - want| / max(1, max|want|) <= tol over all elements; reports the largest error.
template <typename T, typename R>
void expect_close(const std::string& op, const std::string& ps, const std::vector<T>& got, const std::vector<R>& want,
           double tol) {
  ++cases;
  double scale = 1, worst = 0;
  size_t at = 0;
  for (const R& w : want) scale = std::max(scale, std::abs(D(w)));
  bool bad = got.size() != want.size();
  for (size_t i = 0; !bad && i < got.size(); ++i) {
    const double g = D(got[i]), w = D(want[i]);
    // equal values (infinities included) or both NaN: 0; any other non-finite pair: infinite
    const bool same = g == w || (std::isnan(g) && std::isnan(w));
    const double e = same ? 0 : (std::isfinite(g) && std::isfinite(w)) ? std::abs(g - w) : INFINITY;
    if (e > worst) { worst = e; at = i; }
  }
  if (bad || worst / scale > tol) {
    ++failures;
    std::printf("FAIL %s %s: largest error %g (relative %g, tolerance %g) at %zu: got %g, want %g\n", op.c_str(),
                ps.c_str(), worst, worst / scale, tol, at, got.empty() ? 0.0 : D(got[at]),
                want.empty() ? 0.0 : D(want[at]));
  }
}
template <typename T, typename R>
void expect_close(const std::string& op, const std::string& ps, const std::vector<T>& got, const std::vector<R>& want) {
  expect_close(op, ps, got, want, Ty<T>::tol);
}
void equal_i(const std::string& op, const std::string& ps, int64_t got, int64_t want) {
  ++cases;
  if (got != want) {
    ++failures;
    std::printf("FAIL %s %s: got %lld, want %lld\n", op.c_str(), ps.c_str(), (long long)got, (long long)want);
  }
}
void equal_iv(const std::string& op, const std::string& ps, const std::vector<int64_t>& got,
              const std::vector<int64_t>& want) {
  ++cases;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i]) {
      ++failures;
      std::printf("FAIL %s %s: index %zu: got %lld, want %lld\n", op.c_str(), ps.c_str(), i, (long long)got[i],
                  (long long)want[i]);
      return;
    }
}

template <typename T> std::string tag(const std::string& s) { return std::string(tname<T>()) + " " + s; }

// ---- convolution ----
Conv2dParams conv(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t st,
                  int64_t pad, int64_t dil, int64_t g, int64_t sw = 0, int64_t pw = -1) {
  Conv2dParams p;
  p.N = N; p.C = C; p.H = H; p.W = W; p.K = K; p.R = R; p.S = S;
  p.stride_h = st; p.stride_w = sw ? sw : st; p.pad_h = pad; p.pad_w = pw >= 0 ? pw : pad;
  p.dil_h = p.dil_w = dil; p.groups = g;
  return p;
}

// The launchers and references of a convolution-like op: conv2d, or conv_transpose2d (weight (C, K/g, R, S)).
struct Conv2dOps {
  using Params = Conv2dParams;
  static constexpr const char* name = "conv2d";
  static std::array<int64_t, 4> weight_shape(const Params& p) { return {p.K, p.Cg(), p.R, p.S}; }
  template <class... A> static void ref_forward(A... a) { ref::conv2d_forward(a...); }
  template <class... A> static void ref_backward_data(A... a) { ref::conv2d_backward_data(a...); }
  template <class... A> static void ref_backward_weight(A... a) { ref::conv2d_backward_weight(a...); }
  template <class... A> static void forward(A... a) { E::conv2d_forward(a...); }
  template <class... A> static void backward_data(A... a) { E::conv2d_backward_data(a...); }
  template <class... A> static void backward_weight(A... a) { E::conv2d_backward_weight(a...); }
};
struct ConvTranspose2dOps {
  using Params = ConvTranspose2dParams;
  static constexpr const char* name = "conv_transpose2d";
  static std::array<int64_t, 4> weight_shape(const Params& p) { return {p.C, p.Kg(), p.R, p.S}; }
  template <class... A> static void ref_forward(A... a) { ref::conv_transpose2d_forward(a...); }
  template <class... A> static void ref_backward_data(A... a) { ref::conv_transpose2d_backward_data(a...); }
  template <class... A> static void ref_backward_weight(A... a) { ref::conv_transpose2d_backward_weight(a...); }
  template <class... A> static void forward(A... a) { E::conv_transpose2d_forward(a...); }
  template <class... A> static void backward_data(A... a) { E::conv_transpose2d_backward_data(a...); }
  template <class... A> static void backward_weight(A... a) { E::conv_transpose2d_backward_weight(a...); }
};

// Forward, backward data and backward weight (dw, and db with a bias) against the reference.
template <typename T, typename Ops>
void test_conv_like(const typename Ops::Params& p, bool bias) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str() + (bias ? "_bias" : "")), op = Ops::name;
  Rng rng(ps);
  const int64_t P = p.P(), Q = p.Q();
  const auto wsh = Ops::weight_shape(p);
  const auto x = rt<T>(rng.vec(p.N * p.C * p.H * p.W)), w = rt<T>(rng.vec(wsh[0] * wsh[1] * wsh[2] * wsh[3]));
  const auto b = rt<T>(rng.vec(p.K)), dy = rt<T>(rng.vec(p.N * p.K * P * Q));
  const std::initializer_list<int64_t> xs{p.N, p.C, p.H, p.W}, ws{wsh[0], wsh[1], wsh[2], wsh[3]},
      ys{p.N, p.K, P, Q};
  std::vector<R> yr(dy.size()), dxr(x.size()), dwr(w.size()), dbr(p.K);
  Ops::ref_forward(V(yr, ys), V(cv<R>(x), xs), V(cv<R>(w), ws), bias ? V(cv<R>(b), {p.K}) : TensorView(), p);
  Ops::ref_backward_data(V(dxr, xs), V(cv<R>(dy), ys), V(cv<R>(w), ws), p);
  Ops::ref_backward_weight(V(dwr, ws), V(dbr, {p.K}), V(cv<R>(dy), ys), V(cv<R>(x), xs), p);
  const auto xd = cv<T>(x), wd = cv<T>(w), bd = cv<T>(b), dyd = cv<T>(dy);
  std::vector<T> y(yr.size()), dx(dxr.size()), dw(dwr.size()), db(p.K);
  if (run(op + "_forward", ps, {O(y)}, [&] {
        Ops::forward(V(y, ys), V(xd, xs), V(wd, ws), bias ? V(bd, {p.K}) : TensorView(), p, nullptr);
      }))
    expect_close(op + "_forward", ps, y, yr);
  if (run(op + "_backward_data", ps, {O(dx)},
          [&] { Ops::backward_data(V(dx, xs), V(dyd, ys), V(wd, ws), p, nullptr); }))
    expect_close(op + "_backward_data", ps, dx, dxr);
  if (run(op + "_backward_weight", ps, {O(dw), O(db)}, [&] {
        Ops::backward_weight(V(dw, ws), bias ? V(db, {p.K}) : TensorView(), V(dyd, ys), V(xd, xs), p,
                             nullptr);
      })) {
    expect_close(op + "_backward_weight dw", ps, dw, dwr);
    if (bias) expect_close(op + "_backward_weight db", ps, db, dbr);
  }
}

// ---- activations ----
template <typename T>
void test_activation(ActivationParams p) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str());
  Rng rng(ps);
  const int64_t n = p.numel;
  auto x = rng.vec(n);
  for (auto& v : x) v *= 2.5;  // (-5, 5): past the ±3 kinks of hardsigmoid / hardswish
  x = rt<T>(x);
  const auto dy = rt<T>(rng.vec(n));
  std::vector<R> yr(n), dxr(n), dxor(n);
  ref::activation_forward(V(yr, {n}), V(cv<R>(x), {n}), p);
  ref::activation_backward(V(dxr, {n}), V(cv<R>(dy), {n}), V(cv<R>(x), {n}), false, p);
  const auto xd = cv<T>(x), dyd = cv<T>(dy);
  std::vector<T> y(n), dx(n);
  if (run("activation_forward", ps, {O(y)}, [&] { E::activation_forward(V(y, {n}), V(xd, {n}), p, nullptr); }))
    expect_close("activation_forward", ps, y, yr);
  if (run("activation_backward", ps, {O(dx)},
          [&] { E::activation_backward(V(dx, {n}), V(dyd, {n}), V(xd, {n}), false, p, nullptr); }))
    expect_close("activation_backward (from input)", ps, dx, dxr);
  if (p.backward_from_output_ok()) {
    const auto yd = cv<T>(back(yr));  // the saved output as the kernel would hold it
    ref::activation_backward(V(dxor, {n}), V(cv<R>(dy), {n}), V(cv<R>(back(yd)), {n}), true, p);
    if (run("activation_backward", ps, {O(dx)},
            [&] { E::activation_backward(V(dx, {n}), V(dyd, {n}), V(yd, {n}), true, p, nullptr); }))
      expect_close("activation_backward (from output)", ps, dx, dxor);
  }
}

template <typename T>
void test_softmax(const SoftmaxParams& p, double scale) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str() + "_x" + std::to_string(int(scale)));
  Rng rng(ps);
  const int64_t n = p.outer * p.dim * p.inner;
  const std::initializer_list<int64_t> s{p.outer, p.dim, p.inner};
  auto x = rng.vec(n);
  for (auto& v : x) v *= scale;  // large logits: exp overflows unless the row maximum is subtracted
  for (size_t i = 3; i < x.size(); i += 7) x[i] = -INFINITY;  // masked entries
  x = rt<T>(x);
  const auto dy = rt<T>(rng.vec(n));
  std::vector<R> yr(n), dxr(n);
  ref::softmax_forward(V(yr, s), V(cv<R>(x), s), p);
  const auto yd = cv<T>(back(yr));
  ref::softmax_backward(V(dxr, s), V(cv<R>(dy), s), V(cv<R>(back(yd)), s), p);
  const auto xd = cv<T>(x), dyd = cv<T>(dy);
  std::vector<T> y(n), dx(n);
  if (run("softmax_forward", ps, {O(y)}, [&] { E::softmax_forward(V(y, s), V(xd, s), p, nullptr); }))
    expect_close("softmax_forward", ps, y, yr);
  if (run("softmax_backward", ps, {O(dx)}, [&] { E::softmax_backward(V(dx, s), V(dyd, s), V(yd, s), p, nullptr); }))
    expect_close("softmax_backward", ps, dx, dxr);
}

template <typename T>
void test_prelu(const PReLUParams& p) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str());
  Rng rng(ps);
  const int64_t n = p.N * p.C * p.inner;
  const std::initializer_list<int64_t> s{p.N, p.C, p.inner};
  const auto x0 = rt<T>(rng.vec(n)), dy0 = rt<T>(rng.vec(n)), w0 = rt<T>(rng.vec(p.C));
  std::vector<R> yr(n), dxr(n), dwr(p.C);
  ref::prelu_forward(V(yr, s), V(cv<R>(x0), s), V(cv<R>(w0), {p.C}), p);
  ref::prelu_backward(V(dxr, s), V(dwr, {p.C}), V(cv<R>(dy0), s), V(cv<R>(x0), s), V(cv<R>(w0), {p.C}), p);
  const auto x = cv<T>(x0), dy = cv<T>(dy0), w = cv<T>(w0);
  std::vector<T> y(n), dx(n), dw(p.C);
  if (run("prelu_forward", ps, {O(y)}, [&] { E::prelu_forward(V(y, s), V(x, s), V(w, {p.C}), p, nullptr); }))
    expect_close("prelu_forward", ps, y, yr);
  if (run("prelu_backward", ps, {O(dx), O(dw)},
          [&] { E::prelu_backward(V(dx, s), V(dw, {p.C}), V(dy, s), V(x, s), V(w, {p.C}), p, nullptr); })) {
    expect_close("prelu_backward dx", ps, dx, dxr);
    expect_close("prelu_backward dw", ps, dw, dwr);
  }
}

template <typename T>
void test_maxout(const MaxoutParams& p) {
  const std::string ps = tag<T>(p.str());
  Rng rng(ps);
  const int64_t n = p.outer * p.C * p.inner, m = p.outer * p.Cout() * p.inner;
  const std::initializer_list<int64_t> xs{p.outer, p.C, p.inner}, ys{p.outer, p.Cout(), p.inner};
  using R = RefT<T>;
  const auto x0 = rt<T>(rng.vec(n)), dy0 = rt<T>(rng.vec(m));
  std::vector<R> yr(m), dxr(n);
  ref::maxout_forward(V(yr, ys), V(cv<R>(x0), xs), p);
  ref::maxout_backward(V(dxr, xs), V(cv<R>(dy0), ys), V(cv<R>(x0), xs), p);
  const auto x = cv<T>(x0), dy = cv<T>(dy0);
  std::vector<T> y(m), dx(n);
  if (run("maxout_forward", ps, {O(y)}, [&] { E::maxout_forward(V(y, ys), V(x, xs), p, nullptr); }))
    expect_close("maxout_forward", ps, y, yr);
  if (run("maxout_backward", ps, {O(dx)}, [&] { E::maxout_backward(V(dx, xs), V(dy, ys), V(x, xs), p, nullptr); }))
    expect_close("maxout_backward", ps, dx, dxr);
}

// ---- pooling ----
Pool2dParams pool(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, int64_t st, int64_t pad, int64_t dil,
                  bool ceil, bool include_pad = true, int64_t divisor = 0) {
  Pool2dParams p;
  p.N = N; p.C = C; p.H = H; p.W = W; p.kh = k; p.kw = k == 1 ? 1 : k - 1 + (W % 2);
  p.stride_h = st; p.stride_w = st; p.pad_h = pad; p.pad_w = std::min<int64_t>(pad, p.kw / 2);
  p.dil_h = dil; p.dil_w = 1; p.ceil_mode = ceil; p.count_include_pad = include_pad; p.divisor = divisor;
  return p;
}

template <typename T>
// special: 1 puts NaNs in the input, 2 makes part of it -inf (whole windows of -inf in the max pooling).
void test_pool(const Pool2dParams& p, bool max_ok, int special = 0) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str() + (special == 1 ? "_nan" : special == 2 ? "_neginf" : ""));
  Rng rng(ps);
  const int64_t P = p.P(), Q = p.Q();
  const std::initializer_list<int64_t> xs{p.N, p.C, p.H, p.W}, ys{p.N, p.C, P, Q};
  auto x = rt<T>(rng.vec(p.N * p.C * p.H * p.W));
  const auto dy = rt<T>(rng.vec(p.N * p.C * P * Q));
  if (special == 1)  // NaN wins a max window (the last NaN met, as the reference)
    for (size_t i = 5; i < x.size(); i += 11) x[i] = NAN;
  if (special == 2)
    for (size_t i = 0; i < x.size() / 2; ++i) x[i] = -INFINITY;
  const auto xd = cv<T>(x), dyd = cv<T>(dy);
  std::vector<R> yr(dy.size()), dxr(x.size());
  std::vector<T> y(dy.size()), dx(x.size());
  std::vector<int64_t> ir(dy.size()), ind(dy.size());
  if (max_ok) {
    ref::max_pool2d_forward(V(yr, ys), ir.data(), V(cv<R>(x), xs), p);
    if (run("max_pool2d_forward", ps, {O(y), O(ind)},
            [&] { E::max_pool2d_forward(V(y, ys), ind.data(), V(xd, xs), p, nullptr); })) {
      expect_close("max_pool2d_forward", ps, y, yr);
      equal_iv("max_pool2d_forward indices", ps, ind, ir);
    }
    // max_pool2d_backward and max_unpool2d through the index kernels, with the pooling's indices.
    int64_t bad_r = ref::index_scatter_add(V(dxr, xs), V(cv<R>(dy), ys), ir.data()), bad = 0;
    if (run("index_scatter_add", ps, {O(dx)}, [&] {
        bad = E::index_scatter_add(V(dx, xs), V(dyd, ys), ir.data(), nullptr); })) {
      expect_close("index_scatter_add", ps, dx, dxr);
      equal_i("index_scatter_add bad index", ps, bad, bad_r);
    }
    bad_r = ref::index_scatter_set(V(dxr, xs), V(cv<R>(dy), ys), ir.data());
    if (run("index_scatter_set", ps, {O(dx)}, [&] {
        bad = E::index_scatter_set(V(dx, xs), V(dyd, ys), ir.data(), nullptr); })) {
      expect_close("index_scatter_set", ps, dx, dxr);
      equal_i("index_scatter_set bad index", ps, bad, bad_r);
    }
    std::vector<R> gr(dy.size());
    std::vector<T> g(dy.size());
    bad_r = ref::index_gather(V(gr, ys), V(cv<R>(x), xs), ir.data());
    if (run("index_gather", ps, {O(g)}, [&] { bad = E::index_gather(V(g, ys), V(xd, xs), ir.data(), nullptr); })) {
      expect_close("index_gather", ps, g, gr);
      equal_i("index_gather bad index", ps, bad, bad_r);
    }
    // An index outside the plane is reported (the first one met in plane order), not written.
    std::vector<int64_t> wrong = ir;
    wrong[wrong.size() / 2] = p.H * p.W + 3;
    bad_r = ref::index_scatter_add(V(dxr, xs), V(cv<R>(dy), ys), wrong.data());
    if (run("index_scatter_add", ps + " bad", {O(dx)},
            [&] { bad = E::index_scatter_add(V(dx, xs), V(dyd, ys), wrong.data(), nullptr); }))
      equal_i("index_scatter_add bad index", ps, bad, bad_r);
    bad_r = ref::index_gather(V(gr, ys), V(cv<R>(x), xs), wrong.data());
    if (run("index_gather", ps + " bad", {O(g)}, [&] {
        bad = E::index_gather(V(g, ys), V(xd, xs), wrong.data(), nullptr); }))
      equal_i("index_gather bad index", ps, bad, bad_r);
  }
  ref::avg_pool2d_forward(V(yr, ys), V(cv<R>(x), xs), p);
  ref::avg_pool2d_backward(V(dxr, xs), V(cv<R>(dy), ys), p);
  if (run("avg_pool2d_forward", ps, {O(y)}, [&] { E::avg_pool2d_forward(V(y, ys), V(xd, xs), p, nullptr); }))
    expect_close("avg_pool2d_forward", ps, y, yr);
  if (run("avg_pool2d_backward", ps, {O(dx)}, [&] { E::avg_pool2d_backward(V(dx, xs), V(dyd, ys), p, nullptr); }))
    expect_close("avg_pool2d_backward", ps, dx, dxr);
}

template <typename T>
void test_adaptive_pool(const AdaptivePool2dParams& p) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str());
  Rng rng(ps);
  const std::initializer_list<int64_t> xs{p.N, p.C, p.H, p.W}, ys{p.N, p.C, p.OH, p.OW};
  const auto x = rt<T>(rng.vec(p.N * p.C * p.H * p.W)), dy = rt<T>(rng.vec(p.N * p.C * p.OH * p.OW));
  const auto xd = cv<T>(x), dyd = cv<T>(dy);
  std::vector<R> yr(dy.size()), dxr(x.size());
  std::vector<T> y(dy.size()), dx(x.size());
  std::vector<int64_t> ir(dy.size()), ind(dy.size());
  ref::adaptive_avg_pool2d_forward(V(yr, ys), V(cv<R>(x), xs), p);
  if (run("adaptive_avg_pool2d_forward", ps, {O(y)}, [&] {
      E::adaptive_avg_pool2d_forward(V(y, ys), V(xd, xs), p, nullptr); }))
    expect_close("adaptive_avg_pool2d_forward", ps, y, yr);
  ref::adaptive_avg_pool2d_backward(V(dxr, xs), V(cv<R>(dy), ys), p);
  if (run("adaptive_avg_pool2d_backward", ps, {O(dx)},
          [&] { E::adaptive_avg_pool2d_backward(V(dx, xs), V(dyd, ys), p, nullptr); }))
    expect_close("adaptive_avg_pool2d_backward", ps, dx, dxr);
  ref::adaptive_max_pool2d_forward(V(yr, ys), ir.data(), V(cv<R>(x), xs), p);
  if (run("adaptive_max_pool2d_forward", ps, {O(y), O(ind)},
          [&] { E::adaptive_max_pool2d_forward(V(y, ys), ind.data(), V(xd, xs), p, nullptr); })) {
    expect_close("adaptive_max_pool2d_forward", ps, y, yr);
    equal_iv("adaptive_max_pool2d_forward indices", ps, ind, ir);
  }
}

// ---- normalization ----
// S: the type of mean/rstd, P: of gamma, beta, the running statistics and dgamma/dbeta.
template <typename T, typename S = T, typename P = T>
void test_batch_norm(const BatchNormParams& p, bool affine, bool running) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str() + (affine ? "_affine" : "") + (running ? "_running" : "") +
                                (std::is_same<S, T>::value ? "" : std::string("_stats_") + tname<S>()) +
                                (std::is_same<P, T>::value ? "" : std::string("_params_") + tname<P>()));
  Rng rng(ps);
  const int64_t n = p.N * p.C * p.S, C = p.C;
  const std::initializer_list<int64_t> xs{p.N, p.C, p.S}, cs{C};
  const auto x = rt<T>(rng.vec(n)), dy = rt<T>(rng.vec(n)), g = rt<P>(rng.vec(C)), b = rt<P>(rng.vec(C));
  const auto rm0 = rt<P>(rng.vec(C)), rv0 = rt<P>(rng.vec(C, 0));
  auto opt = [&](const auto& v, bool on) { return on ? V(v, cs) : TensorView(); };
  // training forward
  std::vector<R> yr(n), mr(C), sr(C), rmr = cv<R>(rm0), rvr = cv<R>(rv0);
  ref::batch_norm_forward(V(yr, xs), V(mr, cs), V(sr, cs), V(cv<R>(x), xs), opt(cv<R>(g), affine),
                          opt(cv<R>(b), affine),
                          opt(rmr, running), opt(rvr, running), p);
  const auto xd = cv<T>(x), dyd = cv<T>(dy);
  const auto gd = cv<P>(g), bd = cv<P>(b);
  std::vector<T> y(n);
  std::vector<S> m(C), s(C);
  std::vector<P> rm(C), rv(C);
  if (run("batch_norm_forward", ps, {O(y), O(m), O(s)}, [&] {
        rm = cv<P>(rm0);
        rv = cv<P>(rv0);
        E::batch_norm_forward(V(y, xs), V(m, cs), V(s, cs), V(xd, xs), opt(gd, affine), opt(bd, affine),
                              opt(rm, running), opt(rv, running), p, nullptr);
      })) {
    expect_close("batch_norm_forward y", ps, y, yr);
    expect_close("batch_norm_forward mean", ps, m, mr, Ty<S>::tol);
    expect_close("batch_norm_forward rstd", ps, s, sr, Ty<S>::tol);
    if (running) {
      expect_close("batch_norm_forward running_mean", ps, rm, rmr, Ty<P>::tol);
      expect_close("batch_norm_forward running_var", ps, rv, rvr, Ty<P>::tol);
    }
  }
  // backward from the kernel's own statistics (as the half kernels store them)
  for (bool batch_stats : {true, false}) {
    const std::string pb = ps + (batch_stats ? " batch_stats" : " eval");
    std::vector<R> dxr(n), dgr(C), dbr(C);
    ref::batch_norm_backward(V(dxr, xs), opt(dgr, affine), opt(dbr, affine), V(cv<R>(dy), xs), V(cv<R>(x), xs),
                             V(cv<R>(back(m)), cs), V(cv<R>(back(s)), cs), opt(cv<R>(g), affine), batch_stats, p);
    std::vector<T> dx(n);
    std::vector<P> dg(C), db(C);
    if (run("batch_norm_backward", pb, {O(dx), O(dg), O(db)}, [&] {
          E::batch_norm_backward(V(dx, xs), opt(dg, affine), opt(db, affine), V(dyd, xs), V(xd, xs), V(m, cs), V(s, cs),
                                 opt(gd, affine), batch_stats, p, nullptr);
        })) {
      expect_close("batch_norm_backward dx", pb, dx, dxr);
      if (affine) {
        expect_close("batch_norm_backward dgamma", pb, dg, dgr, Ty<T>::tol);
        expect_close("batch_norm_backward dbeta", pb, db, dbr, Ty<T>::tol);
      }
    }
  }
  // evaluation forward
  ref::batch_norm_forward_eval(V(yr, xs), V(mr, cs), V(sr, cs), V(cv<R>(x), xs), opt(cv<R>(g), affine),
                               opt(cv<R>(b), affine), V(cv<R>(rm0), cs), V(cv<R>(rv0), cs), p);
  const auto rmd = cv<P>(rm0), rvd = cv<P>(rv0);
  if (run("batch_norm_forward_eval", ps, {O(y), O(m), O(s)}, [&] {
        E::batch_norm_forward_eval(V(y, xs), V(m, cs), V(s, cs), V(xd, xs), opt(gd, affine), opt(bd, affine),
                                   V(rmd, cs), V(rvd, cs), p, nullptr);
      })) {
    expect_close("batch_norm_forward_eval y", ps, y, yr);
    expect_close("batch_norm_forward_eval mean", ps, m, mr, Ty<S>::tol);
    expect_close("batch_norm_forward_eval rstd", ps, s, sr, Ty<S>::tol);
  }
}

template <typename T>
void test_group_norm(const GroupNormParams& p, bool affine) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str() + (affine ? "_affine" : ""));
  Rng rng(ps);
  const int64_t n = p.N * p.C * p.S, C = p.C, NG = p.N * p.G;
  const std::initializer_list<int64_t> xs{p.N, p.C, p.S}, cs{C}, gs{p.N, p.G};
  const auto x = rt<T>(rng.vec(n)), dy = rt<T>(rng.vec(n)), g = rt<T>(rng.vec(C)), b = rt<T>(rng.vec(C));
  auto opt = [&](const auto& v, bool on) { return on ? V(v, cs) : TensorView(); };
  std::vector<R> yr(n), mr(NG), sr(NG);
  ref::group_norm_forward(V(yr, xs), V(mr, gs), V(sr, gs), V(cv<R>(x), xs), opt(cv<R>(g), affine),
                          opt(cv<R>(b), affine), p);
  const auto xd = cv<T>(x), dyd = cv<T>(dy), gd = cv<T>(g), bd = cv<T>(b);
  std::vector<T> y(n), m(NG), s(NG);
  if (run("group_norm_forward", ps, {O(y), O(m), O(s)}, [&] {
        E::group_norm_forward(V(y, xs), V(m, gs), V(s, gs), V(xd, xs), opt(gd, affine), opt(bd, affine), p, nullptr);
      })) {
    expect_close("group_norm_forward y", ps, y, yr);
    expect_close("group_norm_forward mean", ps, m, mr);
    expect_close("group_norm_forward rstd", ps, s, sr);
  }
  std::vector<R> dxr(n), dgr(C), dbr(C);
  ref::group_norm_backward(V(dxr, xs), opt(dgr, affine), opt(dbr, affine), V(cv<R>(dy), xs), V(cv<R>(x), xs),
                           V(cv<R>(back(m)), gs), V(cv<R>(back(s)), gs), opt(cv<R>(g), affine), p);
  std::vector<T> dx(n), dg(C), db(C);
  if (run("group_norm_backward", ps, {O(dx), O(dg), O(db)}, [&] {
        E::group_norm_backward(V(dx, xs), opt(dg, affine), opt(db, affine), V(dyd, xs), V(xd, xs), V(m, gs), V(s, gs),
                               opt(gd, affine), p, nullptr);
      })) {
    expect_close("group_norm_backward dx", ps, dx, dxr);
    if (affine) {
      expect_close("group_norm_backward dgamma", ps, dg, dgr);
      expect_close("group_norm_backward dbeta", ps, db, dbr);
    }
  }
}

template <typename T>
void test_lrn(const LRNParams& p) {
  const std::string ps = tag<T>(p.str());
  Rng rng(ps);
  const int64_t n = p.N * p.C * p.S;
  const std::initializer_list<int64_t> xs{p.N, p.C, p.S};
  using R = RefT<T>;
  const auto x0 = rt<T>(rng.vec(n)), dy0 = rt<T>(rng.vec(n));
  std::vector<R> yr(n), sr(n), dxr(n);
  ref::lrn_forward(V(yr, xs), V(sr, xs), V(cv<R>(x0), xs), p);
  const auto sd = cv<T>(back(sr));  // the scale as the kernel would have saved it
  ref::lrn_backward(V(dxr, xs), V(cv<R>(dy0), xs), V(cv<R>(x0), xs), V(cv<R>(back(sd)), xs), p);
  const auto x = cv<T>(x0), dy = cv<T>(dy0);
  std::vector<T> y(n), s(n), dx(n);
  if (run("lrn_forward", ps, {O(y), O(s)}, [&] { E::lrn_forward(V(y, xs), V(s, xs), V(x, xs), p, nullptr); })) {
    expect_close("lrn_forward y", ps, y, yr);
    expect_close("lrn_forward scale", ps, s, sr);
  }
  if (run("lrn_backward", ps, {O(dx)}, [&] { E::lrn_backward(V(dx, xs), V(dy, xs), V(x, xs), V(sd, xs), p, nullptr); }))
    expect_close("lrn_backward", ps, dx, dxr);
}

// ---- upsampling ----
template <typename T>
void test_upsample(const Upsample2dParams& p) {
  const std::string ps = tag<T>(p.str());
  Rng rng(ps);
  const std::initializer_list<int64_t> xs{p.N, p.C, p.H, p.W}, ys{p.N, p.C, p.OH, p.OW};
  using R = RefT<T>;
  const auto x0 = rt<T>(rng.vec(p.N * p.C * p.H * p.W)), dy0 = rt<T>(rng.vec(p.N * p.C * p.OH * p.OW));
  std::vector<R> yr(dy0.size()), dxr(x0.size());
  ref::upsample2d_forward(V(yr, ys), V(cv<R>(x0), xs), p);
  ref::upsample2d_backward(V(dxr, xs), V(cv<R>(dy0), ys), p);
  const auto x = cv<T>(x0), dy = cv<T>(dy0);
  std::vector<T> y(dy.size()), dx(x.size());
  if (run("upsample2d_forward", ps, {O(y)}, [&] { E::upsample2d_forward(V(y, ys), V(x, xs), p, nullptr); }))
    expect_close("upsample2d_forward", ps, y, yr);
  if (run("upsample2d_backward", ps, {O(dx)}, [&] { E::upsample2d_backward(V(dx, xs), V(dy, ys), p, nullptr); }))
    expect_close("upsample2d_backward", ps, dx, dxr);
}

// ---- dropout: the same mask as the CPU front door ----
template <typename T>
void test_dropout(const DropoutParams& p) {
  const std::string ps = tag<T>(p.str());
  std::vector<RefT<T>> mr(p.numel);
  std::vector<T> m(p.numel);
  fl::dropout_mask(V(mr, {p.numel}), p);
  const auto want = cv<T>(back(mr));  // exactly the CPU mask, rounded to T
  if (run("dropout_mask", ps, {O(m)}, [&] { E::dropout_mask(V(m, {p.numel}), p, nullptr); }))
    expect_close("dropout_mask", ps, m, want, 0);
}

// ---- linear ----
template <typename T>
void test_linear(int64_t M, int64_t K, int64_t N, bool bias) {
  using R = RefT<T>;
  LinearParams p;
  p.M = M; p.K = K; p.N = N;
  const std::string ps = tag<T>(p.str() + (bias ? "_bias" : ""));
  Rng rng(ps);
  const auto x = rt<T>(rng.vec(M * K)), w = rt<T>(rng.vec(N * K)), b = rt<T>(rng.vec(N)), dy = rt<T>(rng.vec(M * N));
  std::vector<R> yr(M * N), dxr(M * K), dwr(N * K), dbr(N);
  ref::linear_forward(V(yr, {M, N}), V(cv<R>(x), {M, K}), V(cv<R>(w), {N, K}),
                      bias ? V(cv<R>(b), {N}) : TensorView(), p);
  ref::linear_backward_data(V(dxr, {M, K}), V(cv<R>(dy), {M, N}), V(cv<R>(w), {N, K}), p);
  ref::linear_backward_weight(V(dwr, {N, K}), V(dbr, {N}), V(cv<R>(dy), {M, N}), V(cv<R>(x), {M, K}), p);
  const auto xd = cv<T>(x), wd = cv<T>(w), bd = cv<T>(b), dyd = cv<T>(dy);
  std::vector<T> y(yr.size()), dx(dxr.size()), dw(dwr.size()), db(N);
  if (run("linear_forward", ps, {O(y)}, [&] {
        E::linear_forward(V(y, {M, N}), V(xd, {M, K}), V(wd, {N, K}), bias ? V(bd, {N}) : TensorView(), M, K, N,
                          nullptr);
      }))
    expect_close("linear_forward", ps, y, yr);
  if (run("linear_backward_data", ps, {O(dx)},
          [&] { E::linear_backward_data(V(dx, {M, K}), V(dyd, {M, N}), V(wd, {N, K}), M, K, N, nullptr); }))
    expect_close("linear_backward_data", ps, dx, dxr);
  if (run("linear_backward_weight", ps, {O(dw), O(db)}, [&] {
        E::linear_backward_weight(V(dw, {N, K}), bias ? V(db, {N}) : TensorView(), V(dyd, {M, N}), V(xd, {M, K}), M, K,
                                  N, nullptr);
      })) {
    expect_close("linear_backward_weight dw", ps, dw, dwr);
    if (bias) expect_close("linear_backward_weight db", ps, db, dbr);
  }
}

// ---- cross-entropy and nll_loss ----
template <typename T>
void test_cross_entropy(const CrossEntropyParams& p, bool weighted, bool bad_target) {
  using R = RefT<T>;
  const std::string ps = tag<T>(p.str() + (weighted ? "_w" : "") + (bad_target ? "_badtarget" : ""));
  Rng rng(ps);
  const int64_t rows = p.N * p.S, n = p.N * p.C * p.S;
  const std::initializer_list<int64_t> xs{p.N, p.C, p.S};
  auto x0 = rng.vec(n);
  for (auto& v : x0) v *= p.C == 4 ? 50 : 1;  // large logits in the 300-row case
  x0 = rt<T>(x0);
  const auto w0 = rt<T>(rng.vec(p.C, 0)), gl0 = rt<T>(rng.vec(rows));
  std::vector<double> tp0;
  if (p.prob_target) {  // rows of a distribution
    tp0 = rng.vec(n, 0);
    for (int64_t i = 0; i < rows; ++i) {
      double sum = 0;
      for (int64_t c = 0; c < p.C; ++c) sum += tp0[((i / p.S) * p.C + c) * p.S + i % p.S];
      for (int64_t c = 0; c < p.C; ++c) tp0[((i / p.S) * p.C + c) * p.S + i % p.S] /= sum;
    }
    tp0 = rt<T>(tp0);
  }
  std::vector<int64_t> t(rows);
  for (int64_t i = 0; i < rows; ++i) t[i] = i % 5 == 3 ? p.ignore_index : int64_t(rng.r() % p.C);
  if (bad_target) t[rows - 1] = p.C + 2;
  const int64_t* tptr = p.prob_target ? nullptr : t.data();
  const bool none = p.reduction == Reduction::None;
  const int64_t nl = none ? rows : 1;
  const std::initializer_list<int64_t> ls{nl};
  const std::vector<double> g0 = none ? gl0 : std::vector<double>{gl0[0]};
  // the reference, in R
  const auto xr = cv<R>(x0), wr = cv<R>(w0), tpr = cv<R>(tp0), gr = cv<R>(g0);
  const TensorView wvr = weighted ? V(wr, {p.C}) : TensorView(), tpvr = p.prob_target ? V(tpr, xs) : TensorView();
  std::vector<R> lossr(nl), lser(rows), dxr(n);
  double twr = 0, tw = 0;
  if (!bad_target) ref::cross_entropy_forward(V(lossr, ls), V(lser, {rows}), &twr, V(xr, xs), tptr, tpvr, wvr, p);
  // the kernels, in T
  const auto x = cv<T>(x0), w = cv<T>(w0), tp = cv<T>(tp0), g = cv<T>(g0);
  const TensorView wv = weighted ? V(w, {p.C}) : TensorView(), tpv = p.prob_target ? V(tp, xs) : TensorView();
  E::CrossEntropyArgs a;
  a.N = p.N; a.C = p.C; a.S = p.S; a.prob_target = p.prob_target; a.ignore_index = p.ignore_index;
  a.label_smoothing = p.label_smoothing; a.reduction = static_cast<int>(p.reduction);
  std::vector<T> loss(nl), lse(rows), ws(2 * rows + 1), dx(n);
  int64_t bad = 0;
  if (run("cross_entropy_forward", ps, {O(loss), O(lse)}, [&] {
        bad = E::cross_entropy_forward(V(loss, ls), V(lse, {rows}), &tw, V(ws, {2 * rows + 1}), V(x, xs), tptr, tpv, wv,
                                       a, nullptr);
      })) {
    equal_i("cross_entropy_forward bad target", ps, bad, bad_target ? p.C + 2 : -1);
    if (!bad_target) {
      expect_close("cross_entropy_forward loss", ps, loss, lossr);
      expect_close("cross_entropy_forward lse", ps, lse, lser);
      expect_close("cross_entropy_forward total_weight", ps, std::vector<double>{tw}, std::vector<double>{twr},
                   Ty<T>::tol);
    }
  }
  if (bad_target) return;
  ref::cross_entropy_backward(V(dxr, xs), V(gr, ls), V(xr, xs), tptr, tpvr, wvr, V(cv<R>(back(lse)), {rows}), twr, p);
  if (run("cross_entropy_backward", ps, {O(dx)}, [&] {
        E::cross_entropy_backward(V(dx, xs), V(g, ls), V(x, xs), tptr, tpv, wv, V(lse, {rows}), tw, a, nullptr);
      }))
    expect_close("cross_entropy_backward", ps, dx, dxr);
  if (p.prob_target || p.label_smoothing != 0) return;
  // nll_loss over the same layout, x taken as log-probabilities
  NLLLossParams q;
  q.N = p.N; q.C = p.C; q.S = p.S; q.ignore_index = p.ignore_index; q.reduction = p.reduction;
  const std::string qs = tag<T>(q.str() + (weighted ? "_w" : ""));
  ref::nll_loss_forward(V(lossr, ls), &twr, V(xr, xs), tptr, wvr, q);
  if (run("nll_loss_forward", qs, {O(loss)}, [&] {
        bad = E::nll_loss_forward(V(loss, ls), &tw, V(ws, {2 * rows + 1}), V(x, xs), tptr, wv, a, nullptr);
      })) {
    equal_i("nll_loss_forward bad target", qs, bad, -1);
    expect_close("nll_loss_forward loss", qs, loss, lossr);
    expect_close("nll_loss_forward total_weight", qs, std::vector<double>{tw}, std::vector<double>{twr}, Ty<T>::tol);
  }
  ref::nll_loss_backward(V(dxr, xs), V(gr, ls), tptr, wvr, twr, q);
  if (run("nll_loss_backward", qs, {O(dx)},
          [&] { E::nll_loss_backward(V(dx, xs), V(g, ls), tptr, wv, tw, a, nullptr); }))
    expect_close("nll_loss_backward", qs, dx, dxr);
}

// ---- the emulation's own checks: it must see what it claims to see ----
void emulation_self_checks() {
  // Each thread writes its slot, then reads its neighbour's: with the barrier both orders agree; without it
  // the reader runs before the writer in one of the two orders.
  auto neighbour_sum = [](bool barrier, bool reverse) {
    static int slot[64];
    std::vector<int> out(64);
    std::memset(slot, 0, sizeof slot);
    fl_emu::set_reverse(reverse);
    fl_emu::launch(1, 64, [&] {
      slot[threadIdx.x] = int(threadIdx.x) + 1;
      if (barrier) __syncthreads();
      out[threadIdx.x] = slot[(threadIdx.x + 1) % 64];
    });
    fl_emu::set_reverse(false);
    return out;
  };
  ++cases;
  if (neighbour_sum(true, false) != neighbour_sum(true, true)) {
    ++failures;
    std::printf("FAIL emulation: a kernel with its barrier differs between thread orders\n");
  }
  ++cases;
  if (neighbour_sum(false, false) == neighbour_sum(false, true)) {
    ++failures;
    std::printf("FAIL emulation: a missing barrier is not seen by the two thread orders\n");
  }
  // An empty grid and an oversized block are launch errors.
  fl_emu::launch(0, 32, [] {});
  equal_i("emulation: empty grid is an error", "", cudaGetLastError(), cudaErrorInvalidConfiguration);
  fl_emu::launch(1, 2048, [] {});
  equal_i("emulation: 2048-thread block is an error", "", cudaGetLastError(), cudaErrorInvalidConfiguration);
  equal_i("emulation: the error is cleared once read", "", cudaGetLastError(), cudaSuccess);
  // WMMA: one warp's 16x16x16 product against a plain loop.
  namespace wmma = nvcuda::wmma;
  alignas(32) static __half a[256], b[256];
  alignas(32) static float c[256];
  std::vector<float> want(256);
  for (int i = 0; i < 256; ++i) {
    a[i] = __half(float((i * 7) % 11 - 5) / 4);
    b[i] = __half(float((i * 5) % 13 - 6) / 8);
  }
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j)
      for (int k = 0; k < 16; ++k) want[i * 16 + j] += float(a[i * 16 + k]) * float(b[k * 16 + j]);
  fl_emu::launch(1, 32, [&] {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
  });
  expect_close("emulation: wmma 16x16x16", "", std::vector<float>(c, c + 256), want, 0);
  fl_emu::launch(1, 32, [&] {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::load_matrix_sync(fa, a + 8, 16);  // 16 bytes off: misaligned
  });
  equal_i("emulation: misaligned wmma pointer is an error", "", cudaGetLastError(), cudaErrorMisalignedAddress);
}

// ---- the tables ----
template <typename T> void conv_cases() {
  const Conv2dParams ps[] = {
      conv(2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1),         // padding, odd sizes
      conv(1, 4, 8, 9, 6, 2, 3, 2, 1, 1, 2, 1, 0),   // groups, stride 2x1, padding 1x0
      conv(2, 6, 7, 7, 6, 3, 3, 2, 2, 2, 3),         // dilation
      conv(1, 5, 5, 5, 3, 1, 1, 1, 0, 1, 1),         // 1x1
      conv(2, 4, 9, 9, 4, 3, 3, 1, 1, 1, 4),         // depthwise
      conv(1, 3, 8, 7, 3, 3, 2, 2, 1, 2, 3, 1, 0),   // depthwise, stride, dilation
      conv(1, 3, 12, 11, 70, 3, 3, 1, 1, 1, 1),      // two row tiles, two column tiles, K over two k-steps
      conv(2, 2, 48, 48, 2, 1, 1, 1, 0, 1, 1),       // bias gradient over two chunks (N*P*Q > 4096)
      conv(1, 3, 6, 6, 6, 3, 3, 1, 1, 1, 3),         // depthwise with multiplier 2 (the GEMM path)
      conv(1, 4, 10, 10, 130, 3, 3, 1, 1, 1, 2),     // groups with two row and two column tiles each
      conv(0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1),         // empty batch: weight gradients are zeros
      conv(0, 4, 5, 5, 4, 3, 3, 1, 1, 1, 4),         // the same, depthwise
  };
  for (const auto& p : ps)
    for (bool bias : {true, false}) test_conv_like<T, Conv2dOps>(p, bias);
  ++cases;
  const std::string dw = E::conv2d_impl_name(ps[4]), mult = E::conv2d_impl_name(ps[8]);
  if (dw != "depthwise" || mult != "implicit_gemm") {
    ++failures;
    std::printf("FAIL conv2d_impl_name: depthwise %s, multiplier 2 %s\n", dw.c_str(), mult.c_str());
  }
}

template <typename T> void conv_transpose_cases() {
  const int64_t cfg[][12] = {{2, 4, 5, 5, 6, 3, 3, 2, 1, 1, 1, 1}, {1, 4, 4, 6, 4, 4, 3, 2, 1, 1, 1, 2},
                             {1, 2, 3, 3, 2, 3, 3, 1, 1, 1, 2, 1}, {2, 3, 4, 3, 6, 2, 2, 1, 0, 1, 2, 3},
                             {1, 70, 6, 7, 66, 3, 3, 2, 1, 1, 1, 1}};  // several tiles
  for (const auto& c : cfg) {
    ConvTranspose2dParams p;
    p.N = c[0]; p.C = c[1]; p.H = c[2]; p.W = c[3]; p.K = c[4]; p.R = c[5]; p.S = c[6];
    p.stride_h = p.stride_w = c[7]; p.pad_h = p.pad_w = c[8]; p.out_pad_h = p.out_pad_w = c[9];
    p.dil_h = p.dil_w = c[10]; p.groups = c[11];
    for (bool bias : {true, false}) test_conv_like<T, ConvTranspose2dOps>(p, bias);
  }
}

template <typename T> void activation_cases() {
  for (int k = 0; k <= int(ActKind::Hardswish); ++k) {
    ActivationParams p;
    p.kind = ActKind(k);
    p.numel = 300;  // more than one block of 256
    if (p.kind == ActKind::LeakyReLU) p.alpha = 0.125;
    if (p.kind == ActKind::ELU) { p.alpha = 1.5; p.scale = 1.25; p.input_scale = 0.5; }
    if (p.kind == ActKind::Softplus) { p.beta = 2; p.threshold = 3; }
    if (p.kind == ActKind::Hardtanh) { p.min_val = -1.5; p.max_val = 0.75; }
    test_activation<T>(p);
  }
  const int64_t sm[][3] = {{3, 5, 1}, {2, 700, 1}, {1, 1, 1}, {3, 4, 5}, {2, 7, 130}};
  for (const auto& s : sm)
    for (bool lg : {false, true}) {
      SoftmaxParams p;
      p.outer = s[0]; p.dim = s[1]; p.inner = s[2]; p.log = lg;
      test_softmax<T>(p, 1);
      test_softmax<T>(p, 60);
    }
}

template <typename T> void activation_float_cases() {
  const int64_t pr[][3] = {{2, 3, 5}, {3, 1, 7}, {2, 4, 300}, {0, 3, 5}};  // last: empty input, dw = 0
  for (const auto& s : pr) {
    PReLUParams p;
    p.N = s[0]; p.C = s[1]; p.inner = s[2];
    test_prelu<T>(p);
  }
  const int64_t mo[][4] = {{2, 6, 5, 3}, {3, 4, 1, 2}, {1, 5, 7, 5}};
  for (const auto& s : mo) {
    MaxoutParams p;
    p.outer = s[0]; p.C = s[1]; p.inner = s[2]; p.pieces = s[3];
    test_maxout<T>(p);
  }
}

template <typename T> void pool_cases() {
  test_pool<T>(pool(2, 3, 8, 8, 2, 2, 0, 1, false), true);
  test_pool<T>(pool(1, 2, 7, 9, 3, 2, 1, 1, true), true);          // ceil mode, padding, odd sizes
  test_pool<T>(pool(1, 2, 9, 8, 3, 2, 1, 2, false), true);         // dilation (max only for avg: dil_h unused)
  test_pool<T>(pool(2, 2, 7, 7, 3, 2, 1, 1, true, false), false);  // count_include_pad=False
  test_pool<T>(pool(1, 3, 6, 5, 2, 1, 1, 1, false, true, 3), false);  // divisor_override
  test_pool<T>(pool(2, 3, 20, 19, 3, 1, 1, 1, false), true);       // several blocks
  test_pool<T>(pool(1, 2, 7, 9, 3, 2, 1, 1, true), true, 1);       // NaN inputs
  test_pool<T>(pool(1, 2, 7, 9, 3, 2, 1, 1, true), true, 2);       // -inf inputs
  test_pool<T>(pool(1, 2, 8, 8, 2, 3, 0, 1, false), true);         // stride > window: uncovered inputs
  test_pool<T>(pool(1, 2, 9, 10, 2, 3, 1, 1, true, false), true);  // the same with padding, ceil mode
  const int64_t ad[][6] = {{2, 3, 7, 9, 3, 4}, {1, 2, 5, 5, 1, 1}, {1, 2, 4, 6, 8, 9}, {2, 2, 10, 7, 10, 7}};
  for (const auto& a : ad) {
    AdaptivePool2dParams p;
    p.N = a[0]; p.C = a[1]; p.H = a[2]; p.W = a[3]; p.OH = a[4]; p.OW = a[5];
    test_adaptive_pool<T>(p);
  }
}

template <typename T> void norm_cases() {
  // {3, 2, 1500}: over two chunks; {2, 1, 265000}: past the 128-chunk cap (longer chunks)
  const int64_t bn[][3] = {{2, 3, 5}, {4, 2, 1}, {3, 2, 1500}, {1, 1, 1}, {2, 1, 265000}};
  for (const auto& s : bn)
    for (int v = 0; v < 2; ++v) {
      BatchNormParams p;
      p.N = s[0]; p.C = s[1]; p.S = s[2]; p.momentum = 0.25;
      // mean/rstd in the accumulation type; the per-channel operands in the input's dtype or, for a half
      // input, in float32 too
      test_batch_norm<T, RefT<T>, T>(p, v == 0, v == 0);
      if (is_half_v<T>) test_batch_norm<T, float, float>(p, v == 0, v == 0);
    }
  const int64_t gn[][4] = {{2, 6, 5, 3}, {3, 4, 1, 1}, {2, 4, 3, 4}, {2, 2, 2100, 1}};  // last: M > 4096
  for (const auto& s : gn)
    for (bool affine : {true, false}) {
      GroupNormParams p;
      p.N = s[0]; p.C = s[1]; p.S = s[2]; p.G = s[3];
      test_group_norm<T>(p, affine);
    }
}

template <typename T> void norm_float_cases() {
  const int64_t lr[][4] = {{2, 7, 5, 3}, {1, 4, 6, 4}, {2, 3, 2, 1}};
  for (const auto& s : lr) {
    LRNParams p;
    p.N = s[0]; p.C = s[1]; p.S = s[2]; p.size = s[3]; p.alpha = 0.5; p.beta = 0.75; p.k = 2;
    test_lrn<T>(p);
  }
}

template <typename T> void upsample_cases() {
  struct U { int64_t H, W, OH, OW; double sh, sw; UpsampleMode m; bool ac; };
  const U us[] = {{3, 4, 6, 8, 0, 0, UpsampleMode::Nearest, false},  {3, 5, 7, 11, 0, 0, UpsampleMode::Nearest, false},
                  {4, 4, 6, 10, 1.5, 2.5, UpsampleMode::Nearest, false},
                  {3, 4, 6, 8, 0, 0, UpsampleMode::Bilinear, false},
                  {3, 5, 7, 9, 0, 0, UpsampleMode::Bilinear, true},
                  {5, 4, 3, 7, 0.6, 1.75, UpsampleMode::Bilinear, false}};
  for (const auto& u : us) {
    Upsample2dParams p;
    p.N = 2; p.C = 3; p.H = u.H; p.W = u.W; p.OH = u.OH; p.OW = u.OW; p.scale_h = u.sh; p.scale_w = u.sw;
    p.mode = u.m; p.align_corners = u.ac;
    test_upsample<T>(p);
  }
}

template <typename T> void linear_cases() {
  const int64_t ln[][3] = {{5, 7, 3}, {70, 20, 66}, {1, 1, 1}, {3, 33, 130}, {0, 4, 3}, {4200, 2, 3}};
  for (const auto& s : ln)
    for (bool bias : {true, false}) test_linear<T>(s[0], s[1], s[2], bias);
}

template <typename T> void loss_cases() {
  for (Reduction r : {Reduction::None, Reduction::Mean, Reduction::Sum})
    for (int v = 0; v < 4; ++v) {
      CrossEntropyParams p;
      p.N = v == 2 ? 2 : 9; p.C = 5; p.S = v == 2 ? 6 : 1; p.reduction = r;
      p.prob_target = v == 3;
      p.label_smoothing = v == 1 ? 0.2 : 0;
      test_cross_entropy<T>(p, v != 0, false);
    }
  CrossEntropyParams p;
  p.N = 300; p.C = 4;  // rows over more than one block of the row kernel
  test_cross_entropy<T>(p, true, false);
  test_cross_entropy<T>(p, false, true);
}

template <typename T> void dropout_cases() {
  for (double pr : {0.0, 0.3, 1.0}) {
    DropoutParams p;
    p.numel = 600; p.p = pr; p.seed = 7; p.offset = 11;
    test_dropout<T>(p);
  }
}

// Runs one table and prints its time (the emulation is slow where kernels run many threads per output).
template <typename F> void timed(const char* what, const char* type, F f) {
  const auto t0 = std::chrono::steady_clock::now();
  const int before = failures;
  f();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%-11s %-8s %6.2f s%s\n", what, type, s, failures > before ? "  (failures)" : "");
}

template <typename T> void all_types_with_half() {
  timed("conv2d", tname<T>(), conv_cases<T>);
  timed("activation", tname<T>(), activation_cases<T>);
  timed("pooling", tname<T>(), pool_cases<T>);
  timed("norm", tname<T>(), norm_cases<T>);
  timed("linear", tname<T>(), linear_cases<T>);
}
// The tables of ops that had no half kernels when this test was written (they run for the half types too).
template <typename T> void float_types_only() {
  timed("conv_t2d", tname<T>(), conv_transpose_cases<T>);
  timed("prelu/max", tname<T>(), activation_float_cases<T>);
  timed("lrn", tname<T>(), norm_float_cases<T>);
  timed("upsample", tname<T>(), upsample_cases<T>);
  timed("dropout", tname<T>(), dropout_cases<T>);
  timed("losses", tname<T>(), loss_cases<T>);
}

}  // namespace

int main() {
  emulation_self_checks();
  all_types_with_half<float>();
  all_types_with_half<double>();
  all_types_with_half<__half>();
  all_types_with_half<bf16>();
  float_types_only<float>();
  float_types_only<double>();
  // Tables whose launchers may lack half kernels: a refusal is listed below, any other result is checked.
  float_types_only<__half>();
  float_types_only<bf16>();
  if (!no_half_kernel.empty()) {
    std::printf("no half kernel, so not run in half:");
    for (const auto& op : no_half_kernel) std::printf(" %s;", op.c_str());
    std::printf("\n");
  }
  std::printf("%s: %d of %d checks matched (%lld emulated launches)\n", failures ? "FAILED" : "OK", cases - failures,
              cases, static_cast<long long>(fl_emu::launch_count()));
  return failures ? 1 : 0;
}
