// Dropout mask on the GPU: the counter-based hash of params.h, so the mask equals the CPU one for a seed.
#include "cuda/common.cuh"

namespace fl::cuda {
namespace {

// The half types store the scale 1 / (1 - p) rounded once to their precision (torch's half dropout rounds
// the scaled product instead: the two differ by at most one rounding).
template <typename T, typename A = typename Accum<T>::type>
__global__ void dropout_mask_kernel(T* m, DropoutParams p) {
  const T scale = T(p.p >= 1 ? A(0) : A(1.0 / (1.0 - p.p))), zero = T(A(0));
  FL_GRID_LOOP(i, p.numel) m[i] = counter_uniform(p.seed, p.offset + static_cast<uint64_t>(i)) >= p.p ? scale : zero;
}

}  // namespace

void dropout_mask(const TensorView& mask, const DropoutParams& p, Stream stream) {
  DeviceGuard guard(mask);
  dispatch_float_half(mask.dtype, [&](auto tag) {
    using T = decltype(tag);
    dropout_mask_kernel<T><<<blocks_for(p.numel), kThreads, 0, stream>>>(mask.ptr<T>(), p);
  });
  check_launch("dropout");
}

}  // namespace fl::cuda
