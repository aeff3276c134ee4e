// Arrays in and out of the kernels: numpy arrays zero-copy, anything with __dlpack__ through DLPack.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "fastlayers/tensor.h"

namespace fl::py_arrays {
namespace py = pybind11;

// A float32/float64 CPU array as a contiguous numpy array (a copy only when the input was strided),
// and the view of it handed to kernels. `array` keeps the memory alive.
struct Input {
  py::array array;
  TensorView view;
};

// Imports `obj` (numpy array or any object exporting __dlpack__). Errors name `op` and `arg`.
Input import_float_array(py::handle obj, const char* op, const char* arg);
// Same, but None gives an absent input.
Input import_optional(py::handle obj, const char* op, const char* arg);

// A new uninitialised C-contiguous numpy array, or the caller's `out` after checking it.
Input output_array(py::handle out, DType dtype, const std::vector<int64_t>& shape, const char* op);

}  // namespace fl::py_arrays
