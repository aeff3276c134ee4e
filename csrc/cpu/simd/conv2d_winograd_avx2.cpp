// The Winograd transforms (cpu/conv2d_winograd.h) compiled for AVX2: the loops over the 16 lanes (the AVX2
// float micro-kernel's nr) vectorize 8 floats wide under this file's flags.
#define FL_WINOGRAD_IMPL
#include "cpu/conv2d_winograd.h"

namespace fl::cpu::detail {
WinoTransforms winograd_transforms_avx2() { return winograd_table<16>(); }
}  // namespace fl::cpu::detail
