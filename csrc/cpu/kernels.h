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

}  // namespace fl

// ---- normalization ----
namespace fl {
namespace ref {
void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p);
void batch_norm_forward_eval(const TensorView& y, const TensorView& mean, const TensorView& rstd,
                             const TensorView& x, const TensorView& gamma, const TensorView& beta,
                             const TensorView& running_mean, const TensorView& running_var, const BatchNormParams& p);
void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, bool batch_stats, const BatchNormParams& p);
void group_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const GroupNormParams& p);
void group_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, const GroupNormParams& p);
}  // namespace ref
namespace cpu {
void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p);
void batch_norm_forward_eval(const TensorView& y, const TensorView& mean, const TensorView& rstd,
                             const TensorView& x, const TensorView& gamma, const TensorView& beta,
                             const TensorView& running_mean, const TensorView& running_var, const BatchNormParams& p);
void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, bool batch_stats, const BatchNormParams& p);
void group_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const GroupNormParams& p);
void group_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, const GroupNormParams& p);
}  // namespace cpu
}  // namespace fl

// ---- transposed convolution ----
namespace fl::ref {
// Naive transposed convolution straight from its definition (test oracle; the front door runs the
// convolution kernels with roles swapped instead).
void conv_transpose2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                              const ConvTranspose2dParams& p);
void conv_transpose2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                    const ConvTranspose2dParams& p);
void conv_transpose2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                      const TensorView& x, const ConvTranspose2dParams& p);
}  // namespace fl::ref
