// AVX-512F micro-kernels of the packed GEMM (see cpu/gemm.h for the contract). Compiled with
// -mavx512f -mfma; everything here has internal linkage except the table getters, and this file uses
// no inline function or template from a shared header, so no AVX-512 code can leak into baseline code.
#include <immintrin.h>

// GCC 12's intrinsics headers build some results on _mm512_undefined_ps(), which -Wuninitialized
// reports as used uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>

#include "cpu/gemm.h"

namespace fl::cpu::detail {
namespace {

// One AVX-512 register of T and the operations the micro-kernel uses, so that the float and double kernels are
// one template (kLanes: 16 floats or 8 doubles).
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  using R = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static R zero() { return _mm512_setzero_ps(); }
  static R load(const float* p) { return _mm512_load_ps(p); }
  static R loadu(const float* p) { return _mm512_loadu_ps(p); }
  static R maskz_loadu(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void storeu(float* p, R v) { _mm512_storeu_ps(p, v); }
  static void mask_storeu(float* p, Mask m, R v) { _mm512_mask_storeu_ps(p, m, v); }
  static R set1(float v) { return _mm512_set1_ps(v); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R fmadd(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
};
template <>
struct Vec<double> {
  using R = __m512d;
  using Mask = __mmask8;
  static constexpr int kLanes = 8;
  static R zero() { return _mm512_setzero_pd(); }
  static R load(const double* p) { return _mm512_load_pd(p); }
  static R loadu(const double* p) { return _mm512_loadu_pd(p); }
  static R maskz_loadu(Mask m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static void storeu(double* p, R v) { _mm512_storeu_pd(p, v); }
  static void mask_storeu(double* p, Mask m, R v) { _mm512_mask_storeu_pd(p, m, v); }
  static R set1(double v) { return _mm512_set1_pd(v); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static R fmadd(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
};

// MR rows x (NV * kLanes) columns; MR * NV accumulators. With koff, row k of B is read in place at B + koff[k]
// (unaligned); without, B is a packed micro-panel.
template <typename T, int MR, int NV, bool IND>
void ukr_impl(int64_t kc, const T* __restrict A, const T* __restrict B, const int64_t* koff, T* C, int64_t ldc, int m,
              int n, bool accumulate, const T* bias) {
  using V = Vec<T>;
  constexpr int L = V::kLanes;
  typename V::R acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();

  for (int64_t k = 0; k < kc; ++k) {
    typename V::R b[NV];
    if (IND) {
      const T* bk = B + koff[k];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = V::loadu(bk + v * L);
    } else {
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = V::load(B + v * L);
      B += NV * L;
    }
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const typename V::R a = V::set1(A[i]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(a, b[v], acc[i][v]);
    }
    A += MR;
  }

  if (m == MR && n == NV * L) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      T* c = C + i * ldc;
      if (accumulate) {
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) V::storeu(c + v * L, V::add(V::loadu(c + v * L), acc[i][v]));
      } else if (bias) {
        const typename V::R bi = V::set1(bias[i]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) V::storeu(c + v * L, V::add(bi, acc[i][v]));
      } else {
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) V::storeu(c + v * L, acc[i][v]);
      }
    }
    return;
  }
  typename V::Mask mask[NV];
  constexpr unsigned kAll = (1u << L) - 1u;
#pragma GCC unroll 8
  for (int v = 0; v < NV; ++v) {
    const int left = n - v * L;
    mask[v] = static_cast<typename V::Mask>(left >= L ? kAll : left <= 0 ? 0u : (1u << left) - 1u);
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    if (i >= m) break;
    T* c = C + i * ldc;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      typename V::R r = acc[i][v];
      if (accumulate) r = V::add(V::maskz_loadu(mask[v], c + v * L), r);
      else if (bias) r = V::add(V::set1(bias[i]), r);
      V::mask_storeu(c + v * L, mask[v], r);
    }
  }
}

template <typename T, int MR, int NV>
void ukr(int64_t kc, const T* A, const T* B, T* C, int64_t ldc, int m, int n, bool accumulate, const T* bias) {
  ukr_impl<T, MR, NV, false>(kc, A, B, nullptr, C, ldc, m, n, accumulate, bias);
}
template <typename T, int MR, int NV>
void ukr_ind(int64_t kc, const T* A, const T* bbase, const int64_t* koff, T* C, int64_t ldc, int m, int n,
             bool accumulate, const T* bias) {
  ukr_impl<T, MR, NV, true>(kc, A, bbase, koff, C, ldc, m, n, accumulate, bias);
}

// ---- im2col / col2im over run tables (see Run in cpu/gemm.h) ----

// Lanes [lo, hi) of a 16-lane mask, clamped to [0, 16).
inline __mmask16 lanes16(int64_t lo, int64_t hi) {
  if (lo < 0) lo = 0;
  if (hi > 16) hi = 16;
  if (hi <= lo) return 0;
  const uint32_t upto_hi = hi >= 16 ? 0xFFFFu : (1u << hi) - 1u;
  const uint32_t below_lo = (1u << lo) - 1u;
  return static_cast<__mmask16>(upto_hi & ~below_lo);
}
inline __mmask8 lanes8(int64_t lo, int64_t hi) {
  if (lo < 0) lo = 0;
  if (hi > 8) hi = 8;
  if (hi <= lo) return 0;
  const uint32_t upto_hi = (1u << hi) - 1u;
  const uint32_t below_lo = (1u << lo) - 1u;
  return static_cast<__mmask8>(upto_hi & ~below_lo);
}

// Stride-1 im2col by output vectors: the runs are first turned into, per (r, s) and per 16-column
// vector of the block row, the masked loads that fill it (a run shorter than a vector, e.g. for
// narrow outputs, shares a vector with its neighbours), so each row costs a few masked loads and one
// aligned store per vector, with no mask arithmetic.
struct VecPart {
  int64_t off;           // input offset (from the channel plane) of lane 0
  uint16_t mask;         // lanes filled from it
  uint16_t m0, m1;       // stride 2: input lanes of the two loads at off and off + 16
  uint16_t v;            // vector index in the row
};
constexpr int kMaxVecParts = 2048;

// The vector parts of a block row for every (r, s): parts[start[rs] .. start[rs + 1]), grouped by
// vector in order. Returns false when the table would not fit.
bool build_vec_parts(int64_t RS, int64_t sw, const Run* run, int ns, VecPart* parts, int* start) {
  if (RS > 64) return false;
  int np = 0;
  for (int64_t rs = 0; rs < RS; ++rs) {
    start[rs] = np;
    const Run* ru = run + rs * ns;
    // runs are in column order, so the parts come out grouped by vector, in order
    for (int i = 0; i < ns; ++i) {
      const Run& o = ru[i];
      if (o.n == 0) continue;
      const int64_t a = o.dst + o.z0, b = a + o.n;  // data columns [a, b)
      for (int64_t v = a / 16; v * 16 < b; ++v) {
        if (np == kMaxVecParts) return false;
        const int64_t lo = a > v * 16 ? a - v * 16 : 0, hi = b < v * 16 + 16 ? b - v * 16 : 16;
        // lane t of the vector reads off + t * sw; stride 2 reads elements 2lo .. 2hi-2 of two vectors
        parts[np++] = {o.src + (v * 16 - a) * sw, lanes16(lo, hi), lanes16(2 * lo, 2 * hi - 1),
                       lanes16(2 * lo - 16, 2 * hi - 17), static_cast<uint16_t>(v)};
      }
    }
  }
  start[RS] = np;
  return true;
}

bool im2col_f32_vectors(const float* xg, int64_t HW, int64_t RS, int64_t sw, int64_t k0, int64_t kl, const Run* run,
                        int ns, int64_t pad_to, int64_t ld, int64_t pf, float* dst) {
  if ((pad_to & 15) || (ld & 15) || (reinterpret_cast<uintptr_t>(dst) & 63)) return false;
  const int64_t nvec = pad_to / 16;
  VecPart parts[kMaxVecParts];
  int start[65];
  if (!build_vec_parts(RS, sw, run, ns, parts, start)) return false;
  int64_t c = k0 / RS, rs = k0 % RS;
  const __m512 zero = _mm512_setzero_ps();
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t kk = 0; kk < kl; ++kk) {
    const float* plane = xg + c * HW;
    float* d = dst + kk * ld;
    const VecPart* e = parts + start[rs];
    const VecPart* end = parts + start[rs + 1];
    for (int64_t v = 0; v < nvec; ++v) {
      __m512 acc = zero;
      for (; e < end && e->v == v; ++e) {
        const float* src = plane + e->off;
        if (pf) _mm_prefetch(reinterpret_cast<const char*>(src + pf), _MM_HINT_T0);
        if (sw == 1) {
          acc = e->mask == 0xFFFF ? _mm512_loadu_ps(src) : _mm512_mask_loadu_ps(acc, e->mask, src);
        } else {
          if (pf) _mm_prefetch(reinterpret_cast<const char*>(src + 16 + pf), _MM_HINT_T0);
          const __m512 x0 = e->m0 == 0xFFFF ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(e->m0, src);
          const __m512 x1 = e->m1 == 0xFFFF ? _mm512_loadu_ps(src + 16) : _mm512_maskz_loadu_ps(e->m1, src + 16);
          acc = _mm512_mask_mov_ps(acc, e->mask, _mm512_permutex2var_ps(x0, even, x1));
        }
      }
      _mm512_store_ps(d + v * 16, acc);
    }
    if (++rs == RS) {
      rs = 0;
      ++c;
    }
  }
  return true;
}

void im2col_f32(const float* xg, int64_t HW, int64_t RS, int64_t sw, int64_t k0, int64_t kl, const Run* run, int ns,
                int64_t width, int64_t pad_to, int64_t ld, int64_t pf, float* dst) {
  if ((sw == 1 || sw == 2) && kl >= 4 * RS && im2col_f32_vectors(xg, HW, RS, sw, k0, kl, run, ns, pad_to, ld, pf, dst))
    return;
  int64_t c = k0 / RS, rs = k0 % RS;
  const __m512i idx = _mm512_mullo_epi32(_mm512_set1_epi32(static_cast<int>(sw)),
                                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < kl; ++kk) {
    const float* plane = xg + c * HW;
    float* d = dst + kk * ld;
    const Run* ru = run + rs * ns;
    for (int i = 0; i < ns; ++i) {
      const Run o = ru[i];
      float* dd = d + o.dst;
      // lane t of the run reads base + t * sw (only for t in [z0, z0 + n))
      const float* base = plane + (o.src - o.z0 * sw);
      for (int64_t t = 0; t < o.len; t += 16) {
        const __mmask16 sm = lanes16(0, o.len - t);
        const int64_t lo = o.z0 - t, hi = o.z0 + o.n - t;
        const __mmask16 lm = lanes16(lo, hi);
        __m512 v = zero;
        if (lm != 0) {
          const float* src = base + t * sw;
          // The block's source one panel ahead is read next: ask for it now (the input planes are
          // too many interleaved streams for the hardware prefetchers).
          if (pf) _mm_prefetch(reinterpret_cast<const char*>(src + pf), _MM_HINT_T0);
          if (sw == 1) {
            v = lm == 0xFFFF ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(lm, src);
          } else if (sw == 2) {
            // inputs 2a .. 2b-2 for output lanes [a, b): two loads, keep the even elements
            const int64_t a = lo > 0 ? lo : 0, b = hi < 16 ? hi : 16;
            const __mmask16 m0 = lanes16(2 * a, 2 * b - 1), m1 = lanes16(2 * a - 16, 2 * b - 17);
            if (pf) _mm_prefetch(reinterpret_cast<const char*>(src + 16 + pf), _MM_HINT_T0);
            const __m512 x0 = m0 == 0xFFFF ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(m0, src);
            const __m512 x1 = m1 == 0xFFFF ? _mm512_loadu_ps(src + 16) : _mm512_maskz_loadu_ps(m1, src + 16);
            v = _mm512_maskz_permutex2var_ps(lm, x0, even, x1);
          } else {
            v = _mm512_mask_i32gather_ps(zero, lm, idx, src, 4);
          }
        }
        if (sm == 0xFFFF) _mm512_storeu_ps(dd + t, v);
        else _mm512_mask_storeu_ps(dd + t, sm, v);
      }
    }
    for (int64_t t = width; t < pad_to; t += 16) _mm512_mask_storeu_ps(d + t, lanes16(0, pad_to - t), zero);
    if (++rs == RS) {
      rs = 0;
      ++c;
    }
  }
}

void im2col_f64(const double* xg, int64_t HW, int64_t RS, int64_t sw, int64_t k0, int64_t kl, const Run* run, int ns,
                int64_t width, int64_t pad_to, int64_t ld, int64_t pf, double* dst) {
  int64_t c = k0 / RS, rs = k0 % RS;
  const __m256i idx = _mm256_mullo_epi32(_mm256_set1_epi32(static_cast<int>(sw)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m512d zero = _mm512_setzero_pd();
  for (int64_t kk = 0; kk < kl; ++kk) {
    const double* plane = xg + c * HW;
    double* d = dst + kk * ld;
    const Run* ru = run + rs * ns;
    for (int i = 0; i < ns; ++i) {
      const Run o = ru[i];
      double* dd = d + o.dst;
      const double* base = plane + (o.src - o.z0 * sw);
      for (int64_t t = 0; t < o.len; t += 8) {
        const __mmask8 sm = lanes8(0, o.len - t);
        const __mmask8 lm = lanes8(o.z0 - t, o.z0 + o.n - t);
        if (pf && lm) _mm_prefetch(reinterpret_cast<const char*>(base + t * sw + pf), _MM_HINT_T0);
        __m512d v;
        if (sw == 1) v = _mm512_maskz_loadu_pd(lm, base + t);
        else v = _mm512_mask_i32gather_pd(zero, lm, idx, base + t * sw, 8);
        _mm512_mask_storeu_pd(dd + t, sm, v);
      }
    }
    for (int64_t t = width; t < pad_to; t += 8) _mm512_mask_storeu_pd(d + t, lanes8(0, pad_to - t), zero);
    if (++rs == RS) {
      rs = 0;
      ++c;
    }
  }
}

// Stride-1 col2im by vector parts (see im2col_f32_vectors).
bool col2im_f32_vectors(float* dxg, int64_t HW, int64_t RS, int64_t i0, int64_t mi, const float* strip, int64_t ld,
                        const Run* run, int ns) {
  VecPart parts[kMaxVecParts];
  int start[65];
  if (!build_vec_parts(RS, 1, run, ns, parts, start)) return false;
  // Taps outer, channels inner: consecutive read-modify-writes go to different channel planes, so a
  // load never waits on the just-issued overlapping store of the neighbouring tap. Each dx element
  // still receives its channel's taps in ascending order.
  const int64_t c_first = i0 / RS, c_last = (i0 + mi - 1) / RS;
  for (int64_t rs = 0; rs < RS; ++rs)
    for (int64_t c = c_first; c <= c_last; ++c) {
      const int64_t ii = c * RS + rs - i0;
      if (ii < 0 || ii >= mi) continue;
      float* plane = dxg + c * HW;
      const float* srow = strip + ii * ld;
      for (const VecPart* e = parts + start[rs]; e < parts + start[rs + 1]; ++e) {
        float* d = plane + e->off;
        if (e->mask == 0xFFFF) {
          _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), _mm512_loadu_ps(srow + e->v * 16)));
          continue;
        }
        // Shift the part down to lane 0, so that the masked load's window starts at the first
        // element it updates: a window reaching back over the previous part's fresh store would
        // wait for that store (store forwarding goes by address range, not by mask).
        const int lo = __builtin_ctz(e->mask);
        const __mmask16 m = static_cast<__mmask16>(e->mask >> lo);
        const __m512 sv = _mm512_maskz_loadu_ps(m, srow + e->v * 16 + lo);
        _mm512_mask_storeu_ps(d + lo, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + lo), sv));
      }
    }
  return true;
}

void col2im_f32(float* dxg, int64_t HW, int64_t RS, int64_t sw, int64_t i0, int64_t mi, const float* strip, int64_t ld,
                const Run* run, int ns) {
  // (the vector table pays off once it serves a few channels)
  if (sw == 1 && mi >= 4 * RS && col2im_f32_vectors(dxg, HW, RS, i0, mi, strip, ld, run, ns)) return;
  int64_t c = i0 / RS, rs = i0 % RS;
  const __m512i spread_lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  const __m512i spread_hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
  const __m512i idx = _mm512_mullo_epi32(_mm512_set1_epi32(static_cast<int>(sw)),
                                         _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  for (int64_t ii = 0; ii < mi; ++ii) {
    float* plane = dxg + c * HW;
    const float* srow = strip + ii * ld;
    const Run* ru = run + rs * ns;
    for (int i = 0; i < ns; ++i) {
      const Run o = ru[i];
      if (o.n == 0) continue;
      const float* s = srow + o.dst + o.z0;
      float* d = plane + o.src;
      for (int64_t u = 0; u < o.n; u += 16) {
        const __mmask16 m = lanes16(0, o.n - u);
        const __m512 v = _mm512_maskz_loadu_ps(m, s + u);
        if (sw == 1) {
          _mm512_mask_storeu_ps(d + u, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + u), v));
        } else if (sw == 2) {
          // spread the lanes onto the even elements of two vectors; odd elements are left untouched
          const int64_t cnt = o.n - u < 16 ? o.n - u : 16;
          const __mmask16 m0 = static_cast<__mmask16>(lanes16(0, 2 * (cnt < 8 ? cnt : 8) - 1) & 0x5555);
          const __mmask16 m1 = static_cast<__mmask16>(lanes16(0, 2 * (cnt - 8) - 1) & 0x5555);
          float* d0 = d + 2 * u;
          _mm512_mask_storeu_ps(d0, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, d0), _mm512_permutexvar_ps(spread_lo, v)));
          if (m1)
            _mm512_mask_storeu_ps(d0 + 16, m1,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(m1, d0 + 16), _mm512_permutexvar_ps(spread_hi, v)));
        } else {
          // lanes hit distinct addresses, so gather / add / scatter is exact
          const __m512 old = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, d + u * sw, 4);
          _mm512_mask_i32scatter_ps(d + u * sw, m, idx, _mm512_add_ps(old, v), 4);
        }
      }
    }
    if (++rs == RS) {
      rs = 0;
      ++c;
    }
  }
}

void col2im_f64(double* dxg, int64_t HW, int64_t RS, int64_t sw, int64_t i0, int64_t mi, const double* strip,
                int64_t ld, const Run* run, int ns) {
  int64_t c = i0 / RS, rs = i0 % RS;
  const __m256i idx = _mm256_mullo_epi32(_mm256_set1_epi32(static_cast<int>(sw)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int64_t ii = 0; ii < mi; ++ii) {
    double* plane = dxg + c * HW;
    const double* srow = strip + ii * ld;
    const Run* ru = run + rs * ns;
    for (int i = 0; i < ns; ++i) {
      const Run o = ru[i];
      if (o.n == 0) continue;
      const double* s = srow + o.dst + o.z0;
      double* d = plane + o.src;
      for (int64_t u = 0; u < o.n; u += 8) {
        const __mmask8 m = lanes8(0, o.n - u);
        const __m512d v = _mm512_maskz_loadu_pd(m, s + u);
        if (sw == 1) {
          _mm512_mask_storeu_pd(d + u, m, _mm512_add_pd(_mm512_maskz_loadu_pd(m, d + u), v));
        } else {
          const __m512d old = _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m, idx, d + u * sw, 8);
          _mm512_mask_i32scatter_pd(d + u * sw, m, idx, _mm512_add_pd(old, v), 8);
        }
      }
    }
    if (++rs == RS) {
      rs = 0;
      ++c;
    }
  }
}

// ---- dot-product micro-kernels (weight gradient) ----

// Sums of 16 vectors, one per lane: r[i] = sum of the lanes of v[i] (a fixed shuffle tree).
inline __m512 reduce16(const __m512* v) {
  __m512 x[4];
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    const __m512 a = v[4 * g], b = v[4 * g + 1], c = v[4 * g + 2], d = v[4 * g + 3];
    // within each 128-bit block: [a0+a2, b0+b2, a1+a3, b1+b3], then [a, b, c, d] block sums
    const __m512 s0 = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    const __m512 s1 = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    x[g] = _mm512_add_ps(_mm512_shuffle_ps(s0, s1, 0x44), _mm512_shuffle_ps(s0, s1, 0xEE));
  }
  // x[g] block L holds the block-L partials of v[4g .. 4g+3]; sum over blocks into block g.
  const __m512 z01 = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x44), _mm512_shuffle_f32x4(x[0], x[1], 0xEE));
  const __m512 z23 = _mm512_add_ps(_mm512_shuffle_f32x4(x[2], x[3], 0x44), _mm512_shuffle_f32x4(x[2], x[3], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_f32x4(z01, z23, 0x88), _mm512_shuffle_f32x4(z01, z23, 0xDD));
}

// Sums of 8 vectors, one per lane of the result (a fixed shuffle tree).
inline __m256 reduce8(const __m512* v) {
  __m512 x[2];
#pragma GCC unroll 2
  for (int g = 0; g < 2; ++g) {
    const __m512 a = v[4 * g], b = v[4 * g + 1], c = v[4 * g + 2], d = v[4 * g + 3];
    const __m512 s0 = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    const __m512 s1 = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    x[g] = _mm512_add_ps(_mm512_shuffle_ps(s0, s1, 0x44), _mm512_shuffle_ps(s0, s1, 0xEE));
  }
  const __m512 z = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], 0x44), _mm512_shuffle_f32x4(x[0], x[1], 0xEE));
  const __m512 r = _mm512_add_ps(_mm512_shuffle_f32x4(z, z, 0x08), _mm512_shuffle_f32x4(z, z, 0x0D));
  return _mm512_castps512_ps256(r);
}

template <int MR, int NR>
void dot_f32(int np, const float* const* ap, int64_t lda, const int64_t* off, const int64_t* len,
             const float* const* bp, float* C, int64_t ldc, int m, int n, bool accumulate) {
  constexpr int NA = MR * NR, NG = (NA + 15) / 16;
  __m512 acc[NG * 16];
#pragma GCC unroll 32
  for (int i = 0; i < NG * 16; ++i) acc[i] = _mm512_setzero_ps();
  for (int s = 0; s < np; ++s) {
    const float* A = ap[s];
    const float* Bs[NR];
#pragma GCC unroll 16
    for (int j = 0; j < NR; ++j) Bs[j] = bp[j] + off[s];
    const int64_t kc = len[s];
    for (int64_t k = 0; k < kc; k += 16) {
      __m512 a[MR];
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) a[i] = _mm512_loadu_ps(A + i * lda + k);
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) {
        const __m512 b = _mm512_loadu_ps(Bs[j] + k);
#pragma GCC unroll 8
        for (int i = 0; i < MR; ++i) acc[i * NR + j] = _mm512_fmadd_ps(a[i], b, acc[i * NR + j]);
      }
    }
  }
  static_assert(NR <= 16, "rows of the result are read as one vector");
  alignas(64) float r[NG * 16 + 16];
#pragma GCC unroll 2
  for (int g = 0; g < NG; ++g) {
    if (16 * g + 8 >= NA) _mm256_store_ps(r + 16 * g, reduce8(acc + 16 * g));
    else _mm512_store_ps(r + 16 * g, reduce16(acc + 16 * g));
  }
  const __mmask16 cm = lanes16(0, n);
  for (int i = 0; i < m; ++i) {
    __m512 v = _mm512_maskz_loadu_ps(cm, r + i * NR);
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(cm, C + i * ldc), v);
    _mm512_mask_storeu_ps(C + i * ldc, cm, v);
  }
}

void dot_f64_4x4(int np, const double* const* ap, int64_t lda, const int64_t* off, const int64_t* len,
                 const double* const* bp, double* C, int64_t ldc, int m, int n, bool accumulate) {
  __m512d acc[16];
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_pd();
  for (int s = 0; s < np; ++s) {
    const double* A = ap[s];
    const double* Bs[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) Bs[j] = bp[j] + off[s];
    const int64_t kc = len[s];
    for (int64_t k = 0; k < kc; k += 8) {
      __m512d a[4], b[4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) a[i] = _mm512_loadu_pd(A + i * lda + k);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) b[j] = _mm512_loadu_pd(Bs[j] + k);
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) acc[i * 4 + j] = _mm512_fmadd_pd(a[i], b[j], acc[i * 4 + j]);
    }
  }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      // fixed tree: 512 -> 256 -> 128 -> 64
      const __m512d v = acc[i * 4 + j];
      const __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
      const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
      const double sum = _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
      if (accumulate) C[i * ldc + j] = C[i * ldc + j] + sum;
      else C[i * ldc + j] = sum;
    }
}

// ---- depthwise planes (stride_w == 1) ----

// Output columns in vectors of 16; for vector v and tap s, the load mask of the input row (lanes
// whose input column is inside [0, W)) and whether it is full.
struct DwCols {
  __mmask16 out[16];    // valid output lanes of vector v (Q up to 256 handled per table)
  __mmask16 in[16][16]; // [v][s] input lanes
};

void dw_forward_f32(const float* x, const float* w, float bias, float* y, const DwGeom& g, bool accumulate) {
  const int64_t nv = (g.Q + 15) / 16;
  for (int64_t q0v = 0; q0v < nv; q0v += 16) {  // blocks of 16 vectors (256 columns) share a mask table
    const int64_t vcount = nv - q0v < 16 ? nv - q0v : 16;
    const int64_t scount = g.S < 16 ? g.S : 16;
    DwCols t;
    for (int64_t v = 0; v < vcount; ++v) {
      const int64_t q0 = (q0v + v) * 16;
      t.out[v] = lanes16(0, g.Q - q0);
      for (int64_t s = 0; s < scount; ++s) {
        const int64_t off = q0 + s * g.dw - g.pw;  // input column of lane 0
        t.in[v][s] = static_cast<__mmask16>(lanes16(-off, g.W - off) & t.out[v]);
      }
    }
    for (int64_t p = 0; p < g.P; ++p) {
      float* yr = y + p * g.Q;
      for (int64_t v = 0; v < vcount; ++v) {
        const int64_t q0 = (q0v + v) * 16;
        const __mmask16 mo = t.out[v];
        __m512 acc = accumulate ? _mm512_maskz_loadu_ps(mo, yr + q0) : _mm512_set1_ps(bias);
        for (int64_t r = 0; r < g.R; ++r) {
          const int64_t ih = p * g.sh - g.ph + r * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          const float* xr = x + ih * g.W + q0 - g.pw;
          const float* wr = w + r * g.S;
          for (int64_t s = 0; s < g.S; ++s) {
            const __mmask16 mi = s < 16 ? t.in[v][s]
                                        : lanes16(-(q0 + s * g.dw - g.pw), g.W - (q0 + s * g.dw - g.pw)) & mo;
            const float* src = xr + s * g.dw;
            const __m512 xv = mi == 0xFFFF ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(mi, src);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(wr[s]), xv, acc);
          }
        }
        if (mo == 0xFFFF) _mm512_storeu_ps(yr + q0, acc);
        else _mm512_mask_storeu_ps(yr + q0, mo, acc);
      }
    }
  }
}

// Taps s0 .. s0+NS-1 of kernel row r, output-column vector q0: each tap's lanes summed over the
// output rows (dy loaded once per row for all NS taps), added to tot[s].
template <int NS>
void dw_weight_taps(const float* x, const float* dy, const DwGeom& g, int64_t r, int64_t s0, int64_t q0,
                    __mmask16 mo, __m512* tot) {
  __m512 acc[NS];
  __mmask16 mi[NS];
  int64_t off[NS];
#pragma GCC unroll 8
  for (int t = 0; t < NS; ++t) {
    acc[t] = _mm512_setzero_ps();
    off[t] = q0 + (s0 + t) * g.dw - g.pw;
    mi[t] = static_cast<__mmask16>(lanes16(-off[t], g.W - off[t]) & mo);
  }
  for (int64_t p = 0; p < g.P; ++p) {
    const int64_t ih = p * g.sh - g.ph + r * g.dh;
    if (ih < 0 || ih >= g.H) continue;
    const __m512 dv = _mm512_maskz_loadu_ps(mo, dy + p * g.Q + q0);
    const float* xr = x + ih * g.W;
#pragma GCC unroll 8
    for (int t = 0; t < NS; ++t) {
      const __m512 xv = mi[t] == 0xFFFF ? _mm512_loadu_ps(xr + off[t]) : _mm512_maskz_loadu_ps(mi[t], xr + off[t]);
      acc[t] = _mm512_mask3_fmadd_ps(dv, xv, acc[t], mi[t]);  // lanes outside the input add nothing
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < NS; ++t) tot[t] = _mm512_add_ps(tot[t], acc[t]);
}

void dw_weight_f32(const float* x, const float* dy, const DwGeom& g, float* out) {
  const int64_t nv = (g.Q + 15) / 16;
  __m512 tot[16];
  for (int64_t r = 0; r < g.R; ++r)
    for (int64_t s0 = 0; s0 < g.S; s0 += 16) {
      const int64_t sn = g.S - s0 < 16 ? g.S - s0 : 16;
      for (int64_t t = 0; t < sn; ++t) tot[t] = _mm512_setzero_ps();
      for (int64_t v = 0; v < nv; ++v) {
        const int64_t q0 = v * 16;
        const __mmask16 mo = lanes16(0, g.Q - q0);
        for (int64_t t = 0; t < sn;) {
          const int64_t left = sn - t;
          if (left >= 4) {
            dw_weight_taps<4>(x, dy, g, r, s0 + t, q0, mo, tot + t);
            t += 4;
          } else if (left == 3) {
            dw_weight_taps<3>(x, dy, g, r, s0 + t, q0, mo, tot + t);
            t += 3;
          } else if (left == 2) {
            dw_weight_taps<2>(x, dy, g, r, s0 + t, q0, mo, tot + t);
            t += 2;
          } else {
            dw_weight_taps<1>(x, dy, g, r, s0 + t, q0, mo, tot + t);
            t += 1;
          }
        }
      }
      for (int64_t t = 0; t < sn; ++t) out[r * g.S + s0 + t] = _mm512_reduce_add_ps(tot[t]);
    }
}

void col2im_gather_f32(float* dxg, const DwGeom& g, int64_t i0, int64_t mi, int64_t j0, int64_t nj, const float* strip,
                       int64_t ld) {
  const int64_t HW = g.H * g.W, RS = g.R * g.S;
  const int64_t p_first = j0 / g.Q, p_last = (j0 + nj - 1) / g.Q;
  for (int64_t gi = 0; gi < mi; gi += g.S) {  // group (c, r): strip rows gi .. gi + S - 1
    const int64_t row = i0 + gi, c = row / RS, r = (row % RS) / g.S;
    const float* srows = strip + gi * ld;
    float* plane = dxg + c * HW;
    for (int64_t p = p_first; p <= p_last; ++p) {
      const int64_t ih = p * g.sh - g.ph + r * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      const int64_t qa = j0 > p * g.Q ? j0 - p * g.Q : 0;
      const int64_t qb = j0 + nj < (p + 1) * g.Q ? j0 + nj - p * g.Q : g.Q;  // panel's q in [qa, qb)
      // dx columns touched: iw = q - pw + s*dw
      int64_t iw_lo = qa - g.pw, iw_hi = qb - 1 - g.pw + (g.S - 1) * g.dw + 1;
      if (iw_lo < 0) iw_lo = 0;
      if (iw_hi > g.W) iw_hi = g.W;
      float* drow = plane + ih * g.W;
      const int64_t cbase = p * g.Q - j0;  // strip column of q = 0
      for (int64_t iw0 = iw_lo; iw0 < iw_hi; iw0 += 16) {
        const __mmask16 mo = lanes16(0, iw_hi - iw0);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t s = 0; s < g.S; ++s) {
          const int64_t q0 = iw0 + g.pw - s * g.dw;  // q of lane 0
          const __mmask16 m = static_cast<__mmask16>(lanes16(qa - q0, qb - q0) & mo);
          if (m == 0) continue;
          const float* src = srows + s * ld + cbase + q0;
          acc = _mm512_add_ps(acc, m == 0xFFFF ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(m, src));
        }
        float* d = drow + iw0;
        if (mo == 0xFFFF) _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), acc));
        else _mm512_mask_storeu_ps(d, mo, _mm512_add_ps(_mm512_maskz_loadu_ps(mo, d), acc));
      }
    }
  }
}

void copy2d_f32(const float* src, int64_t lds, float* dst, int64_t ldd, int64_t rows, int64_t len) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t u = 0; u < len; u += 16) {
      const __mmask16 m = lanes16(0, len - u);
      _mm512_mask_storeu_ps(dst + i * ldd + u, m, _mm512_maskz_loadu_ps(m, src + i * lds + u));
    }
}
void copy2d_f64(const double* src, int64_t lds, double* dst, int64_t ldd, int64_t rows, int64_t len) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t u = 0; u < len; u += 8) {
      const __mmask8 m = lanes8(0, len - u);
      _mm512_mask_storeu_pd(dst + i * ldd + u, m, _mm512_maskz_loadu_pd(m, src + i * lds + u));
    }
}

// The first entry is the default; pick_gemm_kernel may prefer another for small M.
const GemmKernel<float> kF32[] = {
    {"avx512_f32_8x32", 8, 32, ukr<float, 8, 2>, ukr_ind<float, 8, 2>},
    {"avx512_f32_12x32", 12, 32, ukr<float, 12, 2>, ukr_ind<float, 12, 2>},
    {"avx512_f32_6x64", 6, 64, ukr<float, 6, 4>, ukr_ind<float, 6, 4>},
    {"avx512_f32_4x64", 4, 64, ukr<float, 4, 4>, ukr_ind<float, 4, 4>},
};
const GemmKernel<double> kF64[] = {
    {"avx512_f64_8x16", 8, 16, ukr<double, 8, 2>, ukr_ind<double, 8, 2>},
    {"avx512_f64_4x32", 4, 32, ukr<double, 4, 4>, ukr_ind<double, 4, 4>},
};

}  // namespace

ConvKernels<float> conv_kernels_avx512_f32() {
  return ConvKernels<float>{im2col_f32, col2im_f32, DotKernel<float>{"avx512_dot_f32_4x6", 4, 6, 16, dot_f32<4, 6>},
                            dw_forward_f32, dw_weight_f32, copy2d_f32, col2im_gather_f32};
}
ConvKernels<double> conv_kernels_avx512_f64() {
  return ConvKernels<double>{im2col_f64, col2im_f64, DotKernel<double>{"avx512_dot_f64_4x4", 4, 4, 8, dot_f64_4x4},
                             nullptr, nullptr, copy2d_f64, nullptr};
}

int gemm_kernels_avx512_f32(const GemmKernel<float>** out) {
  *out = kF32;
  return sizeof(kF32) / sizeof(kF32[0]);
}
int gemm_kernels_avx512_f64(const GemmKernel<double>** out) {
  *out = kF64;
  return sizeof(kF64) / sizeof(kF64[0]);
}

}  // namespace fl::cpu::detail
