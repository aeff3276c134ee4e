// The one dtype dispatch of the CPU kernels (as ATen's AT_DISPATCH_FLOATING_TYPES): the entry point of a kernel
// runs its template for the view's dtype, float32 or float64 (the front doors let nothing else reach the CPU):
//   FL_DISPATCH_FLOATING(x.dtype, forward<scalar_t>(y, x, w, b, p));
#pragma once
#include "fastlayers/tensor.h"

#define FL_DISPATCH_FLOATING(dtype, ...)                 \
  do {                                                   \
    if ((dtype) == ::fl::DType::Float32) {               \
      using scalar_t = float;                            \
      __VA_ARGS__;                                       \
    } else {                                             \
      using scalar_t = double;                           \
      __VA_ARGS__;                                       \
    }                                                    \
  } while (0)
