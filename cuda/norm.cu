// Normalization on the GPU: batch norm (training with running statistics, evaluation), group norm (layer
// and instance norm map onto it), local response norm. Gradients are written (=). Every op here also takes
// float16/bfloat16 storage, computing in float32. Group norm keeps every operand in the input's dtype (as
// torch's CUDA group/layer norm); batch norm saves mean/rstd in float32 for a half input and takes its
// weight, bias and running statistics either in the input's dtype or in float32 (torch's mixed precision:
// autocast and cuDNN keep them float32), its weight/bias gradients in the weight's dtype.
// Statistics and weight gradients are two-level reductions (chunk partials, then an in-order combination;
// see below): no floating-point atomics, results independent of scheduling. Within a chunk two passes (mean,
// then squared deviations) as the CPU reference does; chunks combine by Chan's pairwise update.
#include <initializer_list>
#include <type_traits>

#include "cuda/reduce.cuh"

namespace fl::cuda {
namespace {

template <typename T, typename A = typename Accum<T>::type>
__device__ A gamma_at(const T* g, int64_t c) { return g ? A(g[c]) : A(1); }
template <typename T, typename A = typename Accum<T>::type>
__device__ A beta_at(const T* b, int64_t c) { return b ? A(b[c]) : A(0); }

// Count, mean and sum of squared deviations of one chunk (two passes over the chunk, as the reference); the
// chunks of a segment combine by Chan's pairwise update (the two-level reduction of cuda/reduce.cuh).
template <typename A> struct Moments { A n, mean, m2; };

// load(r, j): element j of segment r, already in the accumulation type.
template <typename A, typename Load>
__global__ void moments_partial_kernel(Moments<A>* part, int64_t M, int64_t len, Load load) {
  const int64_t r = blockIdx.x, lo = blockIdx.y * len, hi = lo + len < M ? lo + len : M;
  A s = 0;
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) s += load(r, j);
  const A cnt = A(hi > lo ? hi - lo : 0), total = block_sum(s);
  const A m = cnt > A(0) ? total / cnt : A(0);
  A q = 0;
  for (int64_t j = lo + threadIdx.x; j < hi; j += blockDim.x) {
    const A d = load(r, j) - m;
    q += d * d;
  }
  q = block_sum(q);
  if (threadIdx.x == 0) part[r * gridDim.y + blockIdx.y] = Moments<A>{cnt, m, q};
}

// Chan's pairwise update, partials taken in order.
template <typename A>
__device__ Moments<A> combine(const Moments<A>* part, int64_t count) {
  Moments<A> t = part[0];
  for (int64_t b = 1; b < count; ++b) {
    const Moments<A> p = part[b];
    if (p.n == A(0)) continue;
    const A n = t.n + p.n, d = p.mean - t.mean;
    t.mean += d * (p.n / n);
    t.m2 += p.m2 + d * d * (t.n * p.n / n);
    t.n = n;
  }
  return t;
}

// Element j of channel c over (n, s): the batch-norm segment layout.
struct ChannelIndex {
  int64_t C, S;
  __device__ int64_t operator()(int64_t c, int64_t j) const { return ((j / S) * C + c) * S + j % S; }
};

template <typename T, typename A>
struct LoadX {
  const T* x;
  ChannelIndex at;  // C = 1, S = M gives a contiguous segment r * M + j
  __device__ A operator()(int64_t r, int64_t j) const { return A(x[at(r, j)]); }
};

// Batch norm, per channel: mean, rstd (in the accumulation type A) and the running statistics (P, the
// per-channel operands' type) from the combined partials.
template <typename P, typename A>
__global__ void bn_stats_kernel(A* mean, A* rstd, P* rm, P* rv, const Moments<A>* part, int64_t C, int64_t count,
                                double eps, double momentum) {
  FL_GRID_LOOP(c, C) {
    const Moments<A> m = combine(part + c * count, count);
    mean[c] = m.mean;
    rstd[c] = A(1) / sqrt(m.m2 / m.n + A(eps));
    if (rm) rm[c] = P((1 - momentum) * double(A(rm[c])) + momentum * double(m.mean));
    if (rv) rv[c] = P((1 - momentum) * double(A(rv[c])) + momentum * double(m.n > A(1) ? m.m2 / (m.n - A(1)) : m.m2));
  }
}

template <typename P, typename A>
__global__ void bn_eval_stats_kernel(A* mean, A* rstd, const P* rm, const P* rv, int64_t C, double eps) {
  FL_GRID_LOOP(c, C) {
    mean[c] = A(rm[c]);
    rstd[c] = A(1.0 / sqrt(double(A(rv[c])) + eps));
  }
}

template <typename T, typename P, typename A = typename Accum<T>::type>
__global__ void bn_eval_forward_kernel(T* y, const T* x, const A* mean, const A* rstd, const P* g, const P* b,
                                       int64_t C, int64_t S, int64_t n) {
  FL_GRID_LOOP(i, n) {
    const int64_t c = (i / S) % C;
    y[i] = T((A(x[i]) - A(mean[c])) * A(rstd[c]) * gamma_at(g, c) + beta_at(b, c));
  }
}

// Sums of dy and dy * xhat over a batch-norm channel (-> dbeta, dgamma).
template <typename T, typename A>
struct BnGradTerms {
  const T *dy, *x;
  const A *mean, *rstd;
  ChannelIndex at;
  __device__ Sum2<A> operator()(int64_t c, int64_t j) const {
    const int64_t i = at(c, j);
    const A d = A(dy[i]);
    return {d, d * (A(x[i]) - A(mean[c])) * A(rstd[c])};
  }
};

template <typename P, typename A>
__global__ void bn_grad_weight_kernel(P* dg, P* db, Sum2<A>* sums, const Sum2<A>* part, int64_t C, int64_t count) {
  FL_GRID_LOOP(c, C) {
    const Sum2<A> t = combine(part + c * count, count);
    sums[c] = t;
    if (dg) dg[c] = P(t.b);
    if (db) db[c] = P(t.a);
  }
}

template <typename T, typename P, typename A>
__global__ void bn_backward_data_kernel(T* dx, const T* dy, const T* x, const A* mean, const A* rstd, const P* g,
                                        const Sum2<A>* sums, int64_t C, int64_t S, int64_t M, int64_t n,
                                        bool batch_stats) {
  FL_GRID_LOOP(i, n) {
    const int64_t c = (i / S) % C;
    const A r = A(rstd[c]), scale = gamma_at(g, c) * r;
    if (!batch_stats) {
      dx[i] = T(scale * A(dy[i]));
      continue;
    }
    const A xhat = (A(x[i]) - A(mean[c])) * r;
    dx[i] = T(scale * (A(dy[i]) - sums[c].a / A(M) - xhat * sums[c].b / A(M)));
  }
}

// Group norm: a (sample, group) segment is Cg * S contiguous values.
template <typename T, typename A>
__global__ void gn_stats_kernel(T* mean, T* rstd, const Moments<A>* part, int64_t R, int64_t count, double eps) {
  FL_GRID_LOOP(r, R) {
    const Moments<A> m = combine(part + r * count, count);
    mean[r] = T(m.mean);
    rstd[r] = T(A(1) / sqrt(m.m2 / m.n + A(eps)));
  }
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void gn_forward_kernel(T* y, const T* x, const T* mean, const T* rstd, const T* g, const T* b, int64_t C,
                                  int64_t G, int64_t S, int64_t n) {
  FL_GRID_LOOP(i, n) {
    const int64_t c = (i / S) % C, ng = (i / (S * C)) * G + c / (C / G);
    y[i] = T((A(x[i]) - A(mean[ng])) * A(rstd[ng]) * gamma_at(g, c) + beta_at(b, c));
  }
}

// dgamma, dbeta per channel over (n, s).
template <typename T, typename A>
struct GnWeightTerms {
  const T *dy, *x, *mean, *rstd;
  int64_t C, S, G;
  __device__ Sum2<A> operator()(int64_t c, int64_t j) const {
    const int64_t n = j / S, i = (n * C + c) * S + j % S, ng = n * G + c / (C / G);
    const A d = A(dy[i]);
    return {d, d * (A(x[i]) - A(mean[ng])) * A(rstd[ng])};
  }
};

template <typename T, typename A>
__global__ void gn_grad_weight_kernel(T* dg, T* db, const Sum2<A>* part, int64_t C, int64_t count) {
  FL_GRID_LOOP(c, C) {
    const Sum2<A> t = combine(part + c * count, count);
    if (dg) dg[c] = T(t.b);
    if (db) db[c] = T(t.a);
  }
}

// Sums of dy * gamma and dy * gamma * xhat over a (sample, group) segment.
template <typename T, typename A>
struct GnDataTerms {
  const T *dy, *x, *mean, *rstd, *g;
  int64_t G, Cg, S;
  __device__ Sum2<A> operator()(int64_t r, int64_t j) const {
    const int64_t i = r * Cg * S + j;
    const A dyg = A(dy[i]) * gamma_at(g, (r % G) * Cg + j / S);
    return {dyg, dyg * (A(x[i]) - A(mean[r])) * A(rstd[r])};
  }
};

template <typename A>
__global__ void combine_sum2_kernel(Sum2<A>* out, const Sum2<A>* part, int64_t R, int64_t count) {
  FL_GRID_LOOP(r, R) out[r] = combine(part + r * count, count);
}

template <typename T, typename A>
__global__ void gn_backward_data_kernel(T* dx, const T* dy, const T* x, const T* mean, const T* rstd, const T* g,
                                        const Sum2<A>* sums, int64_t C, int64_t G, int64_t S, int64_t n) {
  const int64_t Cg = C / G, M = Cg * S;
  FL_GRID_LOOP(i, n) {
    const int64_t c = (i / S) % C, r = (i / (S * C)) * G + c / Cg;
    const A rs = A(rstd[r]), dyg = A(dy[i]) * gamma_at(g, c), xhat = (A(x[i]) - A(mean[r])) * rs;
    dx[i] = T(rs * (dyg - sums[r].a / A(M) - xhat * sums[r].b / A(M)));
  }
}

// A: the math type (float for the half types; their scale is stored rounded to the half type, as torch's
// half local_response_norm keeps its intermediate in the input's dtype).
template <typename T, typename A = typename Accum<T>::type>
__global__ void lrn_forward_kernel(T* y, T* sc, const T* x, LRNParams p) {
  FL_GRID_LOOP(i, p.N * p.C * p.S) {
    const int64_t s = i % p.S, c = (i / p.S) % p.C, n = i / (p.S * p.C);
    A sq = 0;
    for (int64_t j = c - p.size / 2; j <= c + (p.size - 1) / 2; ++j)
      if (j >= 0 && j < p.C) {
        const A v = A(x[(n * p.C + j) * p.S + s]);
        sq += v * v;
      }
    const A scale = A(p.k) + A(p.alpha) * sq / A(p.size);
    sc[i] = T(scale);
    y[i] = T(A(x[i]) * pow(scale, A(-p.beta)));
  }
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void lrn_backward_kernel(T* dx, const T* dy, const T* x, const T* sc, LRNParams p) {
  FL_GRID_LOOP(i, p.N * p.C * p.S) {
    const int64_t s = i % p.S, c = (i / p.S) % p.C, n = i / (p.S * p.C);
    A acc = 0;
    for (int64_t j = c - (p.size - 1) / 2; j <= c + p.size / 2; ++j)
      if (j >= 0 && j < p.C) {
        const int64_t q = (n * p.C + j) * p.S + s;
        acc += A(dy[q]) * A(x[q]) * pow(A(sc[q]), A(-p.beta - 1));
      }
    dx[i] = T(A(dy[i]) * pow(A(sc[i]), A(-p.beta)) - A(2 * p.alpha * p.beta / double(p.size)) * A(x[i]) * acc);
  }
}

template <typename T> const T* cptr(const TensorView& v) { return v.defined() ? v.ptr<T>() : nullptr; }
template <typename T> T* mptr(const TensorView& v) { return v.defined() ? v.ptr<T>() : nullptr; }

// The dtype of batch norm's per-channel operands: that of the first defined view, else `fallback`.
DType param_dtype(std::initializer_list<const TensorView*> views, DType fallback) {
  for (const TensorView* v : views)
    if (v->defined()) return v->dtype;
  return fallback;
}

// Calls f(P{}) with P the per-channel operand type: float for a half input with float32 parameters (mixed
// precision; the front door checked the combination), else the input's type T.
template <typename T, typename F>
void dispatch_param(DType pdtype, F&& f) {
  if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
    if (pdtype == DType::Float32) {
      f(float{});
      return;
    }
  }
  f(T{});
}

}  // namespace

void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p, Stream stream) {
  DeviceGuard guard(x);
  if (p.C == 0) return;
  const int64_t M = p.N * p.S, n = p.N * p.C * p.S;
  const Chunks ch = chunks_for(M);
  const DType pd = param_dtype({&gamma, &beta, &running_mean, &running_var}, x.dtype);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    dispatch_param<T>(pd, [&](auto ptag) {
      using P = decltype(ptag);
      Scratch part(sizeof(Moments<A>) * p.C * ch.count, stream);
      moments_partial_kernel<A><<<chunk_grid(p.C, ch), kThreads, 0, stream>>>(
          part.as<Moments<A>>(), M, ch.len, LoadX<T, A>{x.ptr<T>(), {p.C, p.S}});
      bn_stats_kernel<P, A><<<blocks_for(p.C), kThreads, 0, stream>>>(mean.ptr<A>(), rstd.ptr<A>(),
                                                                      mptr<P>(running_mean), mptr<P>(running_var),
                                                                      part.as<Moments<A>>(), p.C, ch.count, p.eps,
                                                                      p.momentum);
      if (n > 0)
        bn_eval_forward_kernel<T, P><<<blocks_for(n), kThreads, 0, stream>>>(
            y.ptr<T>(), x.ptr<T>(), mean.ptr<A>(), rstd.ptr<A>(), cptr<P>(gamma), cptr<P>(beta), p.C, p.S, n);
    });
  });
  check_launch("batch_norm_forward");
}

void batch_norm_forward_eval(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                             const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                             const TensorView& running_var, const BatchNormParams& p, Stream stream) {
  DeviceGuard guard(x);
  const DType pd = param_dtype({&gamma, &beta, &running_mean, &running_var}, x.dtype);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    dispatch_param<T>(pd, [&](auto ptag) {
      using P = decltype(ptag);
      bn_eval_stats_kernel<P, A><<<blocks_for(p.C), kThreads, 0, stream>>>(
          mean.ptr<A>(), rstd.ptr<A>(), running_mean.ptr<P>(), running_var.ptr<P>(), p.C, p.eps);
      const int64_t n = p.N * p.C * p.S;
      if (n > 0)
        bn_eval_forward_kernel<T, P><<<blocks_for(n), kThreads, 0, stream>>>(
            y.ptr<T>(), x.ptr<T>(), mean.ptr<A>(), rstd.ptr<A>(), cptr<P>(gamma), cptr<P>(beta), p.C, p.S, n);
    });
  });
  check_launch("batch_norm_forward_eval");
}

void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta, const TensorView& dy,
                         const TensorView& x, const TensorView& mean, const TensorView& rstd, const TensorView& gamma,
                         bool batch_stats, const BatchNormParams& p, Stream stream) {
  DeviceGuard guard(dy);
  if (p.C == 0) return;
  const int64_t M = p.N * p.S, n = p.N * p.C * p.S;
  const Chunks ch = chunks_for(M);
  const DType pd = param_dtype({&gamma, &dgamma, &dbeta}, dy.dtype);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    dispatch_param<T>(pd, [&](auto ptag) {
      using P = decltype(ptag);
      // Partials, then the C per-channel totals (read by the dx pass).
      Scratch part(sizeof(Sum2<A>) * p.C * (ch.count + 1), stream);
      Sum2<A>* sums = part.as<Sum2<A>>() + p.C * ch.count;
      sum2_partial_kernel<A><<<chunk_grid(p.C, ch), kThreads, 0, stream>>>(
          part.as<Sum2<A>>(), M, ch.len,
          BnGradTerms<T, A>{dy.ptr<T>(), x.ptr<T>(), mean.ptr<A>(), rstd.ptr<A>(), {p.C, p.S}});
      bn_grad_weight_kernel<P, A><<<blocks_for(p.C), kThreads, 0, stream>>>(mptr<P>(dgamma), mptr<P>(dbeta), sums,
                                                                            part.as<Sum2<A>>(), p.C, ch.count);
      if (dx.defined() && n > 0)
        bn_backward_data_kernel<T, P, A><<<blocks_for(n), kThreads, 0, stream>>>(
            dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), mean.ptr<A>(), rstd.ptr<A>(), cptr<P>(gamma), sums, p.C, p.S, M, n,
            batch_stats);
    });
  });
  check_launch("batch_norm_backward");
}

void group_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const GroupNormParams& p, Stream stream) {
  DeviceGuard guard(x);
  const int64_t R = p.N * p.G, M = p.Cg() * p.S, n = p.N * p.C * p.S;
  if (R == 0) return;
  const Chunks ch = chunks_for(M);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    Scratch part(sizeof(Moments<A>) * R * ch.count, stream);
    moments_partial_kernel<A><<<chunk_grid(R, ch), kThreads, 0, stream>>>(part.as<Moments<A>>(), M, ch.len,
                                                                          LoadX<T, A>{x.ptr<T>(), {1, M}});
    gn_stats_kernel<T, A><<<blocks_for(R), kThreads, 0, stream>>>(mean.ptr<T>(), rstd.ptr<T>(),
                                                                  part.as<Moments<A>>(), R, ch.count, p.eps);
    if (n > 0)
      gn_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), mean.ptr<T>(),
                                                                   rstd.ptr<T>(), cptr<T>(gamma), cptr<T>(beta), p.C,
                                                                   p.G, p.S, n);
  });
  check_launch("group_norm_forward");
}

void group_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta, const TensorView& dy,
                         const TensorView& x, const TensorView& mean, const TensorView& rstd, const TensorView& gamma,
                         const GroupNormParams& p, Stream stream) {
  DeviceGuard guard(dy);
  if (p.C == 0) return;
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    if (dgamma.defined() || dbeta.defined()) {
      const int64_t M = p.N * p.S;
      const Chunks ch = chunks_for(M);
      Scratch part(sizeof(Sum2<A>) * p.C * ch.count, stream);
      sum2_partial_kernel<A><<<chunk_grid(p.C, ch), kThreads, 0, stream>>>(
          part.as<Sum2<A>>(), M, ch.len,
          GnWeightTerms<T, A>{dy.ptr<T>(), x.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), p.C, p.S, p.G});
      gn_grad_weight_kernel<T, A><<<blocks_for(p.C), kThreads, 0, stream>>>(mptr<T>(dgamma), mptr<T>(dbeta),
                                                                            part.as<Sum2<A>>(), p.C, ch.count);
    }
    const int64_t R = p.N * p.G, M = p.Cg() * p.S, n = p.N * p.C * p.S;
    if (dx.defined() && R > 0) {
      const Chunks ch = chunks_for(M);
      Scratch part(sizeof(Sum2<A>) * R * (ch.count + 1), stream);
      Sum2<A>* sums = part.as<Sum2<A>>() + R * ch.count;
      sum2_partial_kernel<A><<<chunk_grid(R, ch), kThreads, 0, stream>>>(
          part.as<Sum2<A>>(), M, ch.len,
          GnDataTerms<T, A>{dy.ptr<T>(), x.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), cptr<T>(gamma), p.G, p.Cg(), p.S});
      combine_sum2_kernel<A><<<blocks_for(R), kThreads, 0, stream>>>(sums, part.as<Sum2<A>>(), R, ch.count);
      gn_backward_data_kernel<T, A><<<blocks_for(n), kThreads, 0, stream>>>(
          dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), mean.ptr<T>(), rstd.ptr<T>(), cptr<T>(gamma), sums, p.C, p.G, p.S, n);
    }
  });
  check_launch("group_norm_backward");
}

void lrn_forward(const TensorView& y, const TensorView& scale, const TensorView& x, const LRNParams& p,
                 Stream stream) {
  DeviceGuard guard(x);
  const int64_t n = p.N * p.C * p.S;
  if (n == 0) return;
  dispatch_float_half(x.dtype, [&](auto tag) {
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
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    lrn_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(),
                                                                   scale.ptr<T>(), p);
  });
  check_launch("local_response_norm_backward");
}

}  // namespace fl::cuda
