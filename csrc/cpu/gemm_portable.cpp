// Portable micro-kernels of the packed GEMM (see cpu/gemm.h for the contract): plain C++ with fixed
// tile sizes that the compiler vectorizes with the baseline instruction set (SSE2 on x86-64, NEON on
// aarch64). Internal linkage except the table getters.
#include <cstdint>

#include "cpu/gemm.h"

namespace fl::cpu::detail {
namespace {

template <typename T, int MR, int NR>
void ukr(int64_t kc, const T* __restrict A, const T* __restrict B, T* C, int64_t ldc, int m, int n, bool accumulate,
         const T* bias) {
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = T(0);
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i) {
      const T a = A[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += a * B[j];
    }
    A += MR;
    B += NR;
  }
  for (int i = 0; i < m; ++i) {
    T* c = C + i * ldc;
    if (accumulate) {
      for (int j = 0; j < n; ++j) c[j] = c[j] + acc[i][j];
    } else {
      const T bi = bias ? bias[i] : T(0);
      if (bias)
        for (int j = 0; j < n; ++j) c[j] = bi + acc[i][j];
      else
        for (int j = 0; j < n; ++j) c[j] = acc[i][j];
    }
  }
}

// Generic im2col / col2im over run tables (see Run in cpu/gemm.h).
template <typename T>
void im2col(const T* xg, int64_t HW, int64_t RS, int64_t sw, int64_t k0, int64_t kl, const Run* run, int ns,
            int64_t width, int64_t pad_to, int64_t ld, int64_t /*pf*/, T* dst) {
  int64_t c = k0 / RS, rs = k0 % RS;
  for (int64_t kk = 0; kk < kl; ++kk) {
    const T* plane = xg + c * HW;
    T* d = dst + kk * ld;
    const Run* ru = run + rs * ns;
    for (int i = 0; i < ns; ++i) {
      const Run& o = ru[i];
      T* dd = d + o.dst;
      for (int64_t t = 0; t < o.z0; ++t) dd[t] = T(0);
      const T* src = plane + o.src;
      T* dc = dd + o.z0;
      if (sw == 1)
        for (int64_t u = 0; u < o.n; ++u) dc[u] = src[u];
      else
        for (int64_t u = 0; u < o.n; ++u) dc[u] = src[u * sw];
      for (int64_t t = o.z0 + o.n; t < o.len; ++t) dd[t] = T(0);
    }
    for (int64_t j = width; j < pad_to; ++j) d[j] = T(0);
    if (++rs == RS) {
      rs = 0;
      ++c;
    }
  }
}

template <typename T>
void col2im(T* dxg, int64_t HW, int64_t RS, int64_t sw, int64_t i0, int64_t mi, const T* strip, int64_t ld,
            const Run* run, int ns) {
  int64_t c = i0 / RS, rs = i0 % RS;
  for (int64_t ii = 0; ii < mi; ++ii) {
    T* plane = dxg + c * HW;
    const T* srow = strip + ii * ld;
    const Run* ru = run + rs * ns;
    for (int i = 0; i < ns; ++i) {
      const Run& o = ru[i];
      if (o.n == 0) continue;
      const T* s = srow + o.dst + o.z0;
      T* d = plane + o.src;
      if (sw == 1)
        for (int64_t u = 0; u < o.n; ++u) d[u] += s[u];
      else
        for (int64_t u = 0; u < o.n; ++u) d[u * sw] += s[u];
    }
    if (++rs == RS) {
      rs = 0;
      ++c;
    }
  }
}

// Dot-product micro-kernel with VL explicit lanes (so the compiler vectorizes it without reassociating),
// the lanes summed in a fixed order at the end.
template <typename T, int MR, int NR, int VL>
void dot(int np, const T* const* ap, int64_t lda, const int64_t* off, const int64_t* len, const T* const* bp, T* C,
         int64_t ldc, int m, int n, bool accumulate) {
  T acc[MR][NR][VL] = {};
  for (int s = 0; s < np; ++s) {
    const T* A = ap[s];
    for (int64_t k = 0; k < len[s]; k += VL)
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j < NR; ++j) {
          const T* Bj = bp[j] + off[s] + k;
          for (int l = 0; l < VL; ++l) acc[i][j][l] += A[i * lda + k + l] * Bj[l];
        }
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      T s = T(0);
      for (int l = 0; l < VL; ++l) s += acc[i][j][l];
      if (accumulate) C[i * ldc + j] = C[i * ldc + j] + s;
      else C[i * ldc + j] = s;
    }
}

const GemmKernel<float> kF32[] = {
    {"portable_f32_4x8", 4, 8, ukr<float, 4, 8>, nullptr},
};
const GemmKernel<double> kF64[] = {
    {"portable_f64_4x4", 4, 4, ukr<double, 4, 4>, nullptr},
};

}  // namespace

ConvKernels<float> conv_kernels_portable_f32() {
  return ConvKernels<float>{im2col<float>, col2im<float>,
                            DotKernel<float>{"portable_dot_f32_2x2", 2, 2, 8, dot<float, 2, 2, 8>}, nullptr, nullptr,
                            nullptr, nullptr};
}
ConvKernels<double> conv_kernels_portable_f64() {
  return ConvKernels<double>{im2col<double>, col2im<double>,
                             DotKernel<double>{"portable_dot_f64_2x2", 2, 2, 4, dot<double, 2, 2, 4>}, nullptr,
                             nullptr, nullptr, nullptr};
}

int gemm_kernels_portable_f32(const GemmKernel<float>** out) {
  *out = kF32;
  return sizeof(kF32) / sizeof(kF32[0]);
}
int gemm_kernels_portable_f64(const GemmKernel<double>** out) {
  *out = kF64;
  return sizeof(kF64) / sizeof(kF64[0]);
}

}  // namespace fl::cpu::detail
