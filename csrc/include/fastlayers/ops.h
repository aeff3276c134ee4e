// The public C++ API of fastlayers' ops. Argument order: outputs, inputs, then params.
// Every view must be contiguous; the front doors validate shapes, dtypes and devices and throw
// fl::ValueError / fl::TypeError. Gradients are written (=), never accumulated.
#pragma once
#include <array>
#include <string>

#include "fastlayers/params.h"
#include "fastlayers/signatures.h"
#include "fastlayers/tensor.h"

namespace fl {

// Signatures in fastlayers/signatures.h. conv2d_forward(y, x, w, b, p): y[N,K,P,Q] = conv(x[N,C,H,W],
// w[K,C/g,R,S]) + b[K] (b may be absent); conv2d_backward_data(dx, dy, w, p): dx[N,C,H,W] from dy[N,K,P,Q] and w;
// conv2d_backward_weight(dw, db, dy, x, p): dw[K,C/g,R,S] and db[K] (each skipped if absent) from dy and x.
sig::WeightForward<Conv2dParams> conv2d_forward;
sig::WeightBackwardData<Conv2dParams> conv2d_backward_data;
sig::WeightBackwardWeight<Conv2dParams> conv2d_backward_weight;

// Checks the shapes of a convolution's operands against p; throws ValueError naming the operand.
void check_conv2d_params(const Conv2dParams& p);
// The problem of input x [N,C,H,W] and weight w [K,C/groups,R,S] with these arguments, checked (ValueError
// naming `op` and the argument, torch's wording, when they do not fit together).
Conv2dParams conv2d_problem(const TensorView& x, const TensorView& w, std::array<int64_t, 2> stride,
                            std::array<int64_t, 2> padding, std::array<int64_t, 2> dilation, int64_t groups,
                            const char* op);

// Name of the implementation the front door picks for p (for logs, tests and benchmarks).
const char* conv2d_impl_name(const Conv2dParams& p, DType dtype);

// ---- activations (activation, softmax, prelu, maxout) ----
// activation_forward(y, x, p): y = act(x); y may be x itself (in place).
sig::Unary<ActivationParams> activation_forward;
// activation_backward(dx, dy, saved, from_output, p): dx = dy * act'(.) from `saved`: the input, or the output
// when from_output (valid only where p.backward_from_output_ok()). dx may alias dy.
sig::ActivationBackward activation_backward;
// softmax_forward(y, x, p): softmax or log_softmax of x along the middle axis of p's layout.
sig::Unary<SoftmaxParams> softmax_forward;
// softmax_backward(dx, dy, y, p): dx from dy and the forward output y.
sig::Binary<SoftmaxParams> softmax_backward;
// prelu_forward(y, x, w, p): y = x > 0 ? x : w[c] * x.
sig::Binary<PReLUParams> prelu_forward;
// prelu_backward(dx, dw, dy, x, w, p): dx and dw (each skipped if absent; dw a deterministic reduction).
sig::PReLUBackward prelu_backward;
// maxout_forward(y, x, p): y[o, j, i] = max over k < pieces of x[o, j * pieces + k, i].
sig::Unary<MaxoutParams> maxout_forward;
// maxout_backward(dx, dy, x, p): dy routed to the first maximum of each group.
sig::Binary<MaxoutParams> maxout_backward;
// Forces the naive reference kernels of the whole family (tests); an alias of set_impl(op, "reference") for
// activation, softmax, prelu and maxout (csrc/ops/impls.h).
void set_activation_reference(bool use_reference);
// The problems of the family from their operands and arguments, checked (ValueError naming `op`): the kind by its
// name ("relu", "gelu_tanh", ...); softmax over axis `dim` (non-negative) of x; prelu of x with weight w (one
// slope, or one per channel of dim 1); maxout over `pieces` along axis `dim` (non-negative).
ActKind act_kind_from_name(const std::string& name);
SoftmaxParams softmax_problem(const TensorView& x, int64_t dim, bool log, const char* op);
PReLUParams prelu_problem(const TensorView& x, const TensorView& w, const char* op);
MaxoutParams maxout_problem(const TensorView& x, int64_t pieces, int64_t dim, const char* op);

}  // namespace fl

// ---- normalization ----
namespace fl {

// Training batch norm: y[N,C,S], mean[C], rstd[C] = 1/sqrt(var + eps) (biased var) from x; gamma/beta
// [C] may be absent (1 and 0). running_mean/running_var [C], when defined, are updated in place with
// p.momentum (unbiased variance).
sig::BatchNormForward batch_norm_forward;
// Evaluation batch norm with the running statistics; also writes mean = running_mean and
// rstd = 1/sqrt(running_var + eps) for batch_norm_backward_eval.
sig::BatchNormForward batch_norm_forward_eval;
// batch_norm_backward(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, p): gradients of batch_norm_forward
// (mean/rstd depend on x); dx, dgamma, dbeta each skipped where absent.
sig::BatchNormBackward batch_norm_backward;
// Gradients of batch_norm_forward_eval (mean/rstd are constants).
sig::BatchNormBackward batch_norm_backward_eval;
// Group norm: y[N,C,S], mean[N,G], rstd[N,G] from x; gamma/beta [C] may be absent.
sig::GroupNormForward group_norm_forward;
sig::GroupNormBackward group_norm_backward;
void check_batch_norm_params(const BatchNormParams& p);
void check_group_norm_params(const GroupNormParams& p);
// Selects the naive reference kernels for the norm family (tests use it as the oracle); an alias of
// set_impl(op, "reference") for batch_norm, group_norm and local_response_norm (csrc/ops/impls.h).
void set_norm_use_reference(bool on);
// training: batch_norm_forward / batch_norm_backward, else their _eval twins (what the bindings call).
void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p, bool training);
void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,
                         const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd,
                         const TensorView& gamma, const BatchNormParams& p, bool training);
// The dtype of batch norm's saved mean / rstd for an input of dtype x: float32 for float16 / bfloat16 (torch's
// save_mean / save_invstd), else x's.
DType batch_norm_stats_dtype(DType x);
// The contiguous (N, C, *) view v seen as N x C x S, the layout of the whole family; ValueError naming `op` and
// `arg` below 2 dimensions.
TensorView norm_ncs_view(TensorView v, const char* op, const char* arg);

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
// The problem of input x [N,C,H,W] and weight w [C,K/groups,R,S] with these arguments, checked.
ConvTranspose2dParams conv_transpose2d_problem(const TensorView& x, const TensorView& w, std::array<int64_t, 2> stride,
                                               std::array<int64_t, 2> padding, std::array<int64_t, 2> output_padding,
                                               int64_t groups, std::array<int64_t, 2> dilation, const char* op);

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
// lrn_forward(y, scale, x, p): y[N,C,S] and scale[N,C,S] (k + alpha * window average of x^2, kept for the
// backward) from x.
sig::Binary<LRNParams> lrn_forward;
// lrn_backward(dx, dy, x, scale, p): dx = dy * scale^-beta - 2 alpha beta / size * x * sum over the mirrored
// window of dy * x * scale^(-beta-1).
sig::LRNBackward lrn_backward;
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

// linear_forward(y, x, w, b, p): y[M,N] = x[M,K] * w[N,K]^T + b[N] (b may be absent).
sig::WeightForward<LinearParams> linear_forward;
// linear_backward_data(dx, dy, w, p): dx[M,K] = dy[M,N] * w[N,K].
sig::WeightBackwardData<LinearParams> linear_backward_data;
// linear_backward_weight(dw, db, dy, x, p): dw[N,K] = dy^T * x (skipped if absent) and db[N] = column sums of dy
// (skipped if absent); both deterministic reductions, bitwise independent of the thread count.
sig::WeightBackwardWeight<LinearParams> linear_backward_weight;
void check_linear_params(const LinearParams& p);
// The problem of input x [M,K] and weight w [N,K], checked (ValueError naming `op`, torch's wording).
LinearParams linear_problem(const TensorView& x, const TensorView& w, const char* op);
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
