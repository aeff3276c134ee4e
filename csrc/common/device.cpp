// Host-side device plumbing: what the build contains, which device an op runs on, the CUDA stream.
#include <stdexcept>
#include <string>

#include "ops/device.h"

namespace fl {
namespace {
thread_local void* g_stream = nullptr;
thread_local bool g_stream_set = false;      // g_stream is an explicit override (set_cuda_stream)
thread_local void* g_array_stream = nullptr;  // the stream of the arrays of the current call

std::string where(const TensorView& v) {
  return v.device == Device::CPU ? "cpu" : cat_str(device_name(v.device), ":", v.device_index);
}
}  // namespace

bool cuda_is_built() {
#ifdef FL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int cuda_device_count() {
#ifdef FL_WITH_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

void set_cuda_stream(void* stream) {
  g_stream = stream;
  g_stream_set = true;
}
void* cuda_stream() { return g_stream_set ? g_stream : g_array_stream; }
void clear_cuda_stream() {
  g_stream = nullptr;
  g_stream_set = false;
}
bool cuda_stream_is_set() { return g_stream_set; }
void set_cuda_array_stream(void* stream) { g_array_stream = stream; }

Device common_device(const char* op, std::initializer_list<NamedView> views) {
  const NamedView* first = nullptr;
  for (const NamedView& v : views) {
    if (!v.second->defined()) continue;
    if (!first) {
      first = &v;
      continue;
    }
    const TensorView& a = *first->second;
    const TensorView& b = *v.second;
    if (a.device != b.device || (a.device != Device::CPU && a.device_index != b.device_index))
      throw std::runtime_error(cat_str(op, ": ", v.first, " is on ", where(b), " but ", first->first, " is on ",
                                       where(a), "; all arrays of one call must be on the same device"));
  }
  const Device dev = first ? first->second->device : Device::CPU;
  if (dev == Device::CPU)
    for (const NamedView& v : views)
      if (v.second->defined()) check_float_dtype(op, v.first, *v.second, false);
  return dev;
}

void check_float_dtype(const char* op, const char* arg, const TensorView& v, bool half) {
  if (!is_half(v.dtype)) return;
  if (v.device == Device::CPU)
    throw TypeError(cat_str(op, ": ", arg, " has dtype ", dtype_name(v.dtype), ", which is supported on cuda only; "
                            "use float32 or float64 on the cpu"));
  if (!half)
    throw TypeError(cat_str(op, ": ", arg, " has dtype ", dtype_name(v.dtype), ", but ", op,
                            " has no float16/bfloat16 kernel on cuda; use float32 or float64"));
}

void no_cuda_kernel(const char* op) {
  throw std::runtime_error(cat_str(op, ": got a cuda array, but ", op,
                           " has no CUDA kernel yet; move the arrays to the cpu (numpy) for this op"));
}

void cuda_not_built(const char* op) {
  throw std::runtime_error(cat_str(op, ": got a cuda array, but this fastlayers was built without CUDA "
                           "(rebuild with FASTLAYERS_CUDA=ON and nvcc on the PATH)"));
}

}  // namespace fl
