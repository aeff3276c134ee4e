// Parameter structs of the op families, PyTorch's conventions: dilation 1 means none, padding is
// symmetric per axis (asymmetric 'same' padding is applied by the caller before the kernel).
#pragma once
#include <cstdint>
#include <string>

#ifdef __CUDACC__
#define FL_HD __host__ __device__
#else
#define FL_HD
#endif

namespace fl {

// Output length of a sliding window along one axis.
FL_HD constexpr int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

struct Conv2dParams {
  int64_t N = 1, C = 1, H = 1, W = 1;  // input: N x C x H x W
  int64_t K = 1, R = 1, S = 1;         // weight: K x C/groups x R x S
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1, groups = 1;

  FL_HD int64_t P() const { return conv_out_size(H, R, stride_h, pad_h, dil_h); }
  FL_HD int64_t Q() const { return conv_out_size(W, S, stride_w, pad_w, dil_w); }
  FL_HD int64_t Cg() const { return C / groups; }  // input channels per group
  FL_HD int64_t Kg() const { return K / groups; }  // output channels per group
  // Multiply-adds of the forward pass (each backward pass has as many).
  int64_t macs() const { return N * K * P() * Q() * Cg() * R * S; }
  // e.g. mb32ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1dh1dw1g1 (the w-axis fields only where they differ).
  std::string str() const;
};

// ---- activations (activation, softmax, prelu, maxout) ----
// Element-wise activations behind one front door. relu6 is hardtanh(0, 6); selu and celu are elu with
// scale / input_scale set as torch does.
enum class ActKind : int {
  ReLU = 0, LeakyReLU, ELU, GELU, GELUTanh, SiLU, Mish, Softplus, Sigmoid, Tanh, Hardtanh, Hardsigmoid,
  Hardswish
};
const char* act_kind_name(ActKind kind);

struct ActivationParams {
  ActKind kind = ActKind::ReLU;
  int64_t numel = 0;
  double alpha = 1.0;        // leaky_relu: negative_slope; elu family: alpha
  double scale = 1.0;        // elu family: output scale (selu)
  double input_scale = 1.0;  // elu family: input scale of the negative branch (celu: 1/alpha)
  double beta = 1.0;         // softplus
  double threshold = 20.0;   // softplus
  double min_val = -1.0, max_val = 1.0;  // hardtanh
  // Whether the backward pass can be computed from the output alone (what an in-place call needs).
  bool backward_from_output_ok() const;
  std::string str() const;   // e.g. elu_n1000_a1_s1_is1
};

// softmax / log_softmax over the middle axis of an (outer, dim, inner) layout.
struct SoftmaxParams {
  int64_t outer = 1, dim = 1, inner = 1;
  bool log = false;
  std::string str() const;   // e.g. softmax_o4096d1000i1
};

// prelu: x viewed as (N, C, inner) with one slope per channel (C == 1 for a single slope).
struct PReLUParams {
  int64_t N = 1, C = 1, inner = 1;
  std::string str() const;
};

// maxout: x viewed as (outer, C, inner), output (outer, C / pieces, inner).
struct MaxoutParams {
  int64_t outer = 1, C = 1, inner = 1, pieces = 1;
  int64_t Cout() const { return C / pieces; }
  std::string str() const;
};

}  // namespace fl
