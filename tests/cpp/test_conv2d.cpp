// C++ tests of the fast CPU convolution kernels against the naive reference (run by ctest).
//
// For every SIMD level this build and CPU can run, float32 and float64, and a table of configurations,
// the public front door fl::conv2d_* (which picks the fast kernels) is compared with fl::ref::conv2d_*:
// forward with and without bias, backward data, backward weight with dw and db, dw only, db only.
// Test data lie on a coarse grid (multiples of 1/4 and 1/8), so most sums are exact; the tolerance is
// absolute plus relative, scaled by the reduction length. Then, with random (off-grid) data, results
// with 1 and 2 threads must be bitwise identical. Every micro-kernel of every level is also checked
// directly on GEMMs with edge tiles, in all three store modes.
//
// Exit status is non-zero on any failure; the last line is "N passed, M failed".
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "fastlayers/ops.h"
#include "fastlayers/runtime.h"

#include "check.h"

namespace {

using namespace fl_test;

struct Cfg {
  int64_t N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, g;
};

fl::Conv2dParams to_params(const Cfg& c) {
  fl::Conv2dParams p;
  p.N = c.N; p.C = c.C; p.H = c.H; p.W = c.W; p.K = c.K; p.R = c.R; p.S = c.S;
  p.stride_h = c.sh; p.stride_w = c.sw; p.pad_h = c.ph; p.pad_w = c.pw; p.dil_h = c.dh; p.dil_w = c.dw;
  p.groups = c.g;
  return p;
}

// N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, groups
const Cfg kConfigs[] = {
    {1, 1, 5, 5, 1, 3, 3, 1, 1, 0, 0, 1, 1, 1},       // smallest
    {2, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},       // odd sizes
    {2, 4, 9, 9, 6, 2, 2, 1, 1, 0, 0, 1, 1, 1},       // even kernel
    {1, 3, 8, 10, 4, 2, 3, 2, 2, 1, 1, 1, 1, 1},      // non-square kernel, stride 2
    {3, 5, 11, 7, 7, 3, 5, 2, 1, 2, 3, 1, 1, 1},      // per-axis stride and padding
    {2, 4, 10, 10, 8, 3, 3, 1, 1, 3, 3, 1, 1, 1},     // padding larger than half the kernel
    {2, 4, 12, 12, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1},     // dilation
    {1, 6, 9, 11, 6, 3, 3, 2, 2, 1, 1, 2, 1, 3},      // groups, per-axis dilation
    {2, 8, 10, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8},     // depthwise
    {2, 6, 9, 9, 6, 3, 3, 2, 2, 1, 1, 1, 1, 6},       // depthwise, stride 2
    {2, 4, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4},       // depthwise, channel multiplier 2
    {1, 5, 12, 12, 5, 5, 5, 1, 1, 4, 4, 2, 2, 5},     // depthwise 5x5 dilated
    {2, 16, 7, 7, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1x1
    {2, 16, 9, 9, 8, 1, 1, 2, 2, 0, 0, 1, 1, 1},      // 1x1 stride 2
    {1, 3, 4, 4, 5, 1, 1, 1, 1, 1, 1, 1, 1, 1},       // 1x1 with padding
    {2, 19, 13, 17, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // GEMM edge tiles in M and N
    {1, 40, 9, 9, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // forward reduction in 2 blocks
    {1, 70, 8, 8, 9, 5, 5, 1, 1, 2, 2, 1, 1, 1},      // forward reduction in many blocks
    {1, 4, 6, 6, 300, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // backward-data reduction (K) in 2 blocks
    {2, 3, 30, 30, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // backward-weight reduction (PQ) in blocks
    {1, 32, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // batch 1: channel / column blocks per thread
    {3, 1, 12, 12, 8, 5, 5, 1, 1, 0, 0, 1, 1, 1},     // one input channel (lenet-like)
    {2, 3, 5, 5, 4, 5, 5, 1, 1, 0, 0, 1, 1, 1},       // kernel as large as the input: P = Q = 1
    {1, 2, 10, 10, 3, 3, 3, 4, 4, 1, 1, 1, 1, 1},     // stride larger than the kernel
    {2, 3, 8, 1, 4, 3, 1, 1, 1, 1, 0, 1, 1, 1},       // W = 1
    {2, 3, 1, 9, 4, 1, 3, 1, 1, 0, 1, 1, 1, 1},       // H = 1
    {2, 6, 7, 7, 10, 3, 3, 1, 1, 1, 1, 1, 1, 2},      // 2 groups with edge tiles
    {2, 8, 16, 16, 16, 4, 4, 2, 2, 1, 1, 1, 1, 1},    // dcgan-like 4x4 stride 2
    {1, 3, 20, 20, 4, 3, 3, 3, 3, 0, 0, 3, 3, 1},     // stride 3, dilation 3
    {1, 3, 23, 23, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1},     // 7x7 stride 2 stem
    {3, 3, 13, 13, 3, 5, 5, 2, 2, 2, 2, 1, 1, 3},     // depthwise 5x5 stride 2
    {9, 4, 3, 3, 6, 3, 3, 1, 1, 0, 0, 1, 1, 1},       // P = Q = 1, larger batch
    {1, 1, 9, 9, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1},       // one channel in and out
    {2, 8, 6, 6, 12, 3, 3, 1, 1, 1, 1, 1, 1, 4},      // 4 groups of 2 channels
    {1, 2, 3, 3, 3, 3, 3, 1, 1, 4, 4, 1, 1, 1},       // padding larger than the input
    {1, 2, 9, 13, 3, 3, 3, 1, 1, 1, 2, 1, 2, 1},      // dilation along w only
    {3, 33, 5, 5, 65, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1x1, odd channel counts
    {1, 3, 37, 29, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // many column panels, odd Q
    {1, 3, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3},       // depthwise, batch 1, 3 channels
    {2, 3, 9, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1, 3},       // depthwise multiplier 3, stride 2
    {1, 4, 6, 6, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2},       // one output channel per group
    {2, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // resnet-like, full tiles
    {1, 8, 17, 17, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8},     // depthwise, odd plane, batch 1
    {3, 5, 8, 8, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},       // P*Q a multiple of the vector length, K edge rows
    {2, 3, 40, 40, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // P*Q longer than a weight-gradient chunk
    {20, 4, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1},      // many images per weight-gradient chunk
    {2, 12, 12, 12, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1},   // stride 2 with padding, even input
    {2, 6, 15, 16, 4, 4, 4, 2, 2, 1, 1, 1, 1, 2},     // 4x4 stride 2, groups
    {2, 4, 7, 7, 4, 3, 3, 1, 1, 3, 3, 1, 1, 4},       // depthwise, padding larger than the kernel
    {1, 2, 3, 300, 2, 1, 3, 1, 1, 0, 1, 1, 1, 2},     // depthwise, a very wide row
    {1, 2, 4, 40, 4, 1, 20, 1, 1, 0, 3, 1, 1, 2},     // depthwise, 20 taps per row, multiplier 2
    {2, 32, 32, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 32},  // depthwise, benchmark-like plane
    {1, 5, 40, 40, 6, 3, 3, 1, 1, 2, 2, 2, 2, 1},     // dilated, on the phase grid
    {2, 6, 20, 20, 9, 3, 3, 1, 1, 1, 1, 1, 1, 3},     // groups on the phase grid, K edge rows
    {1, 30, 20, 20, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // phase grid, reduction in 2 blocks, batch 1
    {3, 4, 33, 34, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1},     // stride 2 on the phase grid, odd H
    {16, 8, 4, 4, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // batch GEMM: resnet layer4-like
    {16, 6, 8, 8, 130, 3, 3, 2, 2, 1, 1, 1, 1, 1},    // batch GEMM, stride 2
    {19, 7, 7, 5, 131, 3, 2, 2, 1, 2, 0, 1, 2, 1},    // batch GEMM, 15 pixels: images across row panels
    {17, 12, 8, 8, 136, 1, 1, 2, 2, 0, 0, 1, 1, 1},   // batch GEMM, strided pointwise
    {20, 4, 6, 5, 300, 3, 3, 1, 1, 1, 1, 1, 1, 1},    // batch GEMM, backward-data reduction in 2 blocks
    {16, 30, 4, 4, 160, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // batch GEMM, forward reduction in 2 blocks
};

// Shapes the batch GEMM's accept rule turns away (batch 1, larger outputs, few channels), run on it directly: the
// kernels must still be right there.
const Cfg kBatchGemmDirect[] = {
    {1, 5, 4, 4, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1},       // batch 1
    {1, 3, 9, 7, 4, 2, 3, 2, 1, 1, 0, 2, 1, 1},       // batch 1, stride, dilation, odd sizes
    {3, 4, 12, 12, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // 144 pixels per image
};

template <typename T>
struct Buffers {
  std::vector<T> x, w, b, y, dy, dx, dw, db;
};

template <typename T>
void alloc(Buffers<T>& B, const fl::Conv2dParams& p) {
  const int64_t P = p.P(), Q = p.Q();
  B.x.assign(p.N * p.C * p.H * p.W, T(0));
  B.w.assign(p.K * p.Cg() * p.R * p.S, T(0));
  B.b.assign(p.K, T(0));
  B.y.assign(p.N * p.K * P * Q, T(0));
  B.dy.assign(B.y.size(), T(0));
  B.dx.assign(B.x.size(), T(0));
  B.dw.assign(B.w.size(), T(0));
  B.db.assign(B.b.size(), T(0));
}

// Inputs on the grid (see fill_grid), so that most sums are exact.
template <typename T>
void fill_inputs(Buffers<T>& B, std::mt19937& rng) {
  fill_grid(B.x, rng, 4, 4.0);
  fill_grid(B.w, rng, 4, 8.0);
  fill_grid(B.b, rng, 8, 4.0);
  fill_grid(B.dy, rng, 4, 4.0);
}

// Outputs pre-filled with garbage, so that a kernel that accumulates instead of writing shows up.
template <typename T>
void poison_outputs(Buffers<T>& B) {
  std::fill(B.y.begin(), B.y.end(), T(7));
  std::fill(B.dx.begin(), B.dx.end(), T(7));
  std::fill(B.dw.begin(), B.dw.end(), T(7));
  std::fill(B.db.begin(), B.db.end(), T(7));
}

// Runs every pass through the front door into `out` (whose inputs x, w, b, dy must be set).
// Outputs are pre-filled with garbage so that a kernel that accumulates instead of writing shows up.
template <typename T>
void run_all(Buffers<T>& B, const fl::Conv2dParams& p, bool with_bias, int dw_db_mode) {
  const int64_t P = p.P(), Q = p.Q();
  poison_outputs(B);
  auto x = view(B.x, {p.N, p.C, p.H, p.W});
  auto w = view(B.w, {p.K, p.Cg(), p.R, p.S});
  auto b = with_bias ? view(B.b, {p.K}) : absent<T>();
  auto y = view(B.y, {p.N, p.K, P, Q});
  auto dy = view(B.dy, {p.N, p.K, P, Q});
  auto dx = view(B.dx, {p.N, p.C, p.H, p.W});
  // dw_db_mode: 0 both, 1 dw only, 2 db only
  auto dw = dw_db_mode != 2 ? view(B.dw, {p.K, p.Cg(), p.R, p.S}) : absent<T>();
  auto db = dw_db_mode != 1 ? view(B.db, {p.K}) : absent<T>();
  fl::conv2d_forward(y, x, w, b, p);
  fl::conv2d_backward_data(dx, dy, w, p);
  fl::conv2d_backward_weight(dw, db, dy, x, p);
}

template <typename T>
void run_ref(Buffers<T>& B, const fl::Conv2dParams& p, bool with_bias) {
  const int64_t P = p.P(), Q = p.Q();
  auto x = view(B.x, {p.N, p.C, p.H, p.W});
  auto w = view(B.w, {p.K, p.Cg(), p.R, p.S});
  auto b = with_bias ? view(B.b, {p.K}) : absent<T>();
  fl::ref::conv2d_forward(view(B.y, {p.N, p.K, P, Q}), x, w, b, p);
  fl::ref::conv2d_backward_data(view(B.dx, {p.N, p.C, p.H, p.W}), view(B.dy, {p.N, p.K, P, Q}), w, p);
  fl::ref::conv2d_backward_weight(view(B.dw, {p.K, p.Cg(), p.R, p.S}), view(B.db, {p.K}),
                                  view(B.dy, {p.N, p.K, P, Q}), x, p);
}

template <typename T>
void test_config(const Cfg& cfg, fl::SimdLevel level) {
  const fl::Conv2dParams p = to_params(cfg);
  const std::string id = std::string(fl::dtype_name(fl::dtype_of<T>())) + " " + fl::simd_level_name(level) + " " +
                         p.str() + " [" + fl::conv2d_impl_name(p, fl::dtype_of<T>()) + "]";
  std::mt19937 rng(static_cast<unsigned>(p.N * 131 + p.C * 31 + p.K * 7 + p.H + p.R));
  Buffers<T> ref, got;
  alloc(ref, p);
  fill_inputs(ref, rng);
  got = ref;
  const int64_t PQ = p.P() * p.Q();
  const int64_t len_f = p.Cg() * p.R * p.S, len_d = p.Kg() * p.R * p.S, len_w = p.N * PQ;

  for (int mode = 0; mode < 3; ++mode) {
    const bool with_bias = mode != 1;
    run_ref(ref, p, with_bias);
    run_all(got, p, with_bias, mode);
    const std::string m = mode == 0 ? "" : mode == 1 ? " (no bias, dw only)" : " (db only)";
    check_close(got.y, ref.y, len_f + 1, "forward " + id + m, 0.5);
    check_close(got.dx, ref.dx, len_d, "backward_data " + id + m, 0.5);
    if (mode != 2) check_close(got.dw, ref.dw, len_w, "backward_weight dw " + id + m);
    else {
      const bool untouched = std::all_of(got.dw.begin(), got.dw.end(), [](T v) { return v == T(7); });
      report(untouched, "backward_weight wrote the absent dw " + id, 0, 0);
    }
    if (mode != 1) check_close(got.db, ref.db, len_w, "backward_weight db " + id + m);
    else {
      const bool untouched = std::all_of(got.db.begin(), got.db.end(), [](T v) { return v == T(7); });
      report(untouched, "backward_weight wrote the absent db " + id, 0, 0);
    }
  }

  // Thread-count independence with off-grid data: bitwise.
  Buffers<T> one, two;
  alloc(one, p);
  fill_random(one.x, rng);
  fill_random(one.w, rng);
  fill_random(one.b, rng);
  fill_random(one.dy, rng);
  two = one;
  fl::set_num_threads(1);
  run_all(one, p, true, 0);
  fl::set_num_threads(2);
  run_all(two, p, true, 0);
  check_bitwise(one.y, two.y, "forward 1 vs 2 threads " + id);
  check_bitwise(one.dx, two.dx, "backward_data 1 vs 2 threads " + id);
  check_bitwise(one.dw, two.dw, "backward_weight dw 1 vs 2 threads " + id);
  check_bitwise(one.db, two.db, "backward_weight db 1 vs 2 threads " + id);
}

template <typename T>
void test_batch_gemm_direct(const Cfg& cfg, fl::SimdLevel level) {
  const fl::Conv2dParams p = to_params(cfg);
  const std::string id =
      std::string(fl::dtype_name(fl::dtype_of<T>())) + " " + fl::simd_level_name(level) + " " + p.str() + " [batch_gemm direct]";
  std::mt19937 rng(static_cast<unsigned>(p.N * 17 + p.C * 5 + p.K));
  Buffers<T> ref, got;
  alloc(ref, p);
  fill_inputs(ref, rng);
  got = ref;
  run_ref(ref, p, true);
  poison_outputs(got);
  const int64_t P = p.P(), Q = p.Q();
  auto x = view(got.x, {p.N, p.C, p.H, p.W});
  auto w = view(got.w, {p.K, p.C, p.R, p.S});
  auto dy = view(got.dy, {p.N, p.K, P, Q});
  fl::cpu::conv2d_batch_gemm_forward(view(got.y, {p.N, p.K, P, Q}), x, w, view(got.b, {p.K}), p);
  fl::cpu::conv2d_batch_gemm_backward_data(view(got.dx, {p.N, p.C, p.H, p.W}), dy, w, p);
  fl::cpu::conv2d_batch_gemm_backward_weight(view(got.dw, {p.K, p.C, p.R, p.S}), view(got.db, {p.K}), dy, x, p);
  const int64_t len_w = p.N * P * Q;
  check_close(got.y, ref.y, p.C * p.R * p.S + 1, "forward " + id, 0.5);
  check_close(got.dx, ref.dx, p.K * p.R * p.S, "backward_data " + id, 0.5);
  check_close(got.dw, ref.dw, len_w, "backward_weight dw " + id);
  check_close(got.db, ref.db, len_w, "backward_weight db " + id);
}

// Every micro-kernel of a level on GEMMs with edge tiles, in its three store modes.
template <typename T>
void test_micro_kernels(fl::SimdLevel level) {
  const fl::cpu::GemmKernel<T>* ks = nullptr;
  const int nk = fl::cpu::gemm_kernels<T>(level, &ks);
  std::mt19937 rng(12345);
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {16, 64, 9}, {37, 70, 33}, {8, 32, 0}, {13, 131, 40}};
  for (int ki = 0; ki < nk; ++ki) {
    const auto& kr = ks[ki];
    for (const auto& sh : shapes) {
      const int64_t M = sh[0], N = sh[1], K = sh[2];
      std::vector<T> a(M * std::max<int64_t>(K, 1)), b(std::max<int64_t>(K, 1) * N), bias(M);
      fill_grid(a, rng, 4, 4.0);
      fill_grid(b, rng, 4, 4.0);
      fill_grid(bias, rng, 4, 2.0);
      const int64_t ldc = N + 3;
      std::vector<T> c0(M * ldc);
      fill_grid(c0, rng, 4, 2.0);
      // packed operands (64-byte aligned)
      std::vector<T> ap_store(fl::cpu::round_up(M, kr.mr) * std::max<int64_t>(K, 1) + 64);
      std::vector<T> bp_store(fl::cpu::round_up(N, kr.nr) * std::max<int64_t>(K, 1) + 64);
      auto align = [](T* q) { return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(q) + 63) & ~uintptr_t(63)); };
      T* ap = align(ap_store.data());
      T* bp = align(bp_store.data());
      fl::cpu::pack_a(a.data(), K, 1, M, K, kr.mr, ap);
      fl::cpu::pack_b(b.data(), N, 1, K, N, kr.nr, bp);
      for (int mode = 0; mode < 3; ++mode) {  // 0 overwrite, 1 overwrite + bias, 2 accumulate
        std::vector<T> c = c0, want = c0;
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j) {
            double s = 0;
            for (int64_t k = 0; k < K; ++k) s += double(a[i * K + k]) * double(b[k * N + j]);
            want[i * ldc + j] = T((mode == 2 ? double(c0[i * ldc + j]) : mode == 1 ? double(bias[i]) : 0.0) + s);
          }
        fl::cpu::gemm_macro(kr, M, N, K, ap, K * kr.mr, bp, K * kr.nr, c.data(), ldc, mode == 2,
                            mode == 1 ? bias.data() : static_cast<const T*>(nullptr));
        double ref_max = 0;
        const double err = max_err(c, want, &ref_max);
        const double tol = 4 * std::numeric_limits<T>::epsilon() * (K + 2) * (ref_max + 1);
        report(err <= tol,
               std::string("micro-kernel ") + kr.name + " M" + std::to_string(M) + "N" + std::to_string(N) + "K" +
                   std::to_string(K) + " mode" + std::to_string(mode),
               err, tol);
      }
    }
  }
  // the convenience gemm (strided operands, blocked reduction)
  {
    const int64_t M = 29, N = 600, K = 300;
    std::vector<T> a(M * K), b(K * N), c(M * N, T(0)), want(M * N);
    fill_grid(a, rng, 4, 4.0);
    fill_grid(b, rng, 4, 4.0);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += double(a[k * M + i]) * double(b[k * N + j]);
        want[i * N + j] = T(s);
      }
    fl::cpu::gemm<T>(M, N, K, a.data(), 1, M, b.data(), N, 1, c.data(), N, false);
    double ref_max = 0;
    const double err = max_err(c, want, &ref_max);
    report(err <= 1e-30 + 4 * std::numeric_limits<T>::epsilon() * K * ref_max,
           std::string("gemm ") + fl::dtype_name(fl::dtype_of<T>()) + " " + fl::simd_level_name(level), err, 0);
  }
}

}  // namespace

int main() {
  fl_test::for_each_simd_level([](fl::SimdLevel level) {
    test_micro_kernels<float>(level);
    test_micro_kernels<double>(level);
    for (const Cfg& c : kConfigs) {
      test_config<float>(c, level);
      test_config<double>(c, level);
    }
    for (const Cfg& c : kBatchGemmDirect) {
      test_batch_gemm_direct<float>(c, level);
      test_batch_gemm_direct<double>(c, level);
    }
  });
  return fl_test::finish();
}
