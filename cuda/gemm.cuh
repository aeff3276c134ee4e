// A tiled GEMM over operands that are read through a loader, so one kernel serves every convolution pass
// (implicit GEMM: the im2col matrix is never built), the transposed convolution and linear layers:
//   C[g][m][n] = sum_k A[g][m][k] * B[g][k][n]   for g < gridDim.z (the groups)
// The loader provides  T a(g, m, k), T b(g, k, n) (zero outside the problem) and store(g, m, n, Acc acc).
// Each C element is summed by one thread in a fixed k order: results are deterministic.
// Half-precision storage (float16 / bfloat16) takes the tensor cores instead: WMMA 16x16x16 fragments with
// float accumulators over the same loaders and the same 64 x 64 block tiles; each warp's accumulation order
// is fixed, so these results are deterministic too.
#pragma once
#include <mma.h>

#include <type_traits>

#include "cuda/common.cuh"

namespace fl::cuda {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16;
constexpr int kGemmThreads = 256;  // 16 x 16 threads, each 4 x 4 outputs

template <typename T, typename Loader>
__global__ void __launch_bounds__(kGemmThreads) loader_gemm_kernel(int64_t M, int64_t N, int64_t K, Loader ld) {
  using A = typename Accum<T>::type;
  __shared__ T As[kTileK][kTileM + 1];
  __shared__ T Bs[kTileK][kTileN + 1];
  const int64_t g = blockIdx.z;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTileM, n0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  A acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
    // A tile: consecutive threads walk k (rows of a row-major weight); B tile: they walk n (pixels).
    for (int l = tid; l < kTileM * kTileK; l += kGemmThreads) {
      const int mm = l / kTileK, kk = l % kTileK;
      const int64_t m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < K) ? ld.a(g, m, k) : T(0);
    }
    for (int l = tid; l < kTileN * kTileK; l += kGemmThreads) {
      const int kk = l / kTileN, nn = l % kTileN;
      const int64_t n = n0 + nn, k = k0 + kk;
      Bs[kk][nn] = (n < N && k < K) ? ld.b(g, k, n) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      A a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
      if (m < M && n < N) ld.store(g, m, n, acc[i][j]);
    }
}

template <typename T> struct IsHalf : std::false_type {};
template <> struct IsHalf<__half> : std::true_type {};
template <> struct IsHalf<__nv_bfloat16> : std::true_type {};

constexpr int kWmmaThreads = 128;  // 4 warps in 2 x 2, each a 32 x 32 quarter of the tile (2 x 2 fragments)
constexpr int kWmmaK = 32;

template <typename T, typename Loader>
__global__ void __launch_bounds__(kWmmaThreads) wmma_loader_gemm_kernel(int64_t M, int64_t N, int64_t K, Loader ld) {
  namespace wmma = nvcuda::wmma;
  // Leading dimensions padded against bank conflicts, kept multiples of 8 halves / 4 floats as WMMA wants;
  // every fragment pointer below stays 32-byte aligned.
  constexpr int kLdA = kWmmaK + 8, kLdB = kTileN + 8, kLdC = kTileN + 4;
  __shared__ __align__(32) T As[kTileM * kLdA];      // (m, k), row-major
  __shared__ __align__(32) T Bs[kWmmaK * kLdB];      // (k, n), row-major
  __shared__ __align__(32) float Cs[kTileM * kLdC];  // the accumulators, for the loader's store
  const int64_t g = blockIdx.z;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTileM, n0 = static_cast<int64_t>(blockIdx.x) * kTileN;
  const int tid = threadIdx.x, warp = tid / 32, wm = warp / 2, wn = warp % 2;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  for (int64_t k0 = 0; k0 < K; k0 += kWmmaK) {
    for (int l = tid; l < kTileM * kWmmaK; l += kWmmaThreads) {
      const int mm = l / kWmmaK, kk = l % kWmmaK;
      const int64_t m = m0 + mm, k = k0 + kk;
      As[mm * kLdA + kk] = (m < M && k < K) ? ld.a(g, m, k) : T(0.0f);
    }
    for (int l = tid; l < kWmmaK * kTileN; l += kWmmaThreads) {
      const int kk = l / kTileN, nn = l % kTileN;
      const int64_t n = n0 + nn, k = k0 + kk;
      Bs[kk * kLdB + nn] = (n < N && k < K) ? ld.b(g, k, n) : T(0.0f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kWmmaK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], As + (wm * 32 + i * 16) * kLdA + kk, kLdA);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], Bs + kk * kLdB + wn * 32 + j * 16, kLdB);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wm * 32 + i * 16) * kLdC + wn * 32 + j * 16, acc[i][j], kLdC,
                              wmma::mem_row_major);
  __syncthreads();
  for (int l = tid; l < kTileM * kTileN; l += kWmmaThreads) {
    const int mm = l / kTileN, nn = l % kTileN;
    const int64_t m = m0 + mm, n = n0 + nn;
    if (m < M && n < N) ld.store(g, m, n, Cs[mm * kLdC + nn]);
  }
}

template <typename T, typename Loader>
void launch_loader_gemm(int64_t groups, int64_t M, int64_t N, int64_t K, const Loader& ld, Stream stream,
                        const char* op) {
  if (M <= 0 || N <= 0 || groups <= 0) return;
  if ((M + kTileM - 1) / kTileM > 65535 || groups > 65535 || (N + kTileN - 1) / kTileN > 0x7fffffffLL)
    throw std::runtime_error(std::string(op) + ": problem too large for the CUDA GEMM grid (rows " + std::to_string(M) +
                             ", columns " + std::to_string(N) + ", groups " + std::to_string(groups) + ")");
  const dim3 grid(static_cast<unsigned>((N + kTileN - 1) / kTileN), static_cast<unsigned>((M + kTileM - 1) / kTileM),
                  static_cast<unsigned>(groups));
  if constexpr (IsHalf<T>::value)
    wmma_loader_gemm_kernel<T, Loader><<<grid, kWmmaThreads, 0, stream>>>(M, N, K, ld);
  else
    loader_gemm_kernel<T, Loader><<<grid, kGemmThreads, 0, stream>>>(M, N, K, ld);
  check_launch(op);
}

}  // namespace fl::cuda
