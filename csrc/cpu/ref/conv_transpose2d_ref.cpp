// Naive transposed convolution, straight from the definition (a test oracle). Gradients are written (=).
//   y[n, g*Kg + j, ih*sh - ph + r*dh, iw*sw - pw + s*dw] += x[n, ci, ih, iw] * w[ci, j, r, s]
// for every input channel ci of group g = ci / Cg, plus b[k]; positions outside the output are dropped.
// Each loop below gathers, so parallel tasks write disjoint memory.
#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::ref {
namespace {

template <typename T>
void forward(const TensorView& yv, const TensorView& xv, const TensorView& wv, const TensorView& bv,
             const ConvTranspose2dParams& p) {
  const T* x = xv.ptr<T>();
  const T* w = wv.ptr<T>();
  const T* b = bv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q(), Cg = p.Cg(), Kg = p.Kg();
  cpu::parallel_for(p.N * p.K, [&](int64_t nk) {
    const int64_t n = nk / p.K, k = nk % p.K, g = k / Kg, j = k % Kg;
    for (int64_t oh = 0; oh < P; ++oh)
      for (int64_t ow = 0; ow < Q; ++ow) {
        T acc = b ? b[k] : T(0);
        for (int64_t c = 0; c < Cg; ++c) {
          const int64_t ci = g * Cg + c;
          for (int64_t r = 0; r < p.R; ++r) {
            const int64_t th = oh + p.pad_h - r * p.dil_h;
            if (th < 0 || th % p.stride_h) continue;
            const int64_t ih = th / p.stride_h;
            if (ih >= p.H) continue;
            for (int64_t s = 0; s < p.S; ++s) {
              const int64_t tw = ow + p.pad_w - s * p.dil_w;
              if (tw < 0 || tw % p.stride_w) continue;
              const int64_t iw = tw / p.stride_w;
              if (iw >= p.W) continue;
              acc += x[((n * p.C + ci) * p.H + ih) * p.W + iw] * w[((ci * Kg + j) * p.R + r) * p.S + s];
            }
          }
        }
        y[((n * p.K + k) * P + oh) * Q + ow] = acc;
      }
  });
}

template <typename T>
void backward_data(const TensorView& dxv, const TensorView& dyv, const TensorView& wv,
                   const ConvTranspose2dParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* w = wv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q(), Cg = p.Cg(), Kg = p.Kg();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    const int64_t n = nc / p.C, ci = nc % p.C, g = ci / Cg;
    for (int64_t ih = 0; ih < p.H; ++ih)
      for (int64_t iw = 0; iw < p.W; ++iw) {
        T acc = 0;
        for (int64_t j = 0; j < Kg; ++j)
          for (int64_t r = 0; r < p.R; ++r) {
            const int64_t oh = ih * p.stride_h - p.pad_h + r * p.dil_h;
            if (oh < 0 || oh >= P) continue;
            for (int64_t s = 0; s < p.S; ++s) {
              const int64_t ow = iw * p.stride_w - p.pad_w + s * p.dil_w;
              if (ow < 0 || ow >= Q) continue;
              acc += dy[((n * p.K + g * Kg + j) * P + oh) * Q + ow] * w[((ci * Kg + j) * p.R + r) * p.S + s];
            }
          }
        dx[((n * p.C + ci) * p.H + ih) * p.W + iw] = acc;
      }
  });
}

template <typename T>
void backward_weight(const TensorView& dwv, const TensorView& dbv, const TensorView& dyv, const TensorView& xv,
                     const ConvTranspose2dParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* x = xv.ptr<T>();
  T* dw = dwv.ptr<T>();
  T* db = dbv.ptr<T>();
  const int64_t P = p.P(), Q = p.Q(), Cg = p.Cg(), Kg = p.Kg();
  if (dw)
    cpu::parallel_for(p.C * Kg, [&](int64_t cj) {
      const int64_t ci = cj / Kg, j = cj % Kg, k = (ci / Cg) * Kg + j;
      for (int64_t r = 0; r < p.R; ++r)
        for (int64_t s = 0; s < p.S; ++s) {
          T acc = 0;
          for (int64_t n = 0; n < p.N; ++n)
            for (int64_t ih = 0; ih < p.H; ++ih) {
              const int64_t oh = ih * p.stride_h - p.pad_h + r * p.dil_h;
              if (oh < 0 || oh >= P) continue;
              for (int64_t iw = 0; iw < p.W; ++iw) {
                const int64_t ow = iw * p.stride_w - p.pad_w + s * p.dil_w;
                if (ow < 0 || ow >= Q) continue;
                acc += x[((n * p.C + ci) * p.H + ih) * p.W + iw] * dy[((n * p.K + k) * P + oh) * Q + ow];
              }
            }
          dw[((ci * Kg + j) * p.R + r) * p.S + s] = acc;
        }
    });
  if (db)
    cpu::parallel_for(p.K, [&](int64_t k) {
      T acc = 0;
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t i = 0; i < P * Q; ++i) acc += dy[(n * p.K + k) * P * Q + i];
      db[k] = acc;
    });
}

}  // namespace

FL_WEIGHT_OP_ENTRY_POINTS(ConvTranspose2dParams, conv_transpose2d, forward, backward_data, backward_weight)

}  // namespace fl::ref
