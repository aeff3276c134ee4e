// Helpers shared by the .cu files: error checks, launch sizes, the device guard, the accumulation type and
// a deterministic block reduction. No pybind11 here, and nothing outside cuda/ includes this file.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "cuda/kernels.h"
#include "fastlayers/tensor.h"

namespace fl::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("fastlayers CUDA: ") + what + ": " + cudaGetErrorName(err) + ": " +
                             cudaGetErrorString(err));
}
// After a launch: a bad configuration or a sticky error from earlier work surfaces here.
inline void check_launch(const char* op) { check(cudaGetLastError(), op); }

// Makes the view's GPU current for the launches in scope, restoring the caller's device afterwards.
class DeviceGuard {
 public:
  explicit DeviceGuard(const TensorView& v) {
    check(cudaGetDevice(&prev_), "cudaGetDevice");
    if (prev_ != v.device_index) check(cudaSetDevice(v.device_index), "cudaSetDevice");
    set_ = prev_ != v.device_index;
  }
  ~DeviceGuard() {
    if (set_) cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
  bool set_ = false;
};

// float accumulates in float, double in double, the half types in float.
template <typename T> struct Accum { using type = T; };
template <> struct Accum<__half> { using type = float; };
template <> struct Accum<__nv_bfloat16> { using type = float; };

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items (capped: the loop covers the rest).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65535LL * 16) b = 65535LL * 16;
  return static_cast<unsigned>(b);
}

#define FL_GRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// Calls f(T{}) with T the element type of dtype: float32/float64 here; the front doors refuse half types for
// ops without half kernels, this throw is the safety net.
template <typename F>
void dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::Float32) f(float{});
  else if (dtype == DType::Float64) f(double{});
  else throw std::runtime_error(std::string("fastlayers CUDA: no ") + dtype_name(dtype) + " kernel for this op");
}
// The same with the half types too (__half, __nv_bfloat16; math in Accum<T>::type = float).
template <typename F>
void dispatch_float_half(DType dtype, F&& f) {
  if (dtype == DType::Float16) f(__half{});
  else if (dtype == DType::BFloat16) f(__nv_bfloat16{});
  else dispatch_float(dtype, f);
}

// Sum of v over the block, in a fixed order (a shared-memory tree), so the result does not depend on
// scheduling: the reductions behind weight gradients and norm statistics use no floating-point atomics.
// Every thread of the block must call it; all get the total. blockDim.x must be a power of two <= 1024.
template <typename A>
__device__ A block_sum(A v) {
  __shared__ A buf[1024];
  __syncthreads();  // buf may still be read by a previous call
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  return buf[0];
}

template <typename A>
__device__ A block_max(A v) {
  __shared__ A buf[1024];
  __syncthreads();
  buf[threadIdx.x] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s && buf[threadIdx.x + s] > buf[threadIdx.x]) buf[threadIdx.x] = buf[threadIdx.x + s];
    __syncthreads();
  }
  return buf[0];
}

}  // namespace fl::cuda
