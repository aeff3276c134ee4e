// Pooling on the GPU, the rules of the CPU reference (csrc/cpu/ref/pool2d_ref.cpp): max with indices (NaN
// wins, first maximum kept; indices are flat positions in each H*W plane), average with torch's divisor
// rules (avg_pool_window, shared with the CPU code), adaptive windows (adaptive_start/end), unpooling.
// Gradients are written (=). Backward passes gather (each input element sums the outputs whose windows
// cover it, in increasing output order) or, for index scatters, walk each plane in one thread, so no
// floating-point atomics are used and results are deterministic. float16 / bfloat16 storage computes in float.
#include "cuda/common.cuh"

namespace fl::cuda {
namespace {

template <typename T, typename A = typename Accum<T>::type>
__global__ void max_forward_kernel(T* y, int64_t* ind, const T* x, Pool2dParams p) {
  const int64_t P = p.P(), Q = p.Q();
  FL_GRID_LOOP(o, p.N * p.C * P * Q) {
    const int64_t ow = o % Q, oh = (o / Q) % P, nc = o / (P * Q);
    const T* xp = x + nc * p.H * p.W;
    A best = -INFINITY;
    int64_t best_i = -1;
    for (int64_t r = 0; r < p.kh; ++r) {
      const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t s = 0; s < p.kw; ++s) {
        const int64_t iw = ow * p.stride_w - p.pad_w + s * p.dil_w;
        if (iw < 0 || iw >= p.W) continue;
        const A v = A(xp[ih * p.W + iw]);
        if (best_i < 0) best_i = ih * p.W + iw;
        if (v > best || isnan(v)) { best = v; best_i = ih * p.W + iw; }
      }
    }
    y[o] = T(best);
    if (ind) ind[o] = best_i;  // -1: a window wholly in the padding, which the backward skips
  }
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void avg_forward_kernel(T* y, const T* x, Pool2dParams p) {
  const int64_t P = p.P(), Q = p.Q();
  FL_GRID_LOOP(o, p.N * p.C * P * Q) {
    const int64_t ow = o % Q, oh = (o / Q) % P, nc = o / (P * Q);
    const T* xp = x + nc * p.H * p.W;
    const AvgPoolWindow a = avg_pool_window(p, oh, ow);
    A sum = 0;
    for (int64_t ih = a.h0; ih < a.h1; ++ih)
      for (int64_t iw = a.w0; iw < a.w1; ++iw) sum += A(xp[ih * p.W + iw]);
    y[o] = T(a.empty() ? A(0) : sum / A(a.div));
  }
}

// Output rows whose window may cover input row i: [lo, hi] clipped to [0, out).
__device__ inline void covering(int64_t i, int64_t pad, int64_t k, int64_t stride, int64_t out, int64_t& lo,
                                int64_t& hi) {
  const int64_t a = i + pad - k + 1;  // windows start at o*stride; o*stride > i+pad-k covers
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  hi = (i + pad) / stride;
  if (hi > out - 1) hi = out - 1;
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void avg_backward_kernel(T* dx, const T* dy, Pool2dParams p) {
  const int64_t P = p.P(), Q = p.Q();
  FL_GRID_LOOP(i, p.N * p.C * p.H * p.W) {
    const int64_t iw = i % p.W, ih = (i / p.W) % p.H, nc = i / (p.H * p.W);
    int64_t oh0, oh1, ow0, ow1;
    covering(ih, p.pad_h, p.kh, p.stride_h, P, oh0, oh1);
    covering(iw, p.pad_w, p.kw, p.stride_w, Q, ow0, ow1);
    A acc = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const AvgPoolWindow a = avg_pool_window(p, oh, ow);
        if (a.empty() || ih < a.h0 || ih >= a.h1 || iw < a.w0 || iw >= a.w1) continue;
        acc += A(dy[(nc * P + oh) * Q + ow]) / A(a.div);
      }
    dx[i] = T(acc);
  }
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void adaptive_avg_forward_kernel(T* y, const T* x, AdaptivePool2dParams p) {
  FL_GRID_LOOP(o, p.N * p.C * p.OH * p.OW) {
    const int64_t ow = o % p.OW, oh = (o / p.OW) % p.OH, nc = o / (p.OH * p.OW);
    const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
    const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
    const T* xp = x + nc * p.H * p.W;
    A sum = 0;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) sum += A(xp[ih * p.W + iw]);
    y[o] = T(sum / A((h1 - h0) * (w1 - w0)));
  }
}

// Adaptive windows covering input index i: o from floor(i*Out/In) to floor(((i+1)*Out - 1)/In), checked.
template <typename T, typename A = typename Accum<T>::type>
__global__ void adaptive_avg_backward_kernel(T* dx, const T* dy, AdaptivePool2dParams p) {
  FL_GRID_LOOP(i, p.N * p.C * p.H * p.W) {
    const int64_t iw = i % p.W, ih = (i / p.W) % p.H, nc = i / (p.H * p.W);
    A acc = 0;
    for (int64_t oh = (ih * p.OH) / p.H; oh <= ((ih + 1) * p.OH - 1) / p.H && oh < p.OH; ++oh) {
      const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = (iw * p.OW) / p.W; ow <= ((iw + 1) * p.OW - 1) / p.W && ow < p.OW; ++ow) {
        const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
        if (iw < w0 || iw >= w1) continue;
        acc += A(dy[(nc * p.OH + oh) * p.OW + ow]) / A((h1 - h0) * (w1 - w0));
      }
    }
    dx[i] = T(acc);
  }
}

template <typename T, typename A = typename Accum<T>::type>
__global__ void adaptive_max_forward_kernel(T* y, int64_t* ind, const T* x, AdaptivePool2dParams p) {
  FL_GRID_LOOP(o, p.N * p.C * p.OH * p.OW) {
    const int64_t ow = o % p.OW, oh = (o / p.OW) % p.OH, nc = o / (p.OH * p.OW);
    const int64_t h0 = adaptive_start(oh, p.H, p.OH), h1 = adaptive_end(oh, p.H, p.OH);
    const int64_t w0 = adaptive_start(ow, p.W, p.OW), w1 = adaptive_end(ow, p.W, p.OW);
    const T* xp = x + nc * p.H * p.W;
    A best = -INFINITY;
    int64_t best_i = h0 * p.W + w0;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) {
        const A v = A(xp[ih * p.W + iw]);
        if (v > best || isnan(v)) { best = v; best_i = ih * p.W + iw; }
      }
    y[o] = T(best);
    ind[o] = best_i;
  }
}

// The smallest position (in the index array) of an invalid index (~0: none), as the CPU reference
// reports it. Integer atomics only.
__device__ unsigned long long g_bad_index;

__device__ void report_bad(int64_t pos) { atomicMin(&g_bad_index, static_cast<unsigned long long>(pos)); }

// Scatter of src planes into zeroed dst planes through indices laid out like src; one thread per plane
// walks it in order (add: max_pool2d_backward; set: max_unpool2d_forward, the last write wins).
template <typename T, typename A = typename Accum<T>::type>
__global__ void scatter_kernel(T* dst, const T* src, const int64_t* ind, int64_t planes, int64_t Ld, int64_t Ls,
                               bool add) {
  FL_GRID_LOOP(nc, planes) {
    T* d = dst + nc * Ld;
    const T* s = src + nc * Ls;
    const int64_t* id = ind + nc * Ls;
    for (int64_t i = 0; i < Ld; ++i) d[i] = T(0.0f);
    for (int64_t i = 0; i < Ls; ++i) {
      const int64_t j = id[i];
      if (j < 0 || j >= Ld) {  // -1 in a max-pool backward: a window with no element, adds nothing
        if (!(j == -1 && add)) report_bad(nc * Ls + i);
        continue;
      }
      if (add) d[j] = T(A(d[j]) + A(s[i])); else d[j] = s[i];
    }
  }
}

// dst[nc][i] = src[nc][ind[nc][i]] (max_unpool2d_backward).
template <typename T, typename A = typename Accum<T>::type>
__global__ void gather_kernel(T* dst, const T* src, const int64_t* ind, int64_t n, int64_t Ld, int64_t Ls) {
  FL_GRID_LOOP(i, n) {
    const int64_t j = ind[i];
    if (j < 0 || j >= Ls) { report_bad(i); dst[i] = T(0.0f); continue; }
    dst[i] = src[(i / Ld) * Ls + j];
  }
}

int64_t plane_len(const TensorView& v) { return v.numel() / (v.shape[0] * v.shape[1]); }

enum class IndexOp { ScatterAdd, ScatterSet, Gather };

// Runs an index kernel and returns the position of the first invalid index, or -1 (waits for the stream: a bad index
// must raise in the caller, as on the CPU).
int64_t index_op(const TensorView& dst, const TensorView& src, const int64_t* ind, IndexOp op, Stream stream,
                 const char* name) {
  DeviceGuard guard(dst);
  const unsigned long long none = ~0ULL;
  check(cudaMemcpyToSymbolAsync(g_bad_index, &none, sizeof(none), 0, cudaMemcpyHostToDevice, stream), name);
  const int64_t planes = dst.shape[0] * dst.shape[1], Ld = plane_len(dst), Ls = plane_len(src);
  dispatch_float_half(src.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (op == IndexOp::Gather)
      gather_kernel<T><<<blocks_for(dst.numel()), kThreads, 0, stream>>>(dst.ptr<T>(), src.ptr<T>(), ind, dst.numel(),
                                                                         Ld, Ls);
    else
      scatter_kernel<T><<<blocks_for(planes, 128), 128, 0, stream>>>(dst.ptr<T>(), src.ptr<T>(), ind, planes, Ld, Ls,
                                                                     op == IndexOp::ScatterAdd);
  });
  check_launch(name);
  unsigned long long bad = none;
  check(cudaMemcpyFromSymbolAsync(&bad, g_bad_index, sizeof(bad), 0, cudaMemcpyDeviceToHost, stream), name);
  check(cudaStreamSynchronize(stream), name);
  return bad == none ? -1 : static_cast<int64_t>(bad);
}

}  // namespace

void max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x, const Pool2dParams& p,
                        Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    max_forward_kernel<T><<<blocks_for(y.numel()), kThreads, 0, stream>>>(y.ptr<T>(), indices, x.ptr<T>(), p);
  });
  check_launch("max_pool2d_forward");
}

void avg_pool2d_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    avg_forward_kernel<T><<<blocks_for(y.numel()), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), p);
  });
  check_launch("avg_pool2d_forward");
}

void avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p, Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    avg_backward_kernel<T><<<blocks_for(dx.numel()), kThreads, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(), p);
  });
  check_launch("avg_pool2d_backward");
}

void adaptive_avg_pool2d_forward(const TensorView& y, const TensorView& x, const AdaptivePool2dParams& p,
                                 Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    adaptive_avg_forward_kernel<T><<<blocks_for(y.numel()), kThreads, 0, stream>>>(y.ptr<T>(), x.ptr<T>(), p);
  });
  check_launch("adaptive_avg_pool2d_forward");
}

void adaptive_avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const AdaptivePool2dParams& p,
                                  Stream stream) {
  DeviceGuard guard(dy);
  dispatch_float_half(dy.dtype, [&](auto tag) {
    using T = decltype(tag);
    adaptive_avg_backward_kernel<T><<<blocks_for(dx.numel()), kThreads, 0, stream>>>(dx.ptr<T>(), dy.ptr<T>(), p);
  });
  check_launch("adaptive_avg_pool2d_backward");
}

void adaptive_max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x,
                                 const AdaptivePool2dParams& p, Stream stream) {
  DeviceGuard guard(x);
  dispatch_float_half(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    adaptive_max_forward_kernel<T><<<blocks_for(y.numel()), kThreads, 0, stream>>>(y.ptr<T>(), indices, x.ptr<T>(), p);
  });
  check_launch("adaptive_max_pool2d_forward");
}

int64_t index_scatter_add(const TensorView& dst, const TensorView& src, const int64_t* ind, Stream stream) {
  return index_op(dst, src, ind, IndexOp::ScatterAdd, stream, "max_pool2d_backward");
}
int64_t index_scatter_set(const TensorView& dst, const TensorView& src, const int64_t* ind, Stream stream) {
  return index_op(dst, src, ind, IndexOp::ScatterSet, stream, "max_unpool2d_forward");
}
int64_t index_gather(const TensorView& dst, const TensorView& src, const int64_t* ind, Stream stream) {
  return index_op(dst, src, ind, IndexOp::Gather, stream, "max_unpool2d_backward");
}

}  // namespace fl::cuda
