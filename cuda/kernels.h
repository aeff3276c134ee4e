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
