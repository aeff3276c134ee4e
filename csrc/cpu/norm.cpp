// Fast CPU batch norm and group norm (layer norm and instance norm are group norms). Gradients are
// written (=). Statistics are two-pass (mean, then the sum of squared deviations); the loops over
// elements are the row primitives of cpu/norm_rows.h (float32: per-ISA, sums in float lanes per block
// with the block totals in double; float64: portable, double throughout). Every reduction runs in a
// fixed order inside one task (tasks split channels, groups or column blocks, never a reduction), so
// results do not depend on the thread count.
#include <algorithm>
#include <cmath>

#define FL_NORM_ROWS_IMPL
#include "cpu/norm_rows.h"
#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"

namespace fl::cpu {

namespace detail {
NormRowKernels norm_rows_portable_f32() { return rows::table<float>("portable_f32"); }
}  // namespace detail

const NormRowKernels& norm_rows_f32() {
  static const NormRowKernels portable = detail::norm_rows_portable_f32();
#if defined(FL_HAVE_X86_SIMD)
  static const NormRowKernels avx2 = detail::norm_rows_avx2_f32();
  static const NormRowKernels avx512 = detail::norm_rows_avx512_f32();
  switch (simd_level()) {
    case SimdLevel::AVX512: return avx512;
    case SimdLevel::AVX2: return avx2;
    default: break;
  }
#endif
  return portable;
}

namespace {

template <typename T> const NormRows<T>& row_kernels();
template <> const NormRows<float>& row_kernels<float>() { return norm_rows_f32(); }
template <> const NormRows<double>& row_kernels<double>() {
  static const NormRows<double> t = rows::table<double>("portable_f64");
  return t;
}

// gamma / beta, or a shared buffer of ones / zeros when absent (filled before the parallel region).
template <typename T> const T* or_const(const TensorView& v, int64_t n, T value, int slot) {
  if (v.defined()) return v.ptr<T>();
  T* buf = thread_scratch<T>(static_cast<size_t>(n), slot);
  for (int64_t i = 0; i < n; ++i) buf[i] = value;
  return buf;
}

// ---------------------------------------------------------------------------------------------------
// Batch norm: one task per channel.

template <typename T>
void bn_forward(const TensorView& yv, const TensorView& mv, const TensorView& rv, const TensorView& xv,
                const TensorView& gv, const TensorView& bv, const TensorView& rmv, const TensorView& rvv,
                const BatchNormParams& p, bool train) {
  const NormRows<T>& k = row_kernels<T>();
  const T* x = xv.ptr<T>();
  const T* g = or_const<T>(gv, p.C, T(1), kSharedSlot);
  const T* b = or_const<T>(bv, p.C, T(0), kSharedSlot - 1);
  T* y = yv.ptr<T>();
  T* mean = mv.ptr<T>();
  T* rstd = rv.ptr<T>();
  T* rm = rmv.ptr<T>();
  T* rvar = rvv.ptr<T>();
  const int64_t C = p.C, S = p.S, N = p.N, M = p.count();
  parallel_for(C, [&](int64_t c) {
    double m, r;
    if (train) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n) s += k.sum(x + (n * C + c) * S, S);
      m = s / M;
      double sq = 0;
      for (int64_t n = 0; n < N; ++n) sq += k.sq_dev(x + (n * C + c) * S, S, static_cast<T>(m));
      r = 1.0 / std::sqrt(sq / M + p.eps);
      if (rm) rm[c] = static_cast<T>((1 - p.momentum) * rm[c] + p.momentum * m);
      if (rvar) rvar[c] = static_cast<T>((1 - p.momentum) * rvar[c] + p.momentum * (M > 1 ? sq / (M - 1) : sq));
    } else {
      m = rm[c];
      r = 1.0 / std::sqrt(static_cast<double>(rvar[c]) + p.eps);
    }
    mean[c] = static_cast<T>(m);
    rstd[c] = static_cast<T>(r);
    const T tm = static_cast<T>(m), scale = static_cast<T>(r * g[c]), shift = b[c];
    for (int64_t n = 0; n < N; ++n) k.affine(y + (n * C + c) * S, x + (n * C + c) * S, S, tm, scale, shift);
  });
}

template <typename T>
void bn_backward(const TensorView& dxv, const TensorView& dgv, const TensorView& dbv, const TensorView& dyv,
                 const TensorView& xv, const TensorView& mv, const TensorView& rv, const TensorView& gv,
                 bool batch_stats, const BatchNormParams& p) {
  const NormRows<T>& k = row_kernels<T>();
  const T* dy = dyv.ptr<T>();
  const T* x = xv.ptr<T>();
  const T* mean = mv.ptr<T>();
  const T* rstd = rv.ptr<T>();
  const T* g = or_const<T>(gv, p.C, T(1), kSharedSlot);
  T* dx = dxv.ptr<T>();
  T* dg = dgv.ptr<T>();
  T* db = dbv.ptr<T>();
  const int64_t C = p.C, S = p.S, N = p.N, M = p.count();
  parallel_for(C, [&](int64_t c) {
    const double m = mean[c], r = rstd[c];
    double sdy = 0, sdyx = 0;
    if (dg || db || (dx && batch_stats))
      for (int64_t n = 0; n < N; ++n) {
        double a, b;
        k.dy_sums(dy + (n * C + c) * S, x + (n * C + c) * S, S, mean[c], &a, &b);
        sdy += a;
        sdyx += b;
      }
    if (dg) dg[c] = static_cast<T>(sdyx * r);
    if (db) db[c] = static_cast<T>(sdy);
    if (!dx) return;
    // dx = g r dy - g r sdy / M - (x - m) g r^3 sdyx / M   (only the first term with constant statistics)
    const double gr = static_cast<double>(g[c]) * r;
    const T a = static_cast<T>(gr), tm = static_cast<T>(m);
    const T kx = batch_stats ? static_cast<T>(-gr * r * r * sdyx / M) : T(0);
    const T k0 = batch_stats ? static_cast<T>(-gr * sdy / M) : T(0);
    for (int64_t n = 0; n < N; ++n)
      k.dx(dx + (n * C + c) * S, dy + (n * C + c) * S, x + (n * C + c) * S, S, a, kx, tm, k0);
  });
}

// ---------------------------------------------------------------------------------------------------
// Group norm: one task per (sample, group) for the statistics, y and dx. dgamma / dbeta: with spatial
// size S > 1 from per-(sample, channel) sums that the dx tasks leave in a buffer, reduced over the
// batch per channel afterwards (no second pass over the data); with S == 1 (layer norm) by a pass over
// blocks of columns.

template <typename T>
void gn_forward(const TensorView& yv, const TensorView& mv, const TensorView& rv, const TensorView& xv,
                const TensorView& gv, const TensorView& bv, const GroupNormParams& p) {
  const NormRows<T>& k = row_kernels<T>();
  const T* x = xv.ptr<T>();
  const T* g = or_const<T>(gv, p.C, T(1), kSharedSlot);
  const T* b = or_const<T>(bv, p.C, T(0), kSharedSlot - 1);
  T* y = yv.ptr<T>();
  T* mean = mv.ptr<T>();
  T* rstd = rv.ptr<T>();
  const int64_t G = p.G, Cg = p.Cg(), S = p.S, M = p.count();
  parallel_for(p.N * G, [&](int64_t ng) {
    const T* xg = x + ng * M;
    T* yg = y + ng * M;
    const double m = k.sum(xg, M) / M;
    const double r = 1.0 / std::sqrt(k.sq_dev(xg, M, static_cast<T>(m)) / M + p.eps);
    mean[ng] = static_cast<T>(m);
    rstd[ng] = static_cast<T>(r);
    const T tm = static_cast<T>(m), tr = static_cast<T>(r);
    const int64_t c0 = (ng % G) * Cg;
    if (S == 1) {  // layer norm: gamma and beta run along the row
      k.affine_vec(yg, xg, g + c0, b + c0, Cg, tm, tr);
      return;
    }
    for (int64_t c = 0; c < Cg; ++c)
      k.affine(yg + c * S, xg + c * S, S, tm, static_cast<T>(r * g[c0 + c]), b[c0 + c]);
  });
}

constexpr int64_t kColumnBlock = 256;

template <typename T>
void gn_backward(const TensorView& dxv, const TensorView& dgv, const TensorView& dbv, const TensorView& dyv,
                 const TensorView& xv, const TensorView& mv, const TensorView& rv, const TensorView& gv,
                 const GroupNormParams& p) {
  const NormRows<T>& k = row_kernels<T>();
  const T* dy = dyv.ptr<T>();
  const T* x = xv.ptr<T>();
  const T* mean = mv.ptr<T>();
  const T* rstd = rv.ptr<T>();
  const T* g = or_const<T>(gv, p.C, T(1), kSharedSlot);
  T* dx = dxv.ptr<T>();
  T* dg = dgv.ptr<T>();
  T* db = dbv.ptr<T>();
  const int64_t N = p.N, C = p.C, G = p.G, Cg = p.Cg(), S = p.S, M = p.count();

  if ((dg || db) && S == 1) {
    // One value per (sample, channel): per-column sums over the batch, a block of columns per task.
    const int64_t blocks = (C + kColumnBlock - 1) / kColumnBlock;
    parallel_for(blocks, [&](int64_t blk) {
      const int64_t c0 = blk * kColumnBlock, c1 = std::min(C, c0 + kColumnBlock);
      double* sdy = thread_scratch<double>(2 * kColumnBlock);
      double* sdyx = sdy + kColumnBlock;
      std::fill(sdy, sdy + 2 * kColumnBlock, 0.0);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = c0; c < c1;) {  // the block's columns, one group segment at a time
          const int64_t grp = c / Cg, end = std::min(c1, (grp + 1) * Cg), ng = n * G + grp;
          k.col_sums(sdy + (c - c0), sdyx + (c - c0), dy + n * C + c, x + n * C + c, end - c, mean[ng], rstd[ng]);
          c = end;
        }
      for (int64_t c = c0; c < c1; ++c) {
        if (dg) dg[c] = static_cast<T>(sdyx[c - c0]);
        if (db) db[c] = static_cast<T>(sdy[c - c0]);
      }
    });
  }
  // S > 1: per-(sample, channel) sums of dy and dy (x - mean), reduced over the batch below.
  const bool channel_sums = (dg || db) && S > 1;
  double* part = channel_sums ? thread_scratch<double>(static_cast<size_t>(2 * N * C), kSharedSlot - 2) : nullptr;
  if (dx || channel_sums)
    parallel_for(N * G, [&](int64_t ng) {
      const int64_t c0 = (ng % G) * Cg;
      const T* dyg = dy + ng * M;
      const T* xg = x + ng * M;
      const T tm = mean[ng];
      const double r = rstd[ng];
      double A = 0, B = 0;  // sum of g dy and of g dy (x - m) over the group
      if (S == 1) {
        if (!dx) return;
        k.weighted_dy_sums(dyg, xg, g + c0, Cg, tm, &A, &B);
      } else {
        const int64_t n = ng / G;
        for (int64_t c = 0; c < Cg; ++c) {
          double a, b;
          k.dy_sums(dyg + c * S, xg + c * S, S, tm, &a, &b);
          if (part) {
            part[2 * (n * C + c0 + c)] = a;
            part[2 * (n * C + c0 + c) + 1] = b * r;
          }
          A += a * g[c0 + c];
          B += b * g[c0 + c];
        }
        if (!dx) return;
      }
      // dx = r g dy - r A / M - (x - m) r^3 B / M
      const T kx = static_cast<T>(-r * r * r * B / M), k0 = static_cast<T>(-r * A / M);
      const T tr = static_cast<T>(r);
      T* dxg = dx + ng * M;
      if (S == 1) {
        k.dx_vec(dxg, dyg, xg, g + c0, Cg, tr, kx, tm, k0);
        return;
      }
      for (int64_t c = 0; c < Cg; ++c)
        k.dx(dxg + c * S, dyg + c * S, xg + c * S, S, static_cast<T>(r * g[c0 + c]), kx, tm, k0);
    });
  if (channel_sums)
    parallel_for(C, [&](int64_t c) {
      double sdy = 0, sdyx = 0;
      for (int64_t n = 0; n < N; ++n) {
        sdy += part[2 * (n * C + c)];
        sdyx += part[2 * (n * C + c) + 1];
      }
      if (dg) dg[c] = static_cast<T>(sdyx);
      if (db) db[c] = static_cast<T>(sdy);
    });
}

}  // namespace

FL_NORM_ENTRY_POINTS(bn_forward, bn_backward, gn_forward, gn_backward)

}  // namespace fl::cpu

// ---- local response norm ----
// Tasks are (sample, block of kLrnBlock spatial positions); inside a task the channel loop runs over
// unit-stride rows of the block, so every window sum is formed in a fixed order by one task.
namespace fl::cpu {
namespace {

constexpr int64_t kLrnBlock = 128;

template <typename T>
void lrn_fwd(const TensorView& yv, const TensorView& sv, const TensorView& xv, const LRNParams& p) {
  const T* x = xv.ptr<T>();
  T* y = yv.ptr<T>();
  T* sc = sv.ptr<T>();
  const int64_t C = p.C, S = p.S, before = p.before(), after = p.after();
  const int64_t blocks = (S + kLrnBlock - 1) / kLrnBlock;
  const double a = p.alpha / static_cast<double>(p.size);
  parallel_for(p.N * blocks, [&](int64_t task) {
    const int64_t n = task / blocks, s0 = (task % blocks) * kLrnBlock, len = std::min(kLrnBlock, S - s0);
    double* acc = thread_scratch<double>(kLrnBlock);
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t s = 0; s < len; ++s) acc[s] = 0;
      const int64_t j0 = std::max<int64_t>(0, c - before), j1 = std::min(C - 1, c + after);
      for (int64_t j = j0; j <= j1; ++j) {
        const T* xr = x + (n * C + j) * S + s0;
        for (int64_t s = 0; s < len; ++s) acc[s] += static_cast<double>(xr[s]) * xr[s];
      }
      const int64_t off = (n * C + c) * S + s0;
      for (int64_t s = 0; s < len; ++s) {
        const double scale = p.k + a * acc[s];
        sc[off + s] = static_cast<T>(scale);
        y[off + s] = static_cast<T>(x[off + s] * std::pow(scale, -p.beta));
      }
    }
  });
}

template <typename T>
void lrn_bwd(const TensorView& dxv, const TensorView& dyv, const TensorView& xv, const TensorView& sv,
             const LRNParams& p) {
  const T* x = xv.ptr<T>();
  const T* dy = dyv.ptr<T>();
  const T* sc = sv.ptr<T>();
  T* dx = dxv.ptr<T>();
  const int64_t C = p.C, S = p.S, before = p.before(), after = p.after();
  const int64_t blocks = (S + kLrnBlock - 1) / kLrnBlock;
  const double coef = 2.0 * p.alpha * p.beta / static_cast<double>(p.size);
  parallel_for(p.N * blocks, [&](int64_t task) {
    const int64_t n = task / blocks, s0 = (task % blocks) * kLrnBlock, len = std::min(kLrnBlock, S - s0);
    // pw[c][s] = scale^-beta, t[c][s] = dy * x * scale^(-beta-1) for the block.
    double* pw = thread_scratch<double>(static_cast<size_t>(C * kLrnBlock), 0);
    double* t = thread_scratch<double>(static_cast<size_t>(C * kLrnBlock), 1);
    double* acc = thread_scratch<double>(kLrnBlock, 2);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t off = (n * C + c) * S + s0;
      double* pr = pw + c * kLrnBlock;
      double* tr = t + c * kLrnBlock;
      for (int64_t s = 0; s < len; ++s) {
        const double scale = sc[off + s];
        pr[s] = std::pow(scale, -p.beta);
        tr[s] = static_cast<double>(dy[off + s]) * x[off + s] * pr[s] / scale;
      }
    }
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t s = 0; s < len; ++s) acc[s] = 0;
      const int64_t j0 = std::max<int64_t>(0, c - after), j1 = std::min(C - 1, c + before);
      for (int64_t j = j0; j <= j1; ++j) {
        const double* tr = t + j * kLrnBlock;
        for (int64_t s = 0; s < len; ++s) acc[s] += tr[s];
      }
      const int64_t off = (n * C + c) * S + s0;
      const double* pr = pw + c * kLrnBlock;
      for (int64_t s = 0; s < len; ++s)
        dx[off + s] = static_cast<T>(dy[off + s] * pr[s] - coef * x[off + s] * acc[s]);
    }
  });
}

}  // namespace

FL_LRN_ENTRY_POINTS(lrn_fwd, lrn_bwd)

}  // namespace fl::cpu
