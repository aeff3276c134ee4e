// The CUDA side of fastlayers as seen from the host: whether it was compiled in, whether a device can be
// used, and the stream the front doors launch on. Safe to call in any build and on machines without a GPU.
#pragma once

namespace fl {

// True when this build contains the CUDA kernels (CMake FASTLAYERS_CUDA found nvcc).
bool cuda_is_built();
// Number of usable CUDA devices: 0 when not built, without a driver or without a device (never throws).
int cuda_device_count();
inline bool cuda_is_available() { return cuda_device_count() > 0; }
// The stream (a cudaStream_t) CUDA kernels launch on from this thread: the explicit override when one is set
// (set_cuda_stream; nullptr there is the legacy default stream; fastlayers.torch sets torch's current stream
// around each call), else the stream of the arrays of the call being made (set_cuda_array_stream: the
// bindings record CuPy's current stream there when they import a CuPy array; nullptr for other arrays).
void set_cuda_stream(void* stream);
void* cuda_stream();
// ---- streams of the arrays' framework ----
void clear_cuda_stream();  // no override: follow the arrays' framework again
bool cuda_stream_is_set();
void set_cuda_array_stream(void* stream);

}  // namespace fl
