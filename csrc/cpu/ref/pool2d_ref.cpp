// Naive pooling, straight from torch's definitions; test oracles and the fallback of last resort.
// Gradients are written (=): each plane of dx is zeroed, then filled by its own task.
//   max: y = max over the window (NaN wins, first maximum kept), index = ih * W + iw of the winner
//        (-1 for a window with no element; indices may be null: not written).
//   avg: y = sum over the in-range part of the window / divisor, where the divisor is the override, or
//        the window clipped to the padded input (count_include_pad), or the window clipped to the input.
//   adaptive: window i of Out spans [floor(i*In/Out), ceil((i+1)*In/Out)).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "cpu/kernels.h"
#include "cpu/parallel.h"

namespace fl::ref {
namespace {

template <typename T>
void max_forward(const TensorView& yv, int64_t* ind, const TensorView& xv, const Pool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    const T* xp = x + nc * p.H * p.W;
    for (int64_t oh = 0; oh < P; ++oh)
      for (int64_t ow = 0; ow < Q; ++ow) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_i = -1;
        for (int64_t r = 0; r < p.kh; ++r) {
          const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
          if (ih < 0 || ih >= p.H) continue;
          for (int64_t s = 0; s < p.kw; ++s) {
            const int64_t iw = ow * p.stride_w - p.pad_w + s * p.dil_w;
            if (iw < 0 || iw >= p.W) continue;
            const T v = xp[ih * p.W + iw];
            if (best_i < 0) best_i = ih * p.W + iw;
            if (v > best || std::isnan(v)) {
              best = v;
              best_i = ih * p.W + iw;
            }
          }
        }
        const int64_t o = (nc * P + oh) * Q + ow;
        y[o] = best;
        // A window wholly in the padding (possible with dilation) has no element: -inf and index -1,
        // which the backward skips (torch returns an index outside the window there, even outside the
        // plane, and its backward writes the gradient into another plane).
        if (ind) ind[o] = best_i;
      }
  });
}

template <typename T>
void avg_forward(const TensorView& yv, const TensorView& xv, const Pool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    const T* xp = x + nc * p.H * p.W;
    for (int64_t oh = 0; oh < P; ++oh)
      for (int64_t ow = 0; ow < Q; ++ow) {
        const AvgPoolWindow a = avg_pool_window(p, oh, ow);
        T sum = 0;
        for (int64_t ih = a.h0; ih < a.h1; ++ih)
          for (int64_t iw = a.w0; iw < a.w1; ++iw) sum += xp[ih * p.W + iw];
        y[(nc * P + oh) * Q + ow] = a.empty() ? T(0) : sum / T(a.div);
      }
  });
}

template <typename T>
void avg_backward(const TensorView& dxv, const TensorView& dyv, const Pool2dParams& p) {
  const T* dy = dyv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    T* dxp = dx + nc * p.H * p.W;
    for (int64_t i = 0; i < p.H * p.W; ++i) dxp[i] = 0;
    for (int64_t oh = 0; oh < P; ++oh)
      for (int64_t ow = 0; ow < Q; ++ow) {
        const AvgPoolWindow a = avg_pool_window(p, oh, ow);
        if (a.empty()) continue;
        const T g = dy[(nc * P + oh) * Q + ow] / T(a.div);
        for (int64_t ih = a.h0; ih < a.h1; ++ih)
          for (int64_t iw = a.w0; iw < a.w1; ++iw) dxp[ih * p.W + iw] += g;
      }
  });
}

template <typename T>
void adaptive_avg_forward(const TensorView& yv, const TensorView& xv, const AdaptivePool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    const T* xp = x + nc * p.H * p.W;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
        T sum = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * p.W + iw];
        y[(nc * p.OH + oh) * p.OW + ow] = sum / T((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <typename T>
void adaptive_avg_backward(const TensorView& dxv, const TensorView& dyv, const AdaptivePool2dParams& p) {
  const T* dy = dyv.ptr<T>();
  T* dx = dxv.ptr<T>();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    T* dxp = dx + nc * p.H * p.W;
    for (int64_t i = 0; i < p.H * p.W; ++i) dxp[i] = 0;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
        const T g = dy[(nc * p.OH + oh) * p.OW + ow] / T((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) dxp[ih * p.W + iw] += g;
      }
    }
  });
}

template <typename T>
void adaptive_max_forward(const TensorView& yv, int64_t* ind, const TensorView& xv, const AdaptivePool2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    const T* xp = x + nc * p.H * p.W;
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
        T best = -std::numeric_limits<T>::infinity();
        int64_t best_i = h0 * p.W + w0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) {
            const T v = xp[ih * p.W + iw];
            if (v > best || std::isnan(v)) {
              best = v;
              best_i = ih * p.W + iw;
            }
          }
        y[(nc * p.OH + oh) * p.OW + ow] = best;
        ind[(nc * p.OH + oh) * p.OW + ow] = best_i;
      }
    }
  });
}

// The planes are the first two axes of both views; the rest of each is one flat plane.
inline int64_t plane_len(const TensorView& v) { return v.numel() / (v.shape[0] * v.shape[1]); }

enum class IndexOp { ScatterAdd, ScatterSet, Gather };

// dst and src share N x C; indices are laid out like src (scatters) or dst (gather) and index into the
// other one's plane. One task per plane, so no two tasks touch the same memory. Returns the position in
// the index array of the first invalid index (the smallest position, whatever the thread count), or -1.
// An index of -1 (a max window with no element) adds nothing in ScatterAdd; it is invalid elsewhere.
template <typename T>
int64_t index_op(const TensorView& dstv, const TensorView& srcv, const int64_t* ind, IndexOp op) {
  const T* src = srcv.ptr<T>();
  T* dst = dstv.ptr<T>();
  const int64_t planes = dstv.shape[0] * dstv.shape[1];
  if (planes == 0) return -1;
  const int64_t Ld = plane_len(dstv), Ls = plane_len(srcv);
  const int64_t none = std::numeric_limits<int64_t>::max();
  std::atomic<int64_t> first_bad{none};
  auto report = [&](int64_t pos) {
    int64_t cur = first_bad.load();
    while (pos < cur && !first_bad.compare_exchange_weak(cur, pos)) {
    }
  };
  cpu::parallel_for(planes, [&](int64_t nc) {
    T* d = dst + nc * Ld;
    const T* s = src + nc * Ls;
    if (op == IndexOp::Gather) {
      const int64_t* id = ind + nc * Ld;
      for (int64_t i = 0; i < Ld; ++i) {
        const int64_t j = id[i];
        if (j < 0 || j >= Ls) {
          report(nc * Ld + i);
          d[i] = 0;
          continue;
        }
        d[i] = s[j];
      }
      return;
    }
    const int64_t* id = ind + nc * Ls;
    for (int64_t i = 0; i < Ld; ++i) d[i] = 0;
    for (int64_t i = 0; i < Ls; ++i) {
      const int64_t j = id[i];
      if (j < 0 || j >= Ld) {
        if (!(j == -1 && op == IndexOp::ScatterAdd)) report(nc * Ls + i);
        continue;
      }
      if (op == IndexOp::ScatterAdd) d[j] += s[i];
      else d[j] = s[i];
    }
  });
  const int64_t bad = first_bad.load();
  return bad == none ? -1 : bad;
}

}  // namespace

#define FL_POOL_DISPATCH(view, fn, ...) \
  do { if ((view).dtype == DType::Float32) fn<float>(__VA_ARGS__); else fn<double>(__VA_ARGS__); } while (0)

void max_pool2d_forward(const TensorView& y, int64_t* ind, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, max_forward, y, ind, x, p);
}
void avg_pool2d_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, avg_forward, y, x, p);
}
void avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p) {
  FL_POOL_DISPATCH(dy, avg_backward, dx, dy, p);
}
void adaptive_avg_pool2d_forward(const TensorView& y, const TensorView& x, const AdaptivePool2dParams& p) {
  FL_POOL_DISPATCH(x, adaptive_avg_forward, y, x, p);
}
void adaptive_avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const AdaptivePool2dParams& p) {
  FL_POOL_DISPATCH(dy, adaptive_avg_backward, dx, dy, p);
}
void adaptive_max_pool2d_forward(const TensorView& y, int64_t* ind, const TensorView& x,
                                 const AdaptivePool2dParams& p) {
  FL_POOL_DISPATCH(x, adaptive_max_forward, y, ind, x, p);
}
#undef FL_POOL_DISPATCH

int64_t index_scatter_add(const TensorView& dst, const TensorView& src, const int64_t* ind) {
  return src.dtype == DType::Float32 ? index_op<float>(dst, src, ind, IndexOp::ScatterAdd)
                                     : index_op<double>(dst, src, ind, IndexOp::ScatterAdd);
}
int64_t index_scatter_set(const TensorView& dst, const TensorView& src, const int64_t* ind) {
  return src.dtype == DType::Float32 ? index_op<float>(dst, src, ind, IndexOp::ScatterSet)
                                     : index_op<double>(dst, src, ind, IndexOp::ScatterSet);
}
int64_t index_gather(const TensorView& dst, const TensorView& src, const int64_t* ind) {
  return src.dtype == DType::Float32 ? index_op<float>(dst, src, ind, IndexOp::Gather)
                                     : index_op<double>(dst, src, ind, IndexOp::Gather);
}

}  // namespace fl::ref
