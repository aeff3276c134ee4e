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

}  // namespace fl

// ---- normalization ----
namespace fl {

// Batch normalization of an N x C x S input (S = product of the spatial sizes): statistics per channel
// over N and S. momentum weighs the new batch in the running statistics (running = (1 - m) * running +
// m * batch, the variance unbiased), as torch's exponential_average_factor.
struct BatchNormParams {
  int64_t N = 1, C = 1, S = 1;
  double eps = 1e-5, momentum = 0.1;
  int64_t count() const { return N * S; }  // values per channel
  std::string str() const;                 // e.g. mb32ic64is4096
};

// Group normalization of an N x C x S input: statistics per (sample, group) over C/G channels and S;
// gamma and beta per channel. Layer norm is the case G = 1, S = 1, C = the normalized size; instance
// norm the case G = C.
struct GroupNormParams {
  int64_t N = 1, C = 1, S = 1, G = 1;
  double eps = 1e-5;
  int64_t Cg() const { return C / G; }
  int64_t count() const { return Cg() * S; }  // values per group
  std::string str() const;                    // e.g. mb32ic128is1024g32
};

}  // namespace fl
