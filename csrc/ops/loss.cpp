// Front doors of the losses in C++ (cross-entropy, nll_loss): validate the operands, then run the fast CPU
// kernels, or the naive references when forced (impl="reference" per call, or ops/impls.h's override).
// Gradients are written (=).
#include <cstring>
#include <string>

#include "cpu/kernels.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/device.h"
#include "ops/impls.h"

namespace fl {
namespace {

// Each pass: the fast kernels, then the naive reference (ops/impls.h).
const FastThenReferenceOps kRegistered{"cross_entropy", "nll_loss"};

// float16 / bfloat16 pass on CUDA only (check_float_dtype's TypeError on the cpu).
void check_float(const TensorView& v, int64_t numel, const char* op, const char* arg, const TensorView* like) {
  check_float_dtype(op, arg, v, true);
  FL_CHECK_TYPE(v.dtype == DType::Float32 || v.dtype == DType::Float64 || is_half(v.dtype), op, ": ", arg,
                " must be float32 or float64, got ", dtype_name(v.dtype));
  FL_CHECK_VALUE(v.is_contiguous(), op, ": ", arg, " must be contiguous");
  FL_CHECK_VALUE(v.numel() == numel, op, ": ", arg, " must have ", numel, " elements, got shape ", v.shape_str());
  if (like)
    FL_CHECK_TYPE(v.dtype == like->dtype, op, ": ", arg, " must have dtype ", dtype_name(like->dtype),
                  " like the input, got ", dtype_name(v.dtype));
}

void check_sizes(int64_t N, int64_t C, int64_t S, const char* op) {
  FL_CHECK_VALUE(N >= 0 && S >= 0, op, ": sizes must be >= 0, got N=", N, " S=", S);
  FL_CHECK_VALUE(C >= 1, op, ": the number of classes must be >= 1, got ", C);
}

// Every target is ignore_index or a class in [0, C); torch's IndexError otherwise.
void check_targets(const int64_t* target, int64_t rows, int64_t C, int64_t ignore_index, const char* op) {
  FL_CHECK_VALUE(target != nullptr || rows == 0, op, ": class-index target is missing");
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t t = target[i];
    if (t != ignore_index && (t < 0 || t >= C)) throw IndexError(cat_str("Target ", t, " is out of bounds."));
  }
}

int64_t loss_numel(Reduction r, int64_t rows) { return r == Reduction::None ? rows : 1; }

// Index targets in device memory are checked by the CUDA launcher instead (it reports the first bad one).
void check_ce(const TensorView& logits, const int64_t* target, const TensorView& target_prob,
              const TensorView& weight, const CrossEntropyParams& p, const char* op) {
  check_sizes(p.N, p.C, p.S, op);
  FL_CHECK_VALUE(p.label_smoothing >= 0 && p.label_smoothing <= 1, op,
                 ": label_smoothing must be between 0.0 and 1.0, got ", p.label_smoothing);
  check_float(logits, p.N * p.C * p.S, op, "input", nullptr);
  if (weight.defined()) check_float(weight, p.C, op, "weight", &logits);
  if (p.prob_target) check_float(target_prob, p.N * p.C * p.S, op, "target", &logits);
  else if (logits.device == Device::CPU) check_targets(target, p.rows(), p.C, p.ignore_index, op);
  else FL_CHECK_VALUE(target != nullptr || p.rows() == 0, op, ": class-index target is missing");
}

#ifdef FL_WITH_CUDA
cuda::CrossEntropyArgs ce_args(const CrossEntropyParams& p) {
  cuda::CrossEntropyArgs a;
  a.N = p.N;
  a.C = p.C;
  a.S = p.S;
  a.prob_target = p.prob_target;
  a.ignore_index = p.ignore_index;
  a.label_smoothing = p.label_smoothing;
  a.reduction = static_cast<int>(p.reduction);
  return a;
}

void ce_forward_cuda(const TensorView& loss, const TensorView& lse, double* total_weight, const TensorView& workspace,
                     const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                     const TensorView& weight, const CrossEntropyParams& p) {
  const int64_t bad = cuda::cross_entropy_forward(loss, lse, total_weight, workspace, logits, target, target_prob,
                                                  weight, ce_args(p), cuda::current_stream());
  if (bad != -1) throw IndexError(cat_str("Target ", bad, " is out of bounds."));
}

cuda::CrossEntropyArgs nll_args(const NLLLossParams& p) {
  CrossEntropyParams ce;
  ce.N = p.N;
  ce.C = p.C;
  ce.S = p.S;
  ce.ignore_index = p.ignore_index;
  ce.reduction = p.reduction;
  return ce_args(ce);
}

void nll_forward_cuda(const TensorView& loss, double* total_weight, const TensorView& workspace,
                      const TensorView& input, const int64_t* target, const TensorView& weight,
                      const NLLLossParams& p) {
  const int64_t bad = cuda::nll_loss_forward(loss, total_weight, workspace, input, target, weight, nll_args(p),
                                             cuda::current_stream());
  if (bad != -1) throw IndexError(cat_str("Target ", bad, " is out of bounds."));
}
#endif

void check_nll(const int64_t* target, const TensorView& weight, const TensorView& like, const NLLLossParams& p,
               const char* op) {
  check_sizes(p.N, p.C, p.S, op);
  if (weight.defined()) check_float(weight, p.C, op, "weight", &like);
  if (like.device == Device::CPU) check_targets(target, p.rows(), p.C, p.ignore_index, op);
  else FL_CHECK_VALUE(target != nullptr || p.rows() == 0, op, ": class-index target is missing");
}

}  // namespace

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::None: return "none";
    case Reduction::Mean: return "mean";
    case Reduction::Sum: return "sum";
  }
  return "unknown";
}

std::string CrossEntropyParams::str() const {
  return cat_str("ce_mb", N, "c", C, "s", S, prob_target ? "_prob" : "_idx", "_ii", ignore_index, "_ls",
                 label_smoothing, "_", reduction_name(reduction));
}

std::string NLLLossParams::str() const {
  return cat_str("nll_mb", N, "c", C, "s", S, "_ii", ignore_index, "_", reduction_name(reduction));
}

void cross_entropy_forward(const TensorView& loss, const TensorView& lse, double* total_weight,
                           const TensorView& logits, const int64_t* target, const TensorView& target_prob,
                           const TensorView& weight, const CrossEntropyParams& p, const char* impl,
                           const TensorView& workspace) {
  const char* op = "cross_entropy";
  check_ce(logits, target, target_prob, weight, p, op);
  check_float(loss, loss_numel(p.reduction, p.rows()), op, "output", &logits);
  check_float(lse, p.rows(), op, "lse", &logits);
  FL_CHECK_VALUE(total_weight != nullptr, op, ": total_weight must not be null");
  const Device dev = common_device(op, {{"input", &logits}, {"target", &target_prob}, {"weight", &weight},
                                        {"output", &loss}, {"lse", &lse}, {"workspace", &workspace}});
  if (dev == Device::CUDA) {
    check_float(workspace, 2 * p.rows() + 1, op, "workspace", &logits);
    return FL_CUDA_LAUNCH(op, ce_forward_cuda(loss, lse, total_weight, workspace, logits, target, target_prob,
                                              weight, p));
  }
  pick_impl(FL_FAST_THEN_REFERENCE(cross_entropy_forward), "cross_entropy", "forward", p, impl)
      .run(loss, lse, total_weight, logits, target, target_prob, weight, p);
}

void cross_entropy_backward(const TensorView& dlogits, const TensorView& grad_loss, const TensorView& logits,
                            const int64_t* target, const TensorView& target_prob, const TensorView& weight,
                            const TensorView& lse, double total_weight, const CrossEntropyParams& p,
                            const char* impl) {
  const char* op = "cross_entropy_backward";
  check_ce(logits, target, target_prob, weight, p, op);
  check_float(grad_loss, loss_numel(p.reduction, p.rows()), op, "grad_output", &logits);
  check_float(lse, p.rows(), op, "lse", &logits);
  check_float(dlogits, p.N * p.C * p.S, op, "grad_input", &logits);
  const Device dev = common_device(op, {{"input", &logits}, {"target", &target_prob}, {"weight", &weight},
                                        {"grad_output", &grad_loss}, {"lse", &lse}, {"grad_input", &dlogits}});
  if (p.rows() == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::cross_entropy_backward(dlogits, grad_loss, logits, target, target_prob, weight,
                                                           lse, total_weight, ce_args(p), cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(cross_entropy_backward), "cross_entropy", "backward", p, impl)
      .run(dlogits, grad_loss, logits, target, target_prob, weight, lse, total_weight, p);
}

void nll_loss_forward(const TensorView& loss, double* total_weight, const TensorView& input, const int64_t* target,
                      const TensorView& weight, const NLLLossParams& p, const char* impl,
                      const TensorView& workspace) {
  const char* op = "nll_loss";
  check_float(input, p.N * p.C * p.S, op, "input", nullptr);
  check_nll(target, weight, input, p, op);
  check_float(loss, loss_numel(p.reduction, p.rows()), op, "output", &input);
  FL_CHECK_VALUE(total_weight != nullptr, op, ": total_weight must not be null");
  const Device dev = common_device(op, {{"input", &input}, {"weight", &weight}, {"output", &loss},
                                        {"workspace", &workspace}});
  if (dev == Device::CUDA) {
    check_float(workspace, 2 * p.rows() + 1, op, "workspace", &input);
    return FL_CUDA_LAUNCH(op, nll_forward_cuda(loss, total_weight, workspace, input, target, weight, p));
  }
  pick_impl(FL_FAST_THEN_REFERENCE(nll_loss_forward), "nll_loss", "forward", p, impl)
      .run(loss, total_weight, input, target, weight, p);
}

void nll_loss_backward(const TensorView& dinput, const TensorView& grad_loss, const int64_t* target,
                       const TensorView& weight, double total_weight, const NLLLossParams& p, const char* impl) {
  const char* op = "nll_loss_backward";
  check_float(dinput, p.N * p.C * p.S, op, "grad_input", nullptr);
  check_nll(target, weight, dinput, p, op);
  check_float(grad_loss, loss_numel(p.reduction, p.rows()), op, "grad_output", &dinput);
  const Device dev = common_device(op, {{"grad_input", &dinput}, {"weight", &weight}, {"grad_output", &grad_loss}});
  if (p.rows() == 0) return;
  if (dev == Device::CUDA)
    return FL_CUDA_LAUNCH(op, cuda::nll_loss_backward(dinput, grad_loss, target, weight, total_weight, nll_args(p),
                                                      cuda::current_stream()));
  pick_impl(FL_FAST_THEN_REFERENCE(nll_loss_backward), "nll_loss", "backward", p, impl)
      .run(dinput, grad_loss, target, weight, total_weight, p);
}

}  // namespace fl
