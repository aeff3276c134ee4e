// Naive convolution, straight from the definition. Gradients are written (=).
//   y[n,k,p,q] = b[k] + sum_{c,r,s} x[n, g*Cg + c, p*sh - ph + r*dh, q*sw - pw + s*dw] * w[k,c,r,s]
// with g = k / Kg and out-of-range input positions reading as zero.
#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::ref {
namespace {

template <typename T>
void forward(const TensorView& yv, const TensorView& xv, const TensorView& wv, const TensorView& bv,
             const Conv2dParams& p) {
  const T* x = xv.ptr<T>();
  const T* w = wv.ptr<T>();
  const T* b = bv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q(), Cg = p.Cg(), Kg = p.Kg();
  cpu::parallel_for(p.N * p.K, [&](int64_t nk) {
    const int64_t n = nk / p.K, k = nk % p.K, g = k / Kg;
    for (int64_t oh = 0; oh < P; ++oh)
      for (int64_t ow = 0; ow < Q; ++ow) {
        T acc = b ? b[k] : T(0);
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t r = 0; r < p.R; ++r) {
            const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
            if (ih < 0 || ih >= p.H) continue;
            for (int64_t s = 0; s < p.S; ++s) {
              const int64_t iw = ow * p.stride_w - p.pad_w + s * p.dil_w;
              if (iw < 0 || iw >= p.W) continue;
              acc += x[((n * p.C + g * Cg + c) * p.H + ih) * p.W + iw] * w[((k * Cg + c) * p.R + r) * p.S + s];
            }
          }
        y[((n * p.K + k) * P + oh) * Q + ow] = acc;
      }
  });
}

// Gathers, for each input position, every output it fed: no scatter, so tasks never collide.
template <typename T>
void backward_data(const TensorView& dxv, const TensorView& dyv, const TensorView& wv, const Conv2dParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* w = wv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q(), Cg = p.Cg(), Kg = p.Kg();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    const int64_t n = nc / p.C, ci = nc % p.C, g = ci / Cg, c = ci % Cg;
    for (int64_t ih = 0; ih < p.H; ++ih)
      for (int64_t iw = 0; iw < p.W; ++iw) {
        T acc = 0;
        for (int64_t kk = 0; kk < Kg; ++kk) {
          const int64_t k = g * Kg + kk;
          for (int64_t r = 0; r < p.R; ++r) {
            const int64_t th = ih + p.pad_h - r * p.dil_h;  // = oh * stride_h
            if (th < 0 || th % p.stride_h) continue;
            const int64_t oh = th / p.stride_h;
            if (oh >= P) continue;
            for (int64_t s = 0; s < p.S; ++s) {
              const int64_t tw = iw + p.pad_w - s * p.dil_w;
              if (tw < 0 || tw % p.stride_w) continue;
              const int64_t ow = tw / p.stride_w;
              if (ow >= Q) continue;
              acc += dy[((n * p.K + k) * P + oh) * Q + ow] * w[((k * Cg + c) * p.R + r) * p.S + s];
            }
          }
        }
        dx[((n * p.C + ci) * p.H + ih) * p.W + iw] = acc;
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
  const int64_t P = p.P(), Q = p.Q(), Cg = p.Cg(), Kg = p.Kg();
  cpu::parallel_for(p.K, [&](int64_t k) {
    const int64_t g = k / Kg;
    if (dw)
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t r = 0; r < p.R; ++r)
          for (int64_t s = 0; s < p.S; ++s) {
            T acc = 0;
            for (int64_t n = 0; n < p.N; ++n)
              for (int64_t oh = 0; oh < P; ++oh) {
                const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
                if (ih < 0 || ih >= p.H) continue;
                for (int64_t ow = 0; ow < Q; ++ow) {
                  const int64_t iw = ow * p.stride_w - p.pad_w + s * p.dil_w;
                  if (iw < 0 || iw >= p.W) continue;
                  acc += dy[((n * p.K + k) * P + oh) * Q + ow] * x[((n * p.C + g * Cg + c) * p.H + ih) * p.W + iw];
                }
              }
            dw[((k * Cg + c) * p.R + r) * p.S + s] = acc;
          }
    if (db) {
      T acc = 0;
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t i = 0; i < P * Q; ++i) acc += dy[(n * p.K + k) * P * Q + i];
      db[k] = acc;
    }
  });
}

}  // namespace

FL_WEIGHT_OP_ENTRY_POINTS(Conv2dParams, conv2d, forward, backward_data, backward_weight)

}  // namespace fl::ref
