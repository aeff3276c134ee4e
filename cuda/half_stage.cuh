// float32 staging for the half types (float16 / bfloat16) of ops whose float kernels keep running sums in
// their output array (the upsampling backward's row gather) or whose per-row math is long (cross-entropy,
// nll_loss): their half launchers copy the half operands into float32 scratch, run the float32 kernels and
// round the results to the half type once. Math and accumulation are then float32 end to end, as the other
// half kernels' Accum<T>; the cost is one extra read and write of each operand, which these ops (not the
// hot convolution / GEMM / element-wise paths, whose half kernels are native) can afford.
#pragma once
#include "cuda/reduce.cuh"

namespace fl::cuda {

template <typename D, typename S>
__global__ void cast_kernel(D* dst, const S* src, int64_t n) {
  FL_GRID_LOOP(i, n) dst[i] = D(float(src[i]));
}

// A contiguous float32 CUDA view on `like`'s device over scratch memory, with like's shape.
inline TensorView float_view_like(void* data, const TensorView& like) {
  TensorView v = like;
  v.data = data;
  v.dtype = DType::Float32;
  int64_t s = 1;
  for (int i = v.ndim - 1; i >= 0; --i) {
    v.strides[i] = s;
    s *= v.shape[i];
  }
  return v;
}

// Calls f(H{}) with H the half type of dtype (float16 or bfloat16).
template <typename F>
void dispatch_half(DType dtype, F&& f) {
  if (dtype == DType::Float16) f(__half{});
  else f(__nv_bfloat16{});
}

// A float32 copy of a half view in stream-ordered scratch (absent stays absent), or an uninitialised one
// (copy = false) for an output. The scratch lives as long as this object; freed in stream order.
class FloatStage {
 public:
  FloatStage(const TensorView& v, Stream stream, bool copy)
      : src_(v), stream_(stream), scratch_(sizeof(float) * (v.defined() ? v.numel() : 0), stream) {
    if (v.defined()) view_ = float_view_like(scratch_.as<float>(), v);
    const int64_t n = v.defined() ? v.numel() : 0;
    if (!copy || n == 0) return;
    dispatch_half(v.dtype, [&](auto tag) {
      using H = decltype(tag);
      cast_kernel<float, H><<<blocks_for(n), kThreads, 0, stream>>>(scratch_.as<float>(), v.ptr<H>(), n);
    });
    check_launch("float32 staging copy");
  }
  const TensorView& view() const { return view_; }
  float* ptr() const { return scratch_.as<float>(); }
  // Rounds the float32 result into the half view it was made for.
  void store() const {
    const int64_t n = src_.defined() ? src_.numel() : 0;
    if (n == 0) return;
    dispatch_half(src_.dtype, [&](auto tag) {
      using H = decltype(tag);
      cast_kernel<H, float><<<blocks_for(n), kThreads, 0, stream_>>>(src_.ptr<H>(), scratch_.as<float>(), n);
    });
    check_launch("float32 staging store");
  }

 private:
  TensorView src_, view_;
  Stream stream_;
  Scratch scratch_;
};

// Uninitialised float32 scratch of n values on like's device, seen as a 1-D view (a workspace).
class FloatBuffer {
 public:
  FloatBuffer(int64_t n, const TensorView& like, Stream stream) : scratch_(sizeof(float) * n, stream) {
    view_.data = scratch_.as<float>();
    view_.dtype = DType::Float32;
    view_.device = Device::CUDA;
    view_.device_index = like.device_index;
    view_.ndim = 1;
    view_.shape[0] = n;
    view_.strides[0] = 1;
  }
  const TensorView& view() const { return view_; }

 private:
  Scratch scratch_;
  TensorView view_;
};

}  // namespace fl::cuda
