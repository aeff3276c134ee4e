// The public C++ API of fastlayers' ops. Argument order: outputs, inputs, then params.
// Every view must be contiguous; the front doors validate shapes, dtypes and devices and throw
// fl::ValueError / fl::TypeError. Gradients are written (=), never accumulated.
#pragma once
#include "fastlayers/params.h"
#include "fastlayers/tensor.h"

namespace fl {

// y[N,K,P,Q] = conv(x[N,C,H,W], w[K,C/g,R,S]) + b[K] (b may be absent).
void conv2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                    const Conv2dParams& p);
// dx[N,C,H,W] from dy[N,K,P,Q] and w.
void conv2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const Conv2dParams& p);
// dw[K,C/g,R,S] (skipped if absent) and db[K] (skipped if absent) from dy and x.
void conv2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            const Conv2dParams& p);

// Checks the shapes of a convolution's operands against p; throws ValueError naming the operand.
void check_conv2d_params(const Conv2dParams& p);

// Name of the implementation the front door picks for p (for logs, tests and benchmarks).
const char* conv2d_impl_name(const Conv2dParams& p, DType dtype);

}  // namespace fl

// ---- transposed convolution ----
namespace fl {

// y[N,K,P,Q] = conv_transpose(x[N,C,H,W], w[C,K/g,R,S]) + b[K] (b may be absent).
void conv_transpose2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                              const ConvTranspose2dParams& p);
// dx[N,C,H,W] from dy[N,K,P,Q] and w.
void conv_transpose2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                    const ConvTranspose2dParams& p);
// dw[C,K/g,R,S] (skipped if absent) and db[K] (skipped if absent) from dy and x.
void conv_transpose2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                      const TensorView& x, const ConvTranspose2dParams& p);
// Checks the sizes in p; throws ValueError naming the parameter.
void check_conv_transpose2d_params(const ConvTranspose2dParams& p);

}  // namespace fl
