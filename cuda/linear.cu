// Linear layer on the GPU, torch's layout: y[M,N] = x[M,K] w[N,K]^T + b[N]. Gradients are written (=).
// Three passes of the tiled GEMM in gemm.cuh, each element summed by one thread in a fixed order, and the
// bias gradient a two-level fixed-order reduction per output feature: deterministic. The launchers take
// plain sizes so the linear front door (LinearParams{M, K, N}) can call them as
// cuda::linear_*(..., p.M, p.K, p.N, stream). float16 / bfloat16 take the tensor-core GEMM (float accumulation).
#include "cuda/gemm.cuh"
#include "cuda/reduce.cuh"

namespace fl::cuda {
namespace {

struct LinearDims { int64_t M, K, N; };

// The GEMM's rows go on the grid's y axis (at most 65535 tiles), so the passes whose outputs have one row
// per sample compute the transpose: the row count M, which can be large, indexes the GEMM's columns.
// C = y^T (N x M), reduction over K.
template <typename T>
struct LinearForwardLoader {
  LinearDims d;
  const T *x, *w, *bias;
  T* y;
  __host__ __device__ T a(int64_t, int64_t n, int64_t k) const { return w[n * d.K + k]; }
  __host__ __device__ T b(int64_t, int64_t k, int64_t m) const { return x[m * d.K + k]; }
  template <typename A>
  __host__ __device__ void store(int64_t, int64_t n, int64_t m, A acc) const {
    y[m * d.N + n] = static_cast<T>(acc + (bias ? A(bias[n]) : A(0)));
  }
};

// C = dx^T (K x M), reduction over N.
template <typename T>
struct LinearBackwardDataLoader {
  LinearDims d;
  const T *dy, *w;
  T* dx;
  __host__ __device__ T a(int64_t, int64_t k, int64_t j) const { return w[j * d.K + k]; }
  __host__ __device__ T b(int64_t, int64_t j, int64_t m) const { return dy[m * d.N + j]; }
  template <typename A>
  __host__ __device__ void store(int64_t, int64_t k, int64_t m, A acc) const { dx[m * d.K + k] = static_cast<T>(acc); }
};

// C = dw (N x K), reduction over M.
template <typename T>
struct LinearBackwardWeightLoader {
  LinearDims d;
  const T *dy, *x;
  T* dw;
  __host__ __device__ T a(int64_t, int64_t n, int64_t m) const { return dy[m * d.N + n]; }
  __host__ __device__ T b(int64_t, int64_t m, int64_t k) const { return x[m * d.K + k]; }
  template <typename A>
  __host__ __device__ void store(int64_t, int64_t n, int64_t k, A acc) const { dw[n * d.K + k] = static_cast<T>(acc); }
};

// db[n] = sum over m of dy[m, n]: a two-level reduction per feature (cuda/reduce.cuh).
template <typename T, typename A = typename Accum<T>::type>
struct ColumnTerm {
  const T* dy;
  int64_t N;
  __device__ Sum2<A> operator()(int64_t n, int64_t m) const { return {A(dy[m * N + n]), A(0)}; }
};

}  // namespace

void linear_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b, int64_t M,
                    int64_t K, int64_t N, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    LinearForwardLoader<T> ld{{M, K, N}, x.ptr<T>(), w.ptr<T>(), b.defined() ? b.ptr<T>() : nullptr, y.ptr<T>()};
    launch_loader_gemm<T>(1, N, M, K, ld, stream, "linear_forward");
  });
}

void linear_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, int64_t M, int64_t K,
                          int64_t N, Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    LinearBackwardDataLoader<T> ld{{M, K, N}, dy.ptr<T>(), w.ptr<T>(), dx.ptr<T>()};
    launch_loader_gemm<T>(1, K, M, N, ld, stream, "linear_backward_data");
  });
}

void linear_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            int64_t M, int64_t K, int64_t N, Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (dw.defined()) {
      LinearBackwardWeightLoader<T> ld{{M, K, N}, dy.ptr<T>(), x.ptr<T>(), dw.ptr<T>()};
      launch_loader_gemm<T>(1, N, K, M, ld, stream, "linear_backward_weight");
    }
    if (db.defined() && N > 0) {
      segment_sums<T, typename Accum<T>::type>(db.ptr<T>(), N, M, ColumnTerm<T>{dy.ptr<T>(), N}, stream);
      check_launch("linear_backward_weight (bias)");
    }
  });
}

}  // namespace fl::cuda
