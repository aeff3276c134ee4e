// The row kernels of the fused cross-entropy, written once and compiled twice: by csrc/cpu/loss.cpp at the
// baseline instruction set (both dtypes) and by csrc/cpu/simd/loss_avx512.cpp with -mavx512f (float32),
// where the same loops auto-vectorize 16 wide. Everything here has internal linkage and only plain types
// cross the boundary (CeRowArgs), so no wide-ISA copy of an inline function can replace a baseline one.
//
// A tile is one batch index n and spatial positions [s0, s1) of the N x C x S logits; with S == 1 it is a
// contiguous row. Per row i = n*S + s the forward writes lse_i (logsumexp), ta_i, tb_i and wt_i:
//   index target: ta_i = w[t] (lse - x[t]), tb_i = sum_c w[c] (lse - x[c]) (only when eps > 0), wt_i = w[t]
//                 (all three 0 on an ignored row)
//   prob target:  ta_i = sum_c q[c] w[c] (lse - x[c]) with q = (1 - eps) target + eps / C, tb_i = 0, wt_i = 1
// and the backward writes the tile's dlogits given per-row scales gn_i = grad_i * cn (of ta) and
// gs_i = grad_i * cs (of tb), grad_i = grad[i * grad_stride]. Each row's sums run in a fixed order.
// scratch: the caller's buffer of max(C, 3 (s1 - s0)) elements.
#pragma once
#include <cmath>
#include <cstdint>

#include "cpu/loss_simd.h"
#include "cpu/vec_math.h"

namespace fl::cpu {
namespace {

// libm through the builtins, so no inline wrapper from <cmath> is compiled into the wide-ISA copy.
inline float log_t(float v) { return __builtin_logf(v); }
inline double log_t(double v) { return __builtin_log(v); }

template <typename T>
inline T class_weight(const T* w, int64_t c) { return w ? w[c] : T(1); }

template <typename T>
void ce_forward_tile(const CeRowArgs& a, const T* x, const int64_t* tidx, const T* tprob, const T* w, int64_t n,
                     int64_t s0, int64_t s1, T* lse, T* ta, T* tb, T* wt, T* scratch) {
  const int64_t C = a.C, S = a.S;
  const T eps = static_cast<T>(a.eps);
  const T qs = T(1) - eps, qa = eps / static_cast<T>(C);
  if (S == 1) {
    const T* xr = x + n * C;
    T* e = scratch;
    const T m = row_max(xr, C);
    for (int64_t c = 0; c < C; ++c) e[c] = exp_f(xr[c] - m);
    const T L = m + log_t(row_sum(e, C));
    lse[n] = L;
    if (tprob) {
      const T* q = tprob + n * C;
      if (w) for (int64_t c = 0; c < C; ++c) e[c] = (qs * q[c] + qa) * w[c] * (L - xr[c]);
      else for (int64_t c = 0; c < C; ++c) e[c] = (qs * q[c] + qa) * (L - xr[c]);
      ta[n] = row_sum(e, C); tb[n] = 0; wt[n] = 1;
      return;
    }
    const int64_t t = tidx[n];
    if (t == a.ignore_index) { ta[n] = 0; tb[n] = 0; wt[n] = 0; return; }
    const T wn = class_weight(w, t);
    ta[n] = wn * (L - xr[t]);
    wt[n] = wn;
    if (a.eps > 0) {
      if (w) for (int64_t c = 0; c < C; ++c) e[c] = w[c] * (L - xr[c]);
      else for (int64_t c = 0; c < C; ++c) e[c] = L - xr[c];
      tb[n] = row_sum(e, C);
    } else {
      tb[n] = 0;
    }
    return;
  }
  // Strided classes: vectorized across the tile's spatial positions, classes summed in order.
  const int64_t W = s1 - s0;
  const T* base = x + n * C * S + s0;
  T* m = scratch;
  T* sum = m + W;
  T* acc = sum + W;
  for (int64_t j = 0; j < W; ++j) { m[j] = base[j]; sum[j] = 0; acc[j] = 0; }
  for (int64_t c = 1; c < C; ++c)
    for (int64_t j = 0; j < W; ++j) {
      const T v = base[c * S + j];
      m[j] = (v > m[j] || v != v) ? v : m[j];
    }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t j = 0; j < W; ++j) sum[j] += exp_f(base[c * S + j] - m[j]);
  for (int64_t j = 0; j < W; ++j) m[j] += log_t(sum[j]);  // m is now lse
  const int64_t r0 = n * S + s0;
  for (int64_t j = 0; j < W; ++j) lse[r0 + j] = m[j];
  if (tprob) {
    const T* q = tprob + n * C * S + s0;
    for (int64_t c = 0; c < C; ++c) {
      const T wc = class_weight(w, c);
      for (int64_t j = 0; j < W; ++j) acc[j] += (qs * q[c * S + j] + qa) * wc * (m[j] - base[c * S + j]);
    }
    for (int64_t j = 0; j < W; ++j) { ta[r0 + j] = acc[j]; tb[r0 + j] = 0; wt[r0 + j] = 1; }
    return;
  }
  if (a.eps > 0)
    for (int64_t c = 0; c < C; ++c) {
      const T wc = class_weight(w, c);
      for (int64_t j = 0; j < W; ++j) acc[j] += wc * (m[j] - base[c * S + j]);
    }
  for (int64_t j = 0; j < W; ++j) {
    const int64_t t = tidx[r0 + j];
    if (t == a.ignore_index) { ta[r0 + j] = 0; tb[r0 + j] = 0; wt[r0 + j] = 0; continue; }
    const T wn = class_weight(w, t);
    ta[r0 + j] = wn * (m[j] - base[t * S + j]);
    tb[r0 + j] = acc[j];
    wt[r0 + j] = wn;
  }
}

template <typename T>
void ce_backward_tile(const CeRowArgs& a, T* dx, const T* grad, const T* x, const int64_t* tidx, const T* tprob,
                      const T* w, const T* lse, int64_t n, int64_t s0, int64_t s1, T* scratch) {
  const int64_t C = a.C, S = a.S;
  const T eps = static_cast<T>(a.eps);
  const T qs = T(1) - eps, qa = eps / static_cast<T>(C);
  const T cn = static_cast<T>(a.cn), cs = static_cast<T>(a.cs), wsum = static_cast<T>(a.weight_sum);
  if (S == 1) {
    const T* xr = x + n * C;
    T* d = dx + n * C;
    const T L = lse[n];
    const T g = grad[n * a.grad_stride];
    if (tprob) {
      const T* q = tprob + n * C;
      T* e = scratch;
      if (w) for (int64_t c = 0; c < C; ++c) e[c] = (qs * q[c] + qa) * w[c];
      else for (int64_t c = 0; c < C; ++c) e[c] = qs * q[c] + qa;
      const T gn = g * cn;
      const T A = gn * row_sum(e, C);
      for (int64_t c = 0; c < C; ++c) d[c] = A * exp_f(xr[c] - L) - gn * e[c];
      return;
    }
    const int64_t t = tidx[n];
    if (t == a.ignore_index) {
      for (int64_t c = 0; c < C; ++c) d[c] = 0;
      return;
    }
    const T alpha = g * cn * class_weight(w, t), beta = g * cs;
    const T A = alpha + beta * wsum;
    if (w) for (int64_t c = 0; c < C; ++c) d[c] = A * exp_f(xr[c] - L) - beta * w[c];
    else for (int64_t c = 0; c < C; ++c) d[c] = A * exp_f(xr[c] - L) - beta;
    d[t] -= alpha;
    return;
  }
  const int64_t W = s1 - s0, r0 = n * S + s0;
  const T* base = x + n * C * S + s0;
  T* dbase = dx + n * C * S + s0;
  T* A = scratch;
  T* gn = A + W;
  T* gs = gn + W;
  if (tprob) {
    const T* q = tprob + n * C * S + s0;
    for (int64_t j = 0; j < W; ++j) { A[j] = 0; gn[j] = grad[(r0 + j) * a.grad_stride] * cn; }
    for (int64_t c = 0; c < C; ++c) {
      const T wc = class_weight(w, c);
      for (int64_t j = 0; j < W; ++j) A[j] += (qs * q[c * S + j] + qa) * wc;
    }
    for (int64_t j = 0; j < W; ++j) A[j] *= gn[j];
    for (int64_t c = 0; c < C; ++c) {
      const T wc = class_weight(w, c);
      for (int64_t j = 0; j < W; ++j)
        dbase[c * S + j] = A[j] * exp_f(base[c * S + j] - lse[r0 + j]) - gn[j] * (qs * q[c * S + j] + qa) * wc;
    }
    return;
  }
  // gn holds alpha (the target's coefficient), gs beta (the smoothing one); ignored rows get zeros.
  for (int64_t j = 0; j < W; ++j) {
    const int64_t t = tidx[r0 + j];
    const T g = grad[(r0 + j) * a.grad_stride];
    const bool keep = t != a.ignore_index;
    gn[j] = keep ? g * cn * class_weight(w, t) : T(0);
    gs[j] = keep ? g * cs : T(0);
    A[j] = gn[j] + gs[j] * wsum;
  }
  for (int64_t c = 0; c < C; ++c) {
    const T wc = class_weight(w, c);
    for (int64_t j = 0; j < W; ++j) dbase[c * S + j] = A[j] * exp_f(base[c * S + j] - lse[r0 + j]) - gs[j] * wc;
  }
  for (int64_t j = 0; j < W; ++j) {
    const int64_t t = tidx[r0 + j];
    if (t != a.ignore_index) dbase[t * S + j] -= gn[j];
  }
}

}  // namespace
}  // namespace fl::cpu
