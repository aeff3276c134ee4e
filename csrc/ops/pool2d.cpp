// Front door of 2-D pooling (max, average, adaptive, max-unpooling): validates the operands, then runs
// the first implementation in the op's list that accepts the problem (fastest first, the reference
// last; ops/impls.h: FASTLAYERS_IMPL=max_pool2d:<name> forces one, FASTLAYERS_VERBOSE logs).
#include <cstring>
#include <sstream>

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/checks.h"
#include "ops/device.h"

namespace fl {

std::string Pool2dParams::str() const {
  std::ostringstream os;
  os << "mb" << N << "ic" << C << "ih" << H;
  if (W != H) os << "iw" << W;
  os << "kh" << kh;
  if (kw != kh) os << "kw" << kw;
  os << "sh" << stride_h;
  if (stride_w != stride_h) os << "sw" << stride_w;
  os << "ph" << pad_h;
  if (pad_w != pad_h) os << "pw" << pad_w;
  os << "dh" << dil_h;
  if (dil_w != dil_h) os << "dw" << dil_w;
  if (ceil_mode) os << "c";
  if (!count_include_pad) os << "x";
  if (divisor != 0) os << "dv" << divisor;
  return os.str();
}

std::string AdaptivePool2dParams::str() const {
  std::ostringstream os;
  os << "mb" << N << "ic" << C << "ih" << H << "iw" << W << "oh" << OH << "ow" << OW;
  return os.str();
}

namespace {


bool pool_all(const Pool2dParams&) { return true; }
bool adaptive_all(const AdaptivePool2dParams&) { return true; }

using MaxFwd = sig::IndexedForward<Pool2dParams>*;
using AvgFwd = sig::Unary<Pool2dParams>*;
using AdFwd = sig::Unary<AdaptivePool2dParams>*;
using AdMaxFwd = sig::IndexedForward<AdaptivePool2dParams>*;

constexpr const char* kK2s2Needs = "2x2 windows, stride 2, no padding or dilation, every window inside the input";

// Fastest first (ops/impls.h); the reference is last and takes anything.
const Impl<Pool2dParams, MaxFwd> kMaxForward[] = {
    {"k2s2", cpu::pool2d_k2s2_accepts, cpu::max_pool2d_k2s2_forward, kK2s2Needs},
    {"direct", pool_all, cpu::max_pool2d_direct_forward},
    {"reference", pool_all, ref::max_pool2d_forward},
};
const Impl<Pool2dParams, AvgFwd> kAvgForward[] = {
    {"k2s2", cpu::pool2d_k2s2_accepts, cpu::avg_pool2d_k2s2_forward, kK2s2Needs},
    {"direct", pool_all, cpu::avg_pool2d_direct_forward},
    {"reference", pool_all, ref::avg_pool2d_forward},
};
const Impl<Pool2dParams, AvgFwd> kAvgBackward[] = {
    {"k2s2", cpu::pool2d_k2s2_accepts, cpu::avg_pool2d_k2s2_backward, kK2s2Needs},
    {"direct", pool_all, cpu::avg_pool2d_direct_backward},
    {"reference", pool_all, ref::avg_pool2d_backward},
};
const Impl<AdaptivePool2dParams, AdFwd> kAdaptiveAvgForward[] = {
    {"global", cpu::adaptive_pool2d_global_accepts, cpu::adaptive_avg_pool2d_global_forward, "a 1x1 output"},
    {"reference", adaptive_all, ref::adaptive_avg_pool2d_forward},
};
const Impl<AdaptivePool2dParams, AdFwd> kAdaptiveAvgBackward[] = {
    {"global", cpu::adaptive_pool2d_global_accepts, cpu::adaptive_avg_pool2d_global_backward, "a 1x1 output"},
    {"reference", adaptive_all, ref::adaptive_avg_pool2d_backward},
};
const Impl<AdaptivePool2dParams, AdMaxFwd> kAdaptiveMaxForward[] = {
    {"reference", adaptive_all, ref::adaptive_max_pool2d_forward},
};
const ImplRegistration kRegMax("max_pool2d", kMaxForward), kRegAvg("avg_pool2d", kAvgForward),
    kRegAvgBackward("avg_pool2d", kAvgBackward), kRegAdaptiveAvg("adaptive_avg_pool2d", kAdaptiveAvgForward),
    kRegAdaptiveAvgBackward("adaptive_avg_pool2d", kAdaptiveAvgBackward),
    kRegAdaptiveMax("adaptive_max_pool2d", kAdaptiveMaxForward);


// torch's error for an invalid pooling index at position `pos` of the index array (-1: none); the value is
// named where it can be read here (a device array is not copied back for a message).
void check_index(int64_t pos, const int64_t* indices, bool device, const char* op, const TensorView& plane) {
  if (pos < 0) return;
  const std::string where = device ? cat_str(" at position ", pos) : cat_str(": ", indices[pos]);
  throw std::runtime_error(cat_str(op, ": Found an invalid max index", where, " (output volumes are of size ",
                                   plane.shape[2], "x", plane.shape[3], ")"));
}

void check_planes(const TensorView& a, const TensorView& b, const char* op, const char* an, const char* bn) {
  FL_CHECK_VALUE(a.ndim == 4 && b.ndim == 4, op, ": ", an, " and ", bn, " must be 4-D, got ", a.shape_str(),
                 " and ", b.shape_str());
  FL_CHECK_VALUE(a.shape[0] == b.shape[0] && a.shape[1] == b.shape[1], op, ": ", an, " ", a.shape_str(), " and ",
                 bn, " ", b.shape_str(), " must agree in the first two dimensions");
  check_view(a, op, an, {a.shape[0], a.shape[1], a.shape[2], a.shape[3]}, b.dtype);
  check_view(b, op, bn, {b.shape[0], b.shape[1], b.shape[2], b.shape[3]}, b.dtype);
}

}  // namespace

void check_pool2d_params(const Pool2dParams& p, const char* op, bool) {
  FL_CHECK_VALUE(p.N >= 0, op, ": batch size must be >= 0, got ", p.N);
  FL_CHECK_VALUE(p.C >= 1 && p.H >= 1 && p.W >= 1, op, ": expected non-empty channels and spatial sizes, got C=",
                 p.C, " H=", p.H, " W=", p.W);
  FL_CHECK_VALUE(p.kh >= 1 && p.kw >= 1, op, ": kernel_size must be greater than zero, got (", p.kh, ", ", p.kw,
                 ")");
  FL_CHECK_VALUE(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride must be greater than zero, got (", p.stride_h,
                 ", ", p.stride_w, ")");
  FL_CHECK_VALUE(p.dil_h >= 1 && p.dil_w >= 1, op, ": dilation must be greater than zero, got (", p.dil_h, ", ",
                 p.dil_w, ")");
  FL_CHECK_VALUE(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding must be non-negative, got (", p.pad_h, ", ", p.pad_w,
                 ")");
  // torch's rule: at most half the kernel itself (not the dilated one).
  FL_CHECK_VALUE(p.pad_h <= p.kh / 2 && p.pad_w <= p.kw / 2, op,
                 ": pad should be at most half of kernel size, but got padding=(", p.pad_h, ", ", p.pad_w,
                 "), kernel_size=(", p.kh, ", ", p.kw, ")");
  p.check_sizes(op);  // overflow-checked sizes (params.h) before P(), Q() are used
  FL_CHECK_VALUE(p.P() >= 1 && p.Q() >= 1, op, ": output size is too small: given input size (", p.C, ", ", p.H,
                 ", ", p.W, "), calculated output size (", p.C, ", ", p.P(), ", ", p.Q(), ")");
}

void check_adaptive_pool2d_params(const AdaptivePool2dParams& p, const char* op) {
  FL_CHECK_VALUE(p.N >= 0, op, ": batch size must be >= 0, got ", p.N);
  FL_CHECK_VALUE(p.C >= 1 && p.H >= 1 && p.W >= 1, op, ": expected non-empty channels and spatial sizes, got C=",
                 p.C, " H=", p.H, " W=", p.W);
  FL_CHECK_VALUE(p.OH >= 1 && p.OW >= 1, op, ": output_size must be >= 1, got (", p.OH, ", ", p.OW, ")");
}

void max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x, const Pool2dParams& p,
                        const char* impl) {
  const char* op = "max_pool2d";
  check_pool2d_params(p, op, false);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, x.dtype);
  check_view(y, op, "output", {p.N, p.C, p.P(), p.Q()}, x.dtype);
  FL_CHECK_VALUE(indices || p.N == 0, op, ": indices buffer missing");
  if (common_device(op, {{"input", &x}, {"output", &y}}) == Device::CUDA)  // indices: on the input's device
    return p.N ? FL_CUDA_LAUNCH(op, cuda::max_pool2d_forward(y, indices, x, p, cuda::current_stream())) : void();
  const auto& chosen = pick_impl(kMaxForward, op, "forward", p, impl);
  if (p.N) chosen.run(y, indices, x, p);
}

void max_pool2d_backward(const TensorView& dx, const TensorView& dy, const int64_t* indices) {
  const char* op = "max_pool2d_backward";
  check_planes(dx, dy, op, "grad_input", "grad_output");
  if (dx.numel() == 0) return;
  FL_CHECK_VALUE(indices, op, ": indices missing");
  const bool gpu = common_device(op, {{"grad_input", &dx}, {"grad_output", &dy}}) == Device::CUDA;
  check_index(gpu ? FL_CUDA_INDEX(op, cuda::index_scatter_add(dx, dy, indices, cuda::current_stream()))
                  : ref::index_scatter_add(dx, dy, indices),
              indices, gpu, op, dx);
}

void avg_pool2d_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p, const char* impl) {
  const char* op = "avg_pool2d";
  check_pool2d_params(p, op, true);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, x.dtype);
  check_view(y, op, "output", {p.N, p.C, p.P(), p.Q()}, x.dtype);
  if (common_device(op, {{"input", &x}, {"output", &y}}) == Device::CUDA)
    return p.N ? FL_CUDA_LAUNCH(op, cuda::avg_pool2d_forward(y, x, p, cuda::current_stream())) : void();
  const auto& chosen = pick_impl(kAvgForward, op, "forward", p, impl);
  if (p.N) chosen.run(y, x, p);
}

void avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p, const char* impl) {
  const char* op = "avg_pool2d_backward";
  check_pool2d_params(p, op, true);
  check_view(dy, op, "grad_output", {p.N, p.C, p.P(), p.Q()}, dy.dtype);
  check_view(dx, op, "grad_input", {p.N, p.C, p.H, p.W}, dy.dtype);
  if (common_device(op, {{"grad_output", &dy}, {"grad_input", &dx}}) == Device::CUDA)
    return p.N ? FL_CUDA_LAUNCH(op, cuda::avg_pool2d_backward(dx, dy, p, cuda::current_stream())) : void();
  const auto& chosen = pick_impl(kAvgBackward, "avg_pool2d", "backward", p, impl);
  if (p.N) chosen.run(dx, dy, p);
}

void adaptive_avg_pool2d_forward(const TensorView& y, const TensorView& x, const AdaptivePool2dParams& p,
                                 const char* impl) {
  const char* op = "adaptive_avg_pool2d";
  check_adaptive_pool2d_params(p, op);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, x.dtype);
  check_view(y, op, "output", {p.N, p.C, p.OH, p.OW}, x.dtype);
  if (common_device(op, {{"input", &x}, {"output", &y}}) == Device::CUDA)
    return p.N ? FL_CUDA_LAUNCH(op, cuda::adaptive_avg_pool2d_forward(y, x, p, cuda::current_stream())) : void();
  const auto& chosen = pick_impl(kAdaptiveAvgForward, op, "forward", p, impl);
  if (p.N) chosen.run(y, x, p);
}

void adaptive_avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const AdaptivePool2dParams& p,
                                  const char* impl) {
  const char* op = "adaptive_avg_pool2d_backward";
  check_adaptive_pool2d_params(p, op);
  check_view(dy, op, "grad_output", {p.N, p.C, p.OH, p.OW}, dy.dtype);
  check_view(dx, op, "grad_input", {p.N, p.C, p.H, p.W}, dy.dtype);
  if (common_device(op, {{"grad_output", &dy}, {"grad_input", &dx}}) == Device::CUDA)
    return p.N ? FL_CUDA_LAUNCH(op, cuda::adaptive_avg_pool2d_backward(dx, dy, p, cuda::current_stream())) : void();
  const auto& chosen = pick_impl(kAdaptiveAvgBackward, "adaptive_avg_pool2d", "backward", p, impl);
  if (p.N) chosen.run(dx, dy, p);
}

void adaptive_max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x,
                                 const AdaptivePool2dParams& p, const char* impl) {
  const char* op = "adaptive_max_pool2d";
  check_adaptive_pool2d_params(p, op);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, x.dtype);
  check_view(y, op, "output", {p.N, p.C, p.OH, p.OW}, x.dtype);
  FL_CHECK_VALUE(indices || p.N == 0, op, ": indices buffer missing");
  if (common_device(op, {{"input", &x}, {"output", &y}}) == Device::CUDA)
    return p.N ? FL_CUDA_LAUNCH(op, cuda::adaptive_max_pool2d_forward(y, indices, x, p, cuda::current_stream())) : void();
  const auto& chosen = pick_impl(kAdaptiveMaxForward, op, "forward", p, impl);
  if (p.N) chosen.run(y, indices, x, p);
}

void max_unpool2d_forward(const TensorView& y, const TensorView& x, const int64_t* indices) {
  const char* op = "max_unpool2d";
  check_planes(y, x, op, "output", "input");
  if (y.numel() == 0) return;
  FL_CHECK_VALUE(indices || x.numel() == 0, op, ": indices missing");
  const bool gpu = common_device(op, {{"output", &y}, {"input", &x}}) == Device::CUDA;
  check_index(gpu ? FL_CUDA_INDEX(op, cuda::index_scatter_set(y, x, indices, cuda::current_stream()))
                  : ref::index_scatter_set(y, x, indices),
              indices, gpu, op, y);
}

void max_unpool2d_backward(const TensorView& dx, const TensorView& dy, const int64_t* indices) {
  const char* op = "max_unpool2d_backward";
  check_planes(dx, dy, op, "grad_input", "grad_output");
  if (dx.numel() == 0) return;
  const bool gpu = common_device(op, {{"grad_input", &dx}, {"grad_output", &dy}}) == Device::CUDA;
  check_index(gpu ? FL_CUDA_INDEX(op, cuda::index_gather(dx, dy, indices, cuda::current_stream()))
                  : ref::index_gather(dx, dy, indices),
              indices, gpu, op, dy);
}

const char* pool2d_impl_name(const char* pass, const Pool2dParams& p) {
  if (std::strcmp(pass, "max_forward") == 0) return pick_impl(kMaxForward, "max_pool2d", "query", p, nullptr).name;
  if (std::strcmp(pass, "avg_forward") == 0) return pick_impl(kAvgForward, "avg_pool2d", "query", p, nullptr).name;
  if (std::strcmp(pass, "avg_backward") == 0) return pick_impl(kAvgBackward, "avg_pool2d", "query", p, nullptr).name;
  throw ValueError(cat_str("pool2d_impl_name: pass must be max_forward, avg_forward or avg_backward, got '", pass,
                           "'"));
}

const char* adaptive_pool2d_impl_name(const char* pass, const AdaptivePool2dParams& p) {
  if (std::strcmp(pass, "avg_forward") == 0)
    return pick_impl(kAdaptiveAvgForward, "adaptive_avg_pool2d", "query", p, nullptr).name;
  if (std::strcmp(pass, "avg_backward") == 0)
    return pick_impl(kAdaptiveAvgBackward, "adaptive_avg_pool2d", "query", p, nullptr).name;
  if (std::strcmp(pass, "max_forward") == 0)
    return pick_impl(kAdaptiveMaxForward, "adaptive_max_pool2d", "query", p, nullptr).name;
  throw ValueError(cat_str("adaptive_pool2d_impl_name: pass must be avg_forward, avg_backward or max_forward, got '",
                           pass, "'"));
}

}  // namespace fl
