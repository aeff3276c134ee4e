// CPU kernel entry points behind the front doors in csrc/ops/. Views are contiguous and validated. Each is
// declared by its signature (fastlayers/signatures.h), written once for the fast kernels (cpu::), the naive
// references (ref::, the math written plainly: test oracles and the fallback of last resort) and the CUDA launchers.
#pragma once
#include "fastlayers/params.h"
#include "fastlayers/signatures.h"
#include "fastlayers/tensor.h"

// ---- conv2d ----
namespace fl::ref {
sig::WeightForward<Conv2dParams> conv2d_forward;
sig::WeightBackwardData<Conv2dParams> conv2d_backward_data;
sig::WeightBackwardWeight<Conv2dParams> conv2d_backward_weight;
}  // namespace fl::ref
namespace fl::cpu {
// im2col + packed SIMD GEMM: takes every convolution.
sig::WeightForward<Conv2dParams> conv2d_gemm_forward;
sig::WeightBackwardData<Conv2dParams> conv2d_gemm_backward_data;
sig::WeightBackwardWeight<Conv2dParams> conv2d_gemm_backward_weight;
// Direct depthwise kernels: groups == C == K.
bool conv2d_depthwise_accepts(const Conv2dParams& p);
sig::WeightForward<Conv2dParams> conv2d_depthwise_forward;
sig::WeightBackwardData<Conv2dParams> conv2d_depthwise_backward_data;
sig::WeightBackwardWeight<Conv2dParams> conv2d_depthwise_backward_weight;
}  // namespace fl::cpu

// ---- activations (activation, softmax, prelu, maxout) ----
// Families whose fast kernels and references have the same names: declared once, expanded in ref:: and cpu::.
namespace fl {
#define FL_ACTIVATION_KERNELS \
  sig::Unary<ActivationParams> activation_forward;   \
  sig::ActivationBackward activation_backward;       \
  sig::Unary<SoftmaxParams> softmax_forward;         \
  sig::Binary<SoftmaxParams> softmax_backward;       \
  sig::Binary<PReLUParams> prelu_forward;            \
  sig::PReLUBackward prelu_backward;                 \
  sig::Unary<MaxoutParams> maxout_forward;           \
  sig::Binary<MaxoutParams> maxout_backward;
namespace ref {
FL_ACTIVATION_KERNELS
}  // namespace ref
namespace cpu {
FL_ACTIVATION_KERNELS
}  // namespace cpu
#undef FL_ACTIVATION_KERNELS
}  // namespace fl

// ---- normalization ----
namespace fl {
#define FL_NORM_KERNELS \
  sig::BatchNormForward batch_norm_forward, batch_norm_forward_eval;   \
  sig::BatchNormBackwardKernel batch_norm_backward;                    \
  sig::GroupNormForward group_norm_forward;                            \
  sig::GroupNormBackward group_norm_backward;
namespace ref {
FL_NORM_KERNELS
}  // namespace ref
namespace cpu {
FL_NORM_KERNELS
}  // namespace cpu
#undef FL_NORM_KERNELS
}  // namespace fl

// ---- transposed convolution ----
namespace fl::cpu {
// The adjoint convolution through the conv2d front doors, plus the bias (cpu/conv_transpose2d.cpp).
sig::WeightForward<ConvTranspose2dParams> conv_transpose2d_adjoint_forward;
sig::WeightBackwardData<ConvTranspose2dParams> conv_transpose2d_adjoint_backward_data;
sig::WeightBackwardWeight<ConvTranspose2dParams> conv_transpose2d_adjoint_backward_weight;
}  // namespace fl::cpu
namespace fl::ref {
// Naive transposed convolution straight from its definition.
sig::WeightForward<ConvTranspose2dParams> conv_transpose2d_forward;
sig::WeightBackwardData<ConvTranspose2dParams> conv_transpose2d_backward_data;
sig::WeightBackwardWeight<ConvTranspose2dParams> conv_transpose2d_backward_weight;
}  // namespace fl::ref

// ---- pooling ----
// Views are contiguous and validated by the front door; indices as in fastlayers/ops.h. Max-pooling
// kernels accept a null indices pointer (nothing written there).
namespace fl {
namespace ref {
sig::IndexedForward<Pool2dParams> max_pool2d_forward;
sig::Unary<Pool2dParams> avg_pool2d_forward, avg_pool2d_backward;
sig::Unary<AdaptivePool2dParams> adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward;
sig::IndexedForward<AdaptivePool2dParams> adaptive_max_pool2d_forward;
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
sig::IndexedForward<Pool2dParams> max_pool2d_k2s2_forward;
sig::Unary<Pool2dParams> avg_pool2d_k2s2_forward, avg_pool2d_k2s2_backward;
// Any window: bounds hoisted out of the inner loops.
sig::IndexedForward<Pool2dParams> max_pool2d_direct_forward;
sig::Unary<Pool2dParams> avg_pool2d_direct_forward, avg_pool2d_direct_backward;
// Global average pooling: OH == OW == 1.
bool adaptive_pool2d_global_accepts(const AdaptivePool2dParams& p);
sig::Unary<AdaptivePool2dParams> adaptive_avg_pool2d_global_forward, adaptive_avg_pool2d_global_backward;
}  // namespace cpu
}  // namespace fl

// ---- normalization: local response norm ----
namespace fl {
#define FL_LRN_KERNELS \
  sig::Binary<LRNParams> lrn_forward;   \
  sig::LRNBackward lrn_backward;
namespace ref {
FL_LRN_KERNELS
}  // namespace ref
namespace cpu {
FL_LRN_KERNELS
}  // namespace cpu
#undef FL_LRN_KERNELS
}  // namespace fl

// ---- upsampling ----
namespace fl {
namespace ref {
sig::Unary<Upsample2dParams> upsample2d_forward, upsample2d_backward;
}  // namespace ref
namespace cpu {
// Index/weight tables per axis computed once per call, one task per (n, c) plane.
sig::Unary<Upsample2dParams> upsample2d_direct_forward, upsample2d_direct_backward;
}  // namespace cpu
}  // namespace fl

// ---- linear ----
namespace fl {
namespace ref {
sig::WeightForward<LinearParams> linear_forward;
sig::WeightBackwardData<LinearParams> linear_backward_data;
sig::WeightBackwardWeight<LinearParams> linear_backward_weight;
}  // namespace ref
namespace cpu {
// Forward by dot-product micro-kernels on the rows of x and w read in place (no packing): K >= 16,
// M < 128.
bool linear_dot_accepts(const LinearParams& p);
sig::WeightForward<LinearParams> linear_dot_forward;
// Packed GEMM micro-kernels (cpu/gemm.h): takes every problem.
sig::WeightForward<LinearParams> linear_gemm_forward;
sig::WeightBackwardData<LinearParams> linear_gemm_backward_data;
sig::WeightBackwardWeight<LinearParams> linear_gemm_backward_weight;
}  // namespace cpu
}  // namespace fl

// ---- losses ----
// Arguments as in fastlayers/ops.h.
namespace fl {
#define FL_LOSS_KERNELS \
  sig::CrossEntropyForward cross_entropy_forward;     \
  sig::CrossEntropyBackward cross_entropy_backward;   \
  sig::NLLLossForward nll_loss_forward;               \
  sig::NLLLossBackward nll_loss_backward;
namespace ref {
FL_LOSS_KERNELS
}  // namespace ref
namespace cpu {
// Rows (S == 1) or tiles of 64 spatial positions per task, float32 on the SIMD path of fl::simd_level();
// reductions over fixed blocks of rows, so results do not depend on the thread count.
FL_LOSS_KERNELS
}  // namespace cpu
#undef FL_LOSS_KERNELS
}  // namespace fl

// ---- conv2d: one GEMM over the batch ----
// groups == 1 and small outputs (see conv2d_batch_gemm.cpp). Gradients are written (=).
namespace fl::cpu {
bool conv2d_batch_gemm_accepts(const Conv2dParams& p);
sig::WeightForward<Conv2dParams> conv2d_batch_gemm_forward;
sig::WeightBackwardData<Conv2dParams> conv2d_batch_gemm_backward_data;
sig::WeightBackwardWeight<Conv2dParams> conv2d_batch_gemm_backward_weight;
}  // namespace fl::cpu
// ---- conv2d: Winograd F(4x4, 3x3) ----
// float32 3x3 stride-1 dilation-1 one-group convolutions with padding <= 2 (see conv2d_winograd.cpp);
// float64 and the weight gradient go to the exact GEMM paths. Gradients are written (=).
namespace fl::cpu {
bool conv2d_winograd_accepts(const Conv2dParams& p);
sig::WeightForward<Conv2dParams> conv2d_winograd_forward;
sig::WeightBackwardData<Conv2dParams> conv2d_winograd_backward_data;
sig::WeightBackwardWeight<Conv2dParams> conv2d_winograd_backward_weight;
}  // namespace fl::cpu
