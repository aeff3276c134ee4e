// The signature of every op and pass, declared once (as ATen's DECLARE_DISPATCH): the fast CPU kernels and the
// naive references (csrc/cpu/kernels.h), the front doors' implementation lists (csrc/ops/) and the CUDA launchers
// (cuda/kernels.h, through OnStream) follow them. Declare a function of a signature by its type:
//   sig::WeightForward<Conv2dParams> conv2d_forward;   // void conv2d_forward(y, x, w, b, p)
// Argument order: outputs, inputs, then the params. Views are contiguous and validated by the front door.
#pragma once
#include <cstdint>

#include "fastlayers/params.h"
#include "fastlayers/tensor.h"

namespace fl::sig {

using V = const TensorView&;

// Ops with a weight (conv2d, conv_transpose2d, linear): y from x, w and the bias b (absent: none); dx from dy
// and w; dw and db (each skipped where absent) from dy and x.
template <typename P> using WeightForward = void(V y, V x, V w, V b, const P& p);
template <typename P> using WeightBackwardData = void(V dx, V dy, V w, const P& p);
template <typename P> using WeightBackwardWeight = void(V dw, V db, V dy, V x, const P& p);

// One input, one output: y from x (forwards), or dx from dy (upsample2d's and the average pools' backwards).
template <typename P> using Unary = void(V out, V in, const P& p);
// One output from two inputs: softmax_backward (dx; dy, y), maxout_backward (dx; dy, x), prelu_forward (y; x, w),
// lrn_forward (y, scale; x: the second "input" is its second output).
template <typename P> using Binary = void(V out, V a, V b, const P& p);
// The max pools: y and the int64 flat index of each maximum in its input plane.
template <typename P> using IndexedForward = void(V y, int64_t* indices, V x, const P& p);

// ---- activations ----
// dx from dy and `saved`: the input, or the output when from_output.
using ActivationBackward = void(V dx, V dy, V saved, bool from_output, const ActivationParams& p);
using PReLUBackward = void(V dx, V dw, V dy, V x, V w, const PReLUParams& p);

// ---- normalization ----
// Batch norm's training and evaluation forwards (the running statistics updated in training, used in evaluation).
using BatchNormForward = void(V y, V mean, V rstd, V x, V gamma, V beta, V running_mean, V running_var,
                              const BatchNormParams& p);
// batch_stats: the gradient of the training forward (mean/rstd depend on x), else of the evaluation one.
using BatchNormBackwardKernel = void(V dx, V dgamma, V dbeta, V dy, V x, V mean, V rstd, V gamma, bool batch_stats,
                                     const BatchNormParams& p);
using BatchNormBackward = void(V dx, V dgamma, V dbeta, V dy, V x, V mean, V rstd, V gamma, const BatchNormParams& p);
using GroupNormForward = void(V y, V mean, V rstd, V x, V gamma, V beta, const GroupNormParams& p);
using GroupNormBackward = void(V dx, V dgamma, V dbeta, V dy, V x, V mean, V rstd, V gamma, const GroupNormParams& p);
using LRNBackward = void(V dx, V dy, V x, V scale, const LRNParams& p);

// ---- losses (the kernels; the front doors add the per-call impl and the CUDA workspace) ----
using CrossEntropyForward = void(V loss, V lse, double* total_weight, V logits, const int64_t* target, V target_prob,
                                 V weight, const CrossEntropyParams& p);
using CrossEntropyBackward = void(V dlogits, V grad_loss, V logits, const int64_t* target, V target_prob, V weight,
                                  V lse, double total_weight, const CrossEntropyParams& p);
using NLLLossForward = void(V loss, double* total_weight, V input, const int64_t* target, V weight,
                            const NLLLossParams& p);
using NLLLossBackward = void(V dinput, V grad_loss, const int64_t* target, V weight, double total_weight,
                             const NLLLossParams& p);

// A signature with the CUDA stream appended (the launchers in cuda/kernels.h): OnStream<sig, Stream>.
template <typename F, typename Stream> struct on_stream;
template <typename... A, typename Stream> struct on_stream<void(A...), Stream> { using type = void(A..., Stream); };

}  // namespace fl::sig
