// Front door of 2-D convolution: validates the operands, then runs the first implementation in
// kImpls that accepts the problem (ops/impls.h: FASTLAYERS_IMPL=conv2d:<name> forces one, FASTLAYERS_VERBOSE logs).
#include <cstring>

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/checks.h"
#include "ops/device.h"

namespace fl {
namespace {

using Pair = std::array<int64_t, 2>;

using ForwardFn = sig::WeightForward<Conv2dParams>*;
using BackwardDataFn = sig::WeightBackwardData<Conv2dParams>*;
using BackwardWeightFn = sig::WeightBackwardWeight<Conv2dParams>*;

// One entry per implementation, a function per pass (ops/impls.h); accepts nullptr takes every problem.
struct Conv2dImpl {
  const char* name;
  bool (*accepts)(const Conv2dParams&);
  ForwardFn forward;
  BackwardDataFn backward_data;
  BackwardWeightFn backward_weight;
  const char* needs = nullptr;  // what accepts() asks for, logged when it declines
};

// Fastest first; the reference is last and takes anything.
const Conv2dImpl kImpls[] = {
    {"depthwise", cpu::conv2d_depthwise_accepts, cpu::conv2d_depthwise_forward, cpu::conv2d_depthwise_backward_data,
     cpu::conv2d_depthwise_backward_weight, "groups == in_channels > 1"},
    {"winograd", cpu::conv2d_winograd_accepts, cpu::conv2d_winograd_forward, cpu::conv2d_winograd_backward_data,
     cpu::conv2d_winograd_backward_weight,
     "3x3, stride 1, dilation 1, groups 1, padding <= 2, >= 64 input and output channels, >= 64 output tiles of 4x4, "
     "and FASTLAYERS_CONV_ALGO not 'exact'"},
    {"batch_gemm", cpu::conv2d_batch_gemm_accepts, cpu::conv2d_batch_gemm_forward, cpu::conv2d_batch_gemm_backward_data,
     cpu::conv2d_batch_gemm_backward_weight,
     "groups == 1 and a small output (P*Q <= 4, <= 16 with K >= 64, <= 64 with K >= 128)"},
    {"gemm", nullptr, cpu::conv2d_gemm_forward, cpu::conv2d_gemm_backward_data, cpu::conv2d_gemm_backward_weight},
    {"reference", nullptr, ref::conv2d_forward, ref::conv2d_backward_data, ref::conv2d_backward_weight},
};
const ImplRegistration kRegistered("conv2d", kImpls);

template <typename Fn>
const Conv2dImpl& pick(Fn Conv2dImpl::*pass, const char* pass_name, const Conv2dParams& p) {
  return select_impl(kImpls, pass, "conv2d", pass_name, p);
}

}  // namespace

void check_conv2d_params(const Conv2dParams& p) {
  FL_CHECK_VALUE(p.N >= 0, "conv2d: batch size must be >= 0, got ", p.N);
  FL_CHECK_VALUE(p.C >= 1 && p.H >= 1 && p.W >= 1, "conv2d: input channels and spatial sizes must be >= 1, got C=",
                 p.C, " H=", p.H, " W=", p.W);
  FL_CHECK_VALUE(p.K >= 1 && p.R >= 1 && p.S >= 1, "conv2d: weight sizes must be >= 1, got out_channels=", p.K,
                 " kernel=(", p.R, ", ", p.S, ")");
  FL_CHECK_VALUE(p.groups >= 1, "conv2d: groups must be >= 1, got ", p.groups);
  FL_CHECK_VALUE(p.C % p.groups == 0, "conv2d: groups=", p.groups, " must divide in_channels=", p.C);
  FL_CHECK_VALUE(p.K % p.groups == 0, "conv2d: groups=", p.groups, " must divide out_channels=", p.K);
  FL_CHECK_VALUE(p.stride_h >= 1 && p.stride_w >= 1, "conv2d: stride must be >= 1, got (", p.stride_h, ", ",
                 p.stride_w, ")");
  FL_CHECK_VALUE(p.dil_h >= 1 && p.dil_w >= 1, "conv2d: dilation must be >= 1, got (", p.dil_h, ", ", p.dil_w, ")");
  FL_CHECK_VALUE(p.pad_h >= 0 && p.pad_w >= 0, "conv2d: padding must be >= 0, got (", p.pad_h, ", ", p.pad_w, ")");
  p.check_sizes("conv2d");  // overflow-checked sizes (params.h) before P(), Q() are used
  FL_CHECK_VALUE(p.P() >= 1 && p.Q() >= 1, "conv2d: kernel size (", p.R, ", ", p.S, ") with dilation (", p.dil_h,
                 ", ", p.dil_w, ") is larger than the padded input (", p.H + 2 * p.pad_h, ", ", p.W + 2 * p.pad_w,
                 ")");
}

Conv2dParams conv2d_problem(const TensorView& x, const TensorView& w, Pair stride, Pair padding, Pair dilation,
                            int64_t groups, const char* op) {
  FL_CHECK_VALUE(x.ndim == 4, op, ": input must be 4-D (N, C, H, W), got shape ", x.shape_str());
  FL_CHECK_VALUE(w.ndim == 4, op, ": weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape ",
                 w.shape_str());
  FL_CHECK_VALUE(groups >= 1, op, ": groups must be >= 1, got ", groups);
  FL_CHECK_VALUE(w.shape[1] * groups == x.shape[1], op, ": input has ", x.shape[1],
                 " channels but weight of shape ", w.shape_str(), " with groups=", groups, " expects ",
                 w.shape[1] * groups);
  Conv2dParams p;
  p.N = x.shape[0]; p.C = x.shape[1]; p.H = x.shape[2]; p.W = x.shape[3];
  p.K = w.shape[0]; p.R = w.shape[2]; p.S = w.shape[3];
  p.stride_h = stride[0]; p.stride_w = stride[1];
  p.pad_h = padding[0]; p.pad_w = padding[1];
  p.dil_h = dilation[0]; p.dil_w = dilation[1];
  p.groups = groups;
  check_conv2d_params(p);
  return p;
}

const char* conv2d_impl_name(const Conv2dParams& p, DType) { return pick(&Conv2dImpl::forward, "query", p).name; }

void conv2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                    const Conv2dParams& p) {
  check_conv2d_params(p);
  const char* op = "conv2d_forward";
  const Device dev = common_device(op, {{"input", &x}, {"weight", &w}, {"bias", &b}, {"output", &y}});
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, x.dtype);
  check_float_dtype(op, "input", x, true);
  check_view(w, op, "weight", {p.K, p.Cg(), p.R, p.S}, x.dtype);
  if (b.defined()) check_view(b, op, "bias", {p.K}, x.dtype);
  check_view(y, op, "output", {p.N, p.K, p.P(), p.Q()}, x.dtype);
  if (p.N == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::conv2d_forward(y, x, w, b, p, cuda::current_stream()));
  pick(&Conv2dImpl::forward, "forward", p).forward(y, x, w, b, p);
}

void conv2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const Conv2dParams& p) {
  check_conv2d_params(p);
  const char* op = "conv2d_backward_data";
  const Device dev = common_device(op, {{"grad_output", &dy}, {"weight", &w}, {"grad_input", &dx}});
  check_view(dy, op, "grad_output", {p.N, p.K, p.P(), p.Q()}, dy.dtype);
  check_view(w, op, "weight", {p.K, p.Cg(), p.R, p.S}, dy.dtype);
  check_view(dx, op, "grad_input", {p.N, p.C, p.H, p.W}, dy.dtype);
  if (p.N == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::conv2d_backward_data(dx, dy, w, p, cuda::current_stream()));
  pick(&Conv2dImpl::backward_data, "backward_data", p).backward_data(dx, dy, w, p);
}

void conv2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            const Conv2dParams& p) {
  check_conv2d_params(p);
  const char* op = "conv2d_backward_weight";
  const Device dev =
      common_device(op, {{"grad_output", &dy}, {"input", &x}, {"grad_weight", &dw}, {"grad_bias", &db}});
  check_view(dy, op, "grad_output", {p.N, p.K, p.P(), p.Q()}, dy.dtype);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, dy.dtype);
  if (dw.defined()) check_view(dw, op, "grad_weight", {p.K, p.Cg(), p.R, p.S}, dy.dtype);
  if (db.defined()) check_view(db, op, "grad_bias", {p.K}, dy.dtype);
  if (!dw.defined() && !db.defined()) return;
  if (dev == Device::CUDA)  // an empty batch is fine here: the kernels write zeros
    return FL_CUDA_LAUNCH(op, cuda::conv2d_backward_weight(dw, db, dy, x, p, cuda::current_stream()));
  if (p.N == 0) {  // an empty batch contributes nothing
    const size_t elem = static_cast<size_t>(dtype_size(dy.dtype));
    if (dw.defined()) std::memset(dw.data, 0, dw.numel() * elem);
    if (db.defined()) std::memset(db.data, 0, db.numel() * elem);
    return;
  }
  pick(&Conv2dImpl::backward_weight, "backward_weight", p).backward_weight(dw, db, dy, x, p);
}

}  // namespace fl
