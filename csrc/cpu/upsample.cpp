// Fast upsampling kernels: the per-axis source indices and weights are computed once per call (by the
// calling thread, before the parallel region), then each (n, c) plane is one task: a gather in the
// forward, a scatter into its own dx plane in the backward, so results do not depend on the thread
// count. Same indices, weights and summation order as ref/upsample_ref.cpp.
#include <algorithm>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

// Taps and weights of one axis: out i reads i0[i] (weight 1 - l1[i]) and i1[i] (weight l1[i]).
template <typename T>
struct Axis {
  std::vector<int64_t> i0, i1;
  std::vector<T> l0, l1;
};

template <typename T>
Axis<T> make_axis(int64_t in, int64_t out, double scale, const Upsample2dParams& p) {
  Axis<T> a;
  a.i0.resize(out);
  if (p.mode == UpsampleMode::Nearest) {
    for (int64_t i = 0; i < out; ++i) a.i0[i] = upsample_nearest_src(i, in, out, scale, p.size_shortcuts);
    return a;
  }
  a.i1.resize(out);
  a.l0.resize(out);
  a.l1.resize(out);
  const T s = upsample_linear_scale<T>(in, out, p.align_corners, scale);
  for (int64_t i = 0; i < out; ++i) {
    upsample_linear_src<T>(i, in, s, p.align_corners, a.i0[i], a.i1[i], a.l1[i]);
    a.l0[i] = T(1) - a.l1[i];
  }
  return a;
}

template <typename T>
void forward(const TensorView& yv, const TensorView& xv, const Upsample2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const Axis<T> ah = make_axis<T>(p.H, p.OH, p.scale_h, p), aw = make_axis<T>(p.W, p.OW, p.scale_w, p);
  const int64_t W = p.W, OW = p.OW, OH = p.OH, HW = p.H * p.W;
  const int64_t* wi0 = aw.i0.data();
  if (p.mode == UpsampleMode::Nearest) {
    parallel_for(p.N * p.C, [&](int64_t nc) {
      const T* xp = x + nc * HW;
      T* yp = y + nc * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const T* xr = xp + ah.i0[oh] * W;
        T* yr = yp + oh * OW;
        if (oh > 0 && ah.i0[oh] == ah.i0[oh - 1]) {  // same source row: copy the previous output row
          std::copy(yr - OW, yr, yr);
          continue;
        }
        for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = xr[wi0[ow]];
      }
    });
    return;
  }
  const int64_t* wi1 = aw.i1.data();
  const T* wl0 = aw.l0.data();
  const T* wl1 = aw.l1.data();
  parallel_for(p.N * p.C, [&](int64_t nc) {
    const T* xp = x + nc * HW;
    T* yp = y + nc * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const T* r0 = xp + ah.i0[oh] * W;
      const T* r1 = xp + ah.i1[oh] * W;
      const T h0 = ah.l0[oh], h1 = ah.l1[oh];
      T* yr = yp + oh * OW;
      for (int64_t ow = 0; ow < OW; ++ow)
        yr[ow] = h0 * (wl0[ow] * r0[wi0[ow]] + wl1[ow] * r0[wi1[ow]]) +
                 h1 * (wl0[ow] * r1[wi0[ow]] + wl1[ow] * r1[wi1[ow]]);
    }
  });
}

template <typename T>
void backward(const TensorView& dxv, const TensorView& dyv, const Upsample2dParams& p) {
  T* dx = dxv.ptr<T>();
  const T* dy = dyv.ptr<T>();
  const Axis<T> ah = make_axis<T>(p.H, p.OH, p.scale_h, p), aw = make_axis<T>(p.W, p.OW, p.scale_w, p);
  const int64_t W = p.W, OW = p.OW, OH = p.OH, HW = p.H * p.W;
  const int64_t* wi0 = aw.i0.data();
  if (p.mode == UpsampleMode::Nearest) {
    parallel_for(p.N * p.C, [&](int64_t nc) {
      T* dxp = dx + nc * HW;
      const T* dyp = dy + nc * OH * OW;
      std::fill(dxp, dxp + HW, T(0));
      for (int64_t oh = 0; oh < OH; ++oh) {
        T* dr = dxp + ah.i0[oh] * W;
        const T* gr = dyp + oh * OW;
        for (int64_t ow = 0; ow < OW; ++ow) dr[wi0[ow]] += gr[ow];
      }
    });
    return;
  }
  const int64_t* wi1 = aw.i1.data();
  const T* wl0 = aw.l0.data();
  const T* wl1 = aw.l1.data();
  parallel_for(p.N * p.C, [&](int64_t nc) {
    T* dxp = dx + nc * HW;
    const T* dyp = dy + nc * OH * OW;
    std::fill(dxp, dxp + HW, T(0));
    for (int64_t oh = 0; oh < OH; ++oh) {
      T* r0 = dxp + ah.i0[oh] * W;
      T* r1 = dxp + ah.i1[oh] * W;
      const T h0 = ah.l0[oh], h1 = ah.l1[oh];
      const T* gr = dyp + oh * OW;
      for (int64_t ow = 0; ow < OW; ++ow) {
        const T g = gr[ow];
        r0[wi0[ow]] += h0 * wl0[ow] * g;
        r0[wi1[ow]] += h0 * wl1[ow] * g;
        r1[wi0[ow]] += h1 * wl0[ow] * g;
        r1[wi1[ow]] += h1 * wl1[ow] * g;
      }
    }
  });
}

}  // namespace

void upsample2d_direct_forward(const TensorView& y, const TensorView& x, const Upsample2dParams& p) {
  FL_DISPATCH_FLOATING(x.dtype, forward<scalar_t>(y, x, p));
}

void upsample2d_direct_backward(const TensorView& dx, const TensorView& dy, const Upsample2dParams& p) {
  FL_DISPATCH_FLOATING(dy.dtype, backward<scalar_t>(dx, dy, p));
}

}  // namespace fl::cpu
