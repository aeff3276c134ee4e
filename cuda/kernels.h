// CUDA launchers behind the front doors in csrc/ops/: the signatures of fastlayers/signatures.h (those of the CPU
// kernels in csrc/cpu/kernels.h) plus the stream to launch on (OnStream). Views are validated by the front door:
// contiguous, on one CUDA device, shapes matching the params. Launchers return once the work is queued on the stream;
// launch errors throw std::runtime_error. This header is plain C++ (no CUDA headers), so host code and
// pybind11 never see CUDA types beyond the opaque stream.
#pragma once
#include <cstdint>

#include "fastlayers/cuda.h"
#include "fastlayers/params.h"
#include "fastlayers/signatures.h"
#include "fastlayers/tensor.h"

struct CUstream_st;

namespace fl::cuda {

using Stream = CUstream_st*;  // the same type as cudaStream_t
inline Stream current_stream() { return static_cast<Stream>(fl::cuda_stream()); }
// The launcher of a signature of fastlayers/signatures.h: the same arguments, then the stream.
template <typename F>
using OnStream = typename sig::on_stream<F, Stream>::type;

// Number of devices the runtime sees; 0 on any error (no driver, no device).
int device_count();

// ---- convolution (gradients written) ----
OnStream<sig::WeightForward<Conv2dParams>> conv2d_forward;
OnStream<sig::WeightBackwardData<Conv2dParams>> conv2d_backward_data;
OnStream<sig::WeightBackwardWeight<Conv2dParams>> conv2d_backward_weight;
// Which CUDA implementation conv2d picks ("depthwise" or "implicit_gemm").
const char* conv2d_impl_name(const Conv2dParams& p);

}  // namespace fl::cuda

// ---- activations (activation, softmax, prelu, maxout) ----
namespace fl::cuda {
OnStream<sig::Unary<ActivationParams>> activation_forward;
OnStream<sig::ActivationBackward> activation_backward;
OnStream<sig::Unary<SoftmaxParams>> softmax_forward;
OnStream<sig::Binary<SoftmaxParams>> softmax_backward;
OnStream<sig::Binary<PReLUParams>> prelu_forward;
OnStream<sig::PReLUBackward> prelu_backward;
OnStream<sig::Unary<MaxoutParams>> maxout_forward;
OnStream<sig::Binary<MaxoutParams>> maxout_backward;
}  // namespace fl::cuda

// ---- pooling ----
// indices: int64 device memory laid out like the pooled output (flat positions in each input plane).
namespace fl::cuda {
OnStream<sig::IndexedForward<Pool2dParams>> max_pool2d_forward;
OnStream<sig::Unary<Pool2dParams>> avg_pool2d_forward, avg_pool2d_backward;
OnStream<sig::Unary<AdaptivePool2dParams>> adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward;
OnStream<sig::IndexedForward<AdaptivePool2dParams>> adaptive_max_pool2d_forward;
// The index scatters / gather of the CPU reference (ref::index_*): planes are the first two axes, the rest
// one flat plane. Each returns the position of the first invalid index (-1 in a scatter-add adds nothing),
// or -1; they wait for the stream.
int64_t index_scatter_add(const TensorView& dst, const TensorView& src, const int64_t* ind, Stream stream);
int64_t index_scatter_set(const TensorView& dst, const TensorView& src, const int64_t* ind, Stream stream);
int64_t index_gather(const TensorView& dst, const TensorView& src, const int64_t* ind, Stream stream);
}  // namespace fl::cuda

// ---- normalization ----
// Batch norm: mean/rstd in the accumulation type (float32 for a float16/bfloat16 input); gamma, beta, the
// running statistics and dgamma/dbeta all in the input's dtype or, for a half input, all float32.
namespace fl::cuda {
OnStream<sig::BatchNormForward> batch_norm_forward, batch_norm_forward_eval;
OnStream<sig::BatchNormBackwardKernel> batch_norm_backward;
OnStream<sig::GroupNormForward> group_norm_forward;
OnStream<sig::GroupNormBackward> group_norm_backward;
OnStream<sig::Binary<LRNParams>> lrn_forward;
OnStream<sig::LRNBackward> lrn_backward;
}  // namespace fl::cuda

// ---- upsampling ----
namespace fl::cuda {
OnStream<sig::Unary<Upsample2dParams>> upsample2d_forward, upsample2d_backward;
}  // namespace fl::cuda

// ---- transposed convolution (gradients written) ----
namespace fl::cuda {
OnStream<sig::WeightForward<ConvTranspose2dParams>> conv_transpose2d_forward;
OnStream<sig::WeightBackwardData<ConvTranspose2dParams>> conv_transpose2d_backward_data;
OnStream<sig::WeightBackwardWeight<ConvTranspose2dParams>> conv_transpose2d_backward_weight;
}  // namespace fl::cuda

// ---- dropout ----
namespace fl::cuda {
void dropout_mask(const TensorView& mask, const DropoutParams& p, Stream stream);
}  // namespace fl::cuda

// ---- linear (launchers ready for the linear front door; gradients written) ----
// y[M,N] = x[M,K] w[N,K]^T + b[N] (b may be absent); dx[M,K] = dy w; dw[N,K] = dy^T x and db[N] = column sums
// of dy (each skipped where absent). With M = 0 the weight gradients are written as zeros.
namespace fl::cuda {
void linear_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b, int64_t M,
                    int64_t K, int64_t N, Stream stream);
void linear_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, int64_t M, int64_t K,
                          int64_t N, Stream stream);
void linear_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            int64_t M, int64_t K, int64_t N, Stream stream);
}  // namespace fl::cuda

// ---- cross-entropy (launchers ready for the loss front door; gradients written) ----
namespace fl::cuda {
// CrossEntropyParams as plain fields: reduction 0 none, 1 mean, 2 sum (fl::Reduction's values).
struct CrossEntropyArgs {
  int64_t N = 1, C = 1, S = 1;
  bool prob_target = false;
  int64_t ignore_index = -100;
  double label_smoothing = 0;
  int reduction = 1;
};
// loss: N*S values ('none') or one; lse: N*S; *total_weight: sum of w[t_i] over the rows kept (N*S for
// probability targets); workspace: 2*N*S + 1 elements of the logits' dtype on the same device (the caller
// allocates it; float16/bfloat16 logits ignore it and stage through float32 scratch of their own).
// target: int64 device memory (index targets) or null; target_prob: like the logits or absent.
// Returns the first class index outside [0, C) met (not ignore_index), or -1; waits for the stream.
int64_t cross_entropy_forward(const TensorView& loss, const TensorView& lse, double* total_weight,
                              const TensorView& workspace, const TensorView& logits, const int64_t* target,
                              const TensorView& target_prob, const TensorView& weight, const CrossEntropyArgs& a,
                              Stream stream);
// nll_loss of log-probabilities (N x C x S), the fields of `a` other than N, C, S, ignore_index and reduction
// unused; workspace, return value and waiting as cross_entropy_forward.
int64_t nll_loss_forward(const TensorView& loss, double* total_weight, const TensorView& workspace,
                         const TensorView& input, const int64_t* target, const TensorView& weight,
                         const CrossEntropyArgs& a, Stream stream);
void nll_loss_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                       const TensorView& weight, double total_weight, const CrossEntropyArgs& a, Stream stream);
// grad_loss: N*S values ('none') or one.
void cross_entropy_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                            const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                            const TensorView& lse, double total_weight, const CrossEntropyArgs& a, Stream stream);
}  // namespace fl::cuda
