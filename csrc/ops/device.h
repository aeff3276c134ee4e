// Device checks shared by the front doors: every operand of an op must live on the same device, and an op
// runs where its input lives. CPU behaviour is unchanged; a CUDA operand goes to the launchers in cuda/.
#pragma once
#include <initializer_list>
#include <utility>

#include "fastlayers/cuda.h"
#include "fastlayers/error.h"
#include "fastlayers/tensor.h"

#ifdef FL_WITH_CUDA
#include "cuda/kernels.h"
#endif

namespace fl {

using NamedView = std::pair<const char*, const TensorView*>;

// The device every defined view in `views` lives on (that of the first); throws ValueError naming `op` and
// the operand that differs (RuntimeError, as torch) ("conv2d_forward: weight is on cpu but input is on cuda:0").
Device common_device(const char* op, std::initializer_list<NamedView> views);

// The front doors' dtype rule: float32 / float64 on every device; float16 / bfloat16 only on CUDA and only for
// ops with half kernels (`half`). Throws TypeError naming `op`, `arg` and the dtype. (common_device already
// refuses half operands on the cpu for every op.)
void check_float_dtype(const char* op, const char* arg, const TensorView& v, bool half);

// Throws the RuntimeError for a CUDA operand reaching an op this build cannot run on the GPU: built without CUDA,
// or no CUDA kernel for `op` yet.
[[noreturn]] void no_cuda_kernel(const char* op);
[[noreturn]] void cuda_not_built(const char* op);

}  // namespace fl

// In a front door: `if (dev == Device::CUDA) return FL_CUDA_LAUNCH(op, cuda::f(args..., stream));` (a void
// expression). Without CUDA in the build, the call is not compiled and the branch throws instead.
// FL_CUDA_INDEX: the same for a launcher returning an int64_t.
#ifdef FL_WITH_CUDA
#define FL_CUDA_LAUNCH(op, ...) ((void)(op), __VA_ARGS__)
#define FL_CUDA_INDEX(op, ...) ((void)(op), __VA_ARGS__)
#else
#define FL_CUDA_LAUNCH(op, ...) ::fl::cuda_not_built(op)
#define FL_CUDA_INDEX(op, ...) (::fl::cuda_not_built(op), int64_t(-1))
#endif
