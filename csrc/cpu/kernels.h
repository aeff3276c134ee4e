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
namespace fl::cpu {
// The adjoint convolution through the conv2d front doors, plus the bias (cpu/conv_transpose2d.cpp).
void conv_transpose2d_adjoint_forward(const TensorView& y, const TensorView& x, const TensorView& w,
                                      const TensorView& b, const ConvTranspose2dParams& p);
void conv_transpose2d_adjoint_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                            const ConvTranspose2dParams& p);
void conv_transpose2d_adjoint_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                              const TensorView& x, const ConvTranspose2dParams& p);
}  // namespace fl::cpu
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

// ---- pooling ----
// Views are contiguous and validated by the front door; indices as in fastlayers/ops.h. Max-pooling
// kernels accept a null indices pointer (nothing written there).
namespace fl {
namespace ref {
void max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x, const Pool2dParams& p);
void avg_pool2d_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p);
void avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p);
void adaptive_avg_pool2d_forward(const TensorView& y, const TensorView& x, const AdaptivePool2dParams& p);
void adaptive_avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const AdaptivePool2dParams& p);
void adaptive_max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x,
                                 const AdaptivePool2dParams& p);
// Index scatter/gather over planes; return the position (in the index array) of the first invalid index,
// or -1. In index_scatter_add (max-pool backward) an index of -1 marks a window with no element and adds
// nothing; any other index outside the plane is invalid.
int64_t index_scatter_add(const TensorView& dst, const TensorView& src, const int64_t* indices);
int64_t index_scatter_set(const TensorView& dst, const TensorView& src, const int64_t* indices);
int64_t index_gather(const TensorView& dst, const TensorView& src, const int64_t* indices);
}  // namespace ref

namespace cpu {
// Windows 2x2, stride 2, no padding, no dilation, every window inside the input.
bool pool2d_k2s2_accepts(const Pool2dParams& p);
void max_pool2d_k2s2_forward(const TensorView& y, int64_t* indices, const TensorView& x, const Pool2dParams& p);
void avg_pool2d_k2s2_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p);
void avg_pool2d_k2s2_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p);
// Any window: bounds hoisted out of the inner loops.
void max_pool2d_direct_forward(const TensorView& y, int64_t* indices, const TensorView& x, const Pool2dParams& p);
void avg_pool2d_direct_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p);
void avg_pool2d_direct_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p);
// Global average pooling: OH == OW == 1.
bool adaptive_pool2d_global_accepts(const AdaptivePool2dParams& p);
void adaptive_avg_pool2d_global_forward(const TensorView& y, const TensorView& x, const AdaptivePool2dParams& p);
void adaptive_avg_pool2d_global_backward(const TensorView& dx, const TensorView& dy, const AdaptivePool2dParams& p);
}  // namespace cpu
}  // namespace fl

// ---- normalization: local response norm ----
namespace fl {
namespace ref {
void lrn_forward(const TensorView& y, const TensorView& scale, const TensorView& x, const LRNParams& p);
void lrn_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const TensorView& scale,
                  const LRNParams& p);
}  // namespace ref
namespace cpu {
void lrn_forward(const TensorView& y, const TensorView& scale, const TensorView& x, const LRNParams& p);
void lrn_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const TensorView& scale,
                  const LRNParams& p);
}  // namespace cpu
}  // namespace fl

// ---- upsampling ----
// Views are contiguous and validated by the front door (csrc/ops/upsample.cpp).
namespace fl {
namespace ref {
void upsample2d_forward(const TensorView& y, const TensorView& x, const Upsample2dParams& p);
void upsample2d_backward(const TensorView& dx, const TensorView& dy, const Upsample2dParams& p);
}  // namespace ref
namespace cpu {
// Index/weight tables per axis computed once per call, one task per (n, c) plane.
void upsample2d_direct_forward(const TensorView& y, const TensorView& x, const Upsample2dParams& p);
void upsample2d_direct_backward(const TensorView& dx, const TensorView& dy, const Upsample2dParams& p);
}  // namespace cpu
}  // namespace fl

// ---- linear ----
// Views are contiguous and validated by the front door (csrc/ops/linear.cpp).
namespace fl {
namespace ref {
void linear_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                    const LinearParams& p);
void linear_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const LinearParams& p);
void linear_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            const LinearParams& p);
}  // namespace ref
namespace cpu {
// Forward by dot-product micro-kernels on the rows of x and w read in place (no packing): K >= 16,
// M < 128.
bool linear_dot_accepts(const LinearParams& p);
void linear_dot_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                        const LinearParams& p);
// Packed GEMM micro-kernels (cpu/gemm.h): takes every problem.
void linear_gemm_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                         const LinearParams& p);
void linear_gemm_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                               const LinearParams& p);
void linear_gemm_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                 const TensorView& x, const LinearParams& p);
}  // namespace cpu
}  // namespace fl

// ---- losses ----
// Views contiguous and validated by the front door (csrc/ops/loss.cpp); arguments as in fastlayers/ops.h.
namespace fl {
namespace ref {
void cross_entropy_forward(const TensorView& loss, const TensorView& lse, double* total_weight,
                           const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                           const TensorView& weight, const CrossEntropyParams& p);
void cross_entropy_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                            const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                            const TensorView& lse, double total_weight, const CrossEntropyParams& p);
void nll_loss_forward(const TensorView& loss, double* total_weight, const TensorView& input, const int64_t* target,
                      const TensorView& weight, const NLLLossParams& p);
void nll_loss_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                       const TensorView& weight, double total_weight, const NLLLossParams& p);
}  // namespace ref
namespace cpu {
// Rows (S == 1) or tiles of 64 spatial positions per task, float32 on the SIMD path of fl::simd_level();
// reductions over fixed blocks of rows, so results do not depend on the thread count.
void cross_entropy_forward(const TensorView& loss, const TensorView& lse, double* total_weight,
                           const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                           const TensorView& weight, const CrossEntropyParams& p);
void cross_entropy_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                            const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                            const TensorView& lse, double total_weight, const CrossEntropyParams& p);
void nll_loss_forward(const TensorView& loss, double* total_weight, const TensorView& input, const int64_t* target,
                      const TensorView& weight, const NLLLossParams& p);
void nll_loss_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                       const TensorView& weight, double total_weight, const NLLLossParams& p);
}  // namespace cpu
}  // namespace fl
// ---- conv2d: one GEMM over the batch ----
// groups == 1 and small outputs (see conv2d_batch_gemm.cpp). Gradients are written (=).
namespace fl::cpu {
bool conv2d_batch_gemm_accepts(const Conv2dParams& p);
void conv2d_batch_gemm_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                               const Conv2dParams& p);
void conv2d_batch_gemm_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                     const Conv2dParams& p);
void conv2d_batch_gemm_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                       const TensorView& x, const Conv2dParams& p);
}  // namespace fl::cpu
// ---- conv2d: Winograd F(4x4, 3x3) ----
// float32 3x3 stride-1 dilation-1 one-group convolutions with padding <= 2 (see conv2d_winograd.cpp);
// float64 and the weight gradient go to the exact GEMM paths. Gradients are written (=).
namespace fl::cpu {
bool conv2d_winograd_accepts(const Conv2dParams& p);
void conv2d_winograd_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                             const Conv2dParams& p);
void conv2d_winograd_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                   const Conv2dParams& p);
void conv2d_winograd_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                     const TensorView& x, const Conv2dParams& p);
}  // namespace fl::cpu
