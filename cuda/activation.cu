// The activation family on the GPU: element-wise activations, softmax / log_softmax, prelu, maxout.
// Gradients are written (=). Math in the element type (float math for float32, as torch's CUDA kernels; float
// for float16/bfloat16 storage);
// gradient conventions at the kinks are those of the CPU reference (csrc/cpu/ref/activation_ref.cpp).
// Reductions (softmax rows, prelu's weight gradient) are block trees in a fixed order: deterministic.
#include "cuda/common.cuh"

namespace fl::cuda {
namespace {

// The scalar parameters of ActivationParams as the element type, passed by value to the kernels.
template <typename T>
struct ActArgs {
  ActKind kind;
  T alpha, scale, input_scale, beta, threshold, min_val, max_val;
  explicit ActArgs(const ActivationParams& p)
      : kind(p.kind), alpha(T(p.alpha)), scale(T(p.scale)), input_scale(T(p.input_scale)), beta(T(p.beta)),
        threshold(T(p.threshold)), min_val(T(p.min_val)), max_val(T(p.max_val)) {}
};

template <typename T> __device__ T sigmoid_(T x) { return T(1) / (T(1) + exp(-x)); }

template <typename T>
__device__ T act(T x, const ActArgs<T>& p) {
  const T sqrt1_2 = T(0.70710678118654752440), sqrt2_pi = T(0.79788456080286535588), c = T(0.044715);
  switch (p.kind) {
    case ActKind::ReLU: return x <= T(0) ? T(0) : x;  // NaN stays NaN (torch)
    case ActKind::LeakyReLU: return x > T(0) ? x : x * p.alpha;
    case ActKind::ELU: return x > T(0) ? p.scale * x : p.scale * p.alpha * expm1(x * p.input_scale);
    case ActKind::GELU: return T(0.5) * x * (T(1) + erf(x * sqrt1_2));
    case ActKind::GELUTanh: return T(0.5) * x * (T(1) + tanh(sqrt2_pi * (x + c * x * x * x)));
    case ActKind::SiLU: return x * sigmoid_(x);
    case ActKind::Mish: return x * tanh(log1p(exp(x)));
    case ActKind::Softplus: return x * p.beta > p.threshold ? x : log1p(exp(x * p.beta)) / p.beta;
    case ActKind::Sigmoid: return sigmoid_(x);
    case ActKind::Tanh: return tanh(x);
    case ActKind::Hardtanh: return x < p.min_val ? p.min_val : (x > p.max_val ? p.max_val : x);
    case ActKind::Hardsigmoid: return x <= T(-3) ? T(0) : (x >= T(3) ? T(1) : x / T(6) + T(0.5));
    case ActKind::Hardswish: return x <= T(-3) ? x * T(0) : (x >= T(3) ? x : x * (x + T(3)) / T(6));  // -inf -> NaN
  }
  return T(0);
}

template <typename T>
__device__ T dact_input(T x, const ActArgs<T>& p) {
  const T sqrt1_2 = T(0.70710678118654752440), inv_sqrt_2pi = T(0.39894228040143267794);
  const T sqrt2_pi = T(0.79788456080286535588), c = T(0.044715);
  switch (p.kind) {
    case ActKind::ReLU: return x <= T(0) ? T(0) : T(1);  // 1 at NaN (torch)
    case ActKind::LeakyReLU: return x > T(0) ? T(1) : p.alpha;
    case ActKind::ELU: return x > T(0) ? p.scale : p.scale * p.alpha * p.input_scale * exp(x * p.input_scale);
    case ActKind::GELU: return T(0.5) * (T(1) + erf(x * sqrt1_2)) + x * inv_sqrt_2pi * exp(T(-0.5) * x * x);
    case ActKind::GELUTanh: {
      // where s saturates at a finite x, s (1 - s) == 0 and x (1 + 3c x^2) may be inf: the term is 0, not NaN
      // (at x = +-inf torch gives NaN, and so does this)
      const T s = sigmoid_(T(2) * sqrt2_pi * (x + c * x * x * x));
      const T w = s * (T(1) - s);
      return s + (w == T(0) && x - x == T(0) ? T(0) : T(2) * x * w * sqrt2_pi * (T(1) + T(3) * c * x * x));
    }
    case ActKind::SiLU: { const T s = sigmoid_(x); return s * (T(1) + x * (T(1) - s)); }
    case ActKind::Mish: { const T t = tanh(log1p(exp(x))); return t + x * sigmoid_(x) * (T(1) - t * t); }
    case ActKind::Softplus: return x * p.beta > p.threshold ? T(1) : sigmoid_(x * p.beta);
    case ActKind::Sigmoid: { const T s = sigmoid_(x); return s * (T(1) - s); }
    case ActKind::Tanh: { const T t = tanh(x); return T(1) - t * t; }
    case ActKind::Hardtanh: return (x > p.min_val && x < p.max_val) ? T(1) : T(0);  // 0 at NaN (torch)
    case ActKind::Hardsigmoid: return (x > T(-3) && x < T(3)) ? T(1.0f / 6.0f) : T(0);
    case ActKind::Hardswish: return x <= T(-3) ? T(0) : (x >= T(3) ? T(1) : x / T(3) + T(0.5));  // NaN at NaN
  }
  return T(0);
}

template <typename T>
__device__ T dact_output(T y, const ActArgs<T>& p) {
  switch (p.kind) {
    case ActKind::ReLU: return y <= T(0) ? T(0) : T(1);
    case ActKind::LeakyReLU: return y > T(0) ? T(1) : p.alpha;
    case ActKind::ELU: return y > T(0) ? p.scale : p.input_scale * (y + p.scale * p.alpha);
    case ActKind::Sigmoid: return y * (T(1) - y);
    case ActKind::Tanh: return T(1) - y * y;
    case ActKind::Hardtanh: return (y > p.min_val && y < p.max_val) ? T(1) : T(0);
    default: return T(0);
  }
}

// T: the stored type; A: the math type (float for the half types).
template <typename T, typename A = typename Accum<T>::type>
__global__ void act_forward_kernel(T* y, const T* x, int64_t n, ActArgs<A> p) {
  FL_GRID_LOOP(i, n) y[i] = T(act(A(x[i]), p));
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void act_backward_kernel(T* dx, const T* dy, const T* saved, bool from_output, int64_t n, ActArgs<A> p) {
  FL_GRID_LOOP(i, n) {
    const A s = A(saved[i]);
    dx[i] = T(A(dy[i]) * (from_output ? dact_output(s, p) : dact_input(s, p)));
  }
}

// Softmax over `dim` of an (outer, dim, inner) layout. inner == 1: one block per row, block reductions;
// otherwise one thread per (outer, inner) column walking dim (consecutive threads read consecutive inner).
template <typename T, typename A = typename Accum<T>::type>
__global__ void softmax_rows_kernel(T* y, const T* x, int64_t rows, int64_t dim, bool log_) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * dim;
    T* yr = y + r * dim;
    A m = -INFINITY;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) m = fmax(m, A(xr[d]));
    m = block_max(m);
    A sum = 0;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) sum += exp(A(xr[d]) - m);
    sum = block_sum(sum);
    const A lse = log(sum);
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x)
      yr[d] = T(log_ ? A(xr[d]) - m - lse : exp(A(xr[d]) - m) / sum);
  }
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void softmax_cols_kernel(T* y, const T* x, int64_t outer, int64_t dim, int64_t inner, bool log_) {
  FL_GRID_LOOP(col, outer * inner) {
    const int64_t o = col / inner, i = col % inner;
    const T* xc = x + o * dim * inner + i;
    T* yc = y + o * dim * inner + i;
    A m = -INFINITY;
    for (int64_t d = 0; d < dim; ++d) m = fmax(m, A(xc[d * inner]));
    A sum = 0;
    for (int64_t d = 0; d < dim; ++d) sum += exp(A(xc[d * inner]) - m);
    const A lse = log(sum);
    for (int64_t d = 0; d < dim; ++d) {
      const A v = A(xc[d * inner]);
      yc[d * inner] = T(log_ ? v - m - lse : exp(v - m) / sum);
    }
  }
}

// dx = y * (dy - sum(dy * y)) for softmax; dx = dy - exp(y) * sum(dy) for log_softmax.
template <typename T, typename A = typename Accum<T>::type>
__global__ void softmax_backward_rows_kernel(T* dx, const T* dy, const T* y, int64_t rows, int64_t dim, bool log_) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T *g = dy + r * dim, *yr = y + r * dim;
    A dot = 0;
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) dot += log_ ? A(g[d]) : A(g[d]) * A(yr[d]);
    dot = block_sum(dot);
    for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
      const A gd = A(g[d]), yd = A(yr[d]);
      dx[r * dim + d] = T(log_ ? gd - exp(yd) * dot : yd * (gd - dot));
    }
  }
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void softmax_backward_cols_kernel(T* dx, const T* dy, const T* y, int64_t outer, int64_t dim, int64_t inner,
                                             bool log_) {
  FL_GRID_LOOP(col, outer * inner) {
    const int64_t base = (col / inner) * dim * inner + col % inner;
    A dot = 0;
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t k = base + d * inner;
      dot += log_ ? A(dy[k]) : A(dy[k]) * A(y[k]);
    }
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t k = base + d * inner;
      const A gd = A(dy[k]), yd = A(y[k]);
      dx[k] = T(log_ ? gd - exp(yd) * dot : yd * (gd - dot));
    }
  }
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void prelu_forward_kernel(T* y, const T* x, const T* w, int64_t n, int64_t C, int64_t inner) {
  FL_GRID_LOOP(i, n) y[i] = A(x[i]) > A(0) ? x[i] : T(A(w[(i / inner) % C]) * A(x[i]));
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void prelu_backward_data_kernel(T* dx, const T* dy, const T* x, const T* w, int64_t n, int64_t C,
                                           int64_t inner) {
  FL_GRID_LOOP(i, n) dx[i] = A(x[i]) > A(0) ? dy[i] : T(A(w[(i / inner) % C]) * A(dy[i]));
}

// dw[c] = sum over n, i of x * dy where x <= 0: one block per channel.
template <typename T, typename A = typename Accum<T>::type>
__global__ void prelu_backward_weight_kernel(T* dw, const T* dy, const T* x, int64_t N, int64_t C, int64_t inner) {
  const int64_t c = blockIdx.x;
  A acc = 0;
  for (int64_t j = threadIdx.x; j < N * inner; j += blockDim.x) {
    const int64_t k = ((j / inner) * C + c) * inner + j % inner;
    if (A(x[k]) <= A(0)) acc += A(x[k]) * A(dy[k]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) dw[c] = T(acc);
}

// The winner of maxout group (o, j, i): the first maximum, NaN winning (as torch's max).
template <typename T, typename A = typename Accum<T>::type>
__device__ int64_t maxout_winner(const T* x, int64_t o, int64_t j, int64_t i, const MaxoutParams& p) {
  int64_t win = 0;
  A best = A(x[(o * p.C + j * p.pieces) * p.inner + i]);
  for (int64_t k = 1; k < p.pieces; ++k) {
    const A v = A(x[(o * p.C + j * p.pieces + k) * p.inner + i]);
    if (v > best || (isnan(v) && !isnan(best))) { best = v; win = k; }
  }
  return win;
}

template <typename T>
__global__ void maxout_forward_kernel(T* y, const T* x, MaxoutParams p) {
  const int64_t Cout = p.C / p.pieces;
  FL_GRID_LOOP(t, p.outer * Cout * p.inner) {
    const int64_t i = t % p.inner, j = (t / p.inner) % Cout, o = t / (p.inner * Cout);
    y[t] = x[(o * p.C + j * p.pieces + maxout_winner(x, o, j, i, p)) * p.inner + i];
  }
}

template <typename T>
__global__ void maxout_backward_kernel(T* dx, const T* dy, const T* x, MaxoutParams p) {
  const int64_t Cout = p.C / p.pieces;
  FL_GRID_LOOP(t, p.outer * Cout * p.inner) {
    const int64_t i = t % p.inner, j = (t / p.inner) % Cout, o = t / (p.inner * Cout);
    const int64_t win = maxout_winner(x, o, j, i, p);
    for (int64_t k = 0; k < p.pieces; ++k) dx[(o * p.C + j * p.pieces + k) * p.inner + i] = k == win ? dy[t] : T(0.0f);
  }
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>(rows < 65535 * 8 ? rows : 65535 * 8); }

}  // namespace

void activation_forward(const TensorView& y, const TensorView& x, const ActivationParams& p, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    act_forward_kernel<T><<<blocks_for(p.numel), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), p.numel, ActArgs<A>(p));
  });
  check_launch("activation_forward");
}

void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p, Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    act_backward_kernel<T><<<blocks_for(p.numel), kThreads, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(), saved.ptr<T>(),
                                                                         from_output, p.numel, ActArgs<A>(p));
  });
  check_launch("activation_backward");
}

void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (p.inner == 1)
      softmax_rows_kernel<T><<<row_blocks(p.outer), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), p.outer, p.dim, p.log);
    else
      softmax_cols_kernel<T><<<blocks_for(p.outer * p.inner), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), p.outer,
                                                                                     p.dim, p.inner, p.log);
  });
  check_launch("softmax_forward");
}

void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p,
                      Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (p.inner == 1)
      softmax_backward_rows_kernel<T><<<row_blocks(p.outer), kThreads, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(),
                                                                                    y.ptr<T>(), p.outer, p.dim, p.log);
    else
      softmax_backward_cols_kernel<T><<<blocks_for(p.outer * p.inner), kThreads, 0, stream>>>(
          dx.ptr<T>(), dy.ptr<T>(), y.ptr<T>(), p.outer, p.dim, p.inner, p.log);
  });
  check_launch("softmax_backward");
}

void prelu_forward(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p,
                   Stream stream) {
  DeviceGuard guard(x);
  const int64_t n = p.N * p.C * p.inner;
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    prelu_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), w.ptr<T>(), n, p.C, p.inner);
  });
  check_launch("prelu_forward");
}

void prelu_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                    const TensorView& w, const PReLUParams& p, Stream stream) {
  DeviceGuard guard(dy);
  const int64_t n = p.N * p.C * p.inner;
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (dx.defined() && n > 0)
      prelu_backward_data_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(),
                                                                            w.ptr<T>(), n, p.C, p.inner);
    if (dw.defined())
      prelu_backward_weight_kernel<T><<<static_cast<unsigned>(p.C), kThreads, 0, stream>>>(
          dw.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), p.N, p.C, p.inner);
  });
  check_launch("prelu_backward");
}

void maxout_forward(const TensorView& y, const TensorView& x, const MaxoutParams& p, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    maxout_forward_kernel<T><<<blocks_for(p.outer * p.Cout() * p.inner), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), p);
  });
  check_launch("maxout_forward");
}

void maxout_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p,
                     Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    maxout_backward_kernel<T><<<blocks_for(p.outer * p.Cout() * p.inner), kThreads, 0, stream>>>(
        dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), p);
  });
  check_launch("maxout_backward");
}

}  // namespace fl::cuda
