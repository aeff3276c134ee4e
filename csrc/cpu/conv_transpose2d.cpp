// Transposed 2-D convolution on the CPU by the adjoint convolution (ConvTranspose2dParams::as_conv): no kernels
// of its own, so
//   forward          = conv2d_backward_data   (grad_output := x,  grad_input := y)
//   backward_data    = conv2d_forward         (input := dy,       output := dx), without bias
//   backward_weight  = conv2d_backward_weight (grad_output := x,  input := dy)
// through the conv2d front doors, which pick the fastest convolution implementation (for one group and small
// inputs the adjoint convolution has a small output: conv2d's one-GEMM-over-the-batch implementation). Only the
// bias (added to y, summed from dy) is done here. Gradients are written (=).
// When output_padding >= stride (torch allows it when output_padding < dilation) the adjoint convolution
// has extra_h()/extra_w() more output rows/columns than x: x is then zero-extended into a workspace, and
// the cropped part of backward_data's result is dropped.
#include <cstring>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/parallel.h"
#include "fastlayers/ops.h"

namespace fl::cpu {
namespace {

size_t es_of(DType d) { return static_cast<size_t>(dtype_size(d)); }

// x[N,C,H,W] copied into the top-left of a zeroed N x C x (H+eh) x (W+ew) workspace.
TensorView zero_extend(std::vector<char>& buf, const TensorView& x, const ConvTranspose2dParams& p) {
  const int64_t H2 = p.H + p.extra_h(), W2 = p.W + p.extra_w();
  const size_t es = es_of(x.dtype);
  buf.assign(static_cast<size_t>(p.N * p.C * H2 * W2) * es + 1, 0);
  const char* src = static_cast<const char*>(x.data);
  char* dst = buf.data();
  parallel_for(p.N * p.C, [&](int64_t nc) {
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
  parallel_for(p.N * p.K, [&](int64_t nk) {
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
  parallel_for(p.K, [&](int64_t k) {
    T acc = 0;
    for (int64_t n = 0; n < p.N; ++n) {
      const T* row = dy + (n * p.K + k) * PQ;
      for (int64_t i = 0; i < PQ; ++i) acc += row[i];
    }
    db[k] = acc;
  });
}

}  // namespace

void conv_transpose2d_adjoint_forward(const TensorView& y, const TensorView& x, const TensorView& w,
                                      const TensorView& b, const ConvTranspose2dParams& p) {
  const Conv2dParams c = p.as_conv();
  std::vector<char> workspace;
  const TensorView xe = (p.extra_h() || p.extra_w()) ? zero_extend(workspace, x, p) : x;
  conv2d_backward_data(y, xe, w, c);
  if (b.defined()) {
    FL_DISPATCH_FLOATING(x.dtype, add_bias<scalar_t>(y, b, p));
  }
}

void conv_transpose2d_adjoint_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                            const ConvTranspose2dParams& p) {
  const Conv2dParams c = p.as_conv();
  if (!p.extra_h() && !p.extra_w()) {
    conv2d_forward(dx, dy, w, TensorView(), c);
    return;
  }
  // The adjoint convolution also produces the rows/columns x was zero-extended by: compute, then crop.
  const int64_t H2 = p.H + p.extra_h(), W2 = p.W + p.extra_w();
  const size_t es = es_of(dy.dtype);
  std::vector<char> buf(static_cast<size_t>(p.N * p.C * H2 * W2) * es);
  const TensorView full = make_view(buf.data(), dy.dtype, {p.N, p.C, H2, W2});
  conv2d_forward(full, dy, w, TensorView(), c);
  const char* src = buf.data();
  char* dst = static_cast<char*>(dx.data);
  parallel_for(p.N * p.C, [&](int64_t nc) {
    for (int64_t h = 0; h < p.H; ++h)
      std::memcpy(dst + ((nc * p.H + h) * p.W) * es, src + ((nc * H2 + h) * W2) * es, p.W * es);
  });
}

void conv_transpose2d_adjoint_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                              const TensorView& x, const ConvTranspose2dParams& p) {
  if (dw.defined()) {
    if (p.N == 0) {
      std::memset(dw.data, 0, dw.numel() * es_of(dy.dtype));
    } else {
      std::vector<char> workspace;
      const TensorView xe = (p.extra_h() || p.extra_w()) ? zero_extend(workspace, x, p) : x;
      conv2d_backward_weight(dw, TensorView(), xe, dy, p.as_conv());
    }
  }
  if (db.defined()) {
    FL_DISPATCH_FLOATING(dy.dtype, bias_grad<scalar_t>(db, dy, p));
  }
}

}  // namespace fl::cpu
