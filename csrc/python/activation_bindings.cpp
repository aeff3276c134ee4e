// Bindings of the activation family: element-wise activations, softmax / log_softmax, prelu, maxout.
// No math here: arrays in, views to the front doors (GIL released), arrays out.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>
#include <vector>

#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "python/arrays.h"

namespace py = pybind11;
using fl::py_arrays::Input;

namespace fl::bindings {
namespace {

ActivationParams act_params(const std::string& kind, int64_t numel, double alpha, double scale, double input_scale,
                            double beta, double threshold, double min_val, double max_val) {
  ActivationParams p;
  p.kind = act_kind_from_name(kind);
  p.numel = numel;
  p.alpha = alpha; p.scale = scale; p.input_scale = input_scale;
  p.beta = beta; p.threshold = threshold;
  p.min_val = min_val; p.max_val = max_val;
  return p;
}

std::vector<int64_t> shape_of(const TensorView& v) { return std::vector<int64_t>(v.shape, v.shape + v.ndim); }

py::object or_none(const Input& a) { return py_arrays::result_or_none(a); }

py::object activation_forward(py::handle input, const std::string& kind, double alpha, double scale,
                             double input_scale, double beta, double threshold, double min_val, double max_val,
                             py::handle out) {
  const char* op = "activation";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  ActivationParams p = act_params(kind, x.view.numel(), alpha, scale, input_scale, beta, threshold, min_val, max_val);
  Input y = py_arrays::output_like(out, x, shape_of(x.view), op);
  {
    py::gil_scoped_release release;
    fl::activation_forward(y.view, x.view, p);
  }
  return py_arrays::result(y);
}

py::object activation_backward(py::handle grad_output, py::handle saved, bool from_output, const std::string& kind,
                              double alpha, double scale, double input_scale, double beta, double threshold,
                              double min_val, double max_val) {
  const char* op = "activation_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input s = py_arrays::import_float_array(saved, op, from_output ? "output" : "input", true);
  ActivationParams p = act_params(kind, dy.view.numel(), alpha, scale, input_scale, beta, threshold, min_val, max_val);
  Input dx = py_arrays::output_like(py::none(), dy, shape_of(dy.view), op);
  {
    py::gil_scoped_release release;
    fl::activation_backward(dx.view, dy.view, s.view, from_output, p);
  }
  return py_arrays::result(dx);
}

py::object softmax_forward(py::handle input, int64_t dim, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  SoftmaxParams p = softmax_problem(x.view, dim, log, op);
  Input y = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  {
    py::gil_scoped_release release;
    fl::softmax_forward(y.view, x.view, p);
  }
  return py_arrays::result(y);
}

py::object softmax_backward(py::handle grad_output, py::handle output, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input y = py_arrays::import_float_array(output, op, "output", true);
  SoftmaxParams p = softmax_problem(y.view, dim, log, op);
  Input dx = py_arrays::output_like(py::none(), dy, shape_of(dy.view), op);
  {
    py::gil_scoped_release release;
    fl::softmax_backward(dx.view, dy.view, y.view, p);
  }
  return py_arrays::result(dx);
}

py::object prelu_forward(py::handle input, py::handle weight) {
  const char* op = "prelu";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  PReLUParams p = prelu_problem(x.view, w.view, op);
  Input y = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  {
    py::gil_scoped_release release;
    fl::prelu_forward(y.view, x.view, w.view, p);
  }
  return py_arrays::result(y);
}

py::tuple prelu_backward(py::handle grad_output, py::handle input, py::handle weight, std::array<bool, 2> mask) {
  const char* op = "prelu_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_float_array(weight, op, "weight", true);
  PReLUParams p = prelu_problem(x.view, w.view, op);
  Input dx, dw;
  if (mask[0]) dx = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  if (mask[1]) dw = py_arrays::output_like(py::none(), x, shape_of(w.view), op);
  {
    py::gil_scoped_release release;
    fl::prelu_backward(dx.view, dw.view, dy.view, x.view, w.view, p);
  }
  return py::make_tuple(or_none(dx), or_none(dw));
}

py::object maxout_forward(py::handle input, int64_t pieces, int64_t dim) {
  const char* op = "maxout";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  MaxoutParams p = maxout_problem(x.view, pieces, dim, op);
  std::vector<int64_t> shape = shape_of(x.view);
  shape[dim] /= pieces;
  Input y = py_arrays::output_like(py::none(), x, shape, op);
  {
    py::gil_scoped_release release;
    fl::maxout_forward(y.view, x.view, p);
  }
  return py_arrays::result(y);
}

py::object maxout_backward(py::handle grad_output, py::handle input, int64_t pieces, int64_t dim) {
  const char* op = "maxout_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input x = py_arrays::import_float_array(input, op, "input", true);
  MaxoutParams p = maxout_problem(x.view, pieces, dim, op);
  Input dx = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  {
    py::gil_scoped_release release;
    fl::maxout_backward(dx.view, dy.view, x.view, p);
  }
  return py_arrays::result(dx);
}

}  // namespace

void bind_activation(py::module_& m) {
  m.def("activation_forward", &activation_forward, py::arg("input"), py::arg("kind"), py::arg("alpha") = 1.0,
        py::arg("scale") = 1.0, py::arg("input_scale") = 1.0, py::arg("beta") = 1.0, py::arg("threshold") = 20.0,
        py::arg("min_val") = -1.0, py::arg("max_val") = 1.0, py::arg("out") = py::none(),
        "Element-wise activation `kind`; out may be the input itself (in place).");
  m.def("activation_backward", &activation_backward, py::arg("grad_output"), py::arg("saved"),
        py::arg("from_output"), py::arg("kind"), py::arg("alpha") = 1.0, py::arg("scale") = 1.0,
        py::arg("input_scale") = 1.0, py::arg("beta") = 1.0, py::arg("threshold") = 20.0,
        py::arg("min_val") = -1.0, py::arg("max_val") = 1.0,
        "Gradient of activation_forward from the saved input (or output when from_output).");
  m.def("softmax_forward", &softmax_forward, py::arg("input"), py::arg("dim"), py::arg("log") = false);
  m.def("softmax_backward", &softmax_backward, py::arg("grad_output"), py::arg("output"), py::arg("dim"),
        py::arg("log") = false);
  m.def("prelu_forward", &prelu_forward, py::arg("input"), py::arg("weight"));
  m.def("prelu_backward", &prelu_backward, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("mask") = std::array<bool, 2>{true, true});
  m.def("maxout_forward", &maxout_forward, py::arg("input"), py::arg("pieces"), py::arg("dim") = 1);
  m.def("maxout_backward", &maxout_backward, py::arg("grad_output"), py::arg("input"), py::arg("pieces"),
        py::arg("dim") = 1);
  m.def("set_activation_reference", &fl::set_activation_reference, py::arg("use_reference"),
        "Route the activation family's front doors to the naive reference kernels (tests).");
}

}  // namespace fl::bindings
