// A tiled GEMM over operands that are read through a loader, so one kernel serves every convolution pass
// (implicit GEMM: the im2col matrix is never built), the transposed convolution and linear layers:
//   C[g][m][n] = sum_k A[g][m][k] * B[g][k][n]   for g < gridDim.z (the groups)
// The loader provides  T a(g, m, k), T b(g, k, n) (zero outside the problem) and store(g, m, n, Acc acc).
// Each C element is summed by one thread in a fixed k order: results are deterministic.
#pragma once
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

template <typename T, typename Loader>
void launch_loader_gemm(int64_t groups, int64_t M, int64_t N, int64_t K, const Loader& ld, Stream stream,
                        const char* op) {
  if (M <= 0 || N <= 0 || groups <= 0) return;
  if ((M + kTileM - 1) / kTileM > 65535 || groups > 65535 || (N + kTileN - 1) / kTileN > 0x7fffffffLL)
    throw std::runtime_error(std::string(op) + ": problem too large for the CUDA GEMM grid (rows " + std::to_string(M) +
                             ", columns " + std::to_string(N) + ", groups " + std::to_string(groups) + ")");
  const dim3 grid(static_cast<unsigned>((N + kTileN - 1) / kTileN), static_cast<unsigned>((M + kTileM - 1) / kTileM),
                  static_cast<unsigned>(groups));
  loader_gemm_kernel<T, Loader><<<grid, kGemmThreads, 0, stream>>>(M, N, K, ld);
  check_launch(op);
}

}  // namespace fl::cuda
