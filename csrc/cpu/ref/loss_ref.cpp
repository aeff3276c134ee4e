// Naive references of the cross-entropy and nll_loss kernels (test oracles): the definitions in
// fastlayers/params.h written plainly, one row at a time, in double. Gradients are written (=).
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"

namespace fl::ref {
namespace {

template <typename T>
double at(const T* base, int64_t n, int64_t c, int64_t s, int64_t C, int64_t S) { return base[(n * C + c) * S + s]; }

template <typename T>
double wgt(const TensorView& w, int64_t c) { return w.defined() ? double(w.ptr<T>()[c]) : 1.0; }

template <typename T>
double logsumexp(const T* x, int64_t n, int64_t s, int64_t C, int64_t S) {
  double m = -INFINITY;
  for (int64_t c = 0; c < C; ++c) m = std::fmax(m, at(x, n, c, s, C, S));
  double sum = 0;
  for (int64_t c = 0; c < C; ++c) sum += std::exp(at(x, n, c, s, C, S) - m);
  return m + std::log(sum);
}

// The smoothed, weighted target of row (n, s) at class c: what multiplies -log_softmax there, before the
// reduction's divisors. `smooth`: whether to return the smoothing part (true) or the target part.
template <typename T>
double target_coef(const int64_t* target, const T* q, const TensorView& w, const CrossEntropyParams& p, int64_t n,
                   int64_t c, int64_t s, bool smooth) {
  const double eps = p.label_smoothing, C = static_cast<double>(p.C);
  if (p.prob_target) {
    if (smooth) return 0;
    return ((1 - eps) * at(q, n, c, s, p.C, p.S) + eps / C) * wgt<T>(w, c);
  }
  const int64_t t = target[n * p.S + s];
  if (t == p.ignore_index) return 0;
  if (smooth) return eps / C * wgt<T>(w, c);
  return c == t ? (1 - eps) * wgt<T>(w, c) : 0.0;
}

// total_weight, and the divisor of every row's loss under p.reduction.
template <typename T>
double divisor(const int64_t* target, const TensorView& w, const CrossEntropyParams& p, double& total) {
  total = 0;
  if (p.prob_target) total = static_cast<double>(p.rows());
  else
    for (int64_t i = 0; i < p.rows(); ++i)
      if (target[i] != p.ignore_index) total += wgt<T>(w, target[i]);
  return p.reduction == Reduction::Mean ? total : 1.0;
}

template <typename T>
void ce_forward(const TensorView& loss, const TensorView& lse, double* total_weight, const TensorView& logits,
                const int64_t* target, const TensorView& target_prob, const TensorView& w, const CrossEntropyParams& p) {
  const T* x = logits.ptr<T>();
  const T* q = p.prob_target ? target_prob.ptr<T>() : nullptr;
  const double div = divisor<T>(target, w, p, *total_weight);
  double sum = 0;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t s = 0; s < p.S; ++s) {
      const double L = logsumexp(x, n, s, p.C, p.S);
      lse.ptr<T>()[n * p.S + s] = static_cast<T>(L);
      double a = 0, b = 0;
      for (int64_t c = 0; c < p.C; ++c) {
        const double nl = L - at(x, n, c, s, p.C, p.S);
        a += target_coef(target, q, w, p, n, c, s, false) * nl;
        b += target_coef(target, q, w, p, n, c, s, true) * nl;
      }
      if (p.reduction == Reduction::None) loss.ptr<T>()[n * p.S + s] = static_cast<T>(a + b);
      else sum += (a + b) / div;
    }
  if (p.reduction != Reduction::None) loss.ptr<T>()[0] = static_cast<T>(sum);
}

template <typename T>
void ce_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                 const int64_t* target, const TensorView& target_prob, const TensorView& w, const TensorView& lse,
                 const CrossEntropyParams& p) {
  const T* x = logits.ptr<T>();
  const T* q = p.prob_target ? target_prob.ptr<T>() : nullptr;
  double total;
  const double div = divisor<T>(target, w, p, total);
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t s = 0; s < p.S; ++s) {
      const int64_t i = n * p.S + s;
      const double g = grad_loss.ptr<T>()[p.reduction == Reduction::None ? i : 0];
      const double L = lse.ptr<T>()[i];
      // d/dx_c of sum_k a_k (L - x_k) is (sum_k a_k) softmax_c - a_c.
      std::vector<double> a(static_cast<size_t>(p.C));
      double A = 0;
      for (int64_t c = 0; c < p.C; ++c) {
        a[c] = (target_coef(target, q, w, p, n, c, s, false) + target_coef(target, q, w, p, n, c, s, true)) / div;
        A += a[c];
      }
      for (int64_t c = 0; c < p.C; ++c)
        dlogits.ptr<T>()[(n * p.C + c) * p.S + s] =
            static_cast<T>(g * (A * std::exp(at(x, n, c, s, p.C, p.S) - L) - a[c]));
    }
}

template <typename T>
void nll_forward(const TensorView& loss, double* total_weight, const TensorView& input, const int64_t* target,
                 const TensorView& w, const NLLLossParams& p) {
  double sum = 0, total = 0;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t s = 0; s < p.S; ++s) {
      const int64_t t = target[n * p.S + s];
      double v = 0;
      if (t != p.ignore_index) {
        v = -wgt<T>(w, t) * at(input.ptr<T>(), n, t, s, p.C, p.S);
        total += wgt<T>(w, t);
      }
      if (p.reduction == Reduction::None) loss.ptr<T>()[n * p.S + s] = static_cast<T>(v);
      sum += v;
    }
  *total_weight = total;
  if (p.reduction != Reduction::None)
    loss.ptr<T>()[0] = static_cast<T>(p.reduction == Reduction::Mean ? sum / total : sum);
}

template <typename T>
void nll_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target, const TensorView& w,
                  double total_weight, const NLLLossParams& p) {
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t s = 0; s < p.S; ++s) {
        const int64_t i = n * p.S + s, t = target[i];
        double d = 0;
        if (t == c && t != p.ignore_index) {
          d = -double(grad_loss.ptr<T>()[p.reduction == Reduction::None ? i : 0]) * wgt<T>(w, t);
          if (p.reduction == Reduction::Mean) d /= total_weight;
        }
        dinput.ptr<T>()[(n * p.C + c) * p.S + s] = static_cast<T>(d);
      }
}

}  // namespace

void cross_entropy_forward(const TensorView& loss, const TensorView& lse, double* total_weight,
                           const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                           const TensorView& weight, const CrossEntropyParams& p) {
  FL_DISPATCH_FLOATING(logits.dtype,
      ce_forward<scalar_t>(loss, lse, total_weight, logits, target, target_prob, weight, p));
}

void cross_entropy_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                            const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                            const TensorView& lse, double, const CrossEntropyParams& p) {
  FL_DISPATCH_FLOATING(logits.dtype,
      ce_backward<scalar_t>(dlogits, grad_loss, logits, target, target_prob, weight, lse, p));
}

void nll_loss_forward(const TensorView& loss, double* total_weight, const TensorView& input, const int64_t* target,
                      const TensorView& weight, const NLLLossParams& p) {
  FL_DISPATCH_FLOATING(input.dtype, nll_forward<scalar_t>(loss, total_weight, input, target, weight, p));
}

void nll_loss_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                       const TensorView& weight, double total_weight, const NLLLossParams& p) {
  FL_DISPATCH_FLOATING(dinput.dtype, nll_backward<scalar_t>(dinput, grad_loss, target, weight, total_weight, p));
}

}  // namespace fl::ref
