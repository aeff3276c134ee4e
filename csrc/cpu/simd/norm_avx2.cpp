// The normalization row primitives (cpu/norm_rows.h) compiled for AVX2: the plain loops there
// vectorize 8 floats wide under this file's flags.
#define FL_NORM_ROWS_IMPL
#include "cpu/norm_rows.h"

namespace fl::cpu::detail {
NormRowKernels norm_rows_avx2_f32() { return rows::table<float>("avx2_f32"); }
}  // namespace fl::cpu::detail
