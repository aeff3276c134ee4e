// Front door of 2-D upsampling (nearest, bilinear): validates the operands, then runs the first
// implementation in the op's list that accepts the problem (fastest first, the reference last).
// ops/impls.h: FASTLAYERS_IMPL=upsample2d:<name> forces one, FASTLAYERS_VERBOSE logs the choice.
#include <sstream>

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/checks.h"
#include "ops/device.h"

namespace fl {

std::string Upsample2dParams::str() const {
  std::ostringstream os;
  os << (mode == UpsampleMode::Nearest ? "nearest" : "bilinear") << "mb" << N << "ic" << C << "ih" << H << "iw" << W
     << "oh" << OH << "ow" << OW;
  if (scale_h > 0) os << "sh" << scale_h;
  if (scale_w > 0) os << "sw" << scale_w;
  if (mode == UpsampleMode::Bilinear && align_corners) os << "ac";
  if (mode == UpsampleMode::Nearest && !size_shortcuts) os << "ns";
  return os.str();
}

namespace {


using Kernel = sig::Unary<Upsample2dParams>*;
using UpsampleImpl = Impl<Upsample2dParams, Kernel>;

// Fastest first (ops/impls.h); the reference is last.
const UpsampleImpl kForward[] = {
    {"direct", nullptr, cpu::upsample2d_direct_forward},
    {"reference", nullptr, ref::upsample2d_forward},
};
const UpsampleImpl kBackward[] = {
    {"direct", nullptr, cpu::upsample2d_direct_backward},
    {"reference", nullptr, ref::upsample2d_backward},
};
const ImplRegistration kRegForward("upsample2d", kForward), kRegBackward("upsample2d", kBackward);

void check_view(const TensorView& v, const char* op, const char* arg, int64_t n, int64_t c, int64_t h, int64_t w,
                DType dtype) {
  TensorView want;
  want.ndim = 4;
  want.shape[0] = n; want.shape[1] = c; want.shape[2] = h; want.shape[3] = w;
  FL_CHECK_VALUE(v.ndim == 4 && v.shape[0] == n && v.shape[1] == c && v.shape[2] == h && v.shape[3] == w, op, ": ",
                 arg, " must have shape ", want.shape_str(), ", got ", v.shape_str());
  check_float_dtype(op, arg, v, true);
  FL_CHECK_TYPE(v.dtype == dtype, op, ": ", arg, " must have dtype ", dtype_name(dtype), ", got ",
                dtype_name(v.dtype));
  FL_CHECK_VALUE(v.is_contiguous(), op, ": ", arg, " must be contiguous");
}

}  // namespace

void check_upsample2d_params(const Upsample2dParams& p, const char* op) {
  FL_CHECK_VALUE(p.N >= 0, op, ": batch size must be >= 0, got ", p.N);
  FL_CHECK_VALUE(p.C >= 1 && p.H >= 1 && p.W >= 1, op, ": expected non-empty channels and spatial sizes, got C=",
                 p.C, " H=", p.H, " W=", p.W);
  FL_CHECK_VALUE(p.OH >= 1 && p.OW >= 1, op, ": output sizes must be greater than 0, got (", p.OH, ", ", p.OW, ")");
  FL_CHECK_VALUE(p.scale_h >= 0 && p.scale_w >= 0, op, ": scale factors must be >= 0 (0 means none), got (",
                 p.scale_h, ", ", p.scale_w, ")");
  FL_CHECK_VALUE(p.mode == UpsampleMode::Nearest || p.mode == UpsampleMode::Bilinear, op,
                 ": mode must be nearest or bilinear, got ", static_cast<int>(p.mode));
}

void upsample2d_forward(const TensorView& y, const TensorView& x, const Upsample2dParams& p, const char* impl) {
  const char* op = "upsample2d_forward";
  check_upsample2d_params(p, op);
  check_view(x, op, "input", p.N, p.C, p.H, p.W, x.dtype);
  check_view(y, op, "output", p.N, p.C, p.OH, p.OW, x.dtype);
  const UpsampleImpl& k = select_impl(kForward, &UpsampleImpl::run, "upsample2d", "forward", p, impl);
  if (p.N == 0) return;
  if (common_device(op, {{"input", &x}, {"output", &y}}) == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::upsample2d_forward(y, x, p, cuda::current_stream()));
  k.run(y, x, p);
}

void upsample2d_backward(const TensorView& dx, const TensorView& dy, const Upsample2dParams& p, const char* impl) {
  const char* op = "upsample2d_backward";
  check_upsample2d_params(p, op);
  check_view(dy, op, "grad_output", p.N, p.C, p.OH, p.OW, dy.dtype);
  check_view(dx, op, "grad_input", p.N, p.C, p.H, p.W, dy.dtype);
  const UpsampleImpl& k = select_impl(kBackward, &UpsampleImpl::run, "upsample2d", "backward", p, impl);
  if (p.N == 0) return;
  if (common_device(op, {{"grad_output", &dy}, {"grad_input", &dx}}) == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::upsample2d_backward(dx, dy, p, cuda::current_stream()));
  k.run(dx, dy, p);
}

}  // namespace fl
