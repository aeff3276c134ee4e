// Naive batch norm and group norm, straight from the definitions, accumulating in double. Gradients are
// written (=). x is N x C x S; batch norm's statistics are per channel, group norm's per (n, group).
//   y = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps), var biased.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::ref {
namespace {

template <typename T> T gamma_at(const T* g, int64_t c) { return g ? g[c] : T(1); }

template <typename T>
void bn_forward(const TensorView& yv, const TensorView& mv, const TensorView& rv, const TensorView& xv,
                const TensorView& gv, const TensorView& bv, const TensorView& rmv, const TensorView& rvv,
                const BatchNormParams& p, bool train) {
  const T* x = xv.ptr<T>();
  const T* g = gv.ptr<T>();
  const T* b = bv.ptr<T>();
  T* y = yv.ptr<T>();
  T* mean = mv.ptr<T>();
  T* rstd = rv.ptr<T>();
  T* rm = rmv.ptr<T>();
  T* rvar = rvv.ptr<T>();
  const int64_t C = p.C, S = p.S, M = p.count();
  for (int64_t c = 0; c < C; ++c) {
    double m, r;
    if (train) {
      double sum = 0, sq = 0;
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t s = 0; s < S; ++s) sum += x[(n * C + c) * S + s];
      m = sum / M;
      for (int64_t n = 0; n < p.N; ++n)
        for (int64_t s = 0; s < S; ++s) {
          const double d = x[(n * C + c) * S + s] - m;
          sq += d * d;
        }
      r = 1.0 / std::sqrt(sq / M + p.eps);
      if (rm) rm[c] = static_cast<T>((1 - p.momentum) * rm[c] + p.momentum * m);
      if (rvar) rvar[c] = static_cast<T>((1 - p.momentum) * rvar[c] + p.momentum * (M > 1 ? sq / (M - 1) : sq));
    } else {
      m = rm[c];
      r = 1.0 / std::sqrt(static_cast<double>(rvar[c]) + p.eps);
    }
    mean[c] = static_cast<T>(m);
    rstd[c] = static_cast<T>(r);
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        y[i] = static_cast<T>((x[i] - m) * r * gamma_at(g, c) + (b ? b[c] : T(0)));
      }
  }
}

template <typename T>
void bn_backward(const TensorView& dxv, const TensorView& dgv, const TensorView& dbv, const TensorView& dyv,
                 const TensorView& xv, const TensorView& mv, const TensorView& rv, const TensorView& gv,
                 bool batch_stats, const BatchNormParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* x = xv.ptr<T>();
  const T* mean = mv.ptr<T>();
  const T* rstd = rv.ptr<T>();
  const T* g = gv.ptr<T>();
  T* dx = dxv.ptr<T>();
  T* dg = dgv.ptr<T>();
  T* db = dbv.ptr<T>();
  const int64_t C = p.C, S = p.S, M = p.count();
  for (int64_t c = 0; c < C; ++c) {
    double sdy = 0, sdyx = 0;
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        sdy += dy[i];
        sdyx += static_cast<double>(dy[i]) * (x[i] - static_cast<double>(mean[c])) * rstd[c];
      }
    if (dg) dg[c] = static_cast<T>(sdyx);
    if (db) db[c] = static_cast<T>(sdy);
    if (!dx) continue;
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        const double xhat = (x[i] - static_cast<double>(mean[c])) * rstd[c];
        const double scale = static_cast<double>(gamma_at(g, c)) * rstd[c];
        dx[i] = static_cast<T>(batch_stats ? scale * (dy[i] - sdy / M - xhat * sdyx / M) : scale * dy[i]);
      }
  }
}

template <typename T>
void gn_forward(const TensorView& yv, const TensorView& mv, const TensorView& rv, const TensorView& xv,
                const TensorView& gv, const TensorView& bv, const GroupNormParams& p) {
  const T* x = xv.ptr<T>();
  const T* g = gv.ptr<T>();
  const T* b = bv.ptr<T>();
  T* y = yv.ptr<T>();
  const int64_t Cg = p.Cg(), S = p.S, M = p.count();
  for (int64_t ng = 0; ng < p.N * p.G; ++ng) {
    const int64_t base = ng * M;  // a group's values are contiguous
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < M; ++i) sum += x[base + i];
    const double m = sum / M;
    for (int64_t i = 0; i < M; ++i) sq += (x[base + i] - m) * (x[base + i] - m);
    const double r = 1.0 / std::sqrt(sq / M + p.eps);
    mv.ptr<T>()[ng] = static_cast<T>(m);
    rv.ptr<T>()[ng] = static_cast<T>(r);
    for (int64_t i = 0; i < M; ++i) {
      const int64_t c = (ng % p.G) * Cg + i / S;
      y[base + i] = static_cast<T>((x[base + i] - m) * r * gamma_at(g, c) + (b ? b[c] : T(0)));
    }
  }
}

template <typename T>
void gn_backward(const TensorView& dxv, const TensorView& dgv, const TensorView& dbv, const TensorView& dyv,
                 const TensorView& xv, const TensorView& mv, const TensorView& rv, const TensorView& gv,
                 const GroupNormParams& p) {
  const T* dy = dyv.ptr<T>();
  const T* x = xv.ptr<T>();
  const T* mean = mv.ptr<T>();
  const T* rstd = rv.ptr<T>();
  const T* g = gv.ptr<T>();
  T* dx = dxv.ptr<T>();
  T* dg = dgv.ptr<T>();
  T* db = dbv.ptr<T>();
  const int64_t Cg = p.Cg(), S = p.S, M = p.count(), C = p.C;
  for (int64_t c = 0; c < C; ++c) {
    double sdy = 0, sdyx = 0;
    for (int64_t n = 0; n < p.N; ++n) {
      const int64_t ng = n * p.G + c / Cg;
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        sdy += dy[i];
        sdyx += static_cast<double>(dy[i]) * (x[i] - static_cast<double>(mean[ng])) * rstd[ng];
      }
    }
    if (dg) dg[c] = static_cast<T>(sdyx);
    if (db) db[c] = static_cast<T>(sdy);
  }
  if (!dx) return;
  for (int64_t ng = 0; ng < p.N * p.G; ++ng) {
    const int64_t base = ng * M;
    double a = 0, bsum = 0;  // sum of dy*gamma and of dy*gamma*xhat over the group
    for (int64_t i = 0; i < M; ++i) {
      const int64_t c = (ng % p.G) * Cg + i / S;
      const double dyg = static_cast<double>(dy[base + i]) * gamma_at(g, c);
      a += dyg;
      bsum += dyg * (x[base + i] - static_cast<double>(mean[ng])) * rstd[ng];
    }
    for (int64_t i = 0; i < M; ++i) {
      const int64_t c = (ng % p.G) * Cg + i / S;
      const double dyg = static_cast<double>(dy[base + i]) * gamma_at(g, c);
      const double xhat = (x[base + i] - static_cast<double>(mean[ng])) * rstd[ng];
      dx[base + i] = static_cast<T>(rstd[ng] * (dyg - a / M - xhat * bsum / M));
    }
  }
}

}  // namespace

FL_NORM_ENTRY_POINTS(bn_forward, bn_backward, gn_forward, gn_backward)

}  // namespace fl::ref

// ---- local response norm ----
// Straight from the definition, one element at a time, double accumulators. The backward differentiates
// y_j = x_j * s_j^-beta with s_j = k + alpha/size * sum_{i in W(j)} x_i^2: x_c enters s_j for every j whose
// window W(j) holds c, i.e. j in [c - after, c + before].
namespace fl::ref {
namespace {

template <typename T>
void lrn_fwd(const TensorView& yv, const TensorView& sv, const TensorView& xv, const LRNParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  T* sc = sv.ptr<T>();
  const int64_t C = p.C, S = p.S;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        double sq = 0;
        for (int64_t j = c - p.before(); j <= c + p.after(); ++j)
          if (j >= 0 && j < C) {
            const double v = x[(n * C + j) * S + s];
            sq += v * v;
          }
        const double scale = p.k + p.alpha * sq / static_cast<double>(p.size);
        const int64_t i = (n * C + c) * S + s;
        sc[i] = static_cast<T>(scale);
        y[i] = static_cast<T>(x[i] * std::pow(scale, -p.beta));
      }
}

template <typename T>
void lrn_bwd(const TensorView& dxv, const TensorView& dyv, const TensorView& xv, const TensorView& sv,
             const LRNParams& p) {
  const T* x = xv.ptr<T>();
  const T* dy = dyv.ptr<T>();
  const T* sc = sv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t C = p.C, S = p.S;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        double acc = 0;  // d y_j / d x_c summed against dy_j over the windows holding c
        for (int64_t j = c - p.after(); j <= c + p.before(); ++j)
          if (j >= 0 && j < C) {
            const int64_t q = (n * C + j) * S + s;
            acc += static_cast<double>(dy[q]) * x[q] * std::pow(static_cast<double>(sc[q]), -p.beta - 1);
          }
        dx[i] = static_cast<T>(dy[i] * std::pow(static_cast<double>(sc[i]), -p.beta) -
                               2.0 * p.alpha * p.beta / static_cast<double>(p.size) * x[i] * acc);
      }
}

}  // namespace

FL_LRN_ENTRY_POINTS(lrn_fwd, lrn_bwd)

}  // namespace fl::ref
