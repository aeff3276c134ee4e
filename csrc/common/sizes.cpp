// The params structs' size checks (params.h), in the overflow-checked arithmetic of checked.h. Kept out of
// params.h so that the CUDA compiler, which includes params.h, never sees host-only builtins.
#include "fastlayers/checked.h"
#include "fastlayers/params.h"

namespace fl {

void Conv2dParams::check_sizes(const char* op) const {
  const WindowAxis h = checked_window_axis(H, R, stride_h, pad_h, dil_h, op);
  const WindowAxis w = checked_window_axis(W, S, stride_w, pad_w, dil_w, op);
  checked_numel({N, C, h.padded, w.padded}, op, "the padded input");
  // The dilated kernel must fit in the padded input: otherwise P() / Q() divide a negative numerator, which
  // truncates towards 0 and gives 1 (a window reading outside the input) instead of refusing, as torch does.
  FL_CHECK_VALUE(h.reach < h.padded && w.reach < w.padded, op, ": kernel size (", R, ", ", S, ") with dilation (",
                 dil_h, ", ", dil_w, ") is larger than the padded input (", h.padded, ", ", w.padded, ")");
  // P() and Q() are exact from here on.
  checked_numel({N, K, P(), Q()}, op, "the output");
}

void ConvTranspose2dParams::check_sizes(const char* op) const {
  auto out_size = [op](int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, int64_t out_pad) {
    int64_t s = checked_mul(in - 1, stride, op, "stride", stride);
    s = checked_add(s, checked_mul(-2, pad, op, "padding", pad), op, "padding", pad);
    s = checked_add(s, checked_mul(dil, k - 1, op, "dilation", dil), op, "dilation", dil);
    return checked_add(checked_add(s, out_pad, op, "output_padding", out_pad), 1, op, "output_padding", out_pad);
  };
  out_size(H, R, stride_h, pad_h, dil_h, out_pad_h);
  out_size(W, S, stride_w, pad_w, dil_w, out_pad_w);
  // The kernels run the adjoint convolution (input N x K x P x Q): its sizes must hold too.
  if (P() >= 1 && Q() >= 1) as_conv().check_sizes(op);
}

void BatchNormParams::check_training(const char* op) const {
  FL_CHECK_VALUE(eps > 0, op, ": eps must be positive during training, got ", eps);
}

void Pool2dParams::check_sizes(const char* op) const {
  const WindowAxis h = checked_window_axis(H, kh, stride_h, pad_h, dil_h, op);
  const WindowAxis w = checked_window_axis(W, kw, stride_w, pad_w, dil_w, op);
  // ceil_mode adds stride - 1 to the padded extent
  checked_add(h.padded, stride_h, op, "stride", stride_h);
  checked_add(w.padded, stride_w, op, "stride", stride_w);
  if (P() >= 1 && Q() >= 1) checked_numel({N, C, P(), Q()}, op, "the output");
}

}  // namespace fl
