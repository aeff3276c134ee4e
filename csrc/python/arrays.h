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
// A CUDA array (imported through DLPack, only where the caller allows devices) leaves `array` empty:
// `source` is the caller's array object and `owner` keeps the DLPack export alive.
struct Input {
  py::array array;
  TensorView view;
  py::object source, owner;
};

// Imports `obj` (numpy array or any object exporting __dlpack__). Errors name `op` and `arg`.
// allow_device: accept CUDA arrays (for ops with a CUDA kernel); otherwise a CUDA array is refused with
// an error saying `op` has no CUDA kernel (or the build has no CUDA).
Input import_float_array(py::handle obj, const char* op, const char* arg, bool allow_device = false);
// Same, but None gives an absent input.
Input import_optional(py::handle obj, const char* op, const char* arg, bool allow_device = false);

// A new uninitialised C-contiguous numpy array, or the caller's `out` after checking it.
Input output_array(py::handle out, DType dtype, const std::vector<int64_t>& shape, const char* op);

// ---- cuda ----
// An output on the device and of the dtype of `like`: on the CPU as above; on a GPU the caller's `out`
// after checking it, or a new array of like's own framework (the `empty` hook: CuPy or torch).
Input output_like(py::handle out, const Input& like, const std::vector<int64_t>& shape, const char* op);
// The same with another dtype (batch norm's float32 statistics of a half input).
Input output_like(py::handle out, const Input& like, const std::vector<int64_t>& shape, const char* op, DType dtype);
// The callables that make and copy arrays of the caller's own framework on a GPU: empty(like, shape, dtype_name),
// ascontiguousarray(a), cupy_stream(a) (CuPy's current stream as an int, or None). Installed once by
// `import fastlayers` (its _device module's), so that _C never imports the package it sits in.
void set_array_hooks(py::object empty, py::object ascontiguousarray, py::object cupy_stream);
// What a binding returns for an output: the numpy array, or the device array object.
py::object result(const Input& a);
// None where the output was not asked for (an absent view), else result(a).
py::object result_or_none(const Input& a);
// An int64 CUDA array (pooling indices): the caller's object, its DLPack owner, and a view whose dtype field
// is meaningless (TensorView holds floats); data() is the int64 pointer kernels take.
struct DeviceIndex {
  py::object source, owner;
  TensorView view;
  int64_t* data() const { return static_cast<int64_t*>(view.data); }
};
// Checks an int64 CUDA array of exactly `shape` (a contiguous copy when strided); errors name `arg`.
DeviceIndex import_cuda_indices(py::handle obj, const char* op, const std::vector<int64_t>& shape,
                                const char* arg = "indices");
// A new int64 array of `shape` on like's device, from like's framework.
DeviceIndex new_cuda_indices(const Input& like, const std::vector<int64_t>& shape, const char* op);

}  // namespace fl::py_arrays
