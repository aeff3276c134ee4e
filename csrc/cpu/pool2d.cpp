// Fast pooling kernels: a 2x2 stride-2 path (the common downsampling layer), direct kernels with the
// window bounds hoisted out of the inner loops, and global average pooling. Same results as the
// references in ref/pool2d_ref.cpp (same comparison rule for the maximum, same summation order).
// Gradients are written (=). One task per (n, c) plane, so results do not depend on the thread count.
#include <cmath>
#include <limits>

#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "cpu/vec_math.h"

namespace fl::cpu {
namespace {

// First and one-past-last tap t of a window starting at `start` (step dil, k taps) inside [0, n).
inline void tap_range(int64_t start, int64_t k, int64_t dil, int64_t n, int64_t& lo, int64_t& hi) {
  if (dil == 1) {  // the usual case, without the integer divisions (per output, they dominated small windows)
    lo = start < 0 ? -start : 0;
    hi = n - start < k ? n - start : k;
    if (hi < 0) hi = 0;
    return;
  }
  lo = start < 0 ? (-start + dil - 1) / dil : 0;
  hi = n - start <= 0 ? 0 : (n - start + dil - 1) / dil;
  if (hi > k) hi = k;
}

template <typename T>
void max_k2s2(const TensorView& yv, int64_t* ind, const TensorView& xv, const Pool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t H = p.H, W = p.W, P = p.P(), Q = p.Q();
  parallel_for(p.N * p.C, H * W + P * Q * p.kh * p.kw, [&](int64_t nc) {
    const T* xp = x + nc * H * W;
    for (int64_t oh = 0; oh < P; ++oh) {
      const T* r0 = xp + 2 * oh * W;
      const T* r1 = r0 + W;
      T* yr = y + (nc * P + oh) * Q;
      int64_t* ir = ind + (nc * P + oh) * Q;
      const int64_t base = 2 * oh * W;
      for (int64_t ow = 0; ow < Q; ++ow) {
        const int64_t c = 2 * ow;
        const T a = r0[c], b = r0[c + 1], d0 = r1[c], d1 = r1[c + 1];
        // Branchless selects (random data defeats branch prediction); same rule as the reference.
        T m = a;
        int64_t i = base + c;
        bool t = (b > m) | (b != b);
        m = t ? b : m;
        i = t ? base + c + 1 : i;
        t = (d0 > m) | (d0 != d0);
        m = t ? d0 : m;
        i = t ? base + W + c : i;
        t = (d1 > m) | (d1 != d1);
        m = t ? d1 : m;
        i = t ? base + W + c + 1 : i;
        yr[ow] = m;
        ir[ow] = i;
      }
    }
  });
}

template <typename T>
void avg_k2s2(const TensorView& yv, const TensorView& xv, const Pool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t H = p.H, W = p.W, P = p.P(), Q = p.Q();
  const T div = T(p.divisor != 0 ? p.divisor : 4);
  parallel_for(p.N * p.C, H * W + P * Q * p.kh * p.kw, [&](int64_t nc) {
    const T* xp = x + nc * H * W;
    for (int64_t oh = 0; oh < P; ++oh) {
      const T* r0 = xp + 2 * oh * W;
      const T* r1 = r0 + W;
      T* yr = y + (nc * P + oh) * Q;
      for (int64_t ow = 0; ow < Q; ++ow) {
        const int64_t c = 2 * ow;
        yr[ow] = (((r0[c] + r0[c + 1]) + r1[c]) + r1[c + 1]) / div;
      }
    }
  });
}

template <typename T>
void avg_k2s2_backward(const TensorView& dxv, const TensorView& dyv, const Pool2dParams& p) {
  const T* dy = dyv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t H = p.H, W = p.W, P = p.P(), Q = p.Q();
  const T div = T(p.divisor != 0 ? p.divisor : 4);
  parallel_for(p.N * p.C, H * W + P * Q * p.kh * p.kw, [&](int64_t nc) {
    T* dxp = dx + nc * H * W;
    for (int64_t ih = 0; ih < H; ++ih) {
      T* row = dxp + ih * W;
      const int64_t oh = ih / 2;
      if (oh >= P) {  // a last odd row no window reads
        for (int64_t iw = 0; iw < W; ++iw) row[iw] = 0;
        continue;
      }
      const T* g = dy + (nc * P + oh) * Q;
      for (int64_t ow = 0; ow < Q; ++ow) {
        const T v = g[ow] / div;
        row[2 * ow] = v;
        row[2 * ow + 1] = v;
      }
      for (int64_t iw = 2 * Q; iw < W; ++iw) row[iw] = 0;
    }
  });
}

template <typename T>
void max_direct(const TensorView& yv, int64_t* ind, const TensorView& xv, const Pool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t H = p.H, W = p.W, P = p.P(), Q = p.Q();
  parallel_for(p.N * p.C, H * W + P * Q * p.kh * p.kw, [&](int64_t nc) {
    const T* xp = x + nc * H * W;
    for (int64_t oh = 0; oh < P; ++oh) {
      const int64_t hs = oh * p.stride_h - p.pad_h;
      int64_t rlo, rhi;
      tap_range(hs, p.kh, p.dil_h, H, rlo, rhi);
      T* yr = y + (nc * P + oh) * Q;
      int64_t* ir = ind + (nc * P + oh) * Q;
      for (int64_t ow = 0; ow < Q; ++ow) {
        const int64_t ws = ow * p.stride_w - p.pad_w;
        int64_t slo, shi;
        tap_range(ws, p.kw, p.dil_w, W, slo, shi);
        T best = -std::numeric_limits<T>::infinity();
        int64_t bi = (hs + rlo * p.dil_h) * W + ws + slo * p.dil_w;
        for (int64_t r = rlo; r < rhi; ++r) {
          const int64_t off = (hs + r * p.dil_h) * W;
          for (int64_t s = slo; s < shi; ++s) {
            const int64_t i = off + ws + s * p.dil_w;
            const T v = xp[i];
            const bool t = (v > best) | (v != v);
            best = t ? v : best;
            bi = t ? i : bi;
          }
        }
        yr[ow] = best;
        ir[ow] = (rlo < rhi && slo < shi) ? bi : 0;
      }
    }
  });
}

template <typename T>
void avg_direct(const TensorView& yv, const TensorView& xv, const Pool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t H = p.H, W = p.W, P = p.P(), Q = p.Q();
  parallel_for(p.N * p.C, H * W + P * Q * p.kh * p.kw, [&](int64_t nc) {
    const T* xp = x + nc * H * W;
    for (int64_t oh = 0; oh < P; ++oh) {
      T* yr = y + (nc * P + oh) * Q;
      for (int64_t ow = 0; ow < Q; ++ow) {
        const AvgPoolWindow a = avg_pool_window(p, oh, ow);
        if (a.empty()) {
          yr[ow] = 0;
          continue;
        }
        T sum = 0;
        for (int64_t ih = a.h0; ih < a.h1; ++ih) {
          const T* row = xp + ih * W;
          for (int64_t iw = a.w0; iw < a.w1; ++iw) sum += row[iw];
        }
        yr[ow] = sum / T(a.div);
      }
    }
  });
}

// Per plane: the scaled output gradients into scratch, then each is added over its window's rows.
template <typename T>
void avg_direct_backward(const TensorView& dxv, const TensorView& dyv, const Pool2dParams& p) {
  const T* dy = dyv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t H = p.H, W = p.W, P = p.P(), Q = p.Q();
  parallel_for(p.N * p.C, H * W + P * Q * p.kh * p.kw, [&](int64_t nc) {
    T* dxp = dx + nc * H * W;
    for (int64_t i = 0; i < H * W; ++i) dxp[i] = 0;
    const T* g = dy + nc * P * Q;
    for (int64_t oh = 0; oh < P; ++oh)
      for (int64_t ow = 0; ow < Q; ++ow) {
        const AvgPoolWindow a = avg_pool_window(p, oh, ow);
        if (a.empty()) continue;
        const T v = g[oh * Q + ow] / T(a.div);
        for (int64_t ih = a.h0; ih < a.h1; ++ih) {
          T* row = dxp + ih * W;
          for (int64_t iw = a.w0; iw < a.w1; ++iw) row[iw] += v;
        }
      }
  });
}

template <typename T>
void global_avg(const TensorView& yv, const TensorView& xv, const AdaptivePool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t L = p.H * p.W;
  // row_sum adds in interleaved lanes (it vectorizes; one serial chain of adds per plane was
  // latency-bound), in a fixed order.
  parallel_for(p.N * p.C, L, [&](int64_t nc) { y[nc] = row_sum(x + nc * L, L) / T(L); });
}

template <typename T>
void global_avg_backward(const TensorView& dxv, const TensorView& dyv, const AdaptivePool2dParams& p) {
  const T* dy = dyv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t L = p.H * p.W;
  parallel_for(p.N * p.C, L, [&](int64_t nc) {
    const T v = dy[nc] / T(L);
    T* dxp = dx + nc * L;
    for (int64_t i = 0; i < L; ++i) dxp[i] = v;
  });
}

}  // namespace

#define FL_POOL_DISPATCH(view, fn, ...) \
  do { if ((view).dtype == DType::Float32) fn<float>(__VA_ARGS__); else fn<double>(__VA_ARGS__); } while (0)

bool pool2d_k2s2_accepts(const Pool2dParams& p) {
  return p.kh == 2 && p.kw == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 && p.pad_w == 0 &&
         p.dil_h == 1 && p.dil_w == 1 && 2 * p.P() <= p.H && 2 * p.Q() <= p.W;
}
void max_pool2d_k2s2_forward(const TensorView& y, int64_t* ind, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, max_k2s2, y, ind, x, p);
}
void avg_pool2d_k2s2_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, avg_k2s2, y, x, p);
}
void avg_pool2d_k2s2_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p) {
  FL_POOL_DISPATCH(dy, avg_k2s2_backward, dx, dy, p);
}
void max_pool2d_direct_forward(const TensorView& y, int64_t* ind, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, max_direct, y, ind, x, p);
}
void avg_pool2d_direct_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, avg_direct, y, x, p);
}
void avg_pool2d_direct_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p) {
  FL_POOL_DISPATCH(dy, avg_direct_backward, dx, dy, p);
}
bool adaptive_pool2d_global_accepts(const AdaptivePool2dParams& p) { return p.OH == 1 && p.OW == 1; }
void adaptive_avg_pool2d_global_forward(const TensorView& y, const TensorView& x, const AdaptivePool2dParams& p) {
  FL_POOL_DISPATCH(x, global_avg, y, x, p);
}
void adaptive_avg_pool2d_global_backward(const TensorView& dx, const TensorView& dy,
                                         const AdaptivePool2dParams& p) {
  FL_POOL_DISPATCH(dy, global_avg_backward, dx, dy, p);
}
#undef FL_POOL_DISPATCH

}  // namespace fl::cpu
