// Fused cross-entropy on the GPU (log-softmax + negative log-likelihood), torch's definitions, logits laid
// out N x C x S (row i = (n, s), class c at (n*C + c)*S + s):
//   index targets: loss_i = (1 - eps) w[t_i] (lse_i - x_ic) + eps / C * sum_c w[c] (lse_i - x_ic), 0 where
//                  t_i == ignore_index; weight_i = w[t_i] (0 when ignored)
//   prob targets:  loss_i = sum_c ((1 - eps) q_ic + eps / C) w[c] (lse_i - x_ic); weight_i = 1
// 'mean' divides the sum by sum_i weight_i, 'sum' does not, 'none' keeps the rows. Backward:
//   dlogits_ic = g_i (A_i softmax_ic - a_ic), a_ic the coefficient of (lse_i - x_ic) above, A_i = sum_c a_ic.
// One thread per row (the row math below is __host__ __device__, so tests/cpp checks it on the host); the
// reduction over rows is one block summing in a fixed order: deterministic, no atomics. nll_loss (the same
// without the log-softmax) shares the row reduction. CrossEntropyParams / NLLLossParams map onto
// CrossEntropyArgs in the loss front door.
#include "cuda/common.cuh"
#include "cuda/half_stage.cuh"

namespace fl::cuda {
namespace {

template <typename T>
struct CeRow {
  const T *x, *tp, *w;  // logits, probability targets (or null), class weights (or null)
  const int64_t* target;  // index targets (or null)
  CrossEntropyArgs a;

  __host__ __device__ int64_t at(int64_t i, int64_t c) const { return ((i / a.S) * a.C + c) * a.S + i % a.S; }
  __host__ __device__ T wc(int64_t c) const { return w ? w[c] : T(1); }

  __host__ __device__ T lse(int64_t i) const {
    T m = -INFINITY;
    for (int64_t c = 0; c < a.C; ++c) {
      const T v = x[at(i, c)];
      if (v > m || v != v) m = v;  // NaN propagates, as torch's max
    }
    T se = 0;
    for (int64_t c = 0; c < a.C; ++c) se += exp(x[at(i, c)] - m);
    return m + log(se);
  }

  // Coefficient a_ic of (lse_i - x_ic) in the row's loss, and the row's weight (0 for an ignored row).
  __host__ __device__ T coef(int64_t i, int64_t c, int64_t t) const {
    const T eps = T(a.label_smoothing), smooth = eps / T(a.C) * wc(c);
    if (a.prob_target) return ((T(1) - eps) * tp[at(i, c)] + eps / T(a.C)) * wc(c);
    return (c == t ? (T(1) - eps) * wc(c) : T(0)) + smooth;
  }
  __host__ __device__ bool ignored(int64_t t) const { return !a.prob_target && t == a.ignore_index; }

  // Writes lse, loss and weight of row i; returns false on a target outside [0, C).
  __host__ __device__ bool forward(int64_t i, T& lse_i, T& loss, T& weight) const {
    const int64_t t = a.prob_target ? -1 : target[i];
    lse_i = lse(i);
    loss = weight = T(0);
    if (ignored(t)) return true;
    if (!a.prob_target && (t < 0 || t >= a.C)) return false;
    for (int64_t c = 0; c < a.C; ++c) {
      const T k = coef(i, c, t);
      if (k != T(0)) loss += k * (lse_i - x[at(i, c)]);
    }
    weight = a.prob_target ? T(1) : wc(t);
    return true;
  }

  // dlogits of row i for the row's gradient scale g.
  __host__ __device__ void backward(int64_t i, T lse_i, T g, T* dx) const {
    const int64_t t = a.prob_target ? -1 : target[i];
    if (ignored(t)) {
      for (int64_t c = 0; c < a.C; ++c) dx[at(i, c)] = T(0);
      return;
    }
    T A = 0;
    for (int64_t c = 0; c < a.C; ++c) A += coef(i, c, t);
    for (int64_t c = 0; c < a.C; ++c) dx[at(i, c)] = g * (A * exp(x[at(i, c)] - lse_i) - coef(i, c, t));
  }
};

__device__ unsigned long long g_bad_target;

template <typename T>
__global__ void ce_rows_kernel(T* row_loss, T* row_weight, T* lse, CeRow<T> r) {
  FL_GRID_LOOP(i, r.a.N * r.a.S) {
    T l, loss, weight;
    if (!r.forward(i, l, loss, weight)) atomicCAS(&g_bad_target, ~0ULL, static_cast<unsigned long long>(r.target[i]));
    lse[i] = l;
    row_loss[i] = loss;
    row_weight[i] = weight;
  }
}

// One block: loss_out (when not null) = sum (or mean) of row_loss; *total = sum of row_weight.
template <typename T>
__global__ void ce_reduce_kernel(T* loss_out, T* total, const T* row_loss, const T* row_weight, int64_t rows,
                                 bool mean) {
  T l = 0, w = 0;
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) {
    l += row_loss[i];
    w += row_weight[i];
  }
  l = block_sum(l);
  w = block_sum(w);
  if (threadIdx.x == 0) {
    if (loss_out) *loss_out = mean ? l / w : l;
    *total = w;
  }
}

template <typename T>
__global__ void ce_backward_kernel(T* dx, const T* grad_loss, const T* lse, T total_weight, CeRow<T> r) {
  FL_GRID_LOOP(i, r.a.N * r.a.S) {
    const T g = r.a.reduction == 0 ? grad_loss[i] : r.a.reduction == 1 ? grad_loss[0] / total_weight : grad_loss[0];
    r.backward(i, lse[i], g, dx);
  }
}

template <typename T>
CeRow<T> row_of(const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                const TensorView& weight, const CrossEntropyArgs& a) {
  return CeRow<T>{logits.ptr<T>(), target_prob.defined() ? target_prob.ptr<T>() : nullptr,
                  weight.defined() ? weight.ptr<T>() : nullptr, target, a};
}

// One block: the reduction of the row losses into loss (unless 'none') and of the row weights into the
// total, which is copied back (the caller synchronizes before reading it).
template <typename T>
double reduce_rows(const TensorView& loss, T* ws, const T* row_loss, int64_t rows, int reduction, Stream stream,
                   const char* op) {
  ce_reduce_kernel<T><<<1, kThreads, 0, stream>>>(reduction == 0 ? nullptr : loss.ptr<T>(), ws + 2 * rows, row_loss,
                                                  ws + rows, rows, reduction == 1);
  check_launch(op);
  T host_tw = 0;
  check(cudaMemcpyAsync(&host_tw, ws + 2 * rows, sizeof(T), cudaMemcpyDeviceToHost, stream), op);
  check(cudaStreamSynchronize(stream), op);
  return static_cast<double>(host_tw);
}

void reset_bad_target(Stream stream, const char* op) {
  const unsigned long long none = ~0ULL;
  check(cudaMemcpyToSymbolAsync(g_bad_target, &none, sizeof(none), 0, cudaMemcpyHostToDevice, stream), op);
}

// The first bad class index the kernels met since reset_bad_target, or -1 (waits for the stream).
int64_t read_bad_target(Stream stream, const char* op) {
  unsigned long long bad = ~0ULL;
  check(cudaMemcpyFromSymbolAsync(&bad, g_bad_target, sizeof(bad), 0, cudaMemcpyDeviceToHost, stream), op);
  check(cudaStreamSynchronize(stream), op);
  return bad == ~0ULL ? -1 : static_cast<int64_t>(bad);
}

// nll_loss of log-probabilities laid out like the logits: row i's loss -w[t_i] x[i, t_i], weight w[t_i]
// (both 0 for an ignored row or a bad target, which is reported).
template <typename T>
__global__ void nll_rows_kernel(T* row_loss, T* row_weight, const T* x, const T* w, const int64_t* target,
                                CrossEntropyArgs a) {
  FL_GRID_LOOP(i, a.N * a.S) {
    const int64_t t = target[i];
    row_loss[i] = row_weight[i] = T(0);
    if (t == a.ignore_index) continue;
    if (t < 0 || t >= a.C) {
      atomicCAS(&g_bad_target, ~0ULL, static_cast<unsigned long long>(t));
      continue;
    }
    const T wt = w ? w[t] : T(1);
    row_loss[i] = -wt * x[((i / a.S) * a.C + t) * a.S + i % a.S];
    row_weight[i] = wt;
  }
}

// dinput[i, c] = -g_i w[t_i] (over total_weight for 'mean') at c == t_i, else 0: one thread per element.
template <typename T>
__global__ void nll_backward_kernel(T* dx, const T* grad_loss, const T* w, const int64_t* target, T total_weight,
                                    CrossEntropyArgs a) {
  FL_GRID_LOOP(j, a.N * a.C * a.S) {
    const int64_t s = j % a.S, c = (j / a.S) % a.C, n = j / (a.S * a.C), i = n * a.S + s, t = target[i];
    if (c != t || t == a.ignore_index) {
      dx[j] = T(0);
      continue;
    }
    const T g = a.reduction == 0 ? grad_loss[i] : a.reduction == 1 ? grad_loss[0] / total_weight : grad_loss[0];
    dx[j] = -g * (w ? w[t] : T(1));
  }
}

// lse of each row from the logits (the half backward recomputes it in float32 rather than reading the
// rounded one the forward stored).
__global__ void ce_lse_kernel(float* lse, CeRow<float> r) {
  FL_GRID_LOOP(i, r.a.N * r.a.S) lse[i] = r.lse(i);
}

}  // namespace

// ---- float16 / bfloat16: the float32 kernels over float32 staging copies (cuda/half_stage.cuh) ----
namespace {

int64_t nll_loss_forward_half(const TensorView& loss, double* total_weight, const TensorView& input,
                              const int64_t* target, const TensorView& weight, const CrossEntropyArgs& a,
                              Stream stream) {
  const FloatStage xf(input, stream, true), wf(weight, stream, true), lf(loss, stream, false);
  const FloatBuffer ws(2 * a.N * a.S + 1, input, stream);  // the float path's row losses, row weights, total
  const int64_t bad = nll_loss_forward(lf.view(), total_weight, ws.view(), xf.view(), target, wf.view(), a, stream);
  lf.store();
  return bad;
}

void nll_loss_backward_half(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                            const TensorView& weight, double total_weight, const CrossEntropyArgs& a, Stream stream) {
  const FloatStage gf(grad_loss, stream, true), wf(weight, stream, true), df(dinput, stream, false);
  nll_loss_backward(df.view(), gf.view(), target, wf.view(), total_weight, a, stream);
  df.store();
}

int64_t cross_entropy_forward_half(const TensorView& loss, const TensorView& lse, double* total_weight,
                                   const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                                   const TensorView& weight, const CrossEntropyArgs& a, Stream stream) {
  const FloatStage xf(logits, stream, true), tf(target_prob, stream, true), wf(weight, stream, true);
  const FloatStage lf(loss, stream, false), sf(lse, stream, false);
  const FloatBuffer ws(2 * a.N * a.S + 1, logits, stream);
  const int64_t bad = cross_entropy_forward(lf.view(), sf.view(), total_weight, ws.view(), xf.view(), target,
                                            tf.view(), wf.view(), a, stream);
  lf.store();
  sf.store();
  return bad;
}

void cross_entropy_backward_half(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                                 const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                                 const TensorView& lse, double total_weight, const CrossEntropyArgs& a,
                                 Stream stream) {
  const FloatStage xf(logits, stream, true), tf(target_prob, stream, true), wf(weight, stream, true);
  const FloatStage gf(grad_loss, stream, true), df(dlogits, stream, false), sf(lse, stream, false);
  const int64_t rows = a.N * a.S;
  ce_lse_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(sf.ptr(),
                                                           row_of<float>(xf.view(), target, tf.view(), wf.view(), a));
  check_launch("cross_entropy_backward");
  cross_entropy_backward(df.view(), gf.view(), xf.view(), target, tf.view(), wf.view(), sf.view(), total_weight, a,
                         stream);
  df.store();
}

}  // namespace

int64_t nll_loss_forward(const TensorView& loss, double* total_weight, const TensorView& workspace,
                         const TensorView& input, const int64_t* target, const TensorView& weight,
                         const CrossEntropyArgs& a, Stream stream) {
  DeviceGuard guard(input);
  if (is_half(input.dtype)) return nll_loss_forward_half(loss, total_weight, input, target, weight, a, stream);
  const int64_t rows = a.N * a.S;
  reset_bad_target(stream, "nll_loss_forward");
  double tw = 0;
  dispatch_float(input.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* ws = workspace.ptr<T>();
    T* row_loss = a.reduction == 0 ? loss.ptr<T>() : ws;
    if (rows > 0)
      nll_rows_kernel<T><<<blocks_for(rows), kThreads, 0, stream>>>(
          row_loss, ws + rows, input.ptr<T>(), weight.defined() ? weight.ptr<T>() : nullptr, target, a);
    tw = reduce_rows<T>(loss, ws, row_loss, rows, a.reduction, stream, "nll_loss_forward");
  });
  const int64_t bad = read_bad_target(stream, "nll_loss_forward");
  if (total_weight) *total_weight = tw;
  return bad;
}

void nll_loss_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                       const TensorView& weight, double total_weight, const CrossEntropyArgs& a, Stream stream) {
  DeviceGuard guard(dinput);
  const int64_t n = a.N * a.C * a.S;
  if (n == 0) return;
  if (is_half(dinput.dtype)) return nll_loss_backward_half(dinput, grad_loss, target, weight, total_weight, a, stream);
  dispatch_float(dinput.dtype, [&](auto tag) {
    using T = decltype(tag);
    nll_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(
        dinput.ptr<T>(), grad_loss.ptr<T>(), weight.defined() ? weight.ptr<T>() : nullptr, target,
        static_cast<T>(total_weight), a);
  });
  check_launch("nll_loss_backward");
}

int64_t cross_entropy_forward(const TensorView& loss, const TensorView& lse, double* total_weight,
                              const TensorView& workspace, const TensorView& logits, const int64_t* target,
                              const TensorView& target_prob, const TensorView& weight, const CrossEntropyArgs& a,
                              Stream stream) {
  DeviceGuard guard(logits);
  if (is_half(logits.dtype))
    return cross_entropy_forward_half(loss, lse, total_weight, logits, target, target_prob, weight, a, stream);
  const int64_t rows = a.N * a.S;
  reset_bad_target(stream, "cross_entropy_forward");
  double tw = 0;
  dispatch_float(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    T* ws = workspace.ptr<T>();  // row losses (unless 'none' writes them to loss), row weights, the total
    T* row_loss = a.reduction == 0 ? loss.ptr<T>() : ws;
    if (rows > 0)
      ce_rows_kernel<T><<<blocks_for(rows, 128), 128, 0, stream>>>(row_loss, ws + rows, lse.ptr<T>(),
                                                                   row_of<T>(logits, target, target_prob, weight, a));
    tw = reduce_rows<T>(loss, ws, row_loss, rows, a.reduction, stream, "cross_entropy_forward");
  });
  const int64_t bad = read_bad_target(stream, "cross_entropy_forward");
  if (total_weight) *total_weight = tw;
  return bad;
}

void cross_entropy_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                            const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                            const TensorView& lse, double total_weight, const CrossEntropyArgs& a, Stream stream) {
  DeviceGuard guard(logits);
  const int64_t rows = a.N * a.S;
  if (rows == 0) return;
  if (is_half(logits.dtype))
    return cross_entropy_backward_half(dlogits, grad_loss, logits, target, target_prob, weight, lse, total_weight, a,
                                       stream);
  dispatch_float(logits.dtype, [&](auto tag) {
    using T = decltype(tag);
    ce_backward_kernel<T><<<blocks_for(rows, 128), 128, 0, stream>>>(
        dlogits.ptr<T>(), grad_loss.ptr<T>(), lse.ptr<T>(), static_cast<T>(total_weight),
        row_of<T>(logits, target, target_prob, weight, a));
  });
  check_launch("cross_entropy_backward");
}

}  // namespace fl::cuda
