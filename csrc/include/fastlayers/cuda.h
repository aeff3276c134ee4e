// The CUDA side of fastlayers as seen from the host: whether it was compiled in, whether a device can be
// used, and the stream the front doors launch on. Safe to call in any build and on machines without a GPU.
#pragma once

namespace fl {

// True when this build contains the CUDA kernels (CMake FASTLAYERS_CUDA found nvcc).
bool cuda_is_built();
// Number of usable CUDA devices: 0 when not built, without a driver or without a device (never throws).
int cuda_device_count();
inline bool cuda_is_available() { return cuda_device_count() > 0; }
// The stream (a cudaStream_t) CUDA kernels launch on from this thread; nullptr is the legacy default
// stream, which is what CuPy and torch use unless told otherwise.
void set_cuda_stream(void* stream);
void* cuda_stream();

}  // namespace fl
