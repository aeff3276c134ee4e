// Packing, macro loop and run-time micro-kernel choice of the packed GEMM (see gemm.h).
#include "cpu/gemm.h"

#include <cstring>
#include <vector>

namespace fl::cpu {

namespace {
template <typename T>
T* align64(T* p) {
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}
}  // namespace

template <typename T>
int gemm_kernels(SimdLevel level, const GemmKernel<T>** out) {
  constexpr bool f32 = sizeof(T) == sizeof(float);
  switch (level) {
#if defined(FL_HAVE_X86_SIMD)
    case SimdLevel::AVX512:
      if constexpr (f32) return detail::gemm_kernels_avx512_f32(out);
      else return detail::gemm_kernels_avx512_f64(out);
    case SimdLevel::AVX2:
      if constexpr (f32) return detail::gemm_kernels_avx2_f32(out);
      else return detail::gemm_kernels_avx2_f64(out);
#endif
    case SimdLevel::Portable:
      if constexpr (f32) return detail::gemm_kernels_portable_f32(out);
      else return detail::gemm_kernels_portable_f64(out);
    default:
      *out = nullptr;
      return 0;
  }
}

template <typename T>
ConvKernels<T> conv_kernels(SimdLevel level) {
  constexpr bool f32 = sizeof(T) == sizeof(float);
  ConvKernels<T> k;
  if constexpr (f32) k = detail::conv_kernels_portable_f32();
  else k = detail::conv_kernels_portable_f64();
#if defined(FL_HAVE_X86_SIMD)
  if (level == SimdLevel::AVX512) {
    if constexpr (f32) k = detail::conv_kernels_avx512_f32();
    else k = detail::conv_kernels_avx512_f64();
  } else if (level == SimdLevel::AVX2) {
    if constexpr (f32) k.dot = detail::dot_kernel_avx2_f32();
    else k.dot = detail::dot_kernel_avx2_f64();
  }
#else
  (void)level;
#endif
  return k;
}

template <typename T>
GemmKernel<T> pick_gemm_kernel(SimdLevel level, int64_t M, int64_t N) {
  const GemmKernel<T>* ks = nullptr;
  int n = gemm_kernels<T>(level, &ks);
  if (n == 0) n = gemm_kernels<T>(SimdLevel::Portable, &ks);
  (void)M;
  (void)N;
  return ks[0];
}

template <typename T>
GemmKernel<T> pick_gemm_kernel(int64_t M, int64_t N) {
  return pick_gemm_kernel<T>(simd_level(), M, N);
}

template <typename T>
void pack_a(const T* a, int64_t rs, int64_t cs, int64_t m, int64_t k_len, int mr, T* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += mr) {
    const int64_t mi = m - i0 < mr ? m - i0 : mr;
    T* d = dst + i0 * k_len;  // panel i0 / mr starts at (i0 / mr) * k_len * mr
    if (cs == 1) {
      for (int64_t i = 0; i < mi; ++i) {
        const T* src = a + (i0 + i) * rs;
        for (int64_t k = 0; k < k_len; ++k) d[k * mr + i] = src[k];
      }
      for (int64_t i = mi; i < mr; ++i)
        for (int64_t k = 0; k < k_len; ++k) d[k * mr + i] = T(0);
    } else {
      for (int64_t k = 0; k < k_len; ++k) {
        const T* src = a + k * cs + i0 * rs;
        T* dk = d + k * mr;
        for (int64_t i = 0; i < mi; ++i) dk[i] = src[i * rs];
        for (int64_t i = mi; i < mr; ++i) dk[i] = T(0);
      }
    }
  }
}

template <typename T>
void pack_b(const T* b, int64_t rs, int64_t cs, int64_t k_len, int64_t n, int nr, T* dst) {
  for (int64_t j0 = 0; j0 < n; j0 += nr) {
    const int64_t nj = n - j0 < nr ? n - j0 : nr;
    T* d = dst + j0 * k_len;
    if (cs == 1) {
      for (int64_t k = 0; k < k_len; ++k) {
        const T* src = b + k * rs + j0;
        T* dk = d + k * nr;
        for (int64_t j = 0; j < nj; ++j) dk[j] = src[j];
        for (int64_t j = nj; j < nr; ++j) dk[j] = T(0);
      }
    } else {
      // A transpose (e.g. B = W^T from a row-major W): in chunks of one cache line of each column, so
      // every source line is read whole once (columns cs apart alias in the cache when cs is a large
      // power of two) while the chunk's nr-wide destination rows stay in L1.
      constexpr int64_t kChunk = 64 / sizeof(T);
      for (int64_t k0 = 0; k0 < k_len; k0 += kChunk) {
        const int64_t kl = k_len - k0 < kChunk ? k_len - k0 : kChunk;
        for (int64_t j = 0; j < nj; ++j) {
          const T* src = b + (j0 + j) * cs + k0 * rs;
          for (int64_t k = 0; k < kl; ++k) d[(k0 + k) * nr + j] = src[k * rs];
        }
        for (int64_t j = nj; j < nr; ++j)
          for (int64_t k = 0; k < kl; ++k) d[(k0 + k) * nr + j] = T(0);
      }
    }
  }
}

template <typename T>
void gemm_macro(const GemmKernel<T>& kr, int64_t M, int64_t N, int64_t kc, const T* Apack, int64_t a_stride,
                const T* Bpack, int64_t b_stride, T* C, int64_t ldc, bool accumulate, const T* bias) {
  const int mr = kr.mr, nr = kr.nr;
  for (int64_t j0 = 0, jp = 0; j0 < N; j0 += nr, ++jp) {
    const int nj = static_cast<int>(N - j0 < nr ? N - j0 : nr);
    const T* bp = Bpack + jp * b_stride;
    for (int64_t i0 = 0, ip = 0; i0 < M; i0 += mr, ++ip) {
      const int mi = static_cast<int>(M - i0 < mr ? M - i0 : mr);
      kr.fn(kc, Apack + ip * a_stride, bp, C + i0 * ldc + j0, ldc, mi, nj, accumulate, bias ? bias + i0 : nullptr);
    }
  }
}

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t rsa, int64_t csa, const T* b, int64_t rsb,
          int64_t csb, T* c, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  const GemmKernel<T> kr = pick_gemm_kernel<T>(M, N);
  const int64_t kc_max = 256, nc_max = 512;
  const int64_t kc_blk = split_block(K, kc_max);
  // The micro-kernels load packed panels with aligned vector loads: 64-byte aligned buffers.
  const size_t a_count = round_up(M, kr.mr) * (kc_blk > 0 ? kc_blk : 1);
  const size_t b_count = round_up(nc_max, kr.nr) * (kc_blk > 0 ? kc_blk : 1);
  std::vector<T> storage(a_count + b_count + 2 * 64 / sizeof(T));
  T* abuf = align64(storage.data());
  T* bbuf = align64(abuf + a_count);
  if (K == 0) {
    gemm_macro(kr, M, N, 0, abuf, 0, bbuf, 0, c, ldc, accumulate, static_cast<const T*>(nullptr));
  }
  for (int64_t k0 = 0; k0 < K; k0 += kc_blk) {
    const int64_t kl = K - k0 < kc_blk ? K - k0 : kc_blk;
    pack_a(a + k0 * csa, rsa, csa, M, kl, kr.mr, abuf);
    for (int64_t j0 = 0; j0 < N; j0 += nc_max) {
      const int64_t nl = N - j0 < nc_max ? N - j0 : nc_max;
      pack_b(b + k0 * rsb + j0 * csb, rsb, csb, kl, nl, kr.nr, bbuf);
      gemm_macro(kr, M, nl, kl, abuf, kl * kr.mr, bbuf, kl * kr.nr, c + j0, ldc, accumulate || k0 > 0,
                 static_cast<const T*>(nullptr));
    }
  }
}

#define FL_GEMM_INSTANTIATE(T)                                                                                   \
  template int gemm_kernels<T>(SimdLevel, const GemmKernel<T>**);                                                \
  template ConvKernels<T> conv_kernels<T>(SimdLevel);                                                            \
  template GemmKernel<T> pick_gemm_kernel<T>(SimdLevel, int64_t, int64_t);                                       \
  template GemmKernel<T> pick_gemm_kernel<T>(int64_t, int64_t);                                                  \
  template void pack_a<T>(const T*, int64_t, int64_t, int64_t, int64_t, int, T*);                                \
  template void pack_b<T>(const T*, int64_t, int64_t, int64_t, int64_t, int, T*);                                \
  template void gemm_macro<T>(const GemmKernel<T>&, int64_t, int64_t, int64_t, const T*, int64_t, const T*,      \
                              int64_t, T*, int64_t, bool, const T*);                                             \
  template void gemm<T>(int64_t, int64_t, int64_t, const T*, int64_t, int64_t, const T*, int64_t, int64_t, T*,   \
                        int64_t, bool);
FL_GEMM_INSTANTIATE(float)
FL_GEMM_INSTANTIATE(double)

}  // namespace fl::cpu
