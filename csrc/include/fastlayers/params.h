// Parameter structs of the op families, PyTorch's conventions: dilation 1 means none, padding is
// symmetric per axis (asymmetric 'same' padding is applied by the caller before the kernel).
#pragma once
#include <cmath>
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
  // Computes the derived sizes above (padded extents, window reach, stride steps, output and workspace
  // element counts) in overflow-checked arithmetic (fastlayers/checked.h): ValueError naming `op` and the
  // argument instead of a wrap. Called by the front door's check before P(), Q() are used (they are then
  // exact). Expects stride, dilation >= 1 and padding >= 0 (checked before).
  void check_sizes(const char* op) const;
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
  // With batch statistics, eps must be > 0 (torch's rule: a constant channel has variance 0, and
  // rstd = 1 / sqrt(0 + 0) would be inf, the output NaN); ValueError naming `op` otherwise.
  void check_training(const char* op) const;
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

// ---- transposed convolution ----
namespace fl {

// Output length of a transposed convolution along one axis (torch's formula).
FL_HD constexpr int64_t conv_transpose_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                                                int64_t out_pad) {
  return (in - 1) * stride - 2 * pad + dil * (k - 1) + out_pad + 1;
}

// Transposed 2-D convolution: input N x C x H x W, weight C x K/groups x R x S (torch's layout), output
// N x K x P x Q. It is the adjoint of the convolution as_conv() describes (input N x K x P x Q, weight
// C x K/groups x R x S, output N x C x (H + extra_h()) x (W + extra_w())), so its forward is that
// convolution's backward-data, its backward-data that convolution's forward, and its weight gradient
// that convolution's backward-weight with input and grad_output swapped. output_padding adds rows and
// columns at the bottom/right of the output; it must be smaller than the stride or the dilation.
struct ConvTranspose2dParams {
  int64_t N = 1, C = 1, H = 1, W = 1;  // input: N x C x H x W
  int64_t K = 1, R = 1, S = 1;         // weight: C x K/groups x R x S; output channels K
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, out_pad_h = 0, out_pad_w = 0, dil_h = 1, dil_w = 1,
          groups = 1;

  FL_HD int64_t P() const { return conv_transpose_out_size(H, R, stride_h, pad_h, dil_h, out_pad_h); }
  FL_HD int64_t Q() const { return conv_transpose_out_size(W, S, stride_w, pad_w, dil_w, out_pad_w); }
  FL_HD int64_t Cg() const { return C / groups; }  // input channels per group
  FL_HD int64_t Kg() const { return K / groups; }  // output channels per group
  // Rows/columns the adjoint convolution sees beyond H x W (non-zero only when output_padding >= stride,
  // which torch allows when output_padding < dilation); they read as zeros.
  FL_HD int64_t extra_h() const { return out_pad_h / stride_h; }
  FL_HD int64_t extra_w() const { return out_pad_w / stride_w; }
  FL_HD Conv2dParams as_conv() const {
    Conv2dParams c;
    c.N = N; c.C = K; c.H = P(); c.W = Q();
    c.K = C; c.R = R; c.S = S;
    c.stride_h = stride_h; c.stride_w = stride_w; c.pad_h = pad_h; c.pad_w = pad_w;
    c.dil_h = dil_h; c.dil_w = dil_w; c.groups = groups;
    return c;
  }
  int64_t macs() const { return N * C * H * W * Kg() * R * S; }
  // As Conv2dParams::check_sizes, for P(), Q() and the adjoint convolution (as_conv()).
  void check_sizes(const char* op) const;
  // e.g. mb8ic64ih16oc32kh4sh2ph1oph0dh1g1 (the w-axis fields only where they differ).
  std::string str() const;
};

}  // namespace fl

// ---- pooling ----
namespace fl {

// Output length of a pooling window along one axis, torch's rule: with ceil_mode the last window may
// overhang the padded input but must start inside the input or the left padding.
FL_HD constexpr int64_t pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool ceil_mode) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;  // floor division
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// Max and average pooling over N x C x H x W. divisor != 0 overrides the averaging divisor.
struct Pool2dParams {
  int64_t N = 1, C = 1, H = 1, W = 1;
  int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  bool ceil_mode = false, count_include_pad = true;
  int64_t divisor = 0;

  FL_HD int64_t P() const { return pool_out_size(H, kh, stride_h, pad_h, dil_h, ceil_mode); }
  FL_HD int64_t Q() const { return pool_out_size(W, kw, stride_w, pad_w, dil_w, ceil_mode); }
  // As Conv2dParams::check_sizes, for P(), Q() and the window indices.
  void check_sizes(const char* op) const;
  // e.g. mb32ic64ih64kh2sh2ph0dh1 (+ iw/kw/sw/pw/dw where they differ, c for ceil_mode, x for
  // count_include_pad=False, dv<d> for a divisor override)
  std::string str() const;
};

// Adaptive pooling N x C x H x W -> N x C x OH x OW; window i spans [floor(i*In/Out), ceil((i+1)*In/Out)).
struct AdaptivePool2dParams {
  int64_t N = 1, C = 1, H = 1, W = 1, OH = 1, OW = 1;
  std::string str() const;  // e.g. mb32ic512ih7iw7oh1ow1
};

FL_HD constexpr int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
FL_HD constexpr int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// The part of average-pooling window (oh, ow) inside the input, [h0, h1) x [w0, w1), and its divisor:
// the override, or the window clipped to the padded input (count_include_pad), or to the input.
struct AvgPoolWindow {
  int64_t h0, h1, w0, w1, div;
  FL_HD bool empty() const { return h0 >= h1 || w0 >= w1; }
};
FL_HD inline AvgPoolWindow avg_pool_window(const Pool2dParams& p, int64_t oh, int64_t ow) {
  AvgPoolWindow a{oh * p.stride_h - p.pad_h, 0, ow * p.stride_w - p.pad_w, 0, 0};
  a.h1 = a.h0 + p.kh < p.H + p.pad_h ? a.h0 + p.kh : p.H + p.pad_h;
  a.w1 = a.w0 + p.kw < p.W + p.pad_w ? a.w0 + p.kw : p.W + p.pad_w;
  const int64_t padded = (a.h1 - a.h0) * (a.w1 - a.w0);
  if (a.h0 < 0) a.h0 = 0;
  if (a.w0 < 0) a.w0 = 0;
  if (a.h1 > p.H) a.h1 = p.H;
  if (a.w1 > p.W) a.w1 = p.W;
  a.div = p.divisor != 0 ? p.divisor : p.count_include_pad ? padded : (a.h1 - a.h0) * (a.w1 - a.w0);
  return a;
}

}  // namespace fl

// ---- normalization: local response norm ----
namespace fl {

// Local response normalization across channels of an N x C x S input (torch's definition):
//   scale[n,c,s] = k + alpha / size * sum_{j = c - size/2}^{c + (size-1)/2} x[n,j,s]^2  (j outside [0, C) skipped)
//   y = x * scale^-beta
struct LRNParams {
  int64_t N = 1, C = 1, S = 1, size = 1;
  double alpha = 1e-4, beta = 0.75, k = 1.0;
  int64_t before() const { return size / 2; }        // channels of the window before c
  int64_t after() const { return (size - 1) / 2; }   // and after it
  std::string str() const;                           // e.g. mb8ic96is3025n5
};

}  // namespace fl

// ---- upsampling ----

namespace fl {

enum class UpsampleMode { Nearest = 0, Bilinear = 1 };

// Upsampling (or downsampling) N x C x H x W -> N x C x OH x OW by nearest or bilinear interpolation.
// scale_h/scale_w: the user's scale factors (output/input) when given, 0 when not; torch then maps an
// output index back with 1/scale instead of In/Out. align_corners applies to bilinear only.
struct Upsample2dParams {
  int64_t N = 1, C = 1, H = 1, W = 1, OH = 1, OW = 1;
  double scale_h = 0, scale_w = 0;
  UpsampleMode mode = UpsampleMode::Nearest;
  bool align_corners = false;
  // Nearest only: an axis that keeps its size is copied, and one that doubles reads dst / 2, even when a
  // scale factor is given (torch's 2-D nearest does this; its 1-D nearest forward maps with 1/scale_factor
  // regardless, so 1-D callers pass false).
  bool size_shortcuts = true;
  // e.g. nearestmb2ic3ih5iw7oh10ow14 (+ sh/sw for given scale factors, ac for align_corners, ns for
  // size_shortcuts off)
  std::string str() const;
};

// Torch's source-index rules (upsample.h), in torch's arithmetic: nearest in float for every dtype,
// bilinear in the element type T. Host and device (the CUDA kernels use the same rules).
FL_HD inline int64_t upsample_nearest_src(int64_t dst, int64_t in, int64_t out, double scale, bool size_shortcuts) {
  if (size_shortcuts && out == in) return dst;
  if (size_shortcuts && out == 2 * in) return dst >> 1;
  const float s = scale > 0 ? static_cast<float>(1.0 / scale) : static_cast<float>(in) / static_cast<float>(out);
  const int64_t src = static_cast<int64_t>(std::floor(static_cast<float>(dst) * s));
  return src < in - 1 ? src : in - 1;
}

// An axis that keeps its size is copied (scale 1), whatever scale factor was given, as torch does.
template <typename T>
FL_HD T upsample_linear_scale(int64_t in, int64_t out, bool align_corners, double scale) {
  if (in == out) return T(1);
  if (align_corners) return out > 1 ? static_cast<T>(in - 1) / static_cast<T>(out - 1) : T(0);
  return scale > 0 ? static_cast<T>(1.0 / scale) : static_cast<T>(in) / static_cast<T>(out);
}

// Source taps i0, i1 (i1 = i0 + 1, or i0 at the last input) and the weight l1 of i1 for output dst.
template <typename T>
FL_HD void upsample_linear_src(int64_t dst, int64_t in, T scale, bool align_corners, int64_t& i0, int64_t& i1, T& l1) {
  T real = align_corners ? scale * static_cast<T>(dst) : scale * (static_cast<T>(dst) + T(0.5)) - T(0.5);
  if (!align_corners && real < T(0)) real = T(0);
  i0 = static_cast<int64_t>(real);
  if (i0 > in - 1) i0 = in - 1;
  i1 = i0 + (i0 < in - 1 ? 1 : 0);
  l1 = real - static_cast<T>(i0);
  if (l1 < T(0)) l1 = T(0);
  if (l1 > T(1)) l1 = T(1);
}

}  // namespace fl

// ---- linear ----
namespace fl {

// Fully connected layer y[M, N] = x[M, K] * w[N, K]^T + b[N], torch.nn.functional.linear with the
// input's leading dimensions flattened into M rows.
struct LinearParams {
  int64_t M = 1;  // rows (product of the input's leading dimensions)
  int64_t K = 1;  // in_features
  int64_t N = 1;  // out_features
  int64_t macs() const { return M * K * N; }
  std::string str() const;  // e.g. m64k256n200
};

}  // namespace fl

// ---- losses ----
namespace fl {

enum class Reduction : int { None = 0, Mean = 1, Sum = 2 };
const char* reduction_name(Reduction r);

// Cross-entropy of logits laid out N x C x S (S: the product of the spatial sizes d1 x d2 ..., 1 for (N, C)
// logits): log-softmax along C fused with the negative log-likelihood of class-index targets (N x S, int64)
// or, with prob_target, the cross-entropy against class probabilities (N x C x S), torch's definitions:
//   index targets: loss_i = (1 - eps) w[t_i] (lse_i - x[i, t_i]) + eps / C * sum_c w[c] (lse_i - x[i, c]),
//                  0 where t_i == ignore_index; 'mean' divides by sum_i w[t_i] over the rows not ignored
//   prob targets:  loss_i = sum_c q[i, c] w[c] (lse_i - x[i, c]), q = (1 - eps) target + eps / C; 'mean'
//                  divides by N*S
// with eps = label_smoothing, w = weight (1 when absent), lse_i = logsumexp over the row.
struct CrossEntropyParams {
  int64_t N = 1, C = 1, S = 1;
  bool prob_target = false;
  int64_t ignore_index = -100;
  double label_smoothing = 0;
  Reduction reduction = Reduction::Mean;
  int64_t rows() const { return N * S; }
  std::string str() const;  // e.g. ce_mb64c10s1_idx_ii-100_ls0.1_mean
};

// Negative log-likelihood of log-probabilities N x C x S with class-index targets N x S (torch's nll_loss):
// loss_i = -w[t_i] x[i, t_i], 0 where t_i == ignore_index; 'mean' divides by sum_i w[t_i] over the rows kept.
struct NLLLossParams {
  int64_t N = 1, C = 1, S = 1;
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
  int64_t rows() const { return N * S; }
  std::string str() const;  // e.g. nll_mb64c10s1_ii-100_mean
};

}  // namespace fl

// ---- dropout ----
namespace fl {

// A dropout mask of `numel` elements: 0 with probability p, else 1 / (1 - p) (all 0 when p == 1). Element i
// draws from a counter-based hash of (seed, offset + i), so a mask depends on the seed only: the same on
// every device and thread count, and any slice can be drawn independently.
struct DropoutParams {
  int64_t numel = 0;
  double p = 0.5;
  uint64_t seed = 0, offset = 0;
  std::string str() const;  // e.g. dropout_n1000_p0.5
};

// SplitMix64's finalizer: a bijective mix of 64 bits.
FL_HD constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
// Uniform in [0, 1) with 53 random bits, from counter i of stream `seed`.
FL_HD constexpr double counter_uniform(uint64_t seed, uint64_t i) {
  return static_cast<double>(mix64(mix64(seed) ^ (i * 0x9e3779b97f4a7c15ULL)) >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace fl
