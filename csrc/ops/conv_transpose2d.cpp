// Front door of transposed 2-D convolution: validates the operands, then runs the first implementation of
// kImpls that accepts the problem: the adjoint convolution through conv2d's kernels (cpu/conv_transpose2d.cpp)
// or the naive reference (forced per call with impl="reference", or by ops/impls.h's override).
#include <sstream>

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/checks.h"
#include "ops/device.h"

namespace fl {

std::string ConvTranspose2dParams::str() const {
  std::ostringstream os;
  os << "mb" << N << "ic" << C << "ih" << H;
  if (W != H) os << "iw" << W;
  os << "oc" << K << "kh" << R;
  if (S != R) os << "kw" << S;
  os << "sh" << stride_h;
  if (stride_w != stride_h) os << "sw" << stride_w;
  os << "ph" << pad_h;
  if (pad_w != pad_h) os << "pw" << pad_w;
  os << "oph" << out_pad_h;
  if (out_pad_w != out_pad_h) os << "opw" << out_pad_w;
  os << "dh" << dil_h;
  if (dil_w != dil_h) os << "dw" << dil_w;
  os << "g" << groups;
  return os.str();
}

namespace {

using Pair = std::array<int64_t, 2>;
using ForwardFn = sig::WeightForward<ConvTranspose2dParams>*;
using BackwardDataFn = sig::WeightBackwardData<ConvTranspose2dParams>*;
using BackwardWeightFn = sig::WeightBackwardWeight<ConvTranspose2dParams>*;

struct ConvTranspose2dImpl {
  const char* name;
  bool (*accepts)(const ConvTranspose2dParams&);
  ForwardFn forward;
  BackwardDataFn backward_data;
  BackwardWeightFn backward_weight;
  const char* needs = nullptr;
};

// Fastest first (ops/impls.h); the reference is last.
const ConvTranspose2dImpl kImpls[] = {
    {"adjoint_conv2d", nullptr, cpu::conv_transpose2d_adjoint_forward, cpu::conv_transpose2d_adjoint_backward_data,
     cpu::conv_transpose2d_adjoint_backward_weight},
    {"reference", nullptr, ref::conv_transpose2d_forward, ref::conv_transpose2d_backward_data,
     ref::conv_transpose2d_backward_weight},
};
const ImplRegistration kRegistered("conv_transpose2d", kImpls);

template <typename Fn>
const ConvTranspose2dImpl& pick(Fn ConvTranspose2dImpl::*pass, const char* pass_name, const ConvTranspose2dParams& p,
                                const char* impl) {
  return select_impl(kImpls, pass, "conv_transpose2d", pass_name, p, impl);
}

// A per-call impl (the bindings' reference=True) names a CPU implementation.
void check_cpu_impl(Device dev, const char* impl, const char* op) {
  FL_CHECK_VALUE(dev == Device::CPU || !impl || !*impl, op, ": impl '", impl, "' runs on the cpu only");
}

void check_dtype(const TensorView& v, const char* op) {
  check_float_dtype(op, "input", v, true);
}

}  // namespace

void check_conv_transpose2d_params(const ConvTranspose2dParams& p) {
  const char* op = "conv_transpose2d";
  FL_CHECK_VALUE(p.N >= 0, op, ": batch size must be >= 0, got ", p.N);
  FL_CHECK_VALUE(p.C >= 1 && p.H >= 1 && p.W >= 1, op, ": input channels and spatial sizes must be >= 1, got C=",
                 p.C, " H=", p.H, " W=", p.W);
  FL_CHECK_VALUE(p.K >= 1 && p.R >= 1 && p.S >= 1, op, ": weight sizes must be >= 1, got out_channels=", p.K,
                 " kernel=(", p.R, ", ", p.S, ")");
  FL_CHECK_VALUE(p.groups >= 1, op, ": groups must be >= 1, got ", p.groups);
  FL_CHECK_VALUE(p.C % p.groups == 0, op, ": groups=", p.groups, " must divide in_channels=", p.C);
  FL_CHECK_VALUE(p.K % p.groups == 0, op, ": groups=", p.groups, " must divide out_channels=", p.K);
  FL_CHECK_VALUE(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride must be >= 1, got (", p.stride_h, ", ",
                 p.stride_w, ")");
  FL_CHECK_VALUE(p.dil_h >= 1 && p.dil_w >= 1, op, ": dilation must be >= 1, got (", p.dil_h, ", ", p.dil_w, ")");
  FL_CHECK_VALUE(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding must be >= 0, got (", p.pad_h, ", ", p.pad_w, ")");
  FL_CHECK_VALUE(p.out_pad_h >= 0 && p.out_pad_w >= 0, op, ": output_padding must be >= 0, got (", p.out_pad_h,
                 ", ", p.out_pad_w, ")");
  FL_CHECK_VALUE((p.out_pad_h < p.stride_h || p.out_pad_h < p.dil_h) &&
                     (p.out_pad_w < p.stride_w || p.out_pad_w < p.dil_w),
                 op, ": output_padding (", p.out_pad_h, ", ", p.out_pad_w,
                 ") must be smaller than either stride (", p.stride_h, ", ", p.stride_w, ") or dilation (", p.dil_h,
                 ", ", p.dil_w, ")");
  p.check_sizes(op);  // overflow-checked sizes (params.h) before P(), Q() are used
  FL_CHECK_VALUE(p.P() >= 1 && p.Q() >= 1, op, ": output size (", p.P(), ", ", p.Q(),
                 ") is too small: input (", p.H, ", ", p.W, "), kernel (", p.R, ", ", p.S, "), stride (", p.stride_h,
                 ", ", p.stride_w, "), padding (", p.pad_h, ", ", p.pad_w, "), output_padding (", p.out_pad_h, ", ",
                 p.out_pad_w, "), dilation (", p.dil_h, ", ", p.dil_w, ")");
}

ConvTranspose2dParams conv_transpose2d_problem(const TensorView& x, const TensorView& w, Pair stride, Pair padding,
                                               Pair output_padding, int64_t groups, Pair dilation, const char* op) {
  FL_CHECK_VALUE(x.ndim == 4, op, ": input must be 4-D (N, C, H, W), got shape ", x.shape_str());
  FL_CHECK_VALUE(w.ndim == 4, op, ": weight must be 4-D (in_channels, out_channels/groups, kH, kW), got shape ",
                 w.shape_str());
  FL_CHECK_VALUE(groups >= 1, op, ": groups must be >= 1, got ", groups);
  FL_CHECK_VALUE(w.shape[0] == x.shape[1], op, ": input has ", x.shape[1], " channels but weight of shape ",
                 w.shape_str(), " expects ", w.shape[0], " (weight.shape[0] is in_channels)");
  FL_CHECK_TYPE(w.dtype == x.dtype, op, ": weight must have dtype ", dtype_name(x.dtype), " like the input, got ",
                dtype_name(w.dtype));
  ConvTranspose2dParams p;
  p.N = x.shape[0]; p.C = x.shape[1]; p.H = x.shape[2]; p.W = x.shape[3];
  p.K = w.shape[1] * groups; p.R = w.shape[2]; p.S = w.shape[3];
  p.stride_h = stride[0]; p.stride_w = stride[1];
  p.pad_h = padding[0]; p.pad_w = padding[1];
  p.out_pad_h = output_padding[0]; p.out_pad_w = output_padding[1];
  p.dil_h = dilation[0]; p.dil_w = dilation[1];
  p.groups = groups;
  check_conv_transpose2d_params(p);
  return p;
}

void conv_transpose2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                              const ConvTranspose2dParams& p, const char* impl) {
  check_conv_transpose2d_params(p);
  const char* op = "conv_transpose2d_forward";
  check_dtype(x, op);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, x.dtype);
  check_view(w, op, "weight", {p.C, p.Kg(), p.R, p.S}, x.dtype);
  if (b.defined()) check_view(b, op, "bias", {p.K}, x.dtype);
  check_view(y, op, "output", {p.N, p.K, p.P(), p.Q()}, x.dtype);
  const Device dev = common_device(op, {{"input", &x}, {"weight", &w}, {"bias", &b}, {"output", &y}});
  check_cpu_impl(dev, impl, op);
  if (p.N == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::conv_transpose2d_forward(y, x, w, b, p, cuda::current_stream()));
  pick(&ConvTranspose2dImpl::forward, "forward", p, impl).forward(y, x, w, b, p);
}

void conv_transpose2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                    const ConvTranspose2dParams& p, const char* impl) {
  check_conv_transpose2d_params(p);
  const char* op = "conv_transpose2d_backward_data";
  check_dtype(dy, op);
  check_view(dy, op, "grad_output", {p.N, p.K, p.P(), p.Q()}, dy.dtype);
  check_view(w, op, "weight", {p.C, p.Kg(), p.R, p.S}, dy.dtype);
  check_view(dx, op, "grad_input", {p.N, p.C, p.H, p.W}, dy.dtype);
  const Device dev = common_device(op, {{"grad_output", &dy}, {"weight", &w}, {"grad_input", &dx}});
  check_cpu_impl(dev, impl, op);
  if (p.N == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::conv_transpose2d_backward_data(dx, dy, w, p, cuda::current_stream()));
  pick(&ConvTranspose2dImpl::backward_data, "backward_data", p, impl).backward_data(dx, dy, w, p);
}

void conv_transpose2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                      const TensorView& x, const ConvTranspose2dParams& p, const char* impl) {
  check_conv_transpose2d_params(p);
  const char* op = "conv_transpose2d_backward_weight";
  check_dtype(dy, op);
  check_view(dy, op, "grad_output", {p.N, p.K, p.P(), p.Q()}, dy.dtype);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, dy.dtype);
  if (dw.defined()) check_view(dw, op, "grad_weight", {p.C, p.Kg(), p.R, p.S}, dy.dtype);
  if (db.defined()) check_view(db, op, "grad_bias", {p.K}, dy.dtype);
  const Device dev =
      common_device(op, {{"grad_output", &dy}, {"input", &x}, {"grad_weight", &dw}, {"grad_bias", &db}});
  check_cpu_impl(dev, impl, op);
  if (dev == Device::CUDA)  // an empty batch is fine here: the kernels write zeros
    return FL_CUDA_LAUNCH(op, cuda::conv_transpose2d_backward_weight(dw, db, dy, x, p, cuda::current_stream()));
  pick(&ConvTranspose2dImpl::backward_weight, "backward_weight", p, impl).backward_weight(dw, db, dy, x, p);
}

}  // namespace fl
