#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "python/arrays.h"

namespace py = pybind11;
using fl::py_arrays::Input;

namespace fl::bindings {
namespace {

using Pair = std::array<int64_t, 2>;

py::object conv2d_forward(py::handle input, py::handle weight, py::handle bias, Pair stride, Pair padding,
                         Pair dilation, int64_t groups, py::handle out) {
  const char* op = "conv2d";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  Input b = py_arrays::import_optional(bias, op, "bias", true);
  Conv2dParams p = conv2d_problem(x.view, w.view, stride, padding, dilation, groups, op);
  Input y = py_arrays::output_like(out, x, {p.N, p.K, p.P(), p.Q()}, op);
  {
    py::gil_scoped_release release;
    fl::conv2d_forward(y.view, x.view, w.view, b.view, p);
  }
  return py_arrays::result(y);
}

// Returns (grad_input, grad_weight, grad_bias), each None where its mask entry is False.
py::tuple conv2d_backward(py::handle grad_output, py::handle input, py::handle weight, Pair stride, Pair padding,
                          Pair dilation, int64_t groups, std::array<bool, 3> mask) {
  const char* op = "conv2d_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  Conv2dParams p = conv2d_problem(x.view, w.view, stride, padding, dilation, groups, op);
  Input dx, dw, db;
  if (mask[0]) dx = py_arrays::output_like(py::none(), x, {p.N, p.C, p.H, p.W}, op);
  if (mask[1]) dw = py_arrays::output_like(py::none(), x, {p.K, p.Cg(), p.R, p.S}, op);
  if (mask[2]) db = py_arrays::output_like(py::none(), x, {p.K}, op);
  {
    py::gil_scoped_release release;
    if (mask[0]) fl::conv2d_backward_data(dx.view, dy.view, w.view, p);
    if (mask[1] || mask[2]) fl::conv2d_backward_weight(dw.view, db.view, dy.view, x.view, p);
  }
  return py::make_tuple(py_arrays::result_or_none(dx), py_arrays::result_or_none(dw),
                        py_arrays::result_or_none(db));
}

std::string conv2d_impl(py::handle input, py::handle weight, Pair stride, Pair padding, Pair dilation,
                        int64_t groups) {
  Input x = py_arrays::import_float_array(input, "conv2d_impl", "input");
  Input w = py_arrays::import_float_array(weight, "conv2d_impl", "weight");
  Conv2dParams p = conv2d_problem(x.view, w.view, stride, padding, dilation, groups, "conv2d_impl");
  return std::string(conv2d_impl_name(p, x.view.dtype)) + " " + p.str();
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1},
        py::arg("groups") = 1, py::arg("out") = py::none(),
        "2-D convolution (cross-correlation) of an N x C x H x W input; symmetric zero padding.");
  m.def("conv2d_backward", &conv2d_backward, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1},
        py::arg("groups") = 1, py::arg("mask") = std::array<bool, 3>{true, true, true},
        "Gradients (input, weight, bias) of conv2d_forward; mask selects which are computed (others are None).");
  m.def("conv2d_impl", &conv2d_impl, py::arg("input"), py::arg("weight"), py::arg("stride") = Pair{1, 1},
        py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("groups") = 1,
        "Which implementation conv2d picks for these operands, and the problem's descriptor string.");
}

}  // namespace fl::bindings
