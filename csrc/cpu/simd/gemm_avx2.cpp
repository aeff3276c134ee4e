// AVX2 + FMA micro-kernels of the packed GEMM (see cpu/gemm.h for the contract). Compiled with
// -mavx2 -mfma; everything here has internal linkage except the table getters, and this file uses no
// inline function or template from a shared header, so no AVX2 code can leak into baseline code.
// Edge tiles are computed into a local tile and their valid part copied out.
#include <immintrin.h>

#include <cstdint>

#include "cpu/gemm.h"

namespace fl::cpu::detail {
namespace {

// MR rows x (NV * 8) float columns.
template <int MR, int NV>
void ukr_f32(int64_t kc, const float* __restrict A, const float* __restrict B, float* C, int64_t ldc, int m, int n,
             bool accumulate, const float* bias) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    __m256 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm256_load_ps(B + v * 8);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(A + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(a, b[v], acc[i][v]);
    }
    A += MR;
    B += NV * 8;
  }
  const bool full = m == MR && n == NV * 8;
  alignas(32) float tile[MR * NV * 8];
  float* dst = full ? C : tile;
  const int64_t ld = full ? ldc : NV * 8;
  if (full && accumulate) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        _mm256_storeu_ps(dst + i * ld + v * 8, _mm256_add_ps(_mm256_loadu_ps(dst + i * ld + v * 8), acc[i][v]));
    return;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    const __m256 bi = _mm256_set1_ps(!accumulate && bias && i < m ? bias[i] : 0.0f);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm256_storeu_ps(dst + i * ld + v * 8, !accumulate && bias ? _mm256_add_ps(bi, acc[i][v]) : acc[i][v]);
  }
  if (full) return;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      if (accumulate) C[i * ldc + j] = C[i * ldc + j] + tile[i * NV * 8 + j];
      else C[i * ldc + j] = tile[i * NV * 8 + j];
    }
}

template <int MR, int NV>
void ukr_f64(int64_t kc, const double* __restrict A, const double* __restrict B, double* C, int64_t ldc, int m,
             int n, bool accumulate, const double* bias) {
  __m256d acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_pd();
  for (int64_t k = 0; k < kc; ++k) {
    __m256d b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm256_load_pd(B + v * 4);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256d a = _mm256_broadcast_sd(A + i);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_pd(a, b[v], acc[i][v]);
    }
    A += MR;
    B += NV * 4;
  }
  const bool full = m == MR && n == NV * 4;
  alignas(32) double tile[MR * NV * 4];
  double* dst = full ? C : tile;
  const int64_t ld = full ? ldc : NV * 4;
  if (full && accumulate) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        _mm256_storeu_pd(dst + i * ld + v * 4, _mm256_add_pd(_mm256_loadu_pd(dst + i * ld + v * 4), acc[i][v]));
    return;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    const __m256d bi = _mm256_set1_pd(!accumulate && bias && i < m ? bias[i] : 0.0);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm256_storeu_pd(dst + i * ld + v * 4, !accumulate && bias ? _mm256_add_pd(bi, acc[i][v]) : acc[i][v]);
  }
  if (full) return;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      if (accumulate) C[i * ldc + j] = C[i * ldc + j] + tile[i * NV * 4 + j];
      else C[i * ldc + j] = tile[i * NV * 4 + j];
    }
}

// Dot-product micro-kernels (weight gradient): 4 x 3 tiles, 8 (float) / 4 (double) lanes per step,
// each lane sum reduced by a fixed tree.
void dot_f32_4x3(int np, const float* const* ap, int64_t lda, const int64_t* off, const int64_t* len,
                 const float* const* bp, float* C, int64_t ldc, int m, int n, bool accumulate) {
  __m256 acc[4][3];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) acc[i][j] = _mm256_setzero_ps();
  for (int s = 0; s < np; ++s) {
    const float* A = ap[s];
    const float* Bs[3] = {bp[0] + off[s], bp[1] + off[s], bp[2] + off[s]};
    const int64_t kc = len[s];
    for (int64_t k = 0; k < kc; k += 8) {
      __m256 a[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) a[i] = _mm256_loadu_ps(A + i * lda + k);
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) {
        const __m256 b = _mm256_loadu_ps(Bs[j] + k);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) acc[i][j] = _mm256_fmadd_ps(a[i], b, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const __m256 v = acc[i][j];
      __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
      q = _mm_add_ps(q, _mm_movehl_ps(q, q));
      const float sum = _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
      if (accumulate) C[i * ldc + j] = C[i * ldc + j] + sum;
      else C[i * ldc + j] = sum;
    }
}

void dot_f64_4x3(int np, const double* const* ap, int64_t lda, const int64_t* off, const int64_t* len,
                 const double* const* bp, double* C, int64_t ldc, int m, int n, bool accumulate) {
  __m256d acc[4][3];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) acc[i][j] = _mm256_setzero_pd();
  for (int s = 0; s < np; ++s) {
    const double* A = ap[s];
    const double* Bs[3] = {bp[0] + off[s], bp[1] + off[s], bp[2] + off[s]};
    const int64_t kc = len[s];
    for (int64_t k = 0; k < kc; k += 4) {
      __m256d a[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) a[i] = _mm256_loadu_pd(A + i * lda + k);
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) {
        const __m256d b = _mm256_loadu_pd(Bs[j] + k);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i) acc[i][j] = _mm256_fmadd_pd(a[i], b, acc[i][j]);
      }
    }
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      const __m256d v = acc[i][j];
      const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
      const double sum = _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
      if (accumulate) C[i * ldc + j] = C[i * ldc + j] + sum;
      else C[i * ldc + j] = sum;
    }
}

const GemmKernel<float> kF32[] = {
    {"avx2_f32_6x16", 6, 16, ukr_f32<6, 2>, nullptr},
    {"avx2_f32_4x24", 4, 24, ukr_f32<4, 3>, nullptr},
};
const GemmKernel<double> kF64[] = {
    {"avx2_f64_6x8", 6, 8, ukr_f64<6, 2>, nullptr},
    {"avx2_f64_4x12", 4, 12, ukr_f64<4, 3>, nullptr},
};

}  // namespace

DotKernel<float> dot_kernel_avx2_f32() { return DotKernel<float>{"avx2_dot_f32_4x3", 4, 3, 8, dot_f32_4x3}; }
DotKernel<double> dot_kernel_avx2_f64() { return DotKernel<double>{"avx2_dot_f64_4x3", 4, 3, 4, dot_f64_4x3}; }

int gemm_kernels_avx2_f32(const GemmKernel<float>** out) {
  *out = kF32;
  return sizeof(kF32) / sizeof(kF32[0]);
}
int gemm_kernels_avx2_f64(const GemmKernel<double>** out) {
  *out = kF64;
  return sizeof(kF64) / sizeof(kF64[0]);
}

}  // namespace fl::cpu::detail
