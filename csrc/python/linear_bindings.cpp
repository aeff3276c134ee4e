#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>

#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "python/arrays.h"

namespace py = pybind11;
using fl::py_arrays::Input;

namespace fl::bindings {
namespace {

py::object linear_forward(py::handle input, py::handle weight, py::handle bias, py::handle out) {
  const char* op = "linear";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  Input b = py_arrays::import_optional(bias, op, "bias", true);
  LinearParams p = linear_problem(x.view, w.view, op);
  Input y = py_arrays::output_like(out, x, {p.M, p.N}, op);
  {
    py::gil_scoped_release release;
    fl::linear_forward(y.view, x.view, w.view, b.view, p);
  }
  return py_arrays::result(y);
}

// Returns (grad_input, grad_weight, grad_bias), each None where its mask entry is False.
py::tuple linear_backward(py::handle grad_output, py::handle input, py::handle weight, std::array<bool, 3> mask) {
  const char* op = "linear_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  LinearParams p = linear_problem(x.view, w.view, op);
  Input dx, dw, db;
  if (mask[0]) dx = py_arrays::output_like(py::none(), x, {p.M, p.K}, op);
  if (mask[1]) dw = py_arrays::output_like(py::none(), x, {p.N, p.K}, op);
  if (mask[2]) db = py_arrays::output_like(py::none(), x, {p.N}, op);
  {
    py::gil_scoped_release release;
    if (mask[0]) fl::linear_backward_data(dx.view, dy.view, w.view, p);
    if (mask[1] || mask[2]) fl::linear_backward_weight(dw.view, db.view, dy.view, x.view, p);
  }
  return py::make_tuple(py_arrays::result_or_none(dx), py_arrays::result_or_none(dw),
                        py_arrays::result_or_none(db));
}

std::string linear_impl(py::handle input, py::handle weight, const std::string& pass) {
  Input x = py_arrays::import_float_array(input, "linear_impl", "input");
  Input w = py_arrays::import_float_array(weight, "linear_impl", "weight");
  LinearParams p = linear_problem(x.view, w.view, "linear_impl");
  return std::string(linear_impl_name(p, pass.c_str())) + " " + p.str();
}

}  // namespace

void bind_linear(py::module_& m) {
  m.def("linear_forward", &linear_forward, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("out") = py::none(), "y = input @ weight.T + bias for a 2-D input (rows, in_features).");
  m.def("linear_backward", &linear_backward, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("mask") = std::array<bool, 3>{true, true, true},
        "Gradients (input, weight, bias) of linear_forward; mask selects which are computed (others are None).");
  m.def("linear_impl", &linear_impl, py::arg("input"), py::arg("weight"), py::arg("pass") = "forward",
        "Which implementation linear picks for a pass ('forward', 'backward_data', 'backward_weight'), and the "
        "problem's descriptor string.");
}

}  // namespace fl::bindings
