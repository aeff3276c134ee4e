// Front door of transposed 2-D convolution. No kernels of its own: a transposed convolution is the adjoint
// of a convolution (ConvTranspose2dParams::as_conv), so
//   forward          = conv2d_backward_data   (grad_output := x,  grad_input := y)
//   backward_data    = conv2d_forward         (input := dy,       output := dx), without bias
//   backward_weight  = conv2d_backward_weight (grad_output := x,  input := dy)
// through the public conv2d front doors, which pick the fastest convolution implementation. Only the bias
// (added to y, summed from dy) is done here. Gradients are written (=).
// For one group and small inputs the adjoint convolution has a small output, so conv2d picks its
// one-GEMM-over-the-batch implementation (cpu/conv2d_batch_gemm.cpp).
// When output_padding >= stride (torch allows it when output_padding < dilation) the adjoint convolution
// has extra_h()/extra_w() more output rows/columns than x: x is then zero-extended into a workspace, and
// the cropped part of backward_data's result is dropped.
#include <cstring>
#include <sstream>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/parallel.h"
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


size_t elem_size(DType d) { return d == DType::Float32 ? sizeof(float) : sizeof(double); }

// x[N,C,H,W] copied into the top-left of a zeroed N x C x (H+eh) x (W+ew) workspace.
TensorView zero_extend(std::vector<char>& buf, const TensorView& x, const ConvTranspose2dParams& p) {
  const int64_t H2 = p.H + p.extra_h(), W2 = p.W + p.extra_w();
  const size_t es = elem_size(x.dtype);
  buf.assign(static_cast<size_t>(p.N * p.C * H2 * W2) * es + 1, 0);
  const char* src = static_cast<const char*>(x.data);
  char* dst = buf.data();
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    for (int64_t h = 0; h < p.H; ++h)
      std::memcpy(dst + ((nc * H2 + h) * W2) * es, src + ((nc * p.H + h) * p.W) * es, p.W * es);
  });
  return make_view(dst, x.dtype, {p.N, p.C, H2, W2});
}

template <typename T>
void add_bias(const TensorView& yv, const TensorView& bv, const ConvTranspose2dParams& p) {
  T* y = yv.ptr<T>();
  const T* b = bv.ptr<T>();
  const int64_t PQ = p.P() * p.Q();
  cpu::parallel_for(p.N * p.K, [&](int64_t nk) {
    const T bk = b[nk % p.K];
    T* row = y + nk * PQ;
    for (int64_t i = 0; i < PQ; ++i) row[i] += bk;
  });
}

// db[k] = sum over n, p, q of dy[n,k,p,q]; one channel per task, summed in a fixed order.
template <typename T>
void bias_grad(const TensorView& dbv, const TensorView& dyv, const ConvTranspose2dParams& p) {
  T* db = dbv.ptr<T>();
  const T* dy = dyv.ptr<T>();
  const int64_t PQ = p.P() * p.Q();
  cpu::parallel_for(p.K, [&](int64_t k) {
    T acc = 0;
    for (int64_t n = 0; n < p.N; ++n) {
      const T* row = dy + (n * p.K + k) * PQ;
      for (int64_t i = 0; i < PQ; ++i) acc += row[i];
    }
    db[k] = acc;
  });
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

void conv_transpose2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                              const ConvTranspose2dParams& p) {
  check_conv_transpose2d_params(p);
  const char* op = "conv_transpose2d_forward";
  check_dtype(x, op);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, x.dtype);
  check_view(w, op, "weight", {p.C, p.Kg(), p.R, p.S}, x.dtype);
  if (b.defined()) check_view(b, op, "bias", {p.K}, x.dtype);
  check_view(y, op, "output", {p.N, p.K, p.P(), p.Q()}, x.dtype);
  if (p.N == 0) return;
  if (common_device(op, {{"input", &x}, {"weight", &w}, {"bias", &b}, {"output", &y}}) == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::conv_transpose2d_forward(y, x, w, b, p, cuda::current_stream()));
  const Conv2dParams c = p.as_conv();
  std::vector<char> workspace;
  const TensorView xe = (p.extra_h() || p.extra_w()) ? zero_extend(workspace, x, p) : x;
  conv2d_backward_data(y, xe, w, c);
  if (b.defined()) {
    if (x.dtype == DType::Float32) add_bias<float>(y, b, p);
    else add_bias<double>(y, b, p);
  }
}

void conv_transpose2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                    const ConvTranspose2dParams& p) {
  check_conv_transpose2d_params(p);
  const char* op = "conv_transpose2d_backward_data";
  check_dtype(dy, op);
  check_view(dy, op, "grad_output", {p.N, p.K, p.P(), p.Q()}, dy.dtype);
  check_view(w, op, "weight", {p.C, p.Kg(), p.R, p.S}, dy.dtype);
  check_view(dx, op, "grad_input", {p.N, p.C, p.H, p.W}, dy.dtype);
  if (p.N == 0) return;
  if (common_device(op, {{"grad_output", &dy}, {"weight", &w}, {"grad_input", &dx}}) == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::conv_transpose2d_backward_data(dx, dy, w, p, cuda::current_stream()));
  const Conv2dParams c = p.as_conv();
  if (!p.extra_h() && !p.extra_w()) {
    conv2d_forward(dx, dy, w, TensorView(), c);
    return;
  }
  // The adjoint convolution also produces the rows/columns x was zero-extended by: compute, then crop.
  const int64_t H2 = p.H + p.extra_h(), W2 = p.W + p.extra_w();
  const size_t es = elem_size(dy.dtype);
  std::vector<char> buf(static_cast<size_t>(p.N * p.C * H2 * W2) * es);
  const TensorView full = make_view(buf.data(), dy.dtype, {p.N, p.C, H2, W2});
  conv2d_forward(full, dy, w, TensorView(), c);
  const char* src = buf.data();
  char* dst = static_cast<char*>(dx.data);
  cpu::parallel_for(p.N * p.C, [&](int64_t nc) {
    for (int64_t h = 0; h < p.H; ++h)
      std::memcpy(dst + ((nc * p.H + h) * p.W) * es, src + ((nc * H2 + h) * W2) * es, p.W * es);
  });
}

void conv_transpose2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                      const TensorView& x, const ConvTranspose2dParams& p) {
  check_conv_transpose2d_params(p);
  const char* op = "conv_transpose2d_backward_weight";
  check_dtype(dy, op);
  check_view(dy, op, "grad_output", {p.N, p.K, p.P(), p.Q()}, dy.dtype);
  check_view(x, op, "input", {p.N, p.C, p.H, p.W}, dy.dtype);
  if (dw.defined()) check_view(dw, op, "grad_weight", {p.C, p.Kg(), p.R, p.S}, dy.dtype);
  if (db.defined()) check_view(db, op, "grad_bias", {p.K}, dy.dtype);
  if (common_device(op, {{"grad_output", &dy}, {"input", &x}, {"grad_weight", &dw}, {"grad_bias", &db}}) ==
      Device::CUDA)  // an empty batch is fine here: the kernels write zeros
    return FL_CUDA_LAUNCH(op, cuda::conv_transpose2d_backward_weight(dw, db, dy, x, p, cuda::current_stream()));
  if (dw.defined()) {
    if (p.N == 0) {
      std::memset(dw.data, 0, dw.numel() * elem_size(dy.dtype));
    } else {
      std::vector<char> workspace;
      const TensorView xe = (p.extra_h() || p.extra_w()) ? zero_extend(workspace, x, p) : x;
      conv2d_backward_weight(dw, TensorView(), xe, dy, p.as_conv());
    }
  }
  if (db.defined()) {
    if (dy.dtype == DType::Float32) bias_grad<float>(db, dy, p);
    else bias_grad<double>(db, dy, p);
  }
}

}  // namespace fl
