// Normalization on the GPU: batch norm (training with running statistics, evaluation), group norm (layer
// and instance norm map onto it), local response norm. Gradients are written (=).
// Statistics and weight gradients are reduced by one block per channel or per (sample, group), with the
// fixed-order tree of block_sum: no floating-point atomics, results independent of scheduling. Two passes
// (mean, then squared deviations) as the CPU reference does.
#include "cuda/common.cuh"

namespace fl::cuda {
namespace {

template <typename T> __device__ T gamma_at(const T* g, int64_t c) { return g ? g[c] : T(1); }

// One block per channel c: mean, rstd, the running statistics, then y.
template <typename T>
__global__ void bn_train_forward_kernel(T* y, T* mean, T* rstd, const T* x, const T* g, const T* b, T* rm, T* rv,
                                        int64_t N, int64_t C, int64_t S, double eps, double momentum) {
  const int64_t c = blockIdx.x, M = N * S;
  auto at = [&](int64_t j) { return ((j / S) * C + c) * S + j % S; };
  T sum = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) sum += x[at(j)];
  const T m = block_sum(sum) / T(M);
  T sq = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const T d = x[at(j)] - m;
    sq += d * d;
  }
  sq = block_sum(sq);
  const T r = T(1) / sqrt(sq / T(M) + T(eps));
  if (threadIdx.x == 0) {
    mean[c] = m;
    rstd[c] = r;
    if (rm) rm[c] = T((1 - momentum) * double(rm[c]) + momentum * double(m));
    if (rv) rv[c] = T((1 - momentum) * double(rv[c]) + momentum * double(M > 1 ? sq / T(M - 1) : sq));
  }
  const T scale = r * gamma_at(g, c), shift = b ? b[c] : T(0);
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) y[at(j)] = (x[at(j)] - m) * scale + shift;
}

template <typename T>
__global__ void bn_eval_stats_kernel(T* mean, T* rstd, const T* rm, const T* rv, int64_t C, double eps) {
  FL_GRID_LOOP(c, C) {
    mean[c] = rm[c];
    rstd[c] = T(1.0 / sqrt(double(rv[c]) + eps));
  }
}

template <typename T>
__global__ void bn_eval_forward_kernel(T* y, const T* x, const T* mean, const T* rstd, const T* g, const T* b,
                                       int64_t C, int64_t S, int64_t n) {
  FL_GRID_LOOP(i, n) {
    const int64_t c = (i / S) % C;
    y[i] = (x[i] - mean[c]) * rstd[c] * gamma_at(g, c) + (b ? b[c] : T(0));
  }
}

// One block per channel: sums of dy and dy * xhat (-> dbeta, dgamma), then dx.
template <typename T>
__global__ void bn_backward_kernel(T* dx, T* dg, T* db, const T* dy, const T* x, const T* mean, const T* rstd,
                                   const T* g, int64_t N, int64_t C, int64_t S, bool batch_stats) {
  const int64_t c = blockIdx.x, M = N * S;
  auto at = [&](int64_t j) { return ((j / S) * C + c) * S + j % S; };
  const T m = mean[c], r = rstd[c];
  T sdy = 0, sdyx = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const int64_t i = at(j);
    sdy += dy[i];
    sdyx += dy[i] * (x[i] - m) * r;
  }
  sdy = block_sum(sdy);
  sdyx = block_sum(sdyx);
  if (threadIdx.x == 0) {
    if (dg) dg[c] = sdyx;
    if (db) db[c] = sdy;
  }
  if (!dx) return;
  const T scale = gamma_at(g, c) * r;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const int64_t i = at(j);
    const T xhat = (x[i] - m) * r;
    dx[i] = batch_stats ? scale * (dy[i] - sdy / T(M) - xhat * sdyx / T(M)) : scale * dy[i];
  }
}

// One block per (n, group); a group's Cg * S values are contiguous.
template <typename T>
__global__ void gn_forward_kernel(T* y, T* mean, T* rstd, const T* x, const T* g, const T* b, int64_t G, int64_t Cg,
                                  int64_t S, double eps) {
  const int64_t ng = blockIdx.x, M = Cg * S, base = ng * M;
  T sum = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) sum += x[base + j];
  const T m = block_sum(sum) / T(M);
  T sq = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const T d = x[base + j] - m;
    sq += d * d;
  }
  const T r = T(1) / sqrt(block_sum(sq) / T(M) + T(eps));
  if (threadIdx.x == 0) {
    mean[ng] = m;
    rstd[ng] = r;
  }
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const int64_t c = (ng % G) * Cg + j / S;
    y[base + j] = (x[base + j] - m) * r * gamma_at(g, c) + (b ? b[c] : T(0));
  }
}

// dgamma, dbeta: one block per channel, over n and s.
template <typename T>
__global__ void gn_backward_weight_kernel(T* dg, T* db, const T* dy, const T* x, const T* mean, const T* rstd,
                                          int64_t N, int64_t C, int64_t S, int64_t G) {
  const int64_t c = blockIdx.x, Cg = C / G;
  T sdy = 0, sdyx = 0;
  for (int64_t j = threadIdx.x; j < N * S; j += blockDim.x) {
    const int64_t n = j / S, i = (n * C + c) * S + j % S, ng = n * G + c / Cg;
    sdy += dy[i];
    sdyx += dy[i] * (x[i] - mean[ng]) * rstd[ng];
  }
  sdy = block_sum(sdy);
  sdyx = block_sum(sdyx);
  if (threadIdx.x == 0) {
    if (dg) dg[c] = sdyx;
    if (db) db[c] = sdy;
  }
}

// dx: one block per (n, group).
template <typename T>
__global__ void gn_backward_data_kernel(T* dx, const T* dy, const T* x, const T* mean, const T* rstd, const T* g,
                                        int64_t G, int64_t Cg, int64_t S) {
  const int64_t ng = blockIdx.x, M = Cg * S, base = ng * M;
  const T m = mean[ng], r = rstd[ng];
  T a = 0, bs = 0;
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const T dyg = dy[base + j] * gamma_at(g, (ng % G) * Cg + j / S);
    a += dyg;
    bs += dyg * (x[base + j] - m) * r;
  }
  a = block_sum(a);
  bs = block_sum(bs);
  for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
    const T dyg = dy[base + j] * gamma_at(g, (ng % G) * Cg + j / S);
    const T xhat = (x[base + j] - m) * r;
    dx[base + j] = r * (dyg - a / T(M) - xhat * bs / T(M));
  }
}

template <typename T>
__global__ void lrn_forward_kernel(T* y, T* sc, const T* x, LRNParams p) {
  FL_GRID_LOOP(i, p.N * p.C * p.S) {
    const int64_t s = i % p.S, c = (i / p.S) % p.C, n = i / (p.S * p.C);
    T sq = 0;
    for (int64_t j = c - p.size / 2; j <= c + (p.size - 1) / 2; ++j)
      if (j >= 0 && j < p.C) {
        const T v = x[(n * p.C + j) * p.S + s];
        sq += v * v;
      }
    const T scale = T(p.k) + T(p.alpha) * sq / T(p.size);
    sc[i] = scale;
    y[i] = x[i] * pow(scale, T(-p.beta));
  }
}

template <typename T>
__global__ void lrn_backward_kernel(T* dx, const T* dy, const T* x, const T* sc, LRNParams p) {
  FL_GRID_LOOP(i, p.N * p.C * p.S) {
    const int64_t s = i % p.S, c = (i / p.S) % p.C, n = i / (p.S * p.C);
    T acc = 0;
    for (int64_t j = c - (p.size - 1) / 2; j <= c + p.size / 2; ++j)
      if (j >= 0 && j < p.C) {
        const int64_t q = (n * p.C + j) * p.S + s;
        acc += dy[q] * x[q] * pow(sc[q], T(-p.beta - 1));
      }
    dx[i] = dy[i] * pow(sc[i], T(-p.beta)) - T(2 * p.alpha * p.beta / double(p.size)) * x[i] * acc;
  }
}

template <typename T> const T* cptr(const TensorView& v) { return v.defined() ? v.ptr<T>() : nullptr; }
template <typename T> T* mptr(const TensorView& v) { return v.defined() ? v.ptr<T>() : nullptr; }

}  // namespace

void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    bn_train_forward_kernel<T><<<static_cast<unsigned>(p.C), kThreads, 0, stream>>>(
        y.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), x.ptr<T>(), cptr<T>(gamma), cptr<T>(beta), mptr<T>(running_mean),
        mptr<T>(running_var), p.N, p.C, p.S, p.eps, p.momentum);
  });
  check_launch("batch_norm_forward");
}

void batch_norm_forward_eval(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                             const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                             const TensorView& running_var, const BatchNormParams& p, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    bn_eval_stats_kernel<T><<<blocks_for(p.C), kThreads, 0, stream>>>(mean.ptr<T>(), rstd.ptr<T>(),
                                                                       running_mean.ptr<T>(), running_var.ptr<T>(),
                                                                       p.C, p.eps);
    const int64_t n = p.N * p.C * p.S;
    if (n > 0)
      bn_eval_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), mean.ptr<T>(),
                                                                        rstd.ptr<T>(), cptr<T>(gamma), cptr<T>(beta),
                                                                        p.C, p.S, n);
  });
  check_launch("batch_norm_forward_eval");
}

void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta, const TensorView& dy,
                         const TensorView& x, const TensorView& mean, const TensorView& rstd, const TensorView& gamma,
                         bool batch_stats, const BatchNormParams& p, Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    bn_backward_kernel<T><<<static_cast<unsigned>(p.C), kThreads, 0, stream>>>(
        mptr<T>(dx), mptr<T>(dgamma), mptr<T>(dbeta), dy.ptr<T>(), x.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(),
        cptr<T>(gamma), p.N, p.C, p.S, batch_stats);
  });
  check_launch("batch_norm_backward");
}

void group_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const GroupNormParams& p, Stream stream) {
  DeviceGuard guard(x);
  if (p.N * p.G == 0) return;
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    gn_forward_kernel<T><<<static_cast<unsigned>(p.N * p.G), kThreads, 0, stream>>>(
        y.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), x.ptr<T>(), cptr<T>(gamma), cptr<T>(beta), p.G, p.Cg(), p.S, p.eps);
  });
  check_launch("group_norm_forward");
}

void group_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta, const TensorView& dy,
                         const TensorView& x, const TensorView& mean, const TensorView& rstd, const TensorView& gamma,
                         const GroupNormParams& p, Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (dgamma.defined() || dbeta.defined())
      gn_backward_weight_kernel<T><<<static_cast<unsigned>(p.C), kThreads, 0, stream>>>(
          mptr<T>(dgamma), mptr<T>(dbeta), dy.ptr<T>(), x.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), p.N, p.C, p.S, p.G);
    if (dx.defined() && p.N > 0)
      gn_backward_data_kernel<T><<<static_cast<unsigned>(p.N * p.G), kThreads, 0, stream>>>(
          dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), cptr<T>(gamma), p.G, p.Cg(), p.S);
  });
  check_launch("group_norm_backward");
}

void lrn_forward(const TensorView& y, const TensorView& scale, const TensorView& x, const LRNParams& p,
                 Stream stream) {
  DeviceGuard guard(x);
  const int64_t n = p.N * p.C * p.S;
  if (n == 0) return;
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    lrn_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(y.ptr<T>(), scale.ptr<T>(), x.ptr<T>(), p);
  });
  check_launch("local_response_norm_forward");
}

void lrn_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const TensorView& scale,
                  const LRNParams& p, Stream stream) {
  DeviceGuard guard(dy);
  const int64_t n = p.N * p.C * p.S;
  if (n == 0) return;
  dispatch_float(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    lrn_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(),
                                                                   scale.ptr<T>(), p);
  });
  check_launch("local_response_norm_backward");
}

}  // namespace fl::cuda
