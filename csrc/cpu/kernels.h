// CPU kernel entry points behind the front doors in csrc/ops/. Views are contiguous and validated.
#pragma once
#include "fastlayers/params.h"
#include "fastlayers/tensor.h"

namespace fl {

// Naive references: the math, written plainly; test oracles and the fallback of last resort.
namespace ref {
void conv2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                    const Conv2dParams& p);
void conv2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const Conv2dParams& p);
void conv2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            const Conv2dParams& p);
}  // namespace ref

namespace cpu {
// im2col + packed SIMD GEMM: takes every convolution.
void conv2d_gemm_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                         const Conv2dParams& p);
void conv2d_gemm_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                               const Conv2dParams& p);
void conv2d_gemm_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                 const TensorView& x, const Conv2dParams& p);

// Direct depthwise kernels: groups == C == K.
bool conv2d_depthwise_accepts(const Conv2dParams& p);
void conv2d_depthwise_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                              const Conv2dParams& p);
void conv2d_depthwise_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                    const Conv2dParams& p);
void conv2d_depthwise_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                      const TensorView& x, const Conv2dParams& p);
}  // namespace cpu

// ---- activations (activation, softmax, prelu, maxout) ----
namespace ref {
void activation_forward(const TensorView& y, const TensorView& x, const ActivationParams& p);
void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p);
void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p);
void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p);
void prelu_forward(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p);
void prelu_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                    const TensorView& w, const PReLUParams& p);
void maxout_forward(const TensorView& y, const TensorView& x, const MaxoutParams& p);
void maxout_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p);
}  // namespace ref
namespace cpu {
void activation_forward(const TensorView& y, const TensorView& x, const ActivationParams& p);
void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p);
void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p);
void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p);
void prelu_forward(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p);
void prelu_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                    const TensorView& w, const PReLUParams& p);
void maxout_forward(const TensorView& y, const TensorView& x, const MaxoutParams& p);
void maxout_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p);
}  // namespace cpu

}  // namespace fl
