// Front door of the fully connected layer: validates the operands, then runs the first implementation
// in the pass's list that accepts the problem (ops/impls.h: FASTLAYERS_IMPL=linear:<name>, FASTLAYERS_VERBOSE).
#include <cstring>

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/checks.h"
#include "ops/device.h"

namespace fl {

std::string LinearParams::str() const { return cat_str("m", M, "k", K, "n", N); }

namespace {

using ForwardFn = sig::WeightForward<LinearParams>*;
using BackwardDataFn = sig::WeightBackwardData<LinearParams>*;
using BackwardWeightFn = sig::WeightBackwardWeight<LinearParams>*;

// Fastest first per pass (ops/impls.h); the reference is last and takes anything.
const Impl<LinearParams, ForwardFn> kForward[] = {
    {"dot", cpu::linear_dot_accepts, cpu::linear_dot_forward, "in_features >= 16 and fewer than 128 rows"},
    {"gemm", nullptr, cpu::linear_gemm_forward},
    {"reference", nullptr, ref::linear_forward},
};
const Impl<LinearParams, BackwardDataFn> kBackwardData[] = {
    {"gemm", nullptr, cpu::linear_gemm_backward_data},
    {"reference", nullptr, ref::linear_backward_data},
};
const Impl<LinearParams, BackwardWeightFn> kBackwardWeight[] = {
    {"gemm", nullptr, cpu::linear_gemm_backward_weight},
    {"reference", nullptr, ref::linear_backward_weight},
};
const ImplRegistration kRegForward("linear", kForward), kRegBackwardData("linear", kBackwardData),
    kRegBackwardWeight("linear", kBackwardWeight);

void zero(const TensorView& v) {
  if (v.defined()) std::memset(v.data, 0, static_cast<size_t>(v.numel() * dtype_size(v.dtype)));
}

}  // namespace

void check_linear_params(const LinearParams& p) {
  FL_CHECK_VALUE(p.M >= 0, "linear: number of rows must be >= 0, got ", p.M);
  FL_CHECK_VALUE(p.K >= 0, "linear: in_features must be >= 0, got ", p.K);
  FL_CHECK_VALUE(p.N >= 0, "linear: out_features must be >= 0, got ", p.N);
}

LinearParams linear_problem(const TensorView& x, const TensorView& w, const char* op) {
  FL_CHECK_VALUE(x.ndim == 2, op, ": input must be 2-D (rows, in_features), got shape ", x.shape_str());
  FL_CHECK_VALUE(w.ndim == 2, op, ": weight must be 2-D (out_features, in_features), got shape ", w.shape_str());
  FL_CHECK_VALUE(x.shape[1] == w.shape[1], op, ": input and weight shapes cannot be multiplied (", x.shape[0], "x",
                 x.shape[1], " and ", w.shape[1], "x", w.shape[0], "): input has ", x.shape[1],
                 " features, weight expects ", w.shape[1]);
  LinearParams p;
  p.M = x.shape[0];
  p.K = x.shape[1];
  p.N = w.shape[0];
  check_linear_params(p);
  return p;
}

const char* linear_impl_name(const LinearParams& p, const char* pass) {
  if (std::strcmp(pass, "forward") == 0) return pick_impl(kForward, "linear", "query", p).name;
  if (std::strcmp(pass, "backward_data") == 0) return pick_impl(kBackwardData, "linear", "query", p).name;
  if (std::strcmp(pass, "backward_weight") == 0) return pick_impl(kBackwardWeight, "linear", "query", p).name;
  throw ValueError(cat_str("linear_impl_name: pass must be 'forward', 'backward_data' or 'backward_weight', got '",
                           pass, "'"));
}

void linear_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                    const LinearParams& p) {
  check_linear_params(p);
  const char* op = "linear_forward";
  const Device dev = common_device(op, {{"input", &x}, {"weight", &w}, {"bias", &b}, {"output", &y}});
  check_view(x, op, "input", {p.M, p.K}, x.dtype);
  check_view(w, op, "weight", {p.N, p.K}, x.dtype);
  if (b.defined()) check_view(b, op, "bias", {p.N}, x.dtype);
  check_view(y, op, "output", {p.M, p.N}, x.dtype);
  if (p.M == 0 || p.N == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::linear_forward(y, x, w, b, p.M, p.K, p.N, cuda::current_stream()));
  pick_impl(kForward, "linear", "forward", p).run(y, x, w, b, p);
}

void linear_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const LinearParams& p) {
  check_linear_params(p);
  const char* op = "linear_backward_data";
  const Device dev = common_device(op, {{"grad_output", &dy}, {"weight", &w}, {"grad_input", &dx}});
  check_view(dy, op, "grad_output", {p.M, p.N}, dy.dtype);
  check_view(w, op, "weight", {p.N, p.K}, dy.dtype);
  check_view(dx, op, "grad_input", {p.M, p.K}, dy.dtype);
  if (p.M == 0 || p.K == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::linear_backward_data(dx, dy, w, p.M, p.K, p.N, cuda::current_stream()));
  pick_impl(kBackwardData, "linear", "backward_data", p).run(dx, dy, w, p);
}

void linear_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            const LinearParams& p) {
  check_linear_params(p);
  const char* op = "linear_backward_weight";
  const Device dev =
      common_device(op, {{"grad_output", &dy}, {"input", &x}, {"grad_weight", &dw}, {"grad_bias", &db}});
  check_view(dy, op, "grad_output", {p.M, p.N}, dy.dtype);
  check_view(x, op, "input", {p.M, p.K}, dy.dtype);
  if (dw.defined()) check_view(dw, op, "grad_weight", {p.N, p.K}, dy.dtype);
  if (db.defined()) check_view(db, op, "grad_bias", {p.N}, dy.dtype);
  if (!dw.defined() && !db.defined()) return;
  if (dev == Device::CUDA)  // an empty batch is fine here: the launcher writes zeros
    return FL_CUDA_LAUNCH(op, cuda::linear_backward_weight(dw, db, dy, x, p.M, p.K, p.N, cuda::current_stream()));
  if (p.M == 0) {  // an empty batch contributes nothing
    zero(dw);
    zero(db);
    return;
  }
  if (p.N == 0) return;
  pick_impl(kBackwardWeight, "linear", "backward_weight", p).run(dw, db, dy, x, p);
}

}  // namespace fl
