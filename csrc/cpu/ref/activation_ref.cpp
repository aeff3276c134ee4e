// Naive references of the activation family: one element (or row) at a time, the math written plainly
// in double precision with the standard library's functions. Gradients are written (=).
// Gradient conventions at the kinks follow torch: relu'(0) = 0, leaky_relu'(0) = slope, elu family uses
// the negative branch at 0, hardtanh' = 0 at and beyond the bounds, hardsigmoid' = 0 at +-3,
// hardswish' = 0 at -3 and 1 at 3 (the middle branch is open),
// hardsigmoid' = 1/6 rounded to float32 (torch uses that constant in float64 too).
#include <cmath>
#include <cstdint>

#include "cpu/kernels.h"

namespace fl::ref {
namespace {

constexpr double kSqrt1_2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluC = 0.044715;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double act(double x, const ActivationParams& p) {
  switch (p.kind) {
    case ActKind::ReLU: return x <= 0 ? 0.0 : x;  // NaN stays NaN (torch)
    case ActKind::LeakyReLU: return x > 0 ? x : x * p.alpha;
    case ActKind::ELU: return x > 0 ? p.scale * x : p.scale * p.alpha * std::expm1(x * p.input_scale);
    case ActKind::GELU: return 0.5 * x * (1.0 + std::erf(x * kSqrt1_2));
    case ActKind::GELUTanh: return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + kGeluC * x * x * x)));
    case ActKind::SiLU: return x * sigmoid(x);
    case ActKind::Mish: return x * std::tanh(std::log1p(std::exp(x)));
    case ActKind::Softplus:
      return x * p.beta > p.threshold ? x : std::log1p(std::exp(x * p.beta)) / p.beta;
    case ActKind::Sigmoid: return sigmoid(x);
    case ActKind::Tanh: return std::tanh(x);
    case ActKind::Hardtanh: return x < p.min_val ? p.min_val : (x > p.max_val ? p.max_val : x);
    case ActKind::Hardsigmoid: return x <= -3 ? 0.0 : (x >= 3 ? 1.0 : x / 6 + 0.5);
    case ActKind::Hardswish: return x <= -3 ? x * 0.0 : (x >= 3 ? x : x * (x + 3) / 6);  // -inf * 0 = NaN (torch)
  }
  return 0.0;
}

// d act / d x from the input x.
double dact_input(double x, const ActivationParams& p) {
  switch (p.kind) {
    case ActKind::ReLU: return x <= 0 ? 0.0 : 1.0;  // 1 at NaN (torch's threshold_backward)
    case ActKind::LeakyReLU: return x > 0 ? 1.0 : p.alpha;
    case ActKind::ELU:
      return x > 0 ? p.scale : p.scale * p.alpha * p.input_scale * std::exp(x * p.input_scale);
    case ActKind::GELU: return 0.5 * (1.0 + std::erf(x * kSqrt1_2)) + x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
    case ActKind::GELUTanh: {
      // 0.5 (1 + tanh(u)) = sigmoid(2u) and 1 - tanh(u)^2 = 4 sigmoid(2u) (1 - sigmoid(2u)), which avoid
      // the cancellation of 1 + t and 1 - t^2 where t is near -1.
      // Where s saturates at a finite x, s (1 - s) == 0 and x * (1 + 3c x^2) may be inf: the term is 0
      // (at x = +-inf torch gives NaN, and so does this).
      double s = sigmoid(2.0 * kSqrt2OverPi * (x + kGeluC * x * x * x));
      double w = s * (1.0 - s);
      return s + (w == 0.0 && std::isfinite(x) ? 0.0 : 2.0 * x * w * kSqrt2OverPi * (1.0 + 3.0 * kGeluC * x * x));
    }
    case ActKind::SiLU: { double s = sigmoid(x); return s * (1.0 + x * (1.0 - s)); }
    case ActKind::Mish: {
      double t = std::tanh(std::log1p(std::exp(x)));
      return t + x * sigmoid(x) * (1.0 - t * t);
    }
    case ActKind::Softplus: return x * p.beta > p.threshold ? 1.0 : sigmoid(x * p.beta);
    case ActKind::Sigmoid: { double s = sigmoid(x); return s * (1.0 - s); }
    case ActKind::Tanh: { double t = std::tanh(x); return 1.0 - t * t; }
    case ActKind::Hardtanh: return (x > p.min_val && x < p.max_val) ? 1.0 : 0.0;  // 0 at NaN (torch's vector loop)
    case ActKind::Hardsigmoid: return (x > -3 && x < 3) ? double(1.0f / 6.0f) : 0.0;  // torch: float 1/6
    case ActKind::Hardswish: return x <= -3 ? 0.0 : (x >= 3 ? 1.0 : x / 3 + 0.5);  // NaN at NaN (torch)
  }
  return 0.0;
}

// d act / d x from the output y (kinds where p.backward_from_output_ok()).
double dact_output(double y, const ActivationParams& p) {
  switch (p.kind) {
    case ActKind::ReLU: return y <= 0 ? 0.0 : 1.0;
    case ActKind::LeakyReLU: return y > 0 ? 1.0 : p.alpha;
    case ActKind::ELU: return y > 0 ? p.scale : p.input_scale * (y + p.scale * p.alpha);
    case ActKind::Sigmoid: return y * (1.0 - y);
    case ActKind::Tanh: return 1.0 - y * y;
    case ActKind::Hardtanh: return (y > p.min_val && y < p.max_val) ? 1.0 : 0.0;
    default: return 0.0;
  }
}

template <typename T>
void forward_t(const TensorView& y, const TensorView& x, const ActivationParams& p) {
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();
  for (int64_t i = 0; i < p.numel; ++i) yp[i] = static_cast<T>(act(static_cast<double>(xp[i]), p));
}

template <typename T>
void backward_t(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                const ActivationParams& p) {
  const T* s = saved.ptr<T>();
  const T* g = dy.ptr<T>();
  T* d = dx.ptr<T>();
  for (int64_t i = 0; i < p.numel; ++i) {
    double v = static_cast<double>(s[i]);
    double deriv = from_output ? dact_output(v, p) : dact_input(v, p);
    d[i] = static_cast<T>(static_cast<double>(g[i]) * deriv);
  }
}

template <typename T>
void softmax_forward_t(const TensorView& y, const TensorView& x, const SoftmaxParams& p) {
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t i = 0; i < p.inner; ++i) {
      auto at = [&](int64_t d) { return (o * p.dim + d) * p.inner + i; };
      double m = -INFINITY;
      for (int64_t d = 0; d < p.dim; ++d) m = std::fmax(m, static_cast<double>(xp[at(d)]));
      double sum = 0;
      for (int64_t d = 0; d < p.dim; ++d) sum += std::exp(static_cast<double>(xp[at(d)]) - m);
      for (int64_t d = 0; d < p.dim; ++d) {
        double z = static_cast<double>(xp[at(d)]) - m;
        yp[at(d)] = static_cast<T>(p.log ? z - std::log(sum) : std::exp(z) / sum);
      }
    }
}

template <typename T>
void softmax_backward_t(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p) {
  const T* g = dy.ptr<T>();
  const T* yp = y.ptr<T>();
  T* d = dx.ptr<T>();
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t i = 0; i < p.inner; ++i) {
      auto at = [&](int64_t k) { return (o * p.dim + k) * p.inner + i; };
      double dot = 0;
      for (int64_t k = 0; k < p.dim; ++k)
        dot += p.log ? static_cast<double>(g[at(k)]) : static_cast<double>(g[at(k)]) * yp[at(k)];
      for (int64_t k = 0; k < p.dim; ++k) {
        double yk = yp[at(k)];
        d[at(k)] = static_cast<T>(p.log ? g[at(k)] - std::exp(yk) * dot : yk * (g[at(k)] - dot));
      }
    }
}

template <typename T>
void prelu_forward_t(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p) {
  const T* xp = x.ptr<T>();
  const T* wp = w.ptr<T>();
  T* yp = y.ptr<T>();
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t i = 0; i < p.inner; ++i) {
        int64_t k = (n * p.C + c) * p.inner + i;
        yp[k] = xp[k] > 0 ? xp[k] : wp[c] * xp[k];
      }
}

template <typename T>
void prelu_backward_t(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                      const TensorView& w, const PReLUParams& p) {
  const T* xp = x.ptr<T>();
  const T* wp = w.ptr<T>();
  const T* g = dy.ptr<T>();
  for (int64_t c = 0; c < p.C; ++c) {
    double acc = 0;
    for (int64_t n = 0; n < p.N; ++n)
      for (int64_t i = 0; i < p.inner; ++i) {
        int64_t k = (n * p.C + c) * p.inner + i;
        if (dx.defined()) dx.ptr<T>()[k] = xp[k] > 0 ? g[k] : wp[c] * g[k];
        if (xp[k] <= 0) acc += static_cast<double>(xp[k]) * g[k];
      }
    if (dw.defined()) dw.ptr<T>()[c] = static_cast<T>(acc);
  }
}

template <typename T>
void maxout_forward_t(const TensorView& y, const TensorView& x, const MaxoutParams& p) {
  const T* xp = x.ptr<T>();
  T* yp = y.ptr<T>();
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t j = 0; j < p.Cout(); ++j)
      for (int64_t i = 0; i < p.inner; ++i) {
        T best = xp[(o * p.C + j * p.pieces) * p.inner + i];
        for (int64_t k = 1; k < p.pieces; ++k) {
          T v = xp[(o * p.C + j * p.pieces + k) * p.inner + i];
          if (v > best || (std::isnan(v) && !std::isnan(best))) best = v;
        }
        yp[(o * p.Cout() + j) * p.inner + i] = best;
      }
}

template <typename T>
void maxout_backward_t(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p) {
  const T* xp = x.ptr<T>();
  const T* g = dy.ptr<T>();
  T* d = dx.ptr<T>();
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t j = 0; j < p.Cout(); ++j)
      for (int64_t i = 0; i < p.inner; ++i) {
        int64_t win = 0;
        T best = xp[(o * p.C + j * p.pieces) * p.inner + i];
        for (int64_t k = 1; k < p.pieces; ++k) {
          T v = xp[(o * p.C + j * p.pieces + k) * p.inner + i];
          if (v > best || (std::isnan(v) && !std::isnan(best))) { best = v; win = k; }
        }
        for (int64_t k = 0; k < p.pieces; ++k)
          d[(o * p.C + j * p.pieces + k) * p.inner + i] = k == win ? g[(o * p.Cout() + j) * p.inner + i] : T(0);
      }
}


}  // namespace

void activation_forward(const TensorView& y, const TensorView& x, const ActivationParams& p) {
  if (x.dtype == DType::Float32) forward_t<float>(y, x, p); else forward_t<double>(y, x, p);
}
void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p) {
  if (dy.dtype == DType::Float32) backward_t<float>(dx, dy, saved, from_output, p);
  else backward_t<double>(dx, dy, saved, from_output, p);
}
void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p) {
  if (x.dtype == DType::Float32) softmax_forward_t<float>(y, x, p); else softmax_forward_t<double>(y, x, p);
}
void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p) {
  if (y.dtype == DType::Float32) softmax_backward_t<float>(dx, dy, y, p);
  else softmax_backward_t<double>(dx, dy, y, p);
}
void prelu_forward(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p) {
  if (x.dtype == DType::Float32) prelu_forward_t<float>(y, x, w, p); else prelu_forward_t<double>(y, x, w, p);
}
void prelu_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                    const TensorView& w, const PReLUParams& p) {
  if (x.dtype == DType::Float32) prelu_backward_t<float>(dx, dw, dy, x, w, p);
  else prelu_backward_t<double>(dx, dw, dy, x, w, p);
}
void maxout_forward(const TensorView& y, const TensorView& x, const MaxoutParams& p) {
  if (x.dtype == DType::Float32) maxout_forward_t<float>(y, x, p); else maxout_forward_t<double>(y, x, p);
}
void maxout_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p) {
  if (x.dtype == DType::Float32) maxout_backward_t<float>(dx, dy, x, p); else maxout_backward_t<double>(dx, dy, x, p);
}

}  // namespace fl::ref
