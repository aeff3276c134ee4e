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

// ---- normalization ----
namespace fl {

// Training batch norm: y[N,C,S], mean[C], rstd[C] = 1/sqrt(var + eps) (biased var) from x; gamma/beta
// [C] may be absent (1 and 0). running_mean/running_var [C], when defined, are updated in place with
// p.momentum (unbiased variance).
void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p);
// Evaluation batch norm with the running statistics; also writes mean = running_mean and
// rstd = 1/sqrt(running_var + eps) for batch_norm_backward_eval.
void batch_norm_forward_eval(const TensorView& y, const TensorView& mean, const TensorView& rstd,
                             const TensorView& x, const TensorView& gamma, const TensorView& beta,
                             const TensorView& running_mean, const TensorView& running_var, const BatchNormParams& p);
// Gradients of batch_norm_forward (mean/rstd depend on x); dx, dgamma, dbeta each skipped where absent.
void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, const BatchNormParams& p);
// Gradients of batch_norm_forward_eval (mean/rstd are constants).
void batch_norm_backward_eval(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                              const TensorView& dy, const TensorView& x, const TensorView& mean,
                              const TensorView& rstd, const TensorView& gamma, const BatchNormParams& p);
// Group norm: y[N,C,S], mean[N,G], rstd[N,G] from x; gamma/beta [C] may be absent.
void group_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const GroupNormParams& p);
void group_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, const GroupNormParams& p);
void check_batch_norm_params(const BatchNormParams& p);
void check_group_norm_params(const GroupNormParams& p);
// Selects the naive reference kernels for the norm family (tests use it as the oracle).
void set_norm_use_reference(bool on);

}  // namespace fl

// ---- transposed convolution ----
// impl: nullptr/"" picks the first implementation that accepts p ("adjoint_conv2d": the convolution kernels with
// roles swapped); "reference" forces the naive one (tests; cpu only).
namespace fl {

// y[N,K,P,Q] = conv_transpose(x[N,C,H,W], w[C,K/g,R,S]) + b[K] (b may be absent).
void conv_transpose2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                              const ConvTranspose2dParams& p, const char* impl = nullptr);
// dx[N,C,H,W] from dy[N,K,P,Q] and w.
void conv_transpose2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                    const ConvTranspose2dParams& p, const char* impl = nullptr);
// dw[C,K/g,R,S] (skipped if absent) and db[K] (skipped if absent) from dy and x.
void conv_transpose2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                      const TensorView& x, const ConvTranspose2dParams& p,
                                      const char* impl = nullptr);
// Checks the sizes in p; throws ValueError naming the parameter.
void check_conv_transpose2d_params(const ConvTranspose2dParams& p);

}  // namespace fl

// ---- pooling ----
// Indices are int64 flat positions within each H*W input plane (torch's convention), laid out like the
// pooled output; they travel as raw pointers because TensorView holds floats only.
namespace fl {

// Checks pooling sizes (positive kernel, stride, dilation; padding at most half the kernel, torch's rule;
// output at least 1x1); throws ValueError naming `op` and the argument. avg: checking avg_pool2d.
void check_pool2d_params(const Pool2dParams& p, const char* op, bool avg);
void check_adaptive_pool2d_params(const AdaptivePool2dParams& p, const char* op);

// impl: nullptr/"" picks the first implementation that accepts p; a name forces that one (tests use
// "reference"); pool2d_impl_name tells which the front door picks.
// y[N,C,P,Q], indices[N,C,P,Q] from x[N,C,H,W]; a window with no element (wholly in the padding) gives
// -inf and index -1.
void max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x, const Pool2dParams& p,
                        const char* impl = nullptr);
// dx[N,C,H,W] = scatter of dy[N,C,P,Q] by indices (also the backward of adaptive_max_pool2d); an index of -1
// adds nothing, any other outside the plane raises RuntimeError (torch's "Found an invalid max index").
void max_pool2d_backward(const TensorView& dx, const TensorView& dy, const int64_t* indices);
void avg_pool2d_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p, const char* impl = nullptr);
void avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p,
                         const char* impl = nullptr);
void adaptive_avg_pool2d_forward(const TensorView& y, const TensorView& x, const AdaptivePool2dParams& p,
                                 const char* impl = nullptr);
void adaptive_avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const AdaptivePool2dParams& p,
                                  const char* impl = nullptr);
void adaptive_max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x,
                                 const AdaptivePool2dParams& p, const char* impl = nullptr);
// y[N,C,OH,OW] = zeros with y[n,c][indices[n,c,i]] = x[n,c,i] for x[N,C,H,W]; RuntimeError on an index
// outside [0, OH*OW).
void max_unpool2d_forward(const TensorView& y, const TensorView& x, const int64_t* indices);
// dx[N,C,H,W][i] = dy[n,c][indices[n,c,i]].
void max_unpool2d_backward(const TensorView& dx, const TensorView& dy, const int64_t* indices);

// "max_forward", "avg_forward", "avg_backward" for Pool2dParams.
const char* pool2d_impl_name(const char* pass, const Pool2dParams& p);
// "avg_forward", "avg_backward", "max_forward" for AdaptivePool2dParams.
const char* adaptive_pool2d_impl_name(const char* pass, const AdaptivePool2dParams& p);

}  // namespace fl

// ---- normalization: local response norm ----
namespace fl {
// y[N,C,S] and scale[N,C,S] (k + alpha * window average of x^2, kept for the backward) from x.
void lrn_forward(const TensorView& y, const TensorView& scale, const TensorView& x, const LRNParams& p);
// dx = dy * scale^-beta - 2 alpha beta / size * x * sum over the mirrored window of dy * x * scale^(-beta-1).
void lrn_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const TensorView& scale,
                  const LRNParams& p);
void check_lrn_params(const LRNParams& p);
}  // namespace fl

// ---- upsampling ----
namespace fl {
// Checks sizes (all positive, input non-empty) and scale factors (>= 0); throws ValueError naming `op`.
void check_upsample2d_params(const Upsample2dParams& p, const char* op);
// y[N,C,OH,OW] from x[N,C,H,W]; dx[N,C,H,W] (written) from dy[N,C,OH,OW]. impl: nullptr/"" picks the
// first implementation that accepts p; "direct" or "reference" forces one.
void upsample2d_forward(const TensorView& y, const TensorView& x, const Upsample2dParams& p,
                        const char* impl = nullptr);
void upsample2d_backward(const TensorView& dx, const TensorView& dy, const Upsample2dParams& p,
                         const char* impl = nullptr);
}  // namespace fl

// ---- linear ----
namespace fl {

// y[M,N] = x[M,K] * w[N,K]^T + b[N] (b may be absent).
void linear_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                    const LinearParams& p);
// dx[M,K] = dy[M,N] * w[N,K].
void linear_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const LinearParams& p);
// dw[N,K] = dy^T * x (skipped if absent) and db[N] = column sums of dy (skipped if absent); both
// deterministic reductions, bitwise independent of the thread count.
void linear_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            const LinearParams& p);
void check_linear_params(const LinearParams& p);
// Name of the implementation the front door picks for a pass ("forward", "backward_data",
// "backward_weight") of p.
const char* linear_impl_name(const LinearParams& p, const char* pass);

}  // namespace fl

// ---- losses ----
// Class-index targets are int64 raw pointers (N x S values, TensorView holds floats only); class-probability
// targets are views shaped like the logits. Gradients are written (=). loss holds N*S values for reduction
// 'none', else one. impl: nullptr/"" runs the fast kernels, "reference" the naive ones (tests).
namespace fl {
// Checks sizes, label_smoothing in [0, 1], and that every index target is ignore_index or in [0, C)
// (IndexError "Target 7 is out of bounds." as torch); throws ValueError / TypeError naming the argument.
// lse: N*S per-row logsumexp, kept for the backward. total_weight: sum of weight[t_i] over the rows not
// ignored (their count when unweighted; N*S for probability targets), the divisor of 'mean'.
// On CUDA (every view and target on one device; target then int64 device memory) workspace holds 2*N*S + 1
// elements of the logits' dtype on that device, allocated by the caller; unused on the CPU.
void cross_entropy_forward(const TensorView& loss, const TensorView& lse, double* total_weight,
                           const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                           const TensorView& weight, const CrossEntropyParams& p, const char* impl = nullptr,
                           const TensorView& workspace = TensorView());
// dlogits = scale_i * (A_i softmax(x_i) - a_i) with a_i the (smoothed, weighted) target row and A_i its sum,
// in one pass over the logits from the saved lse. grad_loss: N*S values ('none') or one.
void cross_entropy_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                            const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                            const TensorView& lse, double total_weight, const CrossEntropyParams& p,
                            const char* impl = nullptr);
// workspace: as cross_entropy_forward's (CUDA only).
void nll_loss_forward(const TensorView& loss, double* total_weight, const TensorView& input, const int64_t* target,
                      const TensorView& weight, const NLLLossParams& p, const char* impl = nullptr,
                      const TensorView& workspace = TensorView());
// dinput (N x C x S) = -grad_i w[t_i] at (i, t_i) (divided by total_weight for 'mean'), 0 elsewhere.
void nll_loss_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                       const TensorView& weight, double total_weight, const NLLLossParams& p,
                       const char* impl = nullptr);
}  // namespace fl

// ---- dropout ----
namespace fl {
// mask[numel] (float32/float64, cpu or cuda) = 0 or 1 / (1 - p) from a counter-based hash of (seed, offset + i):
// reproducible by seed, identical on every device. The caller multiplies (and, backward, multiplies dy).
void dropout_mask(const TensorView& mask, const DropoutParams& p);
}  // namespace fl
