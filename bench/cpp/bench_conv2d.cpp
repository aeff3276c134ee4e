// google-benchmark microbenchmarks of the CPU convolution kernels behind fl::conv2d_* (float32 and a
// float64 sample), on shapes from ../shared/bench/layers.json, named by their descriptor strings.
// Counters: GFLOP/s (2 * multiply-adds per pass) as a rate.
//
//   ./fl_bench_conv2d --benchmark_filter=fwd --benchmark_repetitions=5 --benchmark_report_aggregates_only
// Threads: FASTLAYERS_BENCH_THREADS (default: fastlayers' default, the processor count).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "fastlayers/ops.h"
#include "fastlayers/runtime.h"

namespace {

struct Case {
  const char* name;
  int64_t N, C, H, W, K, R, S, stride, pad, dil, groups;
};

// A handful of the layers.json "conv2d" cases.
const Case kCases[] = {
    {"lenet_conv1", 64, 1, 28, 28, 32, 5, 5, 1, 0, 1, 1},
    {"lenet_conv2", 64, 32, 12, 12, 64, 5, 5, 1, 0, 1, 1},
    {"cifar_stem", 128, 3, 32, 32, 64, 3, 3, 1, 1, 1, 1},
    {"resnet_64", 32, 64, 32, 32, 64, 3, 3, 1, 1, 1, 1},
    {"resnet_128", 32, 128, 16, 16, 128, 3, 3, 1, 1, 1, 1},
    {"resnet_256", 32, 256, 8, 8, 256, 3, 3, 1, 1, 1, 1},
    {"down_s2", 32, 64, 32, 32, 128, 3, 3, 2, 1, 1, 1},
    {"pointwise", 32, 256, 16, 16, 64, 1, 1, 1, 0, 1, 1},
    {"depthwise", 32, 128, 32, 32, 128, 3, 3, 1, 1, 1, 128},
    {"dilated", 16, 64, 32, 32, 64, 3, 3, 1, 2, 2, 1},
    {"latency_b1", 1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1},
    {"dcgan_disc", 64, 64, 32, 32, 128, 4, 4, 2, 1, 1, 1},
    // 3x3 stride-1 layers that conv2d runs with Winograd F(4x4, 3x3) in float32 (the label names the path;
    // FASTLAYERS_CONV_ALGO=exact runs the same cases on the GEMM paths for comparison). GFLOP/s counts the
    // direct algorithm's flops, so Winograd can exceed the FMA peak.
    {"resnet_256_14", 16, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1},
    {"resnet_512_7", 16, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1},
    {"winograd_pad0_odd", 8, 96, 29, 27, 80, 3, 3, 1, 0, 1, 1},
};

fl::Conv2dParams params_of(const Case& c) {
  fl::Conv2dParams p;
  p.N = c.N; p.C = c.C; p.H = c.H; p.W = c.W; p.K = c.K; p.R = c.R; p.S = c.S;
  p.stride_h = p.stride_w = c.stride;
  p.pad_h = p.pad_w = c.pad;
  p.dil_h = p.dil_w = c.dil;
  p.groups = c.groups;
  return p;
}

enum class Pass { Forward, BackwardData, BackwardWeight };

template <typename T>
void run(benchmark::State& state, fl::Conv2dParams p, Pass pass) {
  const int64_t P = p.P(), Q = p.Q();
  std::vector<T> x(p.N * p.C * p.H * p.W), w(p.K * p.Cg() * p.R * p.S), b(p.K), y(p.N * p.K * P * Q);
  std::vector<T> dx(x.size()), dw(w.size()), db(b.size());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (auto* v : {&x, &w, &b, &y})
    for (T& e : *v) e = d(rng);
  const fl::DType dt = fl::dtype_of<T>();
  auto xv = fl::make_view(x.data(), dt, {p.N, p.C, p.H, p.W});
  auto wv = fl::make_view(w.data(), dt, {p.K, p.Cg(), p.R, p.S});
  auto bv = fl::make_view(b.data(), dt, {p.K});
  auto yv = fl::make_view(y.data(), dt, {p.N, p.K, P, Q});
  auto dxv = fl::make_view(dx.data(), dt, {p.N, p.C, p.H, p.W});
  auto dwv = fl::make_view(dw.data(), dt, {p.K, p.Cg(), p.R, p.S});
  auto dbv = fl::make_view(db.data(), dt, {p.K});
  for (auto _ : state) {
    switch (pass) {
      case Pass::Forward: fl::conv2d_forward(yv, xv, wv, bv, p); break;
      case Pass::BackwardData: fl::conv2d_backward_data(dxv, yv, wv, p); break;
      case Pass::BackwardWeight: fl::conv2d_backward_weight(dwv, dbv, yv, xv, p); break;
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(p.macs()) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(fl::conv2d_impl_name(p, dt)) + " " + fl::simd_level_name(fl::simd_level()) + " " +
                 std::to_string(fl::get_num_threads()) + "t");
}

int register_all() {
  if (const char* t = std::getenv("FASTLAYERS_BENCH_THREADS")) fl::set_num_threads(std::atoi(t));
  const std::pair<const char*, Pass> passes[] = {
      {"fwd", Pass::Forward}, {"bwd_data", Pass::BackwardData}, {"bwd_weight", Pass::BackwardWeight}};
  for (const Case& c : kCases) {
    const fl::Conv2dParams p = params_of(c);
    for (const auto& [pname, pass] : passes) {
      const std::string name = std::string("f32/") + pname + "/" + c.name + "/" + p.str();
      benchmark::RegisterBenchmark(name.c_str(), [p, pass = pass](benchmark::State& s) { run<float>(s, p, pass); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  // A float64 sample.
  const fl::Conv2dParams p = params_of(kCases[3]);
  for (const auto& [pname, pass] : passes) {
    const std::string name = std::string("f64/") + pname + "/" + kCases[3].name + "/" + p.str();
    benchmark::RegisterBenchmark(name.c_str(), [p, pass = pass](benchmark::State& s) { run<double>(s, p, pass); })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return 0;
}

const int g_registered = register_all();

}  // namespace

BENCHMARK_MAIN();
