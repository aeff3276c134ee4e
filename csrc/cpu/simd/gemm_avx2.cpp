// AVX2 + FMA micro-kernels of the packed GEMM (see cpu/gemm.h for the contract). Compiled with
// -mavx2 -mfma; everything here has internal linkage except the table getters, and this file uses no
// inline function or template from a shared header, so no AVX2 code can leak into baseline code.
// Edge tiles are computed into a local tile and their valid part copied out.
#include <immintrin.h>

#include <cstdint>

#include "cpu/gemm.h"

namespace fl::cpu::detail {
namespace {

// One AVX2 register of T and the operations the micro-kernels use, so that the float and double kernels are one
// template each (kLanes: 8 floats or 4 doubles). hsum: the lanes' sum by a fixed tree.
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  using R = __m256;
  static constexpr int kLanes = 8;
  static R zero() { return _mm256_setzero_ps(); }
  static R load(const float* p) { return _mm256_load_ps(p); }
  static R loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, R v) { _mm256_storeu_ps(p, v); }
  static R broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static R set1(float v) { return _mm256_set1_ps(v); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R fmadd(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static float hsum(R v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
  }
};
template <>
struct Vec<double> {
  using R = __m256d;
  static constexpr int kLanes = 4;
  static R zero() { return _mm256_setzero_pd(); }
  static R load(const double* p) { return _mm256_load_pd(p); }
  static R loadu(const double* p) { return _mm256_loadu_pd(p); }
  static void storeu(double* p, R v) { _mm256_storeu_pd(p, v); }
  static R broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static R set1(double v) { return _mm256_set1_pd(v); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R fmadd(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static double hsum(R v) {
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
};

// MR rows x (NV * kLanes) columns.
template <typename T, int MR, int NV>
void ukr(int64_t kc, const T* __restrict A, const T* __restrict B, T* C, int64_t ldc, int m, int n, bool accumulate,
         const T* bias) {
  using V = Vec<T>;
  constexpr int L = V::kLanes;
  typename V::R acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  for (int64_t k = 0; k < kc; ++k) {
    typename V::R b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = V::load(B + v * L);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const typename V::R a = V::broadcast(A + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(a, b[v], acc[i][v]);
    }
    A += MR;
    B += NV * L;
  }
  const bool full = m == MR && n == NV * L;
  alignas(32) T tile[MR * NV * L];
  T* dst = full ? C : tile;
  const int64_t ld = full ? ldc : NV * L;
  if (full && accumulate) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) V::storeu(dst + i * ld + v * L, V::add(V::loadu(dst + i * ld + v * L), acc[i][v]));
    return;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    const typename V::R bi = V::set1(!accumulate && bias && i < m ? bias[i] : T(0));
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) V::storeu(dst + i * ld + v * L, !accumulate && bias ? V::add(bi, acc[i][v]) : acc[i][v]);
  }
  if (full) return;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      if (accumulate) C[i * ldc + j] = C[i * ldc + j] + tile[i * NV * L + j];
      else C[i * ldc + j] = tile[i * NV * L + j];
    }
}

// Dot-product micro-kernel (weight gradient): 4 x 3 tiles, kLanes per step, each lane sum reduced by a fixed tree.
template <typename T>
void dot_4x3(int np, const T* const* ap, int64_t lda, const int64_t* off, const int64_t* len, const T* const* bp, T* C,
             int64_t ldc, int m, int n, bool accumulate) {
  using V = Vec<T>;
  typename V::R acc[4][3];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) acc[i][j] = V::zero();
  for (int s = 0; s < np; ++s) {
    const T* A = ap[s];
    const T* Bs[3] = {bp[0] + off[s], bp[1] + off[s], bp[2] + off[s]};
    const int64_t kc = len[s];
    for (int64_t k = 0; k < kc; k += V::kLanes) {
      typename V::R a[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) a[i] = V::loadu(A + i * lda + k);
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) {
        const typename V::R b = V::loadu(Bs[j] + k);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) acc[i][j] = V::fmadd(a[i], b, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const T sum = V::hsum(acc[i][j]);
      if (accumulate) C[i * ldc + j] = C[i * ldc + j] + sum;
      else C[i * ldc + j] = sum;
    }
}

const GemmKernel<float> kF32[] = {
    {"avx2_f32_6x16", 6, 16, ukr<float, 6, 2>, nullptr},
    {"avx2_f32_4x24", 4, 24, ukr<float, 4, 3>, nullptr},
};
const GemmKernel<double> kF64[] = {
    {"avx2_f64_6x8", 6, 8, ukr<double, 6, 2>, nullptr},
    {"avx2_f64_4x12", 4, 12, ukr<double, 4, 3>, nullptr},
};

}  // namespace

DotKernel<float> dot_kernel_avx2_f32() { return DotKernel<float>{"avx2_dot_f32_4x3", 4, 3, 8, dot_4x3<float>}; }
DotKernel<double> dot_kernel_avx2_f64() { return DotKernel<double>{"avx2_dot_f64_4x3", 4, 3, 4, dot_4x3<double>}; }

int gemm_kernels_avx2_f32(const GemmKernel<float>** out) {
  *out = kF32;
  return sizeof(kF32) / sizeof(kF32[0]);
}
int gemm_kernels_avx2_f64(const GemmKernel<double>** out) {
  *out = kF64;
  return sizeof(kF64) / sizeof(kF64[0]);
}

}  // namespace fl::cpu::detail
