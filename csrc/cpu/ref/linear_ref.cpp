// Naive fully connected layer, straight from the definition (test oracle and fallback of last resort):
//   y[m,n] = b[n] + sum_k x[m,k] w[n,k];  dx[m,k] = sum_n dy[m,n] w[n,k];
//   dw[n,k] = sum_m dy[m,n] x[m,k];       db[n] = sum_m dy[m,n].
// Gradients are written (=). Every sum runs in ascending index order, in double for float inputs.
#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::ref {
namespace {

template <typename T>
void forward(const TensorView& yv, const TensorView& xv, const TensorView& wv, const TensorView& bv,
             const LinearParams& p) {
  const T *x = xv.ptr<T>(), *w = wv.ptr<T>(), *b = bv.ptr<T>();
  T* y = yv.ptr<T>();
  cpu::parallel_for(p.M, [&](int64_t m) {
    for (int64_t n = 0; n < p.N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < p.K; ++k) s += double(x[m * p.K + k]) * double(w[n * p.K + k]);
      y[m * p.N + n] = static_cast<T>(b ? s + double(b[n]) : s);
    }
  });
}

template <typename T>
void backward_data(const TensorView& dxv, const TensorView& dyv, const TensorView& wv, const LinearParams& p) {
  const T *dy = dyv.ptr<T>(), *w = wv.ptr<T>();
  T* dx = dxv.ptr<T>();
  cpu::parallel_for(p.M, [&](int64_t m) {
    for (int64_t k = 0; k < p.K; ++k) {
      double s = 0;
      for (int64_t n = 0; n < p.N; ++n) s += double(dy[m * p.N + n]) * double(w[n * p.K + k]);
      dx[m * p.K + k] = static_cast<T>(s);
    }
  });
}

template <typename T>
void backward_weight(const TensorView& dwv, const TensorView& dbv, const TensorView& dyv, const TensorView& xv,
                     const LinearParams& p) {
  const T *dy = dyv.ptr<T>(), *x = xv.ptr<T>();
  T *dw = dwv.ptr<T>(), *db = dbv.ptr<T>();
  cpu::parallel_for(p.N, [&](int64_t n) {
    if (dw)
      for (int64_t k = 0; k < p.K; ++k) {
        double s = 0;
        for (int64_t m = 0; m < p.M; ++m) s += double(dy[m * p.N + n]) * double(x[m * p.K + k]);
        dw[n * p.K + k] = static_cast<T>(s);
      }
    if (db) {
      double s = 0;
      for (int64_t m = 0; m < p.M; ++m) s += double(dy[m * p.N + n]);
      db[n] = static_cast<T>(s);
    }
  });
}

}  // namespace

FL_WEIGHT_OP_ENTRY_POINTS(LinearParams, linear, forward, backward_data, backward_weight)

}  // namespace fl::ref
