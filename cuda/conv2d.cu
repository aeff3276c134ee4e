// 2-D convolution on the GPU. Gradients are written (=), never accumulated.
// Implementations: a direct depthwise kernel set (groups == C == K) and, for everything else, the implicit
// GEMM of gemm.cuh with the convolution's index math in its loaders (no im2col buffer):
//   forward          C[k][n,p,q]   = sum over (c,r,s) of w[k][c,r,s] * x[n][c, p*sh-ph+r*dh, q*sw-pw+s*dw]
//   backward_data    C[c][n,h,w]   = sum over (k,r,s) of w[k][c,r,s] * dy[n][k, (h+ph-r*dh)/sh, ...] (exact division only)
//   backward_weight  C[k][c,r,s]   = sum over (n,p,q) of dy[n][k,p,q] * x[n][c, p*sh-ph+r*dh, ...]
// The bias gradient is a two-level fixed-order reduction per output channel (cuda/reduce.cuh). conv2d and
// the transposed convolution also take float16 / bfloat16, through the tensor-core GEMM of gemm.cuh (float
// accumulation).
// The transposed convolution runs the same loaders with roles swapped (its forward is backward_data, its
// backward_data the forward, its weight gradient backward_weight with x and dy exchanged); when
// output_padding >= stride its adjoint convolution's output is larger than x, and the loaders read the rows
// and columns beyond x (Pv x Qv) as zeros and skip storing them, instead of a zero-extended copy.
#include "cuda/gemm.cuh"
#include "cuda/reduce.cuh"

namespace fl::cuda {
namespace {

// Sizes as plain integers for the kernels (Conv2dParams' methods are host/device too, but the loaders use
// these in their inner loops).
// Loaders are __host__ __device__ so their index math can be checked on the host against the CPU reference.
// Pv x Qv: the stored extent of the convolution's output (y / dy), P x Q unless a transposed convolution
// crops it.
struct ConvDims {
  int64_t N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw, dh, dw, Cg, Kg, Pv, Qv;
  explicit ConvDims(const Conv2dParams& p)
      : N(p.N), C(p.C), H(p.H), W(p.W), K(p.K), R(p.R), S(p.S), P(p.P()), Q(p.Q()), sh(p.stride_h),
        sw(p.stride_w), ph(p.pad_h), pw(p.pad_w), dh(p.dil_h), dw(p.dil_w), Cg(p.Cg()), Kg(p.Kg()), Pv(P), Qv(Q) {}
  // Index of output element (nb, k, oh, ow) in the stored Pv x Qv planes, or -1 where it is cropped.
  __host__ __device__ int64_t out_at(int64_t nb, int64_t k, int64_t oh, int64_t ow) const {
    return (oh < Pv && ow < Qv) ? ((nb * K + k) * Pv + oh) * Qv + ow : -1;
  }
  // Index of the input element that filter tap `tap` (c, r, s) of group g reads for output pixel `pix`
  // (nb, oh, ow), or -1 where it falls in the padding: the implicit im2col.
  __host__ __device__ int64_t in_at(int64_t g, int64_t tap, int64_t pix) const {
    const int64_t RS = R * S, c = tap / RS, r = (tap % RS) / S, s = tap % S;
    const int64_t nb = pix / (P * Q), oh = (pix % (P * Q)) / Q, ow = pix % Q;
    const int64_t h = oh * sh - ph + r * dh, wc = ow * sw - pw + s * dw;
    if (h < 0 || h >= H || wc < 0 || wc >= W) return -1;
    return ((nb * C + g * Cg + c) * H + h) * W + wc;
  }
};

template <typename T>
struct ForwardLoader {
  ConvDims d;
  const T *x, *w, *bias;  // bias may be null
  T* y;
  __host__ __device__ T a(int64_t g, int64_t m, int64_t k) const { return w[(g * d.Kg + m) * d.Cg * d.R * d.S + k]; }
  __host__ __device__ T b(int64_t g, int64_t k, int64_t n) const {
    const int64_t i = d.in_at(g, k, n);
    return i >= 0 ? x[i] : T(0.0f);
  }
  template <typename A>
  __host__ __device__ void store(int64_t g, int64_t m, int64_t n, A acc) const {
    const int64_t PQ = d.P * d.Q, k = g * d.Kg + m;
    const int64_t o = d.out_at(n / PQ, k, (n % PQ) / d.Q, n % d.Q);
    if (o >= 0) y[o] = static_cast<T>(acc + (bias ? A(bias[k]) : A(0)));
  }
};

template <typename T>
struct BackwardDataLoader {
  ConvDims d;
  const T *dy, *w;
  T* dx;
  const T* bias;  // per input channel; only the transposed convolution's forward has one
  __host__ __device__ T a(int64_t g, int64_t c, int64_t k) const {
    const int64_t RS = d.R * d.S, kk = k / RS, rs = k % RS;
    return w[((g * d.Kg + kk) * d.Cg + c) * RS + rs];
  }
  __host__ __device__ T b(int64_t g, int64_t k, int64_t n) const {
    const int64_t RS = d.R * d.S, kk = k / RS, r = (k % RS) / d.S, s = k % d.S;
    const int64_t HW = d.H * d.W, nb = n / HW, h = (n % HW) / d.W, wc = n % d.W;
    const int64_t th = h + d.ph - r * d.dh, tw = wc + d.pw - s * d.dw;
    if (th < 0 || tw < 0 || th % d.sh != 0 || tw % d.sw != 0) return T(0.0f);
    const int64_t oh = th / d.sh, ow = tw / d.sw;
    if (oh >= d.P || ow >= d.Q) return T(0.0f);
    const int64_t o = d.out_at(nb, g * d.Kg + kk, oh, ow);
    return o >= 0 ? dy[o] : T(0.0f);
  }
  template <typename A>
  __host__ __device__ void store(int64_t g, int64_t c, int64_t n, A acc) const {
    const int64_t HW = d.H * d.W, cc = g * d.Cg + c;
    dx[((n / HW) * d.C + cc) * HW + n % HW] = static_cast<T>(acc + (bias ? A(bias[cc]) : A(0)));
  }
};

template <typename T>
struct BackwardWeightLoader {
  ConvDims d;
  const T *dy, *x;
  T* dw;
  __host__ __device__ T a(int64_t g, int64_t m, int64_t k) const {
    const int64_t PQ = d.P * d.Q;
    const int64_t o = d.out_at(k / PQ, g * d.Kg + m, (k % PQ) / d.Q, k % d.Q);
    return o >= 0 ? dy[o] : T(0.0f);
  }
  __host__ __device__ T b(int64_t g, int64_t k, int64_t n) const {
    const int64_t i = d.in_at(g, n, k);
    return i >= 0 ? x[i] : T(0.0f);
  }
  template <typename A>
  __host__ __device__ void store(int64_t g, int64_t m, int64_t n, A acc) const {
    dw[(g * d.Kg + m) * d.Cg * d.R * d.S + n] = static_cast<T>(acc);
  }
};

// db[k] = sum over n, p, q of dy[n,k,p,q]: a two-level reduction per channel (cuda/reduce.cuh).
template <typename T, typename A = typename Accum<T>::type>
struct BiasGradTerm {
  const T* dy;
  int64_t K, PQ;
  __device__ Sum2<A> operator()(int64_t k, int64_t j) const {
    return {A(dy[((j / PQ) * K + k) * PQ + j % PQ]), A(0)};
  }
};

template <typename T>
void bias_grad(T* db, const T* dy, int64_t N, int64_t K, int64_t PQ, Stream stream) {
  using A = typename Accum<T>::type;
  segment_sums<T, A>(db, K, N * PQ, BiasGradTerm<T>{dy, K, PQ}, stream);
}

// ---- depthwise: groups == C == K, one filter per channel ----
bool depthwise(const Conv2dParams& p) { return p.groups == p.C && p.K == p.C; }

template <typename T>
__global__ void dw_forward_kernel(T* y, const T* x, const T* w, const T* b, ConvDims d) {
  using A = typename Accum<T>::type;
  const int64_t total = d.N * d.C * d.P * d.Q;
  FL_GRID_LOOP(i, total) {
    const int64_t ow = i % d.Q, oh = (i / d.Q) % d.P, nc = i / (d.P * d.Q), c = nc % d.C;
    const T* xp = x + nc * d.H * d.W;
    const T* wp = w + c * d.R * d.S;
    A acc = b ? A(b[c]) : A(0);
    for (int64_t r = 0; r < d.R; ++r) {
      const int64_t h = oh * d.sh - d.ph + r * d.dh;
      if (h < 0 || h >= d.H) continue;
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t wc = ow * d.sw - d.pw + s * d.dw;
        if (wc >= 0 && wc < d.W) acc += A(wp[r * d.S + s]) * A(xp[h * d.W + wc]);
      }
    }
    y[i] = static_cast<T>(acc);
  }
}

template <typename T>
__global__ void dw_backward_data_kernel(T* dx, const T* dy, const T* w, ConvDims d) {
  using A = typename Accum<T>::type;
  const int64_t total = d.N * d.C * d.H * d.W;
  FL_GRID_LOOP(i, total) {
    const int64_t wc = i % d.W, h = (i / d.W) % d.H, nc = i / (d.H * d.W), c = nc % d.C;
    const T* dyp = dy + nc * d.P * d.Q;
    const T* wp = w + c * d.R * d.S;
    A acc = 0;
    for (int64_t r = 0; r < d.R; ++r) {
      const int64_t th = h + d.ph - r * d.dh;
      if (th < 0 || th % d.sh != 0 || th / d.sh >= d.P) continue;
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t tw = wc + d.pw - s * d.dw;
        if (tw < 0 || tw % d.sw != 0 || tw / d.sw >= d.Q) continue;
        acc += A(wp[r * d.S + s]) * A(dyp[(th / d.sh) * d.Q + tw / d.sw]);
      }
    }
    dx[i] = static_cast<T>(acc);
  }
}

// One block per filter tap (c, r, s), summing over n, p, q in a fixed order.
template <typename T>
__global__ void dw_backward_weight_kernel(T* dw, const T* dy, const T* x, ConvDims d) {
  using A = typename Accum<T>::type;
  const int64_t tap = blockIdx.x, c = tap / (d.R * d.S), r = (tap / d.S) % d.R, s = tap % d.S;
  const int64_t PQ = d.P * d.Q;
  A acc = 0;
  for (int64_t i = threadIdx.x; i < d.N * PQ; i += blockDim.x) {
    const int64_t n = i / PQ, oh = (i % PQ) / d.Q, ow = i % d.Q;
    const int64_t h = oh * d.sh - d.ph + r * d.dh, wc = ow * d.sw - d.pw + s * d.dw;
    if (h >= 0 && h < d.H && wc >= 0 && wc < d.W)
      acc += A(dy[(n * d.C + c) * PQ + oh * d.Q + ow]) * A(x[((n * d.C + c) * d.H + h) * d.W + wc]);
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) dw[tap] = static_cast<T>(acc);
}

}  // namespace

const char* conv2d_impl_name(const Conv2dParams& p) { return depthwise(p) ? "depthwise" : "implicit_gemm"; }

void conv2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                    const Conv2dParams& p, Stream stream) {
  DeviceGuard guard(x);
  const ConvDims d(p);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* bias = b.defined() ? b.ptr<T>() : nullptr;
    if (depthwise(p)) {
      const int64_t total = d.N * d.C * d.P * d.Q;
      dw_forward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), w.ptr<T>(), bias, d);
      check_launch("conv2d_forward (depthwise)");
      return;
    }
    ForwardLoader<T> ld{d, x.ptr<T>(), w.ptr<T>(), bias, y.ptr<T>()};
    launch_loader_gemm<T>(p.groups, d.Kg, d.N * d.P * d.Q, d.Cg * d.R * d.S, ld, stream, "conv2d_forward");
  });
}

void conv2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const Conv2dParams& p,
                          Stream stream) {
  DeviceGuard guard(dy);
  const ConvDims d(p);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (depthwise(p)) {
      const int64_t total = d.N * d.C * d.H * d.W;
      dw_backward_data_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(), w.ptr<T>(), d);
      check_launch("conv2d_backward_data (depthwise)");
      return;
    }
    BackwardDataLoader<T> ld{d, dy.ptr<T>(), w.ptr<T>(), dx.ptr<T>(), nullptr};
    launch_loader_gemm<T>(p.groups, d.Cg, d.N * d.H * d.W, d.Kg * d.R * d.S, ld, stream, "conv2d_backward_data");
  });
}

void conv2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            const Conv2dParams& p, Stream stream) {
  DeviceGuard guard(dy);
  const ConvDims d(p);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (dw.defined()) {
      if (depthwise(p)) {
        dw_backward_weight_kernel<T><<<static_cast<unsigned>(d.C * d.R * d.S), kThreads, 0, stream>>>(
            dw.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), d);
        check_launch("conv2d_backward_weight (depthwise)");
      } else {
        BackwardWeightLoader<T> ld{d, dy.ptr<T>(), x.ptr<T>(), dw.ptr<T>()};
        launch_loader_gemm<T>(p.groups, d.Kg, d.Cg * d.R * d.S, d.N * d.P * d.Q, ld, stream,
                              "conv2d_backward_weight");
      }
    }
    if (db.defined()) {
      bias_grad<T>(db.ptr<T>(), dy.ptr<T>(), d.N, d.K, d.P * d.Q, stream);
      check_launch("conv2d_backward_weight (bias)");
    }
  });
}

// ---- transposed convolution ----
// The adjoint convolution's sizes, with x's H x W as the stored extent of that convolution's output.
namespace {
ConvDims transposed_dims(const ConvTranspose2dParams& p) {
  ConvDims d(p.as_conv());
  d.Pv = p.H;
  d.Qv = p.W;
  return d;
}
}  // namespace

void conv_transpose2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                              const ConvTranspose2dParams& p, Stream stream) {
  DeviceGuard guard(x);
  const ConvDims d = transposed_dims(p);  // y is that convolution's input: d.C = K channels of P x Q
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    BackwardDataLoader<T> ld{d, x.ptr<T>(), w.ptr<T>(), y.ptr<T>(), b.defined() ? b.ptr<T>() : nullptr};
    launch_loader_gemm<T>(p.groups, d.Cg, d.N * d.H * d.W, d.Kg * d.R * d.S, ld, stream, "conv_transpose2d_forward");
  });
}

void conv_transpose2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                    const ConvTranspose2dParams& p, Stream stream) {
  DeviceGuard guard(dy);
  const ConvDims d = transposed_dims(p);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    ForwardLoader<T> ld{d, dy.ptr<T>(), w.ptr<T>(), nullptr, dx.ptr<T>()};
    launch_loader_gemm<T>(p.groups, d.Kg, d.N * d.P * d.Q, d.Cg * d.R * d.S, ld, stream,
                          "conv_transpose2d_backward_data");
  });
}

void conv_transpose2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                      const TensorView& x, const ConvTranspose2dParams& p, Stream stream) {
  DeviceGuard guard(dy);
  const ConvDims d = transposed_dims(p);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (dw.defined()) {
      BackwardWeightLoader<T> ld{d, x.ptr<T>(), dy.ptr<T>(), dw.ptr<T>()};
      launch_loader_gemm<T>(p.groups, d.Kg, d.Cg * d.R * d.S, d.N * d.P * d.Q, ld, stream,
                            "conv_transpose2d_backward_weight");
    }
    if (db.defined()) {
      bias_grad<T>(db.ptr<T>(), dy.ptr<T>(), p.N, p.K, p.P() * p.Q(), stream);
      check_launch("conv_transpose2d_backward_weight (bias)");
    }
  });
}

}  // namespace fl::cuda
