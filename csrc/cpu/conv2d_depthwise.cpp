// Direct depthwise 2-D convolution: every group has one input channel (groups == C), each feeding
// Kg = K / C output channels (the channel multiplier, usually 1). Gradients are WRITTEN (=).
//
// The kernels work on whole planes: output channel k reads input channel c = k / Kg. Along a row they
// run over the output columns q whose taps are inside the input (the interior, a plain loop the
// compiler vectorizes for stride 1), leaving the padding columns out, so no bounds test is inside.
//
// Threads: forward over (n, k) planes, backward data over (n, c) planes (each task gathers the Kg
// output channels of its input channel, so no two tasks write the same dx), backward weight over k
// with the sum over n, p and q in one fixed order: results do not depend on the thread count.
#include <algorithm>
#include <cstring>

#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::cpu {
namespace {

// Output columns q whose tap s reads inside the input: [lo, hi), and the input column of q = lo.
struct Cols {
  int64_t lo, hi, off;  // iw = q * sw + off
};

Cols tap_cols(const Conv2dParams& p, int64_t s, int64_t Q) {
  const int64_t off = s * p.dil_w - p.pad_w;
  int64_t lo = off >= 0 ? 0 : ceil_div(-off, p.stride_w);
  int64_t hi = p.W - 1 - off < 0 ? 0 : (p.W - 1 - off) / p.stride_w + 1;
  lo = std::min(lo, Q);
  hi = std::max(lo, std::min(hi, Q));
  return {lo, hi, off};
}

DwGeom geometry(const Conv2dParams& p) {
  return DwGeom{p.H, p.W, p.P(), p.Q(), p.R, p.S, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dil_h, p.dil_w};
}

// Sum of a plane in a fixed order.
template <typename T>
T plane_sum(const T* d, int64_t n) {
  T part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int u = 0; u < 8; ++u) part[u] += d[i + u];
  T s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; i < n; ++i) s += d[i];
  return s;
}

template <typename T>
void forward(const TensorView& yv, const TensorView& xv, const TensorView& wv, const TensorView& bv,
             const Conv2dParams& p) {
  const T* x = xv.ptr<T>();
  const T* w = wv.ptr<T>();
  const T* bias = bv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q(), Kg = p.Kg(), HW = p.H * p.W, RS = p.R * p.S, sw = p.stride_w;
  const DwForwardFn<T> simd = sw == 1 ? conv_kernels<T>(simd_level()).dw_forward : nullptr;
  const DwGeom geom = geometry(p);
  parallel_for(p.N * p.K, [&](int64_t nk) {
    const int64_t n = nk / p.K, k = nk % p.K, c = k / Kg;
    const T* xp = x + (n * p.C + c) * HW;
    const T* wk = w + k * RS;
    T* yp = y + nk * P * Q;
    const T b0 = bias ? bias[k] : T(0);
    if (simd) {
      simd(xp, wk, b0, yp, geom, false);
      return;
    }
    Cols* cols = thread_scratch<Cols>(static_cast<size_t>(p.S), 0);
    for (int64_t s = 0; s < p.S; ++s) cols[s] = tap_cols(p, s, Q);
    for (int64_t oh = 0; oh < P; ++oh) {
      T* yr = yp + oh * Q;
      for (int64_t q = 0; q < Q; ++q) yr[q] = b0;
      for (int64_t r = 0; r < p.R; ++r) {
        const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
        if (ih < 0 || ih >= p.H) continue;
        const T* xr = xp + ih * p.W;
        for (int64_t s = 0; s < p.S; ++s) {
          const T wt = wk[r * p.S + s];
          const Cols cs = cols[s];
          const T* xs = xr + cs.off;
          if (sw == 1)
            for (int64_t q = cs.lo; q < cs.hi; ++q) yr[q] += wt * xs[q];
          else
            for (int64_t q = cs.lo; q < cs.hi; ++q) yr[q] += wt * xs[q * sw];
        }
      }
    }
  });
}

template <typename T>
void backward_data(const TensorView& dxv, const TensorView& dyv, const TensorView& wv, const Conv2dParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* w = wv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q(), Kg = p.Kg(), HW = p.H * p.W, RS = p.R * p.S, sw = p.stride_w;
  // Stride 1: dx is the forward correlation of dy with the flipped kernel, padding dil*(k-1) - pad.
  const DwForwardFn<T> simd =
      p.stride_h == 1 && p.stride_w == 1 ? conv_kernels<T>(simd_level()).dw_forward : nullptr;
  const DwGeom flipped{P, Q, p.H, p.W, p.R, p.S, 1, 1, p.dil_h * (p.R - 1) - p.pad_h, p.dil_w * (p.S - 1) - p.pad_w,
                       p.dil_h, p.dil_w};
  parallel_for(p.N * p.C, [&](int64_t nc) {
    const int64_t n = nc / p.C, c = nc % p.C;
    T* xp = dx + nc * HW;
    if (simd) {
      T* wf = thread_scratch<T>(static_cast<size_t>(RS), 0);
      for (int64_t kk = 0; kk < Kg; ++kk) {
        const int64_t k = c * Kg + kk;
        for (int64_t i = 0; i < RS; ++i) wf[i] = w[k * RS + RS - 1 - i];
        simd(dy + (n * p.K + k) * P * Q, wf, T(0), xp, flipped, kk > 0);
      }
      return;
    }
    std::memset(xp, 0, sizeof(T) * HW);
    Cols* cols = thread_scratch<Cols>(static_cast<size_t>(p.S), 0);
    for (int64_t s = 0; s < p.S; ++s) cols[s] = tap_cols(p, s, Q);
    for (int64_t kk = 0; kk < Kg; ++kk) {
      const int64_t k = c * Kg + kk;
      const T* dyp = dy + (n * p.K + k) * P * Q;
      const T* wk = w + k * RS;
      // Input row ih gathers output rows oh with oh*sh - ph + r*dh == ih; scattering output rows in
      // ascending order keeps every dx element's sum in one fixed order.
      for (int64_t oh = 0; oh < P; ++oh) {
        const T* dr = dyp + oh * Q;
        for (int64_t r = 0; r < p.R; ++r) {
          const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
          if (ih < 0 || ih >= p.H) continue;
          T* xr = xp + ih * p.W;
          for (int64_t s = 0; s < p.S; ++s) {
            const T wt = wk[r * p.S + s];
            const Cols cs = cols[s];
            T* xs = xr + cs.off;
            if (sw == 1)
              for (int64_t q = cs.lo; q < cs.hi; ++q) xs[q] += wt * dr[q];
            else
              for (int64_t q = cs.lo; q < cs.hi; ++q) xs[q * sw] += wt * dr[q];
          }
        }
      }
    }
  });
}

template <typename T>
void backward_weight(const TensorView& dwv, const TensorView& dbv, const TensorView& dyv, const TensorView& xv,
                     const Conv2dParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* x = xv.ptr<T>();
  T* dw = dwv.ptr<T>();
  T* db = dbv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q(), Kg = p.Kg(), HW = p.H * p.W, RS = p.R * p.S, sw = p.stride_w;
  const DwWeightFn<T> simd = sw == 1 ? conv_kernels<T>(simd_level()).dw_weight : nullptr;
  const DwGeom geom = geometry(p);
  parallel_for(p.K, [&](int64_t k) {
    const int64_t c = k / Kg;
    if (simd) {
      // per plane: the tap sums, then over images in order
      T* acc = thread_scratch<T>(static_cast<size_t>(2 * RS), 0);
      T* part = acc + RS;
      T bsum = 0;
      for (int64_t n = 0; n < p.N; ++n) {
        const T* dyp = dy + (n * p.K + k) * P * Q;
        if (n + 1 < p.N) {  // the next image's planes are far away: fetch them while this one runs
          const char* nx = reinterpret_cast<const char*>(x + ((n + 1) * p.C + c) * HW);
          const char* nd = reinterpret_cast<const char*>(dyp + p.K * P * Q);
          for (int64_t b = 0; b < int64_t(sizeof(T)) * HW; b += 64) __builtin_prefetch(nx + b);
          for (int64_t b = 0; b < int64_t(sizeof(T)) * P * Q; b += 64) __builtin_prefetch(nd + b);
        }
        if (dw) {
          simd(x + (n * p.C + c) * HW, dyp, geom, part);
          for (int64_t i = 0; i < RS; ++i) acc[i] = n == 0 ? part[i] : acc[i] + part[i];
        }
        if (db) bsum += plane_sum(dyp, P * Q);
      }
      if (dw)
        for (int64_t i = 0; i < RS; ++i) dw[k * RS + i] = acc[i];
      if (db) db[k] = bsum;
      return;
    }
    // Per-column partial sums acc[rs][q] (and bacc[q] for the bias) accumulated over n and oh,
    // then summed over q: a fixed order, and the q loops vectorize.
    T* acc = thread_scratch<T>(static_cast<size_t>((RS + 1) * Q), 0);
    T* bacc = acc + RS * Q;
    std::fill(acc, acc + (RS + 1) * Q, T(0));
    Cols* cols = thread_scratch<Cols>(static_cast<size_t>(p.S), 0);
    for (int64_t s = 0; s < p.S; ++s) cols[s] = tap_cols(p, s, Q);
    for (int64_t n = 0; n < p.N; ++n) {
      const T* xp = x + (n * p.C + c) * HW;
      const T* dyp = dy + (n * p.K + k) * P * Q;
      for (int64_t oh = 0; oh < P; ++oh) {
        const T* dr = dyp + oh * Q;
        if (db)
          for (int64_t q = 0; q < Q; ++q) bacc[q] += dr[q];
        if (!dw) continue;
        for (int64_t r = 0; r < p.R; ++r) {
          const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
          if (ih < 0 || ih >= p.H) continue;
          const T* xr = xp + ih * p.W;
          for (int64_t s = 0; s < p.S; ++s) {
            T* a = acc + (r * p.S + s) * Q;
            const Cols cs = cols[s];
            const T* xs = xr + cs.off;
            if (sw == 1)
              for (int64_t q = cs.lo; q < cs.hi; ++q) a[q] += dr[q] * xs[q];
            else
              for (int64_t q = cs.lo; q < cs.hi; ++q) a[q] += dr[q] * xs[q * sw];
          }
        }
      }
    }
    auto row_sum = [Q](const T* a) {
      T part[8] = {};
      int64_t q = 0;
      for (; q + 8 <= Q; q += 8)
        for (int u = 0; u < 8; ++u) part[u] += a[q + u];
      T s = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      for (; q < Q; ++q) s += a[q];
      return s;
    };
    if (dw)
      for (int64_t rs = 0; rs < RS; ++rs) dw[k * RS + rs] = row_sum(acc + rs * Q);
    if (db) db[k] = row_sum(bacc);
  });
}

}  // namespace

bool conv2d_depthwise_accepts(const Conv2dParams& p) { return p.groups == p.C && p.groups > 1; }

FL_WEIGHT_OP_ENTRY_POINTS(Conv2dParams, conv2d_depthwise, forward, backward_data, backward_weight)

}  // namespace fl::cpu
