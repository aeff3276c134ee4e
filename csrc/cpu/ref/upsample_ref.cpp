// Naive upsampling, straight from torch's definitions (test oracle and fallback of last resort).
//   nearest:  y[oh, ow] = x[src(oh), src(ow)], src(d) = min(floor(d * s), In - 1), s = 1/scale or In/Out.
//   bilinear: y = sum over the 2x2 taps of x * (row weight) * (column weight), source positions by
//             align_corners (d * (In-1)/(Out-1)) or half-pixel ((d + 0.5) * s - 0.5, clamped at 0).
// The backward is the transposed map: each dy element added into the taps it read. Gradients are
// written (=): each plane of dx is zeroed, then accumulated by its own task in output order.
#include <algorithm>

#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::ref {
namespace {

template <typename T>
void forward(const TensorView& yv, const TensorView& xv, const Upsample2dParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    const T* xp = x + nc * p.H * p.W;
    T* yp = y + nc * p.OH * p.OW;
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        if (p.mode == UpsampleMode::Nearest) {
          const int64_t ih = upsample_nearest_src(oh, p.H, p.OH, p.scale_h, p.size_shortcuts);
          const int64_t iw = upsample_nearest_src(ow, p.W, p.OW, p.scale_w, p.size_shortcuts);
          yp[oh * p.OW + ow] = xp[ih * p.W + iw];
        } else {
          int64_t h0, h1, w0, w1;
          T lh, lw;
          upsample_linear_src<T>(oh, p.H, upsample_linear_scale<T>(p.H, p.OH, p.align_corners, p.scale_h),
                                 p.align_corners, h0, h1, lh);
          upsample_linear_src<T>(ow, p.W, upsample_linear_scale<T>(p.W, p.OW, p.align_corners, p.scale_w),
                                 p.align_corners, w0, w1, lw);
          yp[oh * p.OW + ow] = (T(1) - lh) * ((T(1) - lw) * xp[h0 * p.W + w0] + lw * xp[h0 * p.W + w1]) +
                               lh * ((T(1) - lw) * xp[h1 * p.W + w0] + lw * xp[h1 * p.W + w1]);
        }
      }
  });
}

template <typename T>
void backward(const TensorView& dxv, const TensorView& dyv, const Upsample2dParams& p) {
  T* dx = dxv.ptr<T>();
  const T* dy = dyv.ptr<T>();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    T* dxp = dx + nc * p.H * p.W;
    const T* dyp = dy + nc * p.OH * p.OW;
    std::fill(dxp, dxp + p.H * p.W, T(0));
    for (int64_t oh = 0; oh < p.OH; ++oh)
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        const T g = dyp[oh * p.OW + ow];
        if (p.mode == UpsampleMode::Nearest) {
          const int64_t ih = upsample_nearest_src(oh, p.H, p.OH, p.scale_h, p.size_shortcuts);
          const int64_t iw = upsample_nearest_src(ow, p.W, p.OW, p.scale_w, p.size_shortcuts);
          dxp[ih * p.W + iw] += g;
        } else {
          int64_t h0, h1, w0, w1;
          T lh, lw;
          upsample_linear_src<T>(oh, p.H, upsample_linear_scale<T>(p.H, p.OH, p.align_corners, p.scale_h),
                                 p.align_corners, h0, h1, lh);
          upsample_linear_src<T>(ow, p.W, upsample_linear_scale<T>(p.W, p.OW, p.align_corners, p.scale_w),
                                 p.align_corners, w0, w1, lw);
          dxp[h0 * p.W + w0] += (T(1) - lh) * (T(1) - lw) * g;
          dxp[h0 * p.W + w1] += (T(1) - lh) * lw * g;
          dxp[h1 * p.W + w0] += lh * (T(1) - lw) * g;
          dxp[h1 * p.W + w1] += lh * lw * g;
        }
      }
  });
}

}  // namespace

void upsample2d_forward(const TensorView& y, const TensorView& x, const Upsample2dParams& p) {
  FL_DISPATCH_FLOATING(x.dtype, forward<scalar_t>(y, x, p));
}

void upsample2d_backward(const TensorView& dx, const TensorView& dy, const Upsample2dParams& p) {
  FL_DISPATCH_FLOATING(dy.dtype, backward<scalar_t>(dx, dy, p));
}

}  // namespace fl::ref
