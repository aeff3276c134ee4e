// The Winograd transforms (cpu/conv2d_winograd.h) compiled for AVX-512: the loops over the 32 lanes (the
// AVX-512 float micro-kernel's nr) vectorize 16 floats wide under this file's flags.
#define FL_WINOGRAD_IMPL
#include "cpu/conv2d_winograd.h"

namespace fl::cpu::detail {
WinoTransforms winograd_transforms_avx512() { return winograd_table<32>(); }
}  // namespace fl::cpu::detail
