// Front door of the normalization family (batch norm, group norm; layer and instance norm map onto
// group norm): validates the operands, then runs the fast kernels, or the naive references when forced
// (ops/impls.h: FASTLAYERS_IMPL=batch_norm:reference, _C.set_impl; set_norm_use_reference(true) forces them for
// the whole family). FASTLAYERS_VERBOSE logs the choice.

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/checks.h"
#include "ops/device.h"

namespace fl {
namespace {

// Each pass: the fast kernels, then the naive reference (ops/impls.h).
const FastThenReferenceOps kRegistered{"batch_norm", "group_norm", "local_response_norm"};


void check_opt(const TensorView& v, const char* op, const char* arg, int64_t n, DType dtype) {
  if (v.defined()) check_view(v, op, arg, {n}, dtype);
}

void check_bn(const char* op, const TensorView& x, const BatchNormParams& p) {
  check_batch_norm_params(p);
  check_float_dtype(op, "input", x, true);
  check_view(x, op, "input", {p.N, p.C, p.S}, x.dtype);
}

// Batch norm's per-channel operands (weight, bias, running statistics, the weight/bias gradients) share one
// dtype: the input's or, for a float16/bfloat16 input, float32 (mixed precision, as torch and cuDNN allow).
DType bn_param_dtype(const char* op, DType x, std::initializer_list<NamedView> views) {
  DType pd = x;
  const char* first = nullptr;
  for (const NamedView& v : views) {
    if (!v.second->defined()) continue;
    if (!first) {
      pd = v.second->dtype;
      first = v.first;
      continue;
    }
    FL_CHECK_TYPE(v.second->dtype == pd, op, ": ", v.first, " must have dtype ", dtype_name(pd), " like ", first,
                  ", got ", dtype_name(v.second->dtype));
  }
  FL_CHECK_TYPE(pd == x || (is_half(x) && pd == DType::Float32), op, ": ", first, " must have dtype ",
                dtype_name(x), is_half(x) ? " or float32" : "", " like the input, got ", dtype_name(pd));
  return pd;
}
// The saved mean / rstd of batch norm: float32 for a half input (torch's save_mean / save_invstd).
DType bn_stats_dtype(DType x) { return is_half(x) ? DType::Float32 : x; }

void check_gn(const char* op, const TensorView& x, const GroupNormParams& p) {
  check_group_norm_params(p);
  check_float_dtype(op, "input", x, true);
  check_view(x, op, "input", {p.N, p.C, p.S}, x.dtype);
}

}  // namespace

std::string BatchNormParams::str() const { return cat_str("mb", N, "ic", C, "is", S); }
std::string GroupNormParams::str() const { return cat_str("mb", N, "ic", C, "is", S, "g", G); }

TensorView norm_ncs_view(TensorView v, const char* op, const char* arg) {
  FL_CHECK_VALUE(v.ndim >= 2, op, ": ", arg, " must have at least 2 dimensions (N, C, *), got shape ",
                 v.shape_str());
  int64_t S = 1;
  for (int i = 2; i < v.ndim; ++i) S *= v.shape[i];
  const int64_t N = v.shape[0], C = v.shape[1];
  v.ndim = 3;
  v.shape[0] = N; v.shape[1] = C; v.shape[2] = S;
  v.strides[2] = 1; v.strides[1] = S; v.strides[0] = C * S;
  return v;
}

DType batch_norm_stats_dtype(DType x) { return bn_stats_dtype(x); }

void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p, bool training) {
  if (training) batch_norm_forward(y, mean, rstd, x, gamma, beta, running_mean, running_var, p);
  else batch_norm_forward_eval(y, mean, rstd, x, gamma, beta, running_mean, running_var, p);
}

void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, const BatchNormParams& p, bool training) {
  if (training) batch_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, p);
  else batch_norm_backward_eval(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, p);
}

void set_norm_use_reference(bool on) {
  for (const char* op : {"batch_norm", "group_norm", "local_response_norm"}) set_impl(op, on ? "reference" : "");
}

void check_batch_norm_params(const BatchNormParams& p) {
  FL_CHECK_VALUE(p.N >= 0 && p.C >= 1 && p.S >= 0, "batch_norm: sizes must be N >= 0, C >= 1, S >= 0, got N=", p.N,
                 " C=", p.C, " S=", p.S);
  FL_CHECK_VALUE(p.eps >= 0, "batch_norm: eps must be >= 0, got ", p.eps);
}

void check_group_norm_params(const GroupNormParams& p) {
  FL_CHECK_VALUE(p.N >= 0 && p.C >= 1 && p.S >= 0, "group_norm: sizes must be N >= 0, C >= 1, S >= 0, got N=", p.N,
                 " C=", p.C, " S=", p.S);
  FL_CHECK_VALUE(p.G >= 1 && p.C % p.G == 0, "group_norm: num_groups=", p.G, " must divide the channels C=", p.C);
  FL_CHECK_VALUE(p.eps >= 0, "group_norm: eps must be >= 0, got ", p.eps);
}

void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p) {
  const char* op = "batch_norm_forward";
  check_bn(op, x, p);
  p.check_training("batch_norm");  // eps > 0 with batch statistics (params.h)
  const DType dt = x.dtype, pd = bn_param_dtype(op, dt, {{"weight", &gamma}, {"bias", &beta},
                                                         {"running_mean", &running_mean}, {"running_var", &running_var}});
  check_opt(gamma, op, "weight", p.C, pd);
  check_opt(beta, op, "bias", p.C, pd);
  check_opt(running_mean, op, "running_mean", p.C, pd);
  check_opt(running_var, op, "running_var", p.C, pd);
  check_view(y, op, "output", {p.N, p.C, p.S}, dt);
  check_view(mean, op, "mean", {p.C}, bn_stats_dtype(dt));
  check_view(rstd, op, "rstd", {p.C}, bn_stats_dtype(dt));
  FL_CHECK_VALUE(p.count() >= 1, op, ": no values per channel (input of shape ", x.shape_str(), ")");
  if (common_device(op, {{"input", &x}, {"weight", &gamma}, {"bias", &beta}, {"running_mean", &running_mean},
                         {"running_var", &running_var}, {"output", &y}, {"mean", &mean}, {"rstd", &rstd}}) ==
      Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::batch_norm_forward(y, mean, rstd, x, gamma, beta, running_mean, running_var, p,
                                                       cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(batch_norm_forward), "batch_norm", "forward", p)
      .run(y, mean, rstd, x, gamma, beta, running_mean, running_var, p);
}

void batch_norm_forward_eval(const TensorView& y, const TensorView& mean, const TensorView& rstd,
                             const TensorView& x, const TensorView& gamma, const TensorView& beta,
                             const TensorView& running_mean, const TensorView& running_var, const BatchNormParams& p) {
  const char* op = "batch_norm_forward_eval";
  check_bn(op, x, p);
  const DType dt = x.dtype, pd = bn_param_dtype(op, dt, {{"weight", &gamma}, {"bias", &beta},
                                                         {"running_mean", &running_mean}, {"running_var", &running_var}});
  check_opt(gamma, op, "weight", p.C, pd);
  check_opt(beta, op, "bias", p.C, pd);
  FL_CHECK_VALUE(running_mean.defined() && running_var.defined(), op,
                 ": running_mean and running_var must be defined in evaluation mode");
  check_view(running_mean, op, "running_mean", {p.C}, pd);
  check_view(running_var, op, "running_var", {p.C}, pd);
  check_view(y, op, "output", {p.N, p.C, p.S}, dt);
  check_view(mean, op, "mean", {p.C}, bn_stats_dtype(dt));
  check_view(rstd, op, "rstd", {p.C}, bn_stats_dtype(dt));
  if (common_device(op, {{"input", &x}, {"weight", &gamma}, {"bias", &beta}, {"running_mean", &running_mean},
                         {"running_var", &running_var}, {"output", &y}, {"mean", &mean}, {"rstd", &rstd}}) ==
      Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::batch_norm_forward_eval(y, mean, rstd, x, gamma, beta, running_mean, running_var,
                                                            p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(batch_norm_forward_eval), "batch_norm", "forward_eval", p)
      .run(y, mean, rstd, x, gamma, beta, running_mean, running_var, p);
}

namespace {
void bn_backward(const char* op, bool batch_stats, const TensorView& dx, const TensorView& dgamma,
                 const TensorView& dbeta, const TensorView& dy, const TensorView& x, const TensorView& mean,
                 const TensorView& rstd, const TensorView& gamma, const BatchNormParams& p) {
  check_bn(op, x, p);
  const DType dt = x.dtype,
              pd = bn_param_dtype(op, dt, {{"weight", &gamma}, {"grad_weight", &dgamma}, {"grad_bias", &dbeta}});
  check_view(dy, op, "grad_output", {p.N, p.C, p.S}, dt);
  check_view(mean, op, "mean", {p.C}, bn_stats_dtype(dt));
  check_view(rstd, op, "rstd", {p.C}, bn_stats_dtype(dt));
  check_opt(gamma, op, "weight", p.C, pd);
  if (dx.defined()) check_view(dx, op, "grad_input", {p.N, p.C, p.S}, dt);
  check_opt(dgamma, op, "grad_weight", p.C, pd);
  check_opt(dbeta, op, "grad_bias", p.C, pd);
  if (common_device(op, {{"grad_output", &dy}, {"input", &x}, {"mean", &mean}, {"rstd", &rstd}, {"weight", &gamma},
                         {"grad_input", &dx}, {"grad_weight", &dgamma}, {"grad_bias", &dbeta}}) == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::batch_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, batch_stats, p,
                                                        cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(batch_norm_backward), "batch_norm", "backward", p)
      .run(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, batch_stats, p);
}
}  // namespace

void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, const BatchNormParams& p) {
  bn_backward("batch_norm_backward", true, dx, dgamma, dbeta, dy, x, mean, rstd, gamma, p);
}

void batch_norm_backward_eval(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                              const TensorView& dy, const TensorView& x, const TensorView& mean,
                              const TensorView& rstd, const TensorView& gamma, const BatchNormParams& p) {
  bn_backward("batch_norm_backward_eval", false, dx, dgamma, dbeta, dy, x, mean, rstd, gamma, p);
}

void group_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const GroupNormParams& p) {
  const char* op = "group_norm_forward";
  check_gn(op, x, p);
  const DType dt = x.dtype;
  check_opt(gamma, op, "weight", p.C, dt);
  check_opt(beta, op, "bias", p.C, dt);
  check_view(y, op, "output", {p.N, p.C, p.S}, dt);
  check_view(mean, op, "mean", {p.N, p.G}, dt);
  check_view(rstd, op, "rstd", {p.N, p.G}, dt);
  FL_CHECK_VALUE(p.count() >= 1, op, ": no values per group (input of shape ", x.shape_str(), ")");
  if (common_device(op, {{"input", &x}, {"weight", &gamma}, {"bias", &beta}, {"output", &y}, {"mean", &mean},
                         {"rstd", &rstd}}) == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::group_norm_forward(y, mean, rstd, x, gamma, beta, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(group_norm_forward), "group_norm", "forward", p)
      .run(y, mean, rstd, x, gamma, beta, p);
}

void group_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, const GroupNormParams& p) {
  const char* op = "group_norm_backward";
  check_gn(op, x, p);
  const DType dt = x.dtype;
  check_view(dy, op, "grad_output", {p.N, p.C, p.S}, dt);
  check_view(mean, op, "mean", {p.N, p.G}, dt);
  check_view(rstd, op, "rstd", {p.N, p.G}, dt);
  check_opt(gamma, op, "weight", p.C, dt);
  if (dx.defined()) check_view(dx, op, "grad_input", {p.N, p.C, p.S}, dt);
  check_opt(dgamma, op, "grad_weight", p.C, dt);
  check_opt(dbeta, op, "grad_bias", p.C, dt);
  if (common_device(op, {{"grad_output", &dy}, {"input", &x}, {"mean", &mean}, {"rstd", &rstd}, {"weight", &gamma},
                         {"grad_input", &dx}, {"grad_weight", &dgamma}, {"grad_bias", &dbeta}}) == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::group_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(group_norm_backward), "group_norm", "backward", p)
      .run(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, p);
}

}  // namespace fl

// ---- local response norm ----
namespace fl {

std::string LRNParams::str() const { return cat_str("mb", N, "ic", C, "is", S, "n", size); }

void check_lrn_params(const LRNParams& p) {
  FL_CHECK_VALUE(p.N >= 0 && p.C >= 1 && p.S >= 0, "local_response_norm: sizes must be N >= 0, C >= 1, S >= 0, got N=",
                 p.N, " C=", p.C, " S=", p.S);
  FL_CHECK_VALUE(p.size >= 1, "local_response_norm: size must be >= 1, got ", p.size);
}

namespace {
void check_lrn(const char* op, const TensorView& x, const LRNParams& p) {
  check_lrn_params(p);
  check_float_dtype(op, "input", x, true);
  check_view(x, op, "input", {p.N, p.C, p.S}, x.dtype);
}
}  // namespace

void lrn_forward(const TensorView& y, const TensorView& scale, const TensorView& x, const LRNParams& p) {
  const char* op = "local_response_norm_forward";
  check_lrn(op, x, p);
  check_view(y, op, "output", {p.N, p.C, p.S}, x.dtype);
  check_view(scale, op, "scale", {p.N, p.C, p.S}, x.dtype);
  if (common_device(op, {{"input", &x}, {"output", &y}, {"scale", &scale}}) == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::lrn_forward(y, scale, x, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(lrn_forward), "local_response_norm", "forward", p).run(y, scale, x, p);
}

void lrn_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const TensorView& scale,
                  const LRNParams& p) {
  const char* op = "local_response_norm_backward";
  check_lrn(op, x, p);
  check_view(dy, op, "grad_output", {p.N, p.C, p.S}, x.dtype);
  check_view(scale, op, "scale", {p.N, p.C, p.S}, x.dtype);
  check_view(dx, op, "grad_input", {p.N, p.C, p.S}, x.dtype);
  if (common_device(op, {{"grad_output", &dy}, {"input", &x}, {"scale", &scale}, {"grad_input", &dx}}) ==
      Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::lrn_backward(dx, dy, x, scale, p, cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(lrn_backward), "local_response_norm", "backward", p).run(dx, dy, x, scale, p);
}

}  // namespace fl
