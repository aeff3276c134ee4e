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

// ---- activations (activation, softmax, prelu, maxout) ----
// y = act(x); y may be x itself (in place).
void activation_forward(const TensorView& y, const TensorView& x, const ActivationParams& p);
// dx = dy * act'(.) from `saved`: the input, or the output when from_output (valid only where
// p.backward_from_output_ok()). dx may alias dy.
void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p);
// y = softmax or log_softmax of x along the middle axis of p's layout.
void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p);
// dx from dy and the forward output y.
void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p);
// y = x > 0 ? x : w[c] * x.
void prelu_forward(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p);
// dx (skipped if absent) and dw (skipped if absent; a deterministic reduction).
void prelu_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                    const TensorView& w, const PReLUParams& p);
// y[o, j, i] = max over k < pieces of x[o, j * pieces + k, i].
void maxout_forward(const TensorView& y, const TensorView& x, const MaxoutParams& p);
// dx: dy routed to the first maximum of each group.
void maxout_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p);
// Which implementation the activation front door uses ("fast" or "reference"); tests force the reference.
void set_activation_reference(bool use_reference);

}  // namespace fl
