// AVX-512F float32 kernels of the activation family (see cpu/activation_simd.h for the contract).
// Compiled with -mavx512f -mfma; everything here has internal linkage except the table getter, and the
// file uses no inline function or template from a shared header (only intrinsics and libm's logf), so no
// AVX-512 code can leak into baseline code.
//
// Transcendentals are vectorized 16 wide:
//   exp:   x = n ln2 + r (n rounded, ln2 in a high and a low part), e^r by its degree-7 Taylor
//          polynomial (|r| <= ln2/2: truncation ~5e-9 relative), scaled by 2^n with vscalefps (which
//          saturates to inf / flushes through the subnormals to 0 without overflow in between).
//   log:   w = 2^k m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m-1)/(m+1), odd series
//          to s^9 (|s| <= 0.172: next term ~1e-9 relative).
//   erfc:  the Chebyshev fit of Numerical Recipes (fractional error < 1.2e-7), on the exp above.
//   tanh, sigmoid: from exp with one division.
// Each element's result depends only on its own input (tails use masked loads/stores on the same
// code), and softmax sums each row in a fixed lane order, so results do not depend on the threads.
#include <immintrin.h>

// GCC 12's intrinsics headers build some results on _mm512_undefined_ps(), which -Wuninitialized
// reports as used uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <math.h>
#include <stdint.h>

#include "cpu/activation_simd.h"

namespace fl::cpu {
namespace {

using V = __m512;
using M = __mmask16;

inline V set1(float v) { return _mm512_set1_ps(v); }
inline V blend(M m, V if_clear, V if_set) { return _mm512_mask_blend_ps(m, if_clear, if_set); }
inline M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
inline M ge(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
inline M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline M le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
inline M tail_mask(int64_t left) { return left >= 16 ? M(0xFFFF) : M((1u << left) - 1u); }
inline V vabs(V x) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7FFFFFFF)));
}
inline V vneg(V x) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32(int32_t(0x80000000u))));
}
// copies the sign of s onto |x|
inline V vcopysign(V x, V s) {
  const __m512i sign = _mm512_set1_epi32(int32_t(0x80000000u));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_andnot_si512(sign, _mm512_castps_si512(x)),
                                             _mm512_and_si512(sign, _mm512_castps_si512(s))));
}

// e^x; NaN stays NaN (maxps / minps return their second operand when one is NaN).
inline V vexp(V x) {
  V xc = _mm512_min_ps(set1(89.0f), _mm512_max_ps(set1(-104.0f), x));
  V fn = _mm512_roundscale_ps(_mm512_mul_ps(xc, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  V r = _mm512_fnmadd_ps(fn, set1(0.693145751953125f), xc);
  r = _mm512_fnmadd_ps(fn, set1(1.42860682030941723212e-6f), r);
  V p = set1(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, set1(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, set1(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, set1(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, set1(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, set1(0.5f));
  p = _mm512_fmadd_ps(p, r, set1(1.0f));
  p = _mm512_fmadd_ps(p, r, set1(1.0f));
  return _mm512_scalef_ps(p, fn);
}

// log w for finite w > 0.
inline V vlog(V w) {
  V m = _mm512_getmant_ps(w, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);  // [1, 2)
  V k = _mm512_getexp_ps(w);
  const M big = gt(m, set1(1.41421356237f));
  m = _mm512_mask_mul_ps(m, big, m, set1(0.5f));
  k = _mm512_mask_add_ps(k, big, k, set1(1.0f));
  const V f = _mm512_sub_ps(m, set1(1.0f));
  const V s = _mm512_div_ps(f, _mm512_add_ps(f, set1(2.0f)));
  const V s2 = _mm512_mul_ps(s, s);
  V p = set1(2.0f / 9);
  p = _mm512_fmadd_ps(p, s2, set1(2.0f / 7));
  p = _mm512_fmadd_ps(p, s2, set1(2.0f / 5));
  p = _mm512_fmadd_ps(p, s2, set1(2.0f / 3));
  const V lm = _mm512_fmadd_ps(_mm512_mul_ps(p, s2), s, _mm512_add_ps(s, s));
  return _mm512_fmadd_ps(k, set1(0.693145751953125f), _mm512_fmadd_ps(k, set1(1.42860682030941723212e-6f), lm));
}

// log(1 + u) for u >= 0: log of w = 1 + u corrected by the rounding of w, (u - (w - 1)) / w.
inline V vlog1p(V u) {
  const V w = _mm512_add_ps(u, set1(1.0f));
  const V c = _mm512_div_ps(_mm512_sub_ps(u, _mm512_sub_ps(w, set1(1.0f))), w);
  return _mm512_add_ps(vlog(w), c);
}

inline V vrecip1p(V e) { return _mm512_div_ps(set1(1.0f), _mm512_add_ps(set1(1.0f), e)); }
inline V vsigmoid(V x) { return vrecip1p(vexp(vneg(x))); }

// tanh as 1 - 2 / (e^{2|x|} + 1) with the sign of x.
inline V vtanh(V x) {
  const V a = vabs(x);
  const V e = vexp(_mm512_add_ps(a, a));
  const V t = _mm512_sub_ps(set1(1.0f), _mm512_div_ps(set1(2.0f), _mm512_add_ps(e, set1(1.0f))));
  return vcopysign(t, x);
}

inline V verfc(V x) {
  const V z = vabs(x);
  const V t = _mm512_div_ps(set1(1.0f), _mm512_fmadd_ps(set1(0.5f), z, set1(1.0f)));
  V p = set1(0.17087277f);
  p = _mm512_fmadd_ps(p, t, set1(-0.82215223f));
  p = _mm512_fmadd_ps(p, t, set1(1.48851587f));
  p = _mm512_fmadd_ps(p, t, set1(-1.13520398f));
  p = _mm512_fmadd_ps(p, t, set1(0.27886807f));
  p = _mm512_fmadd_ps(p, t, set1(-0.18628806f));
  p = _mm512_fmadd_ps(p, t, set1(0.09678418f));
  p = _mm512_fmadd_ps(p, t, set1(0.37409196f));
  p = _mm512_fmadd_ps(p, t, set1(1.00002368f));
  p = _mm512_fmadd_ps(p, t, set1(-1.26551223f));
  const V ans = _mm512_mul_ps(t, vexp(_mm512_fnmadd_ps(z, z, p)));
  return blend(ge(x, _mm512_setzero_ps()), _mm512_sub_ps(set1(2.0f), ans), ans);
}

constexpr float kSqrt1_2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluC = 0.044715f;

template <typename F> inline void map1(float* y, const float* x, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, f(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const M m = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
  }
}
template <typename F> inline void map2(float* d, const float* g, const float* s, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, f(_mm512_loadu_ps(g + i), _mm512_loadu_ps(s + i)));
  if (i < n) {
    const M m = tail_mask(n - i);
    _mm512_mask_storeu_ps(d + i, m, f(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, s + i)));
  }
}

void forward(float* y, const float* x, int64_t n, const ActArgs& a) {
  const V zero = _mm512_setzero_ps(), one = set1(1.0f);
  const V alpha = set1(a.alpha), scale = set1(a.scale), iscale = set1(a.iscale), beta = set1(a.beta),
          thr = set1(a.thr), lo = set1(a.lo), hi = set1(a.hi);
  switch (a.kind) {
    case kActReLU:
      // x <= 0 ? 0 : x (NaN stays NaN, as torch)
      map1(y, x, n, [&](V v) { return _mm512_mask_mov_ps(v, le(v, zero), zero); });
      break;
    case kActLeakyReLU:
      map1(y, x, n, [&](V v) { return blend(gt(v, zero), _mm512_mul_ps(v, alpha), v); });
      break;
    case kActELU: {
      const V sa = _mm512_mul_ps(scale, alpha);
      map1(y, x, n, [&](V v) {
        const V neg = _mm512_mul_ps(sa, _mm512_sub_ps(vexp(_mm512_mul_ps(v, iscale)), one));
        return blend(gt(v, zero), neg, _mm512_mul_ps(scale, v));
      });
      break;
    }
    case kActGELU:
      map1(y, x, n, [&](V v) {
        return _mm512_mul_ps(_mm512_mul_ps(set1(0.5f), v), verfc(_mm512_mul_ps(v, set1(-kSqrt1_2))));
      });
      break;
    case kActGELUTanh:
      map1(y, x, n, [&](V v) {
        const V inner = _mm512_fmadd_ps(_mm512_mul_ps(set1(kGeluC), v), _mm512_mul_ps(v, v), v);
        return _mm512_mul_ps(v, vsigmoid(_mm512_mul_ps(set1(2 * kSqrt2OverPi), inner)));
      });
      break;
    case kActSiLU:
      map1(y, x, n, [&](V v) { return _mm512_div_ps(v, _mm512_add_ps(one, vexp(vneg(v)))); });
      break;
    case kActMish:
      map1(y, x, n, [&](V v) {
        const M small = lt(v, set1(20.0f));
        const V e = vexp(_mm512_min_ps(v, set1(20.0f)));
        const V m = _mm512_mul_ps(e, _mm512_add_ps(e, set1(2.0f)));
        return blend(small, v, _mm512_div_ps(_mm512_mul_ps(v, m), _mm512_add_ps(m, set1(2.0f))));
      });
      break;
    case kActSoftplus:
      map1(y, x, n, [&](V v) {
        const V z = _mm512_mul_ps(v, beta);
        // min_ps returns its second operand for NaN: NaN reaches vexp and stays NaN (torch)
        const V soft = _mm512_div_ps(vlog1p(vexp(_mm512_min_ps(thr, z))), beta);
        return blend(gt(z, thr), soft, v);
      });
      break;
    case kActSigmoid: map1(y, x, n, [&](V v) { return vsigmoid(v); }); break;
    case kActTanh: map1(y, x, n, [&](V v) { return vtanh(v); }); break;
    case kActHardtanh:
      map1(y, x, n, [&](V v) { return blend(lt(v, lo), blend(gt(v, hi), v, hi), lo); });
      break;
    case kActHardsigmoid:
      map1(y, x, n, [&](V v) {
        const V mid = _mm512_add_ps(_mm512_div_ps(v, set1(6.0f)), set1(0.5f));
        return blend(le(v, set1(-3.0f)), blend(ge(v, set1(3.0f)), mid, one), zero);
      });
      break;
    case kActHardswish:
      map1(y, x, n, [&](V v) {
        const V mid = _mm512_div_ps(_mm512_mul_ps(v, _mm512_add_ps(v, set1(3.0f))), set1(6.0f));
        // torch's x * relu6(x + 3) / 6: -0.0 below -3, NaN at -inf (-inf * 0)
        return blend(le(v, set1(-3.0f)), blend(ge(v, set1(3.0f)), mid, v), _mm512_mul_ps(v, zero));
      });
      break;
    default: break;
  }
}

void backward_input(float* d, const float* g, const float* x, int64_t n, const ActArgs& a) {
  const V zero = _mm512_setzero_ps(), one = set1(1.0f);
  const V alpha = set1(a.alpha), scale = set1(a.scale), iscale = set1(a.iscale), beta = set1(a.beta),
          thr = set1(a.thr), lo = set1(a.lo), hi = set1(a.hi);
  switch (a.kind) {
    // torch's threshold_backward: x <= 0 ? 0 : g (g at NaN)
    case kActReLU: map2(d, g, x, n, [&](V gv, V v) { return _mm512_mask_mov_ps(gv, le(v, zero), zero); }); break;
    case kActLeakyReLU:
      map2(d, g, x, n, [&](V gv, V v) { return blend(gt(v, zero), _mm512_mul_ps(gv, alpha), gv); });
      break;
    case kActELU: {
      const V k = _mm512_mul_ps(_mm512_mul_ps(iscale, scale), alpha);
      map2(d, g, x, n, [&](V gv, V v) {
        const V neg = _mm512_mul_ps(_mm512_mul_ps(gv, k), vexp(_mm512_mul_ps(v, iscale)));
        return blend(gt(v, zero), neg, _mm512_mul_ps(gv, scale));
      });
      break;
    }
    case kActGELU:
      map2(d, g, x, n, [&](V gv, V v) {
        const V cdf = _mm512_mul_ps(set1(0.5f), verfc(_mm512_mul_ps(v, set1(-kSqrt1_2))));
        const V pdf = _mm512_mul_ps(set1(kInvSqrt2Pi), vexp(_mm512_mul_ps(set1(-0.5f), _mm512_mul_ps(v, v))));
        return _mm512_mul_ps(gv, _mm512_fmadd_ps(v, pdf, cdf));
      });
      break;
    case kActGELUTanh:
      map2(d, g, x, n, [&](V gv, V v) {
        const V v2 = _mm512_mul_ps(v, v);
        const V inner = _mm512_fmadd_ps(_mm512_mul_ps(set1(kGeluC), v), v2, v);
        const V s = vsigmoid(_mm512_mul_ps(set1(2 * kSqrt2OverPi), inner));
        const V inner_d = _mm512_mul_ps(set1(kSqrt2OverPi), _mm512_fmadd_ps(set1(3 * kGeluC), v2, one));
        // s + 2 v s (1 - s) inner_d; where s saturates (s (1 - s) == 0) at a finite v, v * inner_d may be
        // inf, and the term is 0, not 0 * inf = NaN (at v = +-inf torch gives NaN, and so does this)
        const V w = _mm512_mul_ps(s, _mm512_sub_ps(one, s));
        const M keep = _mm512_cmp_ps_mask(w, zero, _CMP_NEQ_UQ) | _mm512_cmp_ps_mask(_mm512_sub_ps(v, v), zero,
                                                                                       _CMP_NEQ_UQ);
        const V t = _mm512_maskz_mov_ps(keep, _mm512_mul_ps(_mm512_mul_ps(_mm512_add_ps(v, v), w), inner_d));
        return _mm512_mul_ps(gv, _mm512_add_ps(t, s));
      });
      break;
    case kActSiLU:
      map2(d, g, x, n, [&](V gv, V v) {
        const V s = vsigmoid(v);
        return _mm512_mul_ps(_mm512_mul_ps(gv, s), _mm512_fmadd_ps(v, _mm512_sub_ps(one, s), one));
      });
      break;
    case kActMish:
      map2(d, g, x, n, [&](V gv, V v) {
        const M small = lt(v, set1(20.0f));
        const V e = vexp(_mm512_min_ps(v, set1(20.0f)));
        const V m = _mm512_mul_ps(e, _mm512_add_ps(e, set1(2.0f)));
        const V t = blend(small, one, _mm512_div_ps(m, _mm512_add_ps(m, set1(2.0f))));
        const V s = _mm512_div_ps(e, _mm512_add_ps(one, e));
        // t + v s (1 - t^2)
        const V q = _mm512_mul_ps(_mm512_mul_ps(v, s), _mm512_fnmadd_ps(t, t, one));
        return _mm512_mul_ps(gv, _mm512_add_ps(t, q));
      });
      break;
    case kActSoftplus:
      map2(d, g, x, n, [&](V gv, V v) {
        const V z = _mm512_mul_ps(v, beta);
        const V e = vexp(_mm512_min_ps(thr, z));  // NaN stays NaN
        return blend(gt(z, thr), _mm512_div_ps(_mm512_mul_ps(gv, e), _mm512_add_ps(e, one)), gv);
      });
      break;
    case kActSigmoid:
      map2(d, g, x, n, [&](V gv, V v) {
        const V s = vsigmoid(v);
        return _mm512_mul_ps(_mm512_mul_ps(gv, s), _mm512_sub_ps(one, s));
      });
      break;
    case kActTanh:
      map2(d, g, x, n, [&](V gv, V v) {
        const V t = vtanh(v);
        return _mm512_mul_ps(gv, _mm512_fnmadd_ps(t, t, one));
      });
      break;
    case kActHardtanh:
      map2(d, g, x, n, [&](V gv, V v) { return _mm512_maskz_mov_ps(gt(v, lo) & lt(v, hi), gv); });
      break;
    case kActHardsigmoid:
      map2(d, g, x, n, [&](V gv, V v) {
        return _mm512_maskz_mov_ps(gt(v, set1(-3.0f)) & lt(v, set1(3.0f)), _mm512_mul_ps(gv, set1(1.0f / 6.0f)));
      });
      break;
    case kActHardswish:
      map2(d, g, x, n, [&](V gv, V v) {
        const V mid = _mm512_mul_ps(gv, _mm512_add_ps(_mm512_div_ps(v, set1(3.0f)), set1(0.5f)));
        // NaN takes the middle branch (NaN), as torch's vectorized kernel
        return blend(le(v, set1(-3.0f)), blend(ge(v, set1(3.0f)), mid, gv), zero);
      });
      break;
    default: break;
  }
}

void backward_output(float* d, const float* g, const float* y, int64_t n, const ActArgs& a) {
  const V zero = _mm512_setzero_ps(), one = set1(1.0f);
  const V alpha = set1(a.alpha), scale = set1(a.scale), iscale = set1(a.iscale), lo = set1(a.lo), hi = set1(a.hi);
  switch (a.kind) {
    case kActReLU: map2(d, g, y, n, [&](V gv, V v) { return _mm512_mask_mov_ps(gv, le(v, zero), zero); }); break;
    case kActLeakyReLU:
      map2(d, g, y, n, [&](V gv, V v) { return blend(gt(v, zero), _mm512_mul_ps(gv, alpha), gv); });
      break;
    case kActELU: {
      const V sa = _mm512_mul_ps(scale, alpha);
      map2(d, g, y, n, [&](V gv, V v) {
        return blend(gt(v, zero), _mm512_mul_ps(_mm512_mul_ps(gv, iscale), _mm512_add_ps(v, sa)),
                     _mm512_mul_ps(gv, scale));
      });
      break;
    }
    case kActSigmoid:
      map2(d, g, y, n, [&](V gv, V v) { return _mm512_mul_ps(_mm512_mul_ps(gv, v), _mm512_sub_ps(one, v)); });
      break;
    case kActTanh:
      map2(d, g, y, n, [&](V gv, V v) { return _mm512_mul_ps(gv, _mm512_fnmadd_ps(v, v, one)); });
      break;
    case kActHardtanh:
      map2(d, g, y, n, [&](V gv, V v) { return _mm512_maskz_mov_ps(gt(v, lo) & lt(v, hi), gv); });
      break;
    default: break;  // the front door only sends kinds with backward_from_output_ok()
  }
}

// ---- softmax ----
constexpr float kNegInf = -__builtin_inff();

// One contiguous row of D (inner == 1): max pass, then e = exp(x - max) summed (and stored unless
// log) in a fixed lane order, then a scale / subtract pass.
void softmax_row(float* y, const float* x, int64_t D, bool log) {
  V m0 = set1(kNegInf), m1 = m0, m2 = m0, m3 = m0;
  int64_t i = 0;
  for (; i + 64 <= D; i += 64) {
    m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
    m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + 16));
    m2 = _mm512_max_ps(m2, _mm512_loadu_ps(x + i + 32));
    m3 = _mm512_max_ps(m3, _mm512_loadu_ps(x + i + 48));
  }
  for (; i < D; i += 16) m0 = _mm512_max_ps(m0, _mm512_mask_loadu_ps(set1(kNegInf), tail_mask(D - i), x + i));
  const float mx = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
  const V vm = set1(mx);
  V s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  i = 0;
  for (; i + 64 <= D; i += 64) {
    const V e0 = vexp(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    const V e1 = vexp(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm));
    const V e2 = vexp(_mm512_sub_ps(_mm512_loadu_ps(x + i + 32), vm));
    const V e3 = vexp(_mm512_sub_ps(_mm512_loadu_ps(x + i + 48), vm));
    s0 = _mm512_add_ps(s0, e0);
    s1 = _mm512_add_ps(s1, e1);
    s2 = _mm512_add_ps(s2, e2);
    s3 = _mm512_add_ps(s3, e3);
    if (!log) {
      _mm512_storeu_ps(y + i, e0);
      _mm512_storeu_ps(y + i + 16, e1);
      _mm512_storeu_ps(y + i + 32, e2);
      _mm512_storeu_ps(y + i + 48, e3);
    }
  }
  for (; i < D; i += 16) {
    const M mk = tail_mask(D - i);
    const V e = vexp(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), vm));
    s0 = _mm512_mask_add_ps(s0, mk, s0, e);
    if (!log) _mm512_mask_storeu_ps(y + i, mk, e);
  }
  const float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  // Full vectors unmasked, the tail masked: masked loads and stores over the whole row measured
  // twice as slow on Zen 5.
  if (log) {
    // (x - max) - log(sum), as torch: max + log(sum) would round log(sum) away when |max| is huge
    const V ls = set1(logf(sum));
    for (i = 0; i + 16 <= D; i += 16)
      _mm512_storeu_ps(y + i, _mm512_sub_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), ls));
    for (; i < D; i += 16) {
      const M mk = tail_mask(D - i);
      _mm512_mask_storeu_ps(y + i, mk, _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), vm), ls));
    }
  } else {
    const V inv = set1(1.0f / sum);
    for (i = 0; i + 16 <= D; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), inv));
    for (; i < D; i += 16) {
      const M mk = tail_mask(D - i);
      _mm512_mask_storeu_ps(y + i, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, y + i), inv));
    }
  }
}

void softmax_slab(float* y, const float* x, int64_t D, int64_t I, bool log) {
  if (I == 1) {
    softmax_row(y, x, D, log);
    return;
  }
  // Strided: 16 columns of the inner axis at a time, reduced along D.
  for (int64_t i0 = 0; i0 < I; i0 += 16) {
    const M mk = tail_mask(I - i0);
    V m = _mm512_mask_loadu_ps(set1(kNegInf), mk, x + i0);
    for (int64_t d = 1; d < D; ++d) m = _mm512_max_ps(m, _mm512_mask_loadu_ps(set1(kNegInf), mk, x + d * I + i0));
    V s = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; ++d) {
      const V e = vexp(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + d * I + i0), m));
      s = _mm512_add_ps(s, e);
      if (!log) _mm512_mask_storeu_ps(y + d * I + i0, mk, e);
    }
    if (log) {
      // masked-off lanes may hold NaN here; they are never stored
      const V ls = vlog(s);
      for (int64_t d = 0; d < D; ++d)
        _mm512_mask_storeu_ps(y + d * I + i0, mk,
                              _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + d * I + i0), m), ls));
    } else {
      const V inv = _mm512_div_ps(set1(1.0f), s);
      for (int64_t d = 0; d < D; ++d)
        _mm512_mask_storeu_ps(y + d * I + i0, mk, _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, y + d * I + i0), inv));
    }
  }
}

// softmax: dx = y (dy - sum(dy y)); log_softmax: dx = dy - e^y sum(dy).
void softmax_backward_slab(float* dx, const float* dy, const float* y, int64_t D, int64_t I, bool log) {
  if (I == 1) {
    V s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    if (log) {
      for (; i + 64 <= D; i += 64) {
        s0 = _mm512_add_ps(s0, _mm512_loadu_ps(dy + i));
        s1 = _mm512_add_ps(s1, _mm512_loadu_ps(dy + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_loadu_ps(dy + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_loadu_ps(dy + i + 48));
      }
      for (; i < D; i += 16) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(tail_mask(D - i), dy + i));
    } else {
      for (; i + 64 <= D; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(dy + i), _mm512_loadu_ps(y + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(dy + i + 16), _mm512_loadu_ps(y + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(dy + i + 32), _mm512_loadu_ps(y + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(dy + i + 48), _mm512_loadu_ps(y + i + 48), s3);
      }
      for (; i < D; i += 16) {
        const M mk = tail_mask(D - i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, dy + i), _mm512_maskz_loadu_ps(mk, y + i), s0);
      }
    }
    const V dot = set1(_mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))));
    if (log) {
      // unmasked and unrolled like the forward's exp loop, the tail masked (see softmax_row)
      for (i = 0; i + 32 <= D; i += 32) {
        const V e0 = vexp(_mm512_loadu_ps(y + i)), e1 = vexp(_mm512_loadu_ps(y + i + 16));
        _mm512_storeu_ps(dx + i, _mm512_fnmadd_ps(e0, dot, _mm512_loadu_ps(dy + i)));
        _mm512_storeu_ps(dx + i + 16, _mm512_fnmadd_ps(e1, dot, _mm512_loadu_ps(dy + i + 16)));
      }
      for (; i < D; i += 16) {
        const M mk = tail_mask(D - i);
        const V g = _mm512_maskz_loadu_ps(mk, dy + i), yv = _mm512_maskz_loadu_ps(mk, y + i);
        _mm512_mask_storeu_ps(dx + i, mk, _mm512_fnmadd_ps(vexp(yv), dot, g));
      }
    } else {
      for (i = 0; i + 16 <= D; i += 16)
        _mm512_storeu_ps(dx + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), _mm512_sub_ps(_mm512_loadu_ps(dy + i), dot)));
      for (; i < D; i += 16) {
        const M mk = tail_mask(D - i);
        const V g = _mm512_maskz_loadu_ps(mk, dy + i), yv = _mm512_maskz_loadu_ps(mk, y + i);
        _mm512_mask_storeu_ps(dx + i, mk, _mm512_mul_ps(yv, _mm512_sub_ps(g, dot)));
      }
    }
    return;
  }
  for (int64_t i0 = 0; i0 < I; i0 += 16) {
    const M mk = tail_mask(I - i0);
    V dot = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; ++d) {
      const V g = _mm512_maskz_loadu_ps(mk, dy + d * I + i0);
      dot = log ? _mm512_add_ps(dot, g) : _mm512_fmadd_ps(g, _mm512_maskz_loadu_ps(mk, y + d * I + i0), dot);
    }
    for (int64_t d = 0; d < D; ++d) {
      const V g = _mm512_maskz_loadu_ps(mk, dy + d * I + i0), yv = _mm512_maskz_loadu_ps(mk, y + d * I + i0);
      const V r = log ? _mm512_fnmadd_ps(vexp(yv), dot, g) : _mm512_mul_ps(yv, _mm512_sub_ps(g, dot));
      _mm512_mask_storeu_ps(dx + d * I + i0, mk, r);
    }
  }
}

}  // namespace

namespace detail {
ActSimdKernels act_kernels_avx512_f32() {
  return ActSimdKernels{"avx512_f32", forward, backward_input, backward_output, softmax_slab,
                        softmax_backward_slab};
}
}  // namespace detail

}  // namespace fl::cpu
