// Upsampling on the GPU (nearest, bilinear), with torch's source-index rules shared with the CPU code
// (upsample_nearest_src / upsample_linear_* in params.h). Gradients are written (=).
// The backward gathers without atomics: one thread per input row (n, c, ih) walks the output rows in order
// and adds the contributions that land in its row, in the CPU reference's order, so the sums are
// deterministic and match it.
#include "cuda/common.cuh"
#include "cuda/half_stage.cuh"

namespace fl::cuda {
namespace {

// A: the math type (float for the half types, whose source weights and sums are float32).
template <typename T, typename A = typename Accum<T>::type>
__global__ void upsample_forward_kernel(T* y, const T* x, Upsample2dParams p) {
  const A sh = upsample_linear_scale<A>(p.H, p.OH, p.align_corners, p.scale_h);
  const A sw = upsample_linear_scale<A>(p.W, p.OW, p.align_corners, p.scale_w);
  FL_GRID_LOOP(i, p.N * p.C * p.OH * p.OW) {
    const int64_t ow = i % p.OW, oh = (i / p.OW) % p.OH, nc = i / (p.OH * p.OW);
    const T* xp = x + nc * p.H * p.W;
    if (p.mode == UpsampleMode::Nearest) {
      const int64_t ih = upsample_nearest_src(oh, p.H, p.OH, p.scale_h, p.size_shortcuts);
      const int64_t iw = upsample_nearest_src(ow, p.W, p.OW, p.scale_w, p.size_shortcuts);
      y[i] = xp[ih * p.W + iw];
    } else {
      int64_t h0, h1, w0, w1;
      A lh, lw;
      upsample_linear_src<A>(oh, p.H, sh, p.align_corners, h0, h1, lh);
      upsample_linear_src<A>(ow, p.W, sw, p.align_corners, w0, w1, lw);
      y[i] = T((A(1) - lh) * ((A(1) - lw) * A(xp[h0 * p.W + w0]) + lw * A(xp[h0 * p.W + w1])) +
               lh * ((A(1) - lw) * A(xp[h1 * p.W + w0]) + lw * A(xp[h1 * p.W + w1])));
    }
  }
}

template <typename T>
__global__ void upsample_backward_rows_kernel(T* dx, const T* dy, Upsample2dParams p) {
  const T sh = upsample_linear_scale<T>(p.H, p.OH, p.align_corners, p.scale_h);
  const T sw = upsample_linear_scale<T>(p.W, p.OW, p.align_corners, p.scale_w);
  FL_GRID_LOOP(row, p.N * p.C * p.H) {
    const int64_t ih = row % p.H, nc = row / p.H;
    T* d = dx + row * p.W;
    const T* g = dy + nc * p.OH * p.OW;
    for (int64_t iw = 0; iw < p.W; ++iw) d[iw] = T(0);
    for (int64_t oh = 0; oh < p.OH; ++oh) {
      if (p.mode == UpsampleMode::Nearest) {
        if (upsample_nearest_src(oh, p.H, p.OH, p.scale_h, p.size_shortcuts) != ih) continue;
        for (int64_t ow = 0; ow < p.OW; ++ow)
          d[upsample_nearest_src(ow, p.W, p.OW, p.scale_w, p.size_shortcuts)] += g[oh * p.OW + ow];
        continue;
      }
      int64_t h0, h1, w0, w1;
      T lh, lw;
      upsample_linear_src<T>(oh, p.H, sh, p.align_corners, h0, h1, lh);
      if (h0 != ih && h1 != ih) continue;
      for (int64_t ow = 0; ow < p.OW; ++ow) {
        upsample_linear_src<T>(ow, p.W, sw, p.align_corners, w0, w1, lw);
        const T v = g[oh * p.OW + ow];
        if (h0 == ih) {
          d[w0] += (T(1) - lh) * (T(1) - lw) * v;
          d[w1] += (T(1) - lh) * lw * v;
        }
        if (h1 == ih) {
          d[w0] += lh * (T(1) - lw) * v;
          d[w1] += lh * lw * v;
        }
      }
    }
  }
}

}  // namespace

void upsample2d_forward(const TensorView& y, const TensorView& x, const Upsample2dParams& p, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    upsample_forward_kernel<T><<<blocks_for(y.numel()), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), p);
  });
  check_launch("upsample2d_forward");
}

void upsample2d_backward(const TensorView& dx, const TensorView& dy, const Upsample2dParams& p, Stream stream) {
  DeviceGuard guard(dy);
  if (is_half(dy.dtype)) {  // the row gather sums in its output: run it in float32 (cuda/half_stage.cuh)
    const FloatStage dyf(dy, stream, true), dxf(dx, stream, false);
    upsample_backward_rows_kernel<float><<<blocks_for(p.N * p.C * p.H, 128), 128, 0, stream>>>(dxf.ptr(), dyf.ptr(), p);
    check_launch("upsample2d_backward");
    dxf.store();
    return;
  }
  dispatch_float(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    upsample_backward_rows_kernel<T><<<blocks_for(p.N * p.C * p.H, 128), 128, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(), p);
  });
  check_launch("upsample2d_backward");
}

}  // namespace fl::cuda
