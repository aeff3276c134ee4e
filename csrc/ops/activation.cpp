// Front doors of the activation family (element-wise activations, softmax, prelu, maxout): validate the
// operands, then run the fast CPU kernel, or the naive reference when forced (ops/impls.h:
// FASTLAYERS_IMPL=softmax:reference, _C.set_impl; set_activation_reference(true) for the whole family).
// Gradients are written (=).
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <utility>

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/checks.h"
#include "ops/device.h"

namespace fl {
namespace {

// Each pass: the fast kernels, then the naive reference (ops/impls.h).
const FastThenReferenceOps kRegistered{"activation", "softmax", "prelu", "maxout"};

// half: the op has float16/bfloat16 kernels on CUDA (every op of this family has).
void check_float(const TensorView& v, const char* op, const char* arg, bool half = false) {
  check_float_dtype(op, arg, v, half);
  FL_CHECK_VALUE(v.is_contiguous(), op, ": ", arg, " must be contiguous");
}

void check_like(const TensorView& v, const TensorView& like, int64_t numel, const char* op, const char* arg,
                const char* like_name) {
  check_float(v, op, arg, true);  // the dtype of `like`, checked before
  FL_CHECK_TYPE(v.dtype == like.dtype, op, ": ", arg, " must have dtype ", dtype_name(like.dtype), " like ",
                like_name, ", got ", dtype_name(v.dtype));
  FL_CHECK_VALUE(v.numel() == numel, op, ": ", arg, " must have ", numel, " elements, got shape ", v.shape_str());
}

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

const char* act_kind_name(ActKind kind) {
  switch (kind) {
    case ActKind::ReLU: return "relu";
    case ActKind::LeakyReLU: return "leaky_relu";
    case ActKind::ELU: return "elu";
    case ActKind::GELU: return "gelu";
    case ActKind::GELUTanh: return "gelu_tanh";
    case ActKind::SiLU: return "silu";
    case ActKind::Mish: return "mish";
    case ActKind::Softplus: return "softplus";
    case ActKind::Sigmoid: return "sigmoid";
    case ActKind::Tanh: return "tanh";
    case ActKind::Hardtanh: return "hardtanh";
    case ActKind::Hardsigmoid: return "hardsigmoid";
    case ActKind::Hardswish: return "hardswish";
  }
  return "unknown";
}

ActKind act_kind_from_name(const std::string& name) {
  static const std::pair<const char*, ActKind> kinds[] = {
      {"relu", ActKind::ReLU}, {"leaky_relu", ActKind::LeakyReLU}, {"elu", ActKind::ELU},
      {"gelu", ActKind::GELU}, {"gelu_tanh", ActKind::GELUTanh}, {"silu", ActKind::SiLU},
      {"mish", ActKind::Mish}, {"softplus", ActKind::Softplus}, {"sigmoid", ActKind::Sigmoid},
      {"tanh", ActKind::Tanh}, {"hardtanh", ActKind::Hardtanh}, {"hardsigmoid", ActKind::Hardsigmoid},
      {"hardswish", ActKind::Hardswish}};
  for (const auto& [n, k] : kinds)
    if (name == n) return k;
  throw ValueError("activation: unknown kind '" + name + "'");
}

SoftmaxParams softmax_problem(const TensorView& x, int64_t dim, bool log, const char* op) {
  SoftmaxParams p;
  p.log = log;
  if (x.ndim == 0) {
    FL_CHECK_VALUE(dim == 0, op, ": dim must be 0 or -1 for a 0-d input, got ", dim);
    return p;
  }
  FL_CHECK_VALUE(dim >= 0 && dim < x.ndim, op, ": dim must be in [", -x.ndim, ", ", x.ndim - 1, "], got ", dim);
  p.outer = 1; p.inner = 1;
  for (int i = 0; i < dim; ++i) p.outer *= x.shape[i];
  p.dim = x.shape[dim];
  for (int i = static_cast<int>(dim) + 1; i < x.ndim; ++i) p.inner *= x.shape[i];
  return p;
}

PReLUParams prelu_problem(const TensorView& x, const TensorView& w, const char* op) {
  FL_CHECK_VALUE(w.ndim <= 1, op, ": weight must be 1-D, got shape ", w.shape_str());
  const int64_t nw = w.numel();
  PReLUParams p;
  if (nw == 1) {  // a single slope for every element
    p.N = 1; p.C = 1; p.inner = x.numel();
    return p;
  }
  FL_CHECK_VALUE(x.ndim >= 2 && x.shape[1] == nw, op, ": weight has ", nw,
                 " elements but the input's channel dimension (dim 1) is ",
                 x.ndim >= 2 ? std::to_string(x.shape[1]) : std::string("absent"), " (input shape ",
                 x.shape_str(), ")");
  p.N = x.shape[0]; p.C = nw; p.inner = 1;
  for (int i = 2; i < x.ndim; ++i) p.inner *= x.shape[i];
  return p;
}

MaxoutParams maxout_problem(const TensorView& x, int64_t pieces, int64_t dim, const char* op) {
  FL_CHECK_VALUE(x.ndim >= 1, op, ": input must have at least 1 dimension, got a 0-d input");
  FL_CHECK_VALUE(dim >= 0 && dim < x.ndim, op, ": dim must be in [", -x.ndim, ", ", x.ndim - 1, "], got ", dim);
  FL_CHECK_VALUE(pieces >= 1, op, ": pieces must be a positive integer, got ", pieces);
  FL_CHECK_VALUE(x.shape[dim] % pieces == 0, op, ": the size of dim ", dim, " (", x.shape[dim],
                 ") must be divisible by pieces=", pieces);
  MaxoutParams p;
  p.pieces = pieces;
  for (int i = 0; i < dim; ++i) p.outer *= x.shape[i];
  p.C = x.shape[dim];
  for (int i = static_cast<int>(dim) + 1; i < x.ndim; ++i) p.inner *= x.shape[i];
  return p;
}

bool ActivationParams::backward_from_output_ok() const {
  switch (kind) {
    case ActKind::ReLU: case ActKind::Sigmoid: case ActKind::Tanh: return true;
    case ActKind::LeakyReLU: return alpha >= 0;  // y > 0 exactly where x > 0
    case ActKind::ELU: return alpha >= 0;
    case ActKind::Hardtanh: return min_val < max_val;
    default: return false;
  }
}

std::string ActivationParams::str() const {
  std::ostringstream os;
  os << act_kind_name(kind) << "_n" << numel;
  switch (kind) {
    case ActKind::LeakyReLU: os << "_a" << fmt(alpha); break;
    case ActKind::ELU: os << "_a" << fmt(alpha) << "_s" << fmt(scale) << "_is" << fmt(input_scale); break;
    case ActKind::Softplus: os << "_b" << fmt(beta) << "_t" << fmt(threshold); break;
    case ActKind::Hardtanh: os << "_lo" << fmt(min_val) << "_hi" << fmt(max_val); break;
    default: break;
  }
  return os.str();
}

std::string SoftmaxParams::str() const {
  return cat_str(log ? "log_softmax" : "softmax", "_o", outer, "d", dim, "i", inner);
}
std::string PReLUParams::str() const { return cat_str("prelu_n", N, "c", C, "i", inner); }
std::string MaxoutParams::str() const { return cat_str("maxout_o", outer, "c", C, "i", inner, "p", pieces); }

void set_activation_reference(bool use_reference) {
  for (const char* op : {"activation", "softmax", "prelu", "maxout"}) set_impl(op, use_reference ? "reference" : "");
}

void activation_forward(const TensorView& y, const TensorView& x, const ActivationParams& p) {
  const char* op = "activation_forward";
  const Device dev = common_device(op, {{"input", &x}, {"output", &y}});
  check_float(x, op, "input", true);
  FL_CHECK_VALUE(x.numel() == p.numel, op, ": input must have ", p.numel, " elements, got shape ", x.shape_str());
  check_like(y, x, p.numel, op, "output", "the input");
  if (p.kind == ActKind::Softplus) FL_CHECK_VALUE(p.beta != 0, op, ": softplus beta must be nonzero");
  if (p.numel == 0) return;
  if (dev == Device::CUDA) return FL_CUDA_LAUNCH(op, cuda::activation_forward(y, x, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(activation_forward), "activation", "forward", p).run(y, x, p);
}

void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p) {
  const char* op = "activation_backward";
  const Device dev = common_device(op, {{"grad_output", &dy}, {"saved", &saved}, {"grad_input", &dx}});
  check_float(dy, op, "grad_output", true);
  FL_CHECK_VALUE(dy.numel() == p.numel, op, ": grad_output must have ", p.numel, " elements, got shape ",
                 dy.shape_str());
  check_like(saved, dy, p.numel, op, from_output ? "output" : "input", "grad_output");
  check_like(dx, dy, p.numel, op, "grad_input", "grad_output");
  FL_CHECK_VALUE(!from_output || p.backward_from_output_ok(), op, ": the gradient of ", p.str(),
                 " cannot be computed from its output");
  if (p.numel == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::activation_backward(dx, dy, saved, from_output, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(activation_backward), "activation", "backward", p)
      .run(dx, dy, saved, from_output, p);
}

void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p) {
  const char* op = p.log ? "log_softmax" : "softmax";
  const Device dev = common_device(op, {{"input", &x}, {"output", &y}});
  FL_CHECK_VALUE(p.outer >= 0 && p.dim >= 0 && p.inner >= 0, op, ": sizes must be >= 0, got ", p.str());
  const int64_t n = p.outer * p.dim * p.inner;
  check_float(x, op, "input", true);
  FL_CHECK_VALUE(x.numel() == n, op, ": input must have ", n, " elements, got shape ", x.shape_str());
  check_like(y, x, n, op, "output", "the input");
  if (n == 0) return;
  if (dev == Device::CUDA) return FL_CUDA_LAUNCH(op, cuda::softmax_forward(y, x, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(softmax_forward), "softmax", "forward", p).run(y, x, p);
}

void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p) {
  const char* op = p.log ? "log_softmax_backward" : "softmax_backward";
  const Device dev = common_device(op, {{"grad_output", &dy}, {"output", &y}, {"grad_input", &dx}});
  const int64_t n = p.outer * p.dim * p.inner;
  check_float(dy, op, "grad_output", true);
  FL_CHECK_VALUE(dy.numel() == n, op, ": grad_output must have ", n, " elements, got shape ", dy.shape_str());
  check_like(y, dy, n, op, "output", "grad_output");
  check_like(dx, dy, n, op, "grad_input", "grad_output");
  if (n == 0) return;
  if (dev == Device::CUDA) return FL_CUDA_LAUNCH(op, cuda::softmax_backward(dx, dy, y, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(softmax_backward), "softmax", "backward", p).run(dx, dy, y, p);
}

void prelu_forward(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p) {
  const char* op = "prelu";
  const Device dev = common_device(op, {{"input", &x}, {"weight", &w}, {"output", &y}});
  const int64_t n = p.N * p.C * p.inner;
  check_float(x, op, "input", true);
  FL_CHECK_VALUE(x.numel() == n, op, ": input must have ", n, " elements, got shape ", x.shape_str());
  check_like(w, x, p.C, op, "weight", "the input");
  check_like(y, x, n, op, "output", "the input");
  if (n == 0) return;
  if (dev == Device::CUDA) return FL_CUDA_LAUNCH(op, cuda::prelu_forward(y, x, w, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(prelu_forward), "prelu", "forward", p).run(y, x, w, p);
}

void prelu_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                    const TensorView& w, const PReLUParams& p) {
  const char* op = "prelu_backward";
  const Device dev = common_device(
      op, {{"grad_output", &dy}, {"input", &x}, {"weight", &w}, {"grad_input", &dx}, {"grad_weight", &dw}});
  const int64_t n = p.N * p.C * p.inner;
  check_float(dy, op, "grad_output", true);
  FL_CHECK_VALUE(dy.numel() == n, op, ": grad_output must have ", n, " elements, got shape ", dy.shape_str());
  check_like(x, dy, n, op, "input", "grad_output");
  check_like(w, dy, p.C, op, "weight", "grad_output");
  if (dx.defined()) check_like(dx, dy, n, op, "grad_input", "grad_output");
  if (dw.defined()) check_like(dw, dy, p.C, op, "grad_weight", "grad_output");
  if (dev == Device::CUDA)  // an empty input is fine here: the kernel writes dw = 0
    return FL_CUDA_LAUNCH(op, cuda::prelu_backward(dx, dw, dy, x, w, p, cuda::current_stream()));
  if (n == 0) {
    if (dw.defined()) {
      if (dw.dtype == DType::Float32) for (int64_t c = 0; c < p.C; ++c) dw.ptr<float>()[c] = 0;
      else for (int64_t c = 0; c < p.C; ++c) dw.ptr<double>()[c] = 0;
    }
    return;
  }
  pick_impl(FL_FAST_THEN_REFERENCE(prelu_backward), "prelu", "backward", p).run(dx, dw, dy, x, w, p);
}

void maxout_forward(const TensorView& y, const TensorView& x, const MaxoutParams& p) {
  const char* op = "maxout";
  const Device dev = common_device(op, {{"input", &x}, {"output", &y}});
  FL_CHECK_VALUE(p.pieces >= 1, op, ": pieces must be >= 1, got ", p.pieces);
  FL_CHECK_VALUE(p.C % p.pieces == 0, op, ": the number of channels ", p.C, " must be divisible by pieces=",
                 p.pieces);
  const int64_t n = p.outer * p.C * p.inner;
  check_float(x, op, "input", true);
  FL_CHECK_VALUE(x.numel() == n, op, ": input must have ", n, " elements, got shape ", x.shape_str());
  check_like(y, x, p.outer * p.Cout() * p.inner, op, "output", "the input");
  if (n == 0) return;
  if (dev == Device::CUDA) return FL_CUDA_LAUNCH(op, cuda::maxout_forward(y, x, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(maxout_forward), "maxout", "forward", p).run(y, x, p);
}

void maxout_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p) {
  const char* op = "maxout_backward";
  const Device dev = common_device(op, {{"grad_output", &dy}, {"input", &x}, {"grad_input", &dx}});
  FL_CHECK_VALUE(p.pieces >= 1 && p.C % p.pieces == 0, op, ": pieces=", p.pieces, " must divide channels ", p.C);
  const int64_t n = p.outer * p.C * p.inner;
  check_float(dy, op, "grad_output", true);
  FL_CHECK_VALUE(dy.numel() == p.outer * p.Cout() * p.inner, op, ": grad_output has the wrong size, got shape ",
                 dy.shape_str());
  check_like(x, dy, n, op, "input", "grad_output");
  check_like(dx, dy, n, op, "grad_input", "grad_output");
  if (n == 0) return;
  if (dev == Device::CUDA) return FL_CUDA_LAUNCH(op, cuda::maxout_backward(dx, dy, x, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(maxout_backward), "maxout", "backward", p).run(dx, dy, x, p);
}

}  // namespace fl
