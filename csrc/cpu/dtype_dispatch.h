// The one dtype dispatch of the CPU kernels (as ATen's AT_DISPATCH_FLOATING_TYPES): the entry point of a kernel
// runs its template for the view's dtype, float32 or float64 (the front doors let nothing else reach the CPU):
//   FL_DISPATCH_FLOATING(x.dtype, forward<scalar_t>(y, x, w, b, p));
#pragma once
#include "fastlayers/tensor.h"

#define FL_DISPATCH_FLOATING(dtype, ...)                 \
  do {                                                   \
    if ((dtype) == ::fl::DType::Float32) {               \
      using scalar_t = float;                            \
      __VA_ARGS__;                                       \
    } else {                                             \
      using scalar_t = double;                           \
      __VA_ARGS__;                                       \
    }                                                    \
  } while (0)

// The three entry points of an op with a weight (sig::WeightForward / WeightBackwardData / WeightBackwardWeight of
// Params), named name##_forward, name##_backward_data, name##_backward_weight, from the file's templates fwd<T>,
// bwd_data<T> and bwd_weight<T> (which take the views and p); the dtype is the input's (x, then dy).
#define FL_WEIGHT_OP_ENTRY_POINTS(Params, name, fwd, bwd_data, bwd_weight)                                         \
  void name##_forward(const TensorView& y, const TensorView& x, const TensorView& w, const TensorView& b,          \
                      const Params& p) {                                                                           \
    FL_DISPATCH_FLOATING(x.dtype, fwd<scalar_t>(y, x, w, b, p));                                                   \
  }                                                                                                                \
  void name##_backward_data(const TensorView& dx, const TensorView& dy, const TensorView& w, const Params& p) {     \
    FL_DISPATCH_FLOATING(dy.dtype, bwd_data<scalar_t>(dx, dy, w, p));                                              \
  }                                                                                                                \
  void name##_backward_weight(const TensorView& dw, const TensorView& db, const TensorView& dy, const TensorView& x, \
                              const Params& p) {                                                                   \
    FL_DISPATCH_FLOATING(dy.dtype, bwd_weight<scalar_t>(dw, db, dy, x, p));                                        \
  }

// ---- normalization ----
// The entry points of the batch / group norm kernels (sig::BatchNormForward, ...) from the file's templates
// bn_fwd<T>(..., batch_stats), bn_bwd<T>, gn_fwd<T>, gn_bwd<T>; and of local response norm from lrn_fwd<T>, lrn_bwd<T>.
#define FL_NORM_ENTRY_POINTS(bn_fwd, bn_bwd, gn_fwd, gn_bwd)                                                        \
  void batch_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x, \
                          const TensorView& gamma, const TensorView& beta, const TensorView& running_mean,         \
                          const TensorView& running_var, const BatchNormParams& p) {                               \
    FL_DISPATCH_FLOATING(x.dtype, bn_fwd<scalar_t>(y, mean, rstd, x, gamma, beta, running_mean, running_var, p, true)); \
  }                                                                                                                \
  void batch_norm_forward_eval(const TensorView& y, const TensorView& mean, const TensorView& rstd,                \
                               const TensorView& x, const TensorView& gamma, const TensorView& beta,               \
                               const TensorView& running_mean, const TensorView& running_var,                      \
                               const BatchNormParams& p) {                                                         \
    FL_DISPATCH_FLOATING(x.dtype, bn_fwd<scalar_t>(y, mean, rstd, x, gamma, beta, running_mean, running_var, p, false)); \
  }                                                                                                                \
  void batch_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,                 \
                           const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd, \
                           const TensorView& gamma, bool batch_stats, const BatchNormParams& p) {                  \
    FL_DISPATCH_FLOATING(x.dtype, bn_bwd<scalar_t>(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, batch_stats, p));  \
  }                                                                                                                \
  void group_norm_forward(const TensorView& y, const TensorView& mean, const TensorView& rstd, const TensorView& x, \
                          const TensorView& gamma, const TensorView& beta, const GroupNormParams& p) {             \
    FL_DISPATCH_FLOATING(x.dtype, gn_fwd<scalar_t>(y, mean, rstd, x, gamma, beta, p));                             \
  }                                                                                                                \
  void group_norm_backward(const TensorView& dx, const TensorView& dgamma, const TensorView& dbeta,                 \
                           const TensorView& dy, const TensorView& x, const TensorView& mean, const TensorView& rstd, \
                           const TensorView& gamma, const GroupNormParams& p) {                                    \
    FL_DISPATCH_FLOATING(x.dtype, gn_bwd<scalar_t>(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, p));               \
  }
#define FL_LRN_ENTRY_POINTS(lrn_fwd, lrn_bwd)                                                                      \
  void lrn_forward(const TensorView& y, const TensorView& scale, const TensorView& x, const LRNParams& p) {        \
    FL_DISPATCH_FLOATING(x.dtype, lrn_fwd<scalar_t>(y, scale, x, p));                                              \
  }                                                                                                                \
  void lrn_backward(const TensorView& dx, const TensorView& dy, const TensorView& x, const TensorView& scale,       \
                    const LRNParams& p) {                                                                          \
    FL_DISPATCH_FLOATING(x.dtype, lrn_bwd<scalar_t>(dx, dy, x, scale, p));                                         \
  }
