// Fast pooling kernels: max pooling, the general average pooling and its backward at stride 1 through the
// per-ISA plane kernels of cpu/pool2d_planes.h (vectors along rows), a 2x2 stride-2 average path (the common
// downsampling layer), and global average pooling. Same results as the references in
// ref/pool2d_ref.cpp (same comparison rule for the maximum, same summation order). Gradients are
// written (=). One task per (n, c) plane, so results do not depend on the thread count. Max pooling
// accepts a null indices pointer (inference: no indices written).

#include "cpu/kernels.h"
#include "cpu/parallel.h"
#include "cpu/vec_math.h"
#define FL_POOL_PLANES_VBYTES 16  // the portable path: SSE2 / NEON width
#include "cpu/pool2d_planes.h"

namespace fl::cpu {

namespace detail {
PoolPlaneKernels pool_planes_portable() { return plane_table("portable"); }
}  // namespace detail

const PoolPlaneKernels& pool_plane_kernels() {
#if defined(FL_HAVE_X86_SIMD)
  // Indexed by SimdLevel (Portable 0, AVX2 1, AVX512 2).
  static const PoolPlaneKernels tables[] = {detail::pool_planes_portable(), detail::pool_planes_avx2(),
                                            detail::pool_planes_avx512()};
  return tables[static_cast<int>(simd_level())];
#else
  static const PoolPlaneKernels portable = detail::pool_planes_portable();
  return portable;
#endif
}

namespace {

PoolPlaneArgs plane_args(const Pool2dParams& p) {
  return {p.H, p.W, p.P(), p.Q(), p.kh, p.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w,
          p.count_include_pad, p.divisor};
}

template <typename T> struct PlaneFns;
template <> struct PlaneFns<float> {
  static auto max(const PoolPlaneKernels& k) { return k.max_f32; }
  static auto avg(const PoolPlaneKernels& k) { return k.avg_f32; }
  static auto avg_backward_s1(const PoolPlaneKernels& k) { return k.avg_backward_s1_f32; }
};
template <> struct PlaneFns<double> {
  static auto max(const PoolPlaneKernels& k) { return k.max_f64; }
  static auto avg(const PoolPlaneKernels& k) { return k.avg_f64; }
  static auto avg_backward_s1(const PoolPlaneKernels& k) { return k.avg_backward_s1_f64; }
};

// Any max window through the plane kernels (vector columns where the stride allows); ind may be null.
template <typename T>
void max_planes(const TensorView& yv, int64_t* ind, const TensorView& xv, const Pool2dParams& p) {
  const auto fn = PlaneFns<T>::max(pool_plane_kernels());
  const PoolPlaneArgs a = plane_args(p);
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t HW = a.H * a.W, PQ = a.P * a.Q;
  parallel_for(p.N * p.C, HW + PQ * p.kh * p.kw, [&](int64_t nc) {
    fn(y + nc * PQ, ind ? ind + nc * PQ : nullptr, x + nc * HW, a);
  });
}

template <typename T>
void avg_planes(const TensorView& yv, const TensorView& xv, const Pool2dParams& p) {
  const auto fn = PlaneFns<T>::avg(pool_plane_kernels());
  const PoolPlaneArgs a = plane_args(p);
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t HW = a.H * a.W, PQ = a.P * a.Q;
  parallel_for(p.N * p.C, HW + PQ * p.kh * p.kw, [&](int64_t nc) { fn(y + nc * PQ, x + nc * HW, a); });
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

// Per plane: the scaled output gradients into scratch, then each is added over its window's rows.
template <typename T>
void avg_direct_backward(const TensorView& dxv, const TensorView& dyv, const Pool2dParams& p) {
  const T* dy = dyv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t H = p.H, W = p.W, P = p.P(), Q = p.Q();
  if (p.stride_w == 1) {  // vectors along the rows of dx (cpu/pool2d_planes.h)
    const auto fn = PlaneFns<T>::avg_backward_s1(pool_plane_kernels());
    const PoolPlaneArgs a = plane_args(p);
    parallel_for(p.N * p.C, H * W + P * Q * p.kh * p.kw,
                 [&](int64_t nc) { fn(dx + nc * H * W, dy + nc * P * Q, thread_scratch<T>(size_t(Q)), a); });
    return;
  }
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
  FL_POOL_DISPATCH(x, max_planes, y, ind, x, p);
}
void avg_pool2d_k2s2_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, avg_k2s2, y, x, p);
}
void avg_pool2d_k2s2_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p) {
  FL_POOL_DISPATCH(dy, avg_k2s2_backward, dx, dy, p);
}
void max_pool2d_direct_forward(const TensorView& y, int64_t* ind, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, max_planes, y, ind, x, p);
}
void avg_pool2d_direct_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p) {
  FL_POOL_DISPATCH(x, avg_planes, y, x, p);
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
