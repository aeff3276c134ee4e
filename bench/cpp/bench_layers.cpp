// google-benchmark microbenchmarks of the issue-3 CPU kernels (float32) on the shapes of
// ../shared/bench/layers.json: normalization, pooling, activations, softmax and transposed convolution,
// forward and backward, named <family>/<pass>/<case>/<params descriptor>.
// Counters (rates): GB/s of minimal memory traffic (every input read once, every output written once)
// for the memory-bound kernels; GFLOP/s (2 * multiply-adds) and GB/s for transposed convolution.
//
//   ./fl_bench_layers --benchmark_filter=norm --benchmark_min_time=0.2
// Threads: FASTLAYERS_BENCH_THREADS (default: fastlayers' default, the processor count).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels.h"  // pooling kernels below the front door (null indices)
#include "fastlayers/ops.h"
#include "fastlayers/runtime.h"

namespace {

using Buf = std::vector<float>;
constexpr fl::DType kF32 = fl::DType::Float32;

Buf random_buf(int64_t n, unsigned seed, float lo = -1, float hi = 1) {
  Buf v(static_cast<size_t>(n));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (float& e : v) e = d(rng);
  return v;
}

fl::TensorView view(Buf& b, std::initializer_list<int64_t> shape) { return fl::make_view(b.data(), kF32, shape); }

// Runs body() per iteration and sets the rate counters from the bytes (and flops) of one call.
void run(benchmark::State& state, const std::function<void()>& body, double bytes, double flops = 0) {
  for (auto _ : state) {
    body();
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  if (flops > 0)
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(fl::simd_level_name(fl::simd_level())) + " " + std::to_string(fl::get_num_threads()) +
                 "t");
}

void add(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& s) { fn(s); })
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
}

constexpr double kF = sizeof(float);

// ---- normalization: batch norm (training), group norm, layer norm (G = 1, S = 1), instance norm ----
void register_norm() {
  struct BnCase { const char* name; int64_t N, C, S; };
  for (BnCase c : {BnCase{"bn_64", 32, 64, 64 * 64}, BnCase{"bn_256", 128, 256, 8 * 8}}) {
    fl::BatchNormParams p;
    p.N = c.N, p.C = c.C, p.S = c.S;
    const double n = double(p.N * p.C * p.S);
    add(std::string("norm/fwd/") + c.name + "/" + p.str(), [p, n](benchmark::State& s) {
      Buf x = random_buf(p.N * p.C * p.S, 1), y(x.size()), g = random_buf(p.C, 2), b = random_buf(p.C, 3),
          m(p.C), r(p.C), rm(p.C, 0.f), rv(p.C, 1.f);
      run(s, [&] {
        fl::batch_norm_forward(view(y, {p.N, p.C, p.S}), view(m, {p.C}), view(r, {p.C}), view(x, {p.N, p.C, p.S}),
                               view(g, {p.C}), view(b, {p.C}), view(rm, {p.C}), view(rv, {p.C}), p);
      }, 2 * n * kF);
    });
    add(std::string("norm/bwd/") + c.name + "/" + p.str(), [p, n](benchmark::State& s) {
      Buf x = random_buf(p.N * p.C * p.S, 1), y(x.size()), g = random_buf(p.C, 2), b = random_buf(p.C, 3),
          m(p.C), r(p.C), rm(p.C, 0.f), rv(p.C, 1.f), dy = random_buf(x.size(), 4), dx(x.size()), dg(p.C), db(p.C);
      fl::batch_norm_forward(view(y, {p.N, p.C, p.S}), view(m, {p.C}), view(r, {p.C}), view(x, {p.N, p.C, p.S}),
                             view(g, {p.C}), view(b, {p.C}), view(rm, {p.C}), view(rv, {p.C}), p);
      run(s, [&] {
        fl::batch_norm_backward(view(dx, {p.N, p.C, p.S}), view(dg, {p.C}), view(db, {p.C}), view(dy, {p.N, p.C, p.S}),
                                view(x, {p.N, p.C, p.S}), view(m, {p.C}), view(r, {p.C}), view(g, {p.C}), p);
      }, 3 * n * kF);
    });
  }
  struct GnCase { const char* name; int64_t N, C, S, G; };
  // layer norm over (C, H, W) = group norm of an N x (C H W) x 1 input with one group
  for (GnCase c : {GnCase{"gn32", 32, 128, 32 * 32, 32}, GnCase{"ln_chw", 32, 64 * 32 * 32, 1, 1},
                   GnCase{"in_64", 16, 64, 64 * 64, 64}}) {
    fl::GroupNormParams p;
    p.N = c.N, p.C = c.C, p.S = c.S, p.G = c.G;
    const double n = double(p.N * p.C * p.S);
    add(std::string("norm/fwd/") + c.name + "/" + p.str(), [p, n](benchmark::State& s) {
      Buf x = random_buf(p.N * p.C * p.S, 1), y(x.size()), g = random_buf(p.C, 2), b = random_buf(p.C, 3),
          m(p.N * p.G), r(p.N * p.G);
      run(s, [&] {
        fl::group_norm_forward(view(y, {p.N, p.C, p.S}), view(m, {p.N, p.G}), view(r, {p.N, p.G}),
                               view(x, {p.N, p.C, p.S}), view(g, {p.C}), view(b, {p.C}), p);
      }, 2 * n * kF);
    });
    add(std::string("norm/bwd/") + c.name + "/" + p.str(), [p, n](benchmark::State& s) {
      Buf x = random_buf(p.N * p.C * p.S, 1), y(x.size()), g = random_buf(p.C, 2), b = random_buf(p.C, 3),
          m(p.N * p.G), r(p.N * p.G), dy = random_buf(x.size(), 4), dx(x.size()), dg(p.C), db(p.C);
      fl::group_norm_forward(view(y, {p.N, p.C, p.S}), view(m, {p.N, p.G}), view(r, {p.N, p.G}),
                             view(x, {p.N, p.C, p.S}), view(g, {p.C}), view(b, {p.C}), p);
      run(s, [&] {
        fl::group_norm_backward(view(dx, {p.N, p.C, p.S}), view(dg, {p.C}), view(db, {p.C}),
                                view(dy, {p.N, p.C, p.S}), view(x, {p.N, p.C, p.S}), view(m, {p.N, p.G}),
                                view(r, {p.N, p.G}), view(g, {p.C}), p);
      }, 3 * n * kF);
    });
  }
}

// ---- pooling ----
void register_pool() {
  // index: max pooling writes its int64 indices (training); without: the kernel with a null indices pointer
  // (inference), called below the front door, which asks for indices today.
  struct PoolCase { const char* name; bool max, index; int64_t N, C, H, k, st, pad; };
  for (PoolCase c : {PoolCase{"max_k2s2", true, true, 32, 64, 64, 2, 2, 0},
                     PoolCase{"max_k3s2p1", true, true, 32, 64, 64, 3, 2, 1},
                     PoolCase{"max_stem_k3s2p1", true, true, 16, 64, 112, 3, 2, 1},
                     PoolCase{"max_k2s2_noindex", true, false, 32, 64, 64, 2, 2, 0},
                     PoolCase{"max_k3s2p1_noindex", true, false, 32, 64, 64, 3, 2, 1},
                     PoolCase{"max_stem_k3s2p1_noindex", true, false, 16, 64, 112, 3, 2, 1},
                     PoolCase{"avg_k2s2", false, false, 32, 64, 64, 2, 2, 0},
                     PoolCase{"avg_k3s1p1", false, false, 32, 64, 64, 3, 1, 1}}) {
    fl::Pool2dParams p;
    p.N = c.N, p.C = c.C, p.H = p.W = c.H, p.kh = p.kw = c.k, p.stride_h = p.stride_w = c.st;
    p.pad_h = p.pad_w = c.pad;
    const int64_t in = p.N * p.C * p.H * p.W, out = p.N * p.C * p.P() * p.Q();
    const bool mx = c.max, index = c.index;
    const double fwd_bytes = (in + out) * kF + (index ? out * 8.0 : 0.0);
    add(std::string("pool/fwd/") + c.name + "/" + p.str(), [p, in, out, mx, index, fwd_bytes](benchmark::State& s) {
      Buf x = random_buf(in, 1), y(static_cast<size_t>(out));
      std::vector<int64_t> ind(static_cast<size_t>(out));
      const auto xv = view(x, {p.N, p.C, p.H, p.W}), yv = view(y, {p.N, p.C, p.P(), p.Q()});
      run(s, [&] {
        if (mx && index) fl::max_pool2d_forward(yv, ind.data(), xv, p);
        else if (mx) fl::cpu::max_pool2d_direct_forward(yv, nullptr, xv, p);
        else fl::avg_pool2d_forward(yv, xv, p);
      }, fwd_bytes);
    });
    if (mx && !index) continue;
    add(std::string("pool/bwd/") + c.name + "/" + p.str(), [p, in, out, mx, fwd_bytes](benchmark::State& s) {
      Buf x = random_buf(in, 1), y(static_cast<size_t>(out)), dy = random_buf(out, 2), dx(static_cast<size_t>(in));
      std::vector<int64_t> ind(static_cast<size_t>(out));
      const auto xv = view(x, {p.N, p.C, p.H, p.W}), yv = view(y, {p.N, p.C, p.P(), p.Q()});
      const auto dxv = view(dx, {p.N, p.C, p.H, p.W}), dyv = view(dy, {p.N, p.C, p.P(), p.Q()});
      if (mx) fl::max_pool2d_forward(yv, ind.data(), xv, p);
      run(s, [&] {
        if (mx) fl::max_pool2d_backward(dxv, dyv, ind.data());
        else fl::avg_pool2d_backward(dxv, dyv, p);
      }, fwd_bytes);
    });
  }
  fl::AdaptivePool2dParams p;
  p.N = 32, p.C = 512, p.H = 7, p.W = 7, p.OH = 1, p.OW = 1;
  const int64_t in = p.N * p.C * p.H * p.W, out = p.N * p.C;
  const double bytes = (in + out) * kF;
  add("pool/fwd/global/" + p.str(), [p, in, out, bytes](benchmark::State& s) {
    Buf x = random_buf(in, 1), y(static_cast<size_t>(out));
    run(s, [&] { fl::adaptive_avg_pool2d_forward(view(y, {p.N, p.C, 1, 1}), view(x, {p.N, p.C, p.H, p.W}), p); },
        bytes);
  });
  add("pool/bwd/global/" + p.str(), [p, in, out, bytes](benchmark::State& s) {
    Buf dy = random_buf(out, 1), dx(static_cast<size_t>(in));
    run(s, [&] { fl::adaptive_avg_pool2d_backward(view(dx, {p.N, p.C, p.H, p.W}), view(dy, {p.N, p.C, 1, 1}), p); },
        bytes);
  });
}

// ---- activations and softmax ----
void register_activation() {
  struct ActCase { const char* name; fl::ActKind kind; double alpha; };
  const int64_t n = int64_t(1) << 24;
  for (ActCase c : {ActCase{"relu", fl::ActKind::ReLU, 1.0}, ActCase{"leaky_relu", fl::ActKind::LeakyReLU, 0.01},
                    ActCase{"elu", fl::ActKind::ELU, 1.0}, ActCase{"sigmoid", fl::ActKind::Sigmoid, 1.0},
                    ActCase{"tanh", fl::ActKind::Tanh, 1.0}, ActCase{"gelu", fl::ActKind::GELU, 1.0},
                    ActCase{"silu", fl::ActKind::SiLU, 1.0}}) {
    fl::ActivationParams p;
    p.kind = c.kind, p.numel = n, p.alpha = c.alpha;
    add(std::string("activation/fwd/") + c.name + "/" + p.str(), [p, n](benchmark::State& s) {
      Buf x = random_buf(n, 1, -4, 4), y(static_cast<size_t>(n));
      run(s, [&] { fl::activation_forward(view(y, {n}), view(x, {n}), p); }, 2.0 * n * kF);
    });
    add(std::string("activation/bwd/") + c.name + "/" + p.str(), [p, n](benchmark::State& s) {
      Buf x = random_buf(n, 1, -4, 4), dy = random_buf(n, 2), dx(static_cast<size_t>(n));
      run(s, [&] { fl::activation_backward(view(dx, {n}), view(dy, {n}), view(x, {n}), false, p); },
          3.0 * n * kF);
    });
  }
  for (bool log : {false, true}) {
    fl::SoftmaxParams p;
    p.outer = 4096, p.dim = 1000, p.inner = 1, p.log = log;
    const int64_t n = p.outer * p.dim;
    const std::string name = log ? "log_softmax_4096x1000" : "softmax_4096x1000";
    add("softmax/fwd/" + name + "/" + p.str(), [p, n](benchmark::State& s) {
      Buf x = random_buf(n, 1, -4, 4), y(static_cast<size_t>(n));
      run(s, [&] { fl::softmax_forward(view(y, {n}), view(x, {n}), p); }, 2.0 * n * kF);
    });
    add("softmax/bwd/" + name + "/" + p.str(), [p, n](benchmark::State& s) {
      Buf x = random_buf(n, 1, -4, 4), y(static_cast<size_t>(n)), dy = random_buf(n, 2), dx(static_cast<size_t>(n));
      fl::softmax_forward(view(y, {n}), view(x, {n}), p);
      run(s, [&] { fl::softmax_backward(view(dx, {n}), view(dy, {n}), view(y, {n}), p); }, 3.0 * n * kF);
    });
  }
}

// ---- transposed convolution ----
void register_conv_transpose() {
  struct CtCase { const char* name; int64_t N, C, H, K, R, stride, pad, opad; };
  for (CtCase c : {CtCase{"dcgan_g1", 64, 512, 4, 256, 4, 2, 1, 0}, CtCase{"dcgan_g2", 64, 256, 8, 128, 4, 2, 1, 0},
                   CtCase{"dcgan_g3", 64, 128, 16, 64, 4, 2, 1, 0}, CtCase{"dcgan_g4", 64, 64, 32, 3, 4, 2, 1, 0},
                   CtCase{"unet_up", 8, 128, 32, 64, 3, 2, 1, 1}}) {
    fl::ConvTranspose2dParams p;
    p.N = c.N, p.C = c.C, p.H = p.W = c.H, p.K = c.K, p.R = p.S = c.R;
    p.stride_h = p.stride_w = c.stride, p.pad_h = p.pad_w = c.pad, p.out_pad_h = p.out_pad_w = c.opad;
    const int64_t xs = p.N * p.C * p.H * p.W, ws = p.C * p.Kg() * p.R * p.S, ys = p.N * p.K * p.P() * p.Q();
    const double flops = 2.0 * double(p.macs());
    const std::pair<const char*, int> passes[] = {{"fwd", 0}, {"bwd_data", 1}, {"bwd_weight", 2}};
    for (const auto& [pname, pass] : passes) {
      const double bytes = (xs + ws + ys) * kF + (pass == 0 ? p.K * kF : 0.0);
      add(std::string("conv_transpose2d/") + pname + "/" + c.name + "/" + p.str(),
          [p, pass = pass, xs, ws, ys, flops, bytes](benchmark::State& s) {
            Buf x = random_buf(xs, 1), w = random_buf(ws, 2, -0.1f, 0.1f), b = random_buf(p.K, 3),
                y = random_buf(ys, 4), dx(static_cast<size_t>(xs)), dw(static_cast<size_t>(ws)), db(p.K);
            const auto xv = view(x, {p.N, p.C, p.H, p.W}), wv = view(w, {p.C, p.Kg(), p.R, p.S}),
                       yv = view(y, {p.N, p.K, p.P(), p.Q()});
            run(s, [&] {
              if (pass == 0) fl::conv_transpose2d_forward(yv, xv, wv, view(b, {p.K}), p);
              else if (pass == 1) fl::conv_transpose2d_backward_data(view(dx, {p.N, p.C, p.H, p.W}), yv, wv, p);
              else fl::conv_transpose2d_backward_weight(view(dw, {p.C, p.Kg(), p.R, p.S}), view(db, {p.K}), yv, xv, p);
            }, bytes, flops);
          });
    }
  }
}

int register_all() {
  if (const char* t = std::getenv("FASTLAYERS_BENCH_THREADS")) fl::set_num_threads(std::atoi(t));
  register_norm();
  register_pool();
  register_activation();
  register_conv_transpose();
  return 0;
}

const int g_registered = register_all();

}  // namespace

BENCHMARK_MAIN();
