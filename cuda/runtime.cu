// Device queries. cudart is linked statically, so on a machine without a driver every call returns an
// error code: device_count() turns any of them into 0 instead of throwing.
#include "cuda/common.cuh"

namespace fl::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear it, so it does not surface at the next launch check
    return 0;
  }
  return n;
}

}  // namespace fl::cuda
