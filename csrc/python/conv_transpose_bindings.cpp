// Bindings of transposed 2-D convolution: arrays in, views to the front door (reference=True forces its
// naive implementation), arrays out. Argument order as torch.nn.functional.conv_transpose2d.
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

using Pair = std::array<int64_t, 2>;

py::object forward(py::handle input, py::handle weight, py::handle bias, Pair stride, Pair padding,
                  Pair output_padding, int64_t groups, Pair dilation, py::handle out, bool reference) {
  const char* op = "conv_transpose2d";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  Input b = py_arrays::import_optional(bias, op, "bias", true);
  ConvTranspose2dParams p =
      conv_transpose2d_problem(x.view, w.view, stride, padding, output_padding, groups, dilation, op);
  Input y = py_arrays::output_like(out, x, {p.N, p.K, p.P(), p.Q()}, op);
  {
    py::gil_scoped_release release;
    fl::conv_transpose2d_forward(y.view, x.view, w.view, b.view, p, reference ? "reference" : nullptr);
  }
  return py_arrays::result(y);
}

// Returns (grad_input, grad_weight, grad_bias), each None where its mask entry is False.
py::tuple backward(py::handle grad_output, py::handle input, py::handle weight, Pair stride, Pair padding,
                   Pair output_padding, int64_t groups, Pair dilation, std::array<bool, 3> mask, bool reference) {
  const char* op = "conv_transpose2d_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  ConvTranspose2dParams p =
      conv_transpose2d_problem(x.view, w.view, stride, padding, output_padding, groups, dilation, op);
  Input dx, dw, db;
  if (mask[0]) dx = py_arrays::output_like(py::none(), x, {p.N, p.C, p.H, p.W}, op);
  if (mask[1]) dw = py_arrays::output_like(py::none(), x, {p.C, p.Kg(), p.R, p.S}, op);
  if (mask[2]) db = py_arrays::output_like(py::none(), x, {p.K}, op);
  {
    py::gil_scoped_release release;
    const char* impl = reference ? "reference" : nullptr;  // reference=True: the one override, per call
    if (mask[0]) fl::conv_transpose2d_backward_data(dx.view, dy.view, w.view, p, impl);
    if (mask[1] || mask[2]) fl::conv_transpose2d_backward_weight(dw.view, db.view, dy.view, x.view, p, impl);
  }
  return py::make_tuple(py_arrays::result_or_none(dx), py_arrays::result_or_none(dw),
                        py_arrays::result_or_none(db));
}

std::string descriptor(py::handle input, py::handle weight, Pair stride, Pair padding, Pair output_padding,
                       int64_t groups, Pair dilation) {
  const char* op = "conv_transpose2d_descriptor";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  return conv_transpose2d_problem(x.view, w.view, stride, padding, output_padding, groups, dilation, op).str();
}

}  // namespace

void bind_conv_transpose2d(py::module_& m) {
  m.def("conv_transpose2d_forward", &forward, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("output_padding") = Pair{0, 0},
        py::arg("groups") = 1, py::arg("dilation") = Pair{1, 1}, py::arg("out") = py::none(),
        py::arg("reference") = false,
        "Transposed 2-D convolution of an N x C x H x W input with a C x K/groups x kH x kW weight; "
        "reference=True runs the naive oracle instead of the convolution kernels.");
  m.def("conv_transpose2d_backward", &backward, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("output_padding") = Pair{0, 0},
        py::arg("groups") = 1, py::arg("dilation") = Pair{1, 1},
        py::arg("mask") = std::array<bool, 3>{true, true, true}, py::arg("reference") = false,
        "Gradients (input, weight, bias) of conv_transpose2d_forward; mask selects which are computed "
        "(others are None).");
  m.def("conv_transpose2d_descriptor", &descriptor, py::arg("input"), py::arg("weight"),
        py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0}, py::arg("output_padding") = Pair{0, 0},
        py::arg("groups") = 1, py::arg("dilation") = Pair{1, 1}, "The problem's descriptor string.");
}

}  // namespace fl::bindings
