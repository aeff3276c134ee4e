// What the front doors share besides the device rule (ops/device.h) and the implementation lists
// (ops/impls.h): the operand check.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "fastlayers/error.h"
#include "fastlayers/tensor.h"
#include "ops/impls.h"

namespace fl {

// Throws ValueError unless `v` has exactly `shape`, TypeError unless its dtype is `dtype` (the input's),
// ValueError unless it is contiguous; each message names `op` and `arg`.
void check_view(const TensorView& v, const char* op, const char* arg, std::initializer_list<int64_t> shape,
                DType dtype);

}  // namespace fl
