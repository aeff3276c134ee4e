// Fast CPU kernels of the losses that are a hot path: the fused log-softmax + NLL of cross-entropy, and
// nll_loss. Gradients are written (=).
//
// Cross-entropy runs tiles (cpu/loss_rows.h) in parallel: blocks of kRowsPerTask rows when S == 1, else one
// batch index and kTileS spatial positions. Each tile writes its rows' lse and loss terms to a workspace;
// reductions then sum those in blocks of kSumBlock rows (a fixed partition, block sums added in order), so
// results do not depend on the thread count. Sums accumulate in double.
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/loss_rows.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

constexpr int64_t kRowsPerTask = 16;
constexpr int64_t kTileS = 64;
constexpr int64_t kSumBlock = 4096;

const LossSimdKernels* simd_kernels_f32() {
#if defined(FL_HAVE_X86_SIMD)
  static const LossSimdKernels avx512 = detail::loss_kernels_avx512_f32();
  static const LossSimdKernels avx2 = detail::loss_kernels_avx2_f32();
  if (simd_level() == SimdLevel::AVX512) return &avx512;
  if (simd_level() == SimdLevel::AVX2) return &avx2;
#endif
  return nullptr;
}

// sum_i f(i) for i < n in double, over a fixed partition into blocks.
template <typename F>
double blocked_sum(int64_t n, F&& f) {
  const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  if (blocks <= 1) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += f(i);
    return s;
  }
  std::vector<double> part(static_cast<size_t>(blocks));
  parallel_for(blocks, [&](int64_t b) {
    double s = 0;
    const int64_t end = b * kSumBlock + kSumBlock < n ? b * kSumBlock + kSumBlock : n;
    for (int64_t i = b * kSumBlock; i < end; ++i) s += f(i);
    part[static_cast<size_t>(b)] = s;
  });
  double s = 0;
  for (double v : part) s += v;
  return s;
}

// Runs tile(n, s0, s1, scratch) over the tiles of an N x C x S layout.
template <typename T, typename F>
void for_each_tile(int64_t N, int64_t C, int64_t S, F&& tile) {
  if (S == 1) {
    const int64_t tasks = (N + kRowsPerTask - 1) / kRowsPerTask;
    parallel_for(tasks, [&](int64_t b) {
      T* scratch = thread_scratch<T>(static_cast<size_t>(C));
      const int64_t end = (b + 1) * kRowsPerTask < N ? (b + 1) * kRowsPerTask : N;
      for (int64_t n = b * kRowsPerTask; n < end; ++n) tile(n, int64_t(0), int64_t(1), scratch);
    });
    return;
  }
  const int64_t per_n = (S + kTileS - 1) / kTileS;
  parallel_for(N * per_n, [&](int64_t task) {
    T* scratch = thread_scratch<T>(static_cast<size_t>(3 * kTileS));
    const int64_t n = task / per_n, s0 = (task % per_n) * kTileS;
    tile(n, s0, s0 + kTileS < S ? s0 + kTileS : S, scratch);
  });
}

double weight_sum(const TensorView& weight, int64_t C) {
  if (!weight.defined()) return static_cast<double>(C);
  double s = 0;
  for (int64_t c = 0; c < C; ++c)
    s += weight.dtype == DType::Float32 ? weight.ptr<float>()[c] : weight.ptr<double>()[c];
  return s;
}

template <typename T>
void ce_forward_t(const TensorView& loss, const TensorView& lse, double* total_weight, const TensorView& logits,
                  const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                  const CrossEntropyParams& p) {
  const int64_t R = p.rows();
  const CeRowArgs args{p.C, p.S, p.ignore_index, p.label_smoothing, 0, 0, 0, 0};
  // Workspace: the loss terms per row (ta into the 'none' output when there is no smoothing to add).
  std::vector<T> work(static_cast<size_t>(3 * R));
  T *ta = work.data(), *tb = ta + R, *wt = tb + R;
  const T* x = logits.ptr<T>();
  const T* q = p.prob_target ? target_prob.ptr<T>() : nullptr;
  const T* w = weight.defined() ? weight.ptr<T>() : nullptr;
  T* L = lse.ptr<T>();
  const LossSimdKernels* k = std::is_same<T, float>::value ? simd_kernels_f32() : nullptr;
  for_each_tile<T>(p.N, p.C, p.S, [&](int64_t n, int64_t s0, int64_t s1, T* scratch) {
    if constexpr (std::is_same<T, float>::value) {
      if (k) {
        k->ce_forward(args, x, target, q, w, n, s0, s1, L, ta, tb, wt, scratch);
        return;
      }
    }
    ce_forward_tile<T>(args, x, target, q, w, n, s0, s1, L, ta, tb, wt, scratch);
  });
  const double eps = p.prob_target ? 0.0 : p.label_smoothing;
  const double cn = 1 - eps, cs = eps / static_cast<double>(p.C);
  const double W = p.prob_target ? static_cast<double>(R) : blocked_sum(R, [&](int64_t i) { return double(wt[i]); });
  *total_weight = W;
  T* out = loss.ptr<T>();
  if (p.reduction == Reduction::None) {
    parallel_for((R + kSumBlock - 1) / kSumBlock, [&](int64_t b) {
      const int64_t end = b * kSumBlock + kSumBlock < R ? b * kSumBlock + kSumBlock : R;
      for (int64_t i = b * kSumBlock; i < end; ++i)
        out[i] = eps > 0 ? static_cast<T>(cn * double(ta[i]) + cs * double(tb[i])) : ta[i];
    });
    return;
  }
  const double sa = blocked_sum(R, [&](int64_t i) { return double(ta[i]); });
  const double sb = eps > 0 ? blocked_sum(R, [&](int64_t i) { return double(tb[i]); }) : 0.0;
  double v = cn * sa + cs * sb;
  if (p.reduction == Reduction::Mean) v /= W;
  out[0] = static_cast<T>(v);
}

template <typename T>
void ce_backward_t(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                   const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                   const TensorView& lse, double total_weight, const CrossEntropyParams& p) {
  const int64_t R = p.rows();
  const double eps = p.label_smoothing;
  CeRowArgs args{p.C, p.S, p.ignore_index, eps, weight_sum(weight, p.C), 0, 0,
                 p.reduction == Reduction::None ? 1 : 0};
  if (p.prob_target) {
    args.cn = p.reduction == Reduction::Mean ? 1.0 / static_cast<double>(R) : 1.0;
  } else {
    args.cn = 1 - eps;
    args.cs = eps / static_cast<double>(p.C);
    if (p.reduction == Reduction::Mean) {
      args.cn /= total_weight;
      args.cs /= total_weight;
    }
  }
  const T* x = logits.ptr<T>();
  const T* q = p.prob_target ? target_prob.ptr<T>() : nullptr;
  const T* w = weight.defined() ? weight.ptr<T>() : nullptr;
  const T* g = grad_loss.ptr<T>();
  const T* L = lse.ptr<T>();
  T* dx = dlogits.ptr<T>();
  const LossSimdKernels* k = std::is_same<T, float>::value ? simd_kernels_f32() : nullptr;
  for_each_tile<T>(p.N, p.C, p.S, [&](int64_t n, int64_t s0, int64_t s1, T* scratch) {
    if constexpr (std::is_same<T, float>::value) {
      if (k) {
        k->ce_backward(args, dx, g, x, target, q, w, L, n, s0, s1, scratch);
        return;
      }
    }
    ce_backward_tile<T>(args, dx, g, x, target, q, w, L, n, s0, s1, scratch);
  });
}

template <typename T>
void nll_forward_t(const TensorView& loss, double* total_weight, const TensorView& input, const int64_t* target,
                   const TensorView& weight, const NLLLossParams& p) {
  const int64_t R = p.rows(), C = p.C, S = p.S;
  const T* x = input.ptr<T>();
  const T* w = weight.defined() ? weight.ptr<T>() : nullptr;
  auto term = [&](int64_t i, T& wi) -> T {
    const int64_t t = target[i];
    if (t == p.ignore_index) { wi = 0; return T(0); }
    wi = w ? w[t] : T(1);
    return -wi * x[(i / S) * C * S + t * S + i % S];
  };
  *total_weight = blocked_sum(R, [&](int64_t i) { T wi; term(i, wi); return double(wi); });
  T* out = loss.ptr<T>();
  if (p.reduction == Reduction::None) {
    parallel_for((R + kSumBlock - 1) / kSumBlock, [&](int64_t b) {
      const int64_t end = b * kSumBlock + kSumBlock < R ? b * kSumBlock + kSumBlock : R;
      T wi;
      for (int64_t i = b * kSumBlock; i < end; ++i) out[i] = term(i, wi);
    });
    return;
  }
  const double s = blocked_sum(R, [&](int64_t i) { T wi; return double(term(i, wi)); });
  out[0] = static_cast<T>(p.reduction == Reduction::Mean ? s / *total_weight : s);
}

template <typename T>
void nll_backward_t(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                    const TensorView& weight, double total_weight, const NLLLossParams& p) {
  const int64_t C = p.C, S = p.S;
  const T* w = weight.defined() ? weight.ptr<T>() : nullptr;
  const T* g = grad_loss.ptr<T>();
  const int64_t gstride = p.reduction == Reduction::None ? 1 : 0;
  const T scale = p.reduction == Reduction::Mean ? static_cast<T>(1.0 / total_weight) : T(1);
  T* dx = dinput.ptr<T>();
  parallel_for(p.N, [&](int64_t n) {
    T* d = dx + n * C * S;
    for (int64_t j = 0; j < C * S; ++j) d[j] = 0;
    for (int64_t s = 0; s < S; ++s) {
      const int64_t i = n * S + s, t = target[i];
      if (t != p.ignore_index) d[t * S + s] = -g[i * gstride] * scale * (w ? w[t] : T(1));
    }
  });
}

}  // namespace

void cross_entropy_forward(const TensorView& loss, const TensorView& lse, double* total_weight,
                           const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                           const TensorView& weight, const CrossEntropyParams& p) {
  FL_DISPATCH_FLOATING(logits.dtype,
      ce_forward_t<scalar_t>(loss, lse, total_weight, logits, target, target_prob, weight, p));
}

void cross_entropy_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                            const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                            const TensorView& lse, double total_weight, const CrossEntropyParams& p) {
  FL_DISPATCH_FLOATING(logits.dtype,
      ce_backward_t<scalar_t>(dlogits, grad_loss, logits, target, target_prob, weight, lse, total_weight, p));
}

void nll_loss_forward(const TensorView& loss, double* total_weight, const TensorView& input, const int64_t* target,
                      const TensorView& weight, const NLLLossParams& p) {
  FL_DISPATCH_FLOATING(input.dtype, nll_forward_t<scalar_t>(loss, total_weight, input, target, weight, p));
}

void nll_loss_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                       const TensorView& weight, double total_weight, const NLLLossParams& p) {
  FL_DISPATCH_FLOATING(dinput.dtype, nll_backward_t<scalar_t>(dinput, grad_loss, target, weight, total_weight, p));
}

}  // namespace fl::cpu
