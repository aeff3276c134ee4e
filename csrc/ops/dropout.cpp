// Front door of the dropout mask. The mask generator is one formula (counter_uniform in params.h) used by
// both the CPU loop here and the CUDA kernel, so a seed gives the same mask on every device.
#include "cpu/parallel.h"
#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "ops/device.h"

namespace fl {
namespace {

template <typename T>
void mask_cpu(const TensorView& mask, const DropoutParams& p) {
  T* m = mask.ptr<T>();
  const T scale = p.p >= 1 ? T(0) : T(1.0 / (1.0 - p.p));
  constexpr int64_t kChunk = 1 << 16;
  cpu::parallel_for((p.numel + kChunk - 1) / kChunk, [&](int64_t t) {
    const int64_t end = (t + 1) * kChunk < p.numel ? (t + 1) * kChunk : p.numel;
    for (int64_t i = t * kChunk; i < end; ++i)
      m[i] = counter_uniform(p.seed, p.offset + static_cast<uint64_t>(i)) >= p.p ? scale : T(0);
  });
}

}  // namespace

std::string DropoutParams::str() const { return cat_str("dropout_n", numel, "_p", p); }

void dropout_mask(const TensorView& mask, const DropoutParams& p) {
  const char* op = "dropout";
  FL_CHECK_VALUE(p.p >= 0 && p.p <= 1, op, ": dropout probability has to be between 0 and 1, but got ", p.p);
  check_float_dtype(op, "mask", mask, true);
  FL_CHECK_VALUE(mask.numel() == p.numel, op, ": mask must have ", p.numel, " elements, got shape ",
                 mask.shape_str());
  FL_CHECK_VALUE(mask.is_contiguous(), op, ": mask must be contiguous");
  if (p.numel == 0) return;
  if (mask.device == Device::CUDA) return FL_CUDA_LAUNCH(op, cuda::dropout_mask(mask, p, cuda::current_stream()));
  if (mask.dtype == DType::Float32) mask_cpu<float>(mask, p);
  else mask_cpu<double>(mask, p);
}

}  // namespace fl
