// Dropout mask on the GPU: the counter-based hash of params.h, so the mask equals the CPU one for a seed.
#include "cuda/common.cuh"

namespace fl::cuda {
namespace {

template <typename T>
__global__ void dropout_mask_kernel(T* m, DropoutParams p) {
  const T scale = p.p >= 1 ? T(0) : T(1.0 / (1.0 - p.p));
  FL_GRID_LOOP(i, p.numel) m[i] = counter_uniform(p.seed, p.offset + static_cast<uint64_t>(i)) >= p.p ? scale : T(0);
}

}  // namespace

void dropout_mask(const TensorView& mask, const DropoutParams& p, Stream stream) {
  DeviceGuard guard(mask);
  dispatch_float(mask.dtype, [&](auto tag) {
    using T = decltype(tag);
    dropout_mask_kernel<T><<<blocks_for(p.numel), kThreads, 0, stream>>>(mask.ptr<T>(), p);
  });
  check_launch("dropout");
}

}  // namespace fl::cuda
