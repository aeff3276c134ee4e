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
