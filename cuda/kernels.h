// CUDA launchers behind the front doors in csrc/ops/: the same signatures as the CPU kernels in
// csrc/cpu/kernels.h plus the stream to launch on. Views are validated by the front door: contiguous, on
// one CUDA device, shapes matching the params. Launchers return once the work is queued on the stream;
// launch errors throw std::runtime_error. This header is plain C++ (no CUDA headers), so host code and
// pybind11 never see CUDA types beyond the opaque stream.
#pragma once
#include <cstdint>

#include "fastlayers/cuda.h"
#include "fastlayers/params.h"
#include "fastlayers/tensor.h"

struct CUstream_st;

namespace fl::cuda {

using Stream = CUstream_st*;  // the same type as cudaStream_t
inline Stream current_stream() { return static_cast<Stream>(fl::cuda_stream()); }

// Number of devices the runtime sees; 0 on any error (no driver, no device).
int device_count();

// ---- convolution (gradients written) ----
void conv2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                    const Conv2dParams& p, Stream stream);
void conv2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const Conv2dParams& p,
                          Stream stream);
void conv2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x,
                            const Conv2dParams& p, Stream stream);
// Which CUDA implementation conv2d picks ("depthwise" or "implicit_gemm").
const char* conv2d_impl_name(const Conv2dParams& p);

}  // namespace fl::cuda

// ---- activations (activation, softmax, prelu, maxout) ----
namespace fl::cuda {
void activation_forward(const TensorView& y, const TensorView& x, const ActivationParams& p, Stream stream);
void activation_backward(const TensorView& dx, const TensorView& dy, const TensorView& saved, bool from_output,
                         const ActivationParams& p, Stream stream);
void softmax_forward(const TensorView& y, const TensorView& x, const SoftmaxParams& p, Stream stream);
void softmax_backward(const TensorView& dx, const TensorView& dy, const TensorView& y, const SoftmaxParams& p,
                      Stream stream);
void prelu_forward(const TensorView& y, const TensorView& x, const TensorView& w, const PReLUParams& p,
                   Stream stream);
void prelu_backward(const TensorView& dx, const TensorView& dw, const TensorView& dy, const TensorView& x,
                    const TensorView& w, const PReLUParams& p, Stream stream);
void maxout_forward(const TensorView& y, const TensorView& x, const MaxoutParams& p, Stream stream);
void maxout_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const MaxoutParams& p,
                     Stream stream);
}  // namespace fl::cuda

// ---- pooling ----
// indices: int64 device memory laid out like the pooled output (flat positions in each input plane).
namespace fl::cuda {
void max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x, const Pool2dParams& p,
                        Stream stream);
void avg_pool2d_forward(const TensorView& y, const TensorView& x, const Pool2dParams& p, Stream stream);
void avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const Pool2dParams& p, Stream stream);
void adaptive_avg_pool2d_forward(const TensorView& y, const TensorView& x, const AdaptivePool2dParams& p,
                                 Stream stream);
void adaptive_avg_pool2d_backward(const TensorView& dx, const TensorView& dy, const AdaptivePool2dParams& p,
                                  Stream stream);
void adaptive_max_pool2d_forward(const TensorView& y, int64_t* indices, const TensorView& x,
                                 const AdaptivePool2dParams& p, Stream stream);
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
void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                        const TensorView& running_var, const BatchNormParams& p, Stream stream);
void batch_norm_forward_eval(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                             const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,
                             const TensorView& running_var, const BatchNormParams& p, Stream stream);
// batch_stats: the gradient of the training forward (mean/rstd depend on x), else of the evaluation one.
void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta, const TensorView& dy,
                         const TensorView& x, const TensorView& mean, const TensorView& rstd, const TensorView& gamma,
                         bool batch_stats, const BatchNormParams& p, Stream stream);
void group_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x,
                        const TensorView& gamma, const TensorView& beta, const GroupNormParams& p, Stream stream);
void group_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta, const TensorView& dy,
                         const TensorView& x, const TensorView& mean, const TensorView& rstd, const TensorView& gamma,
                         const GroupNormParams& p, Stream stream);
void lrn_forward(const TensorView& y, const TensorView& scale, const TensorView& x, const LRNParams& p, Stream stream);
void lrn_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const TensorView& scale,
                  const LRNParams& p, Stream stream);
}  // namespace fl::cuda

// ---- upsampling ----
namespace fl::cuda {
void upsample2d_forward(const TensorView& y, const TensorView& x, const Upsample2dParams& p, Stream stream);
void upsample2d_backward(const TensorView& dx, const TensorView& dy, const Upsample2dParams& p, Stream stream);
}  // namespace fl::cuda

// ---- transposed convolution (gradients written) ----
namespace fl::cuda {
void conv_transpose2d_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,
                              const ConvTranspose2dParams& p, Stream stream);
void conv_transpose2d_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w,
                                    const ConvTranspose2dParams& p, Stream stream);
void conv_transpose2d_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy,
                                      const TensorView& x, const ConvTranspose2dParams& p, Stream stream);
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
