// Bindings of the upsampling family: arrays in, views to the front door (csrc/ops/upsample.cpp), arrays out.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <string>

#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "python/arrays.h"

namespace py = pybind11;
using fl::py_arrays::Input;

namespace fl::bindings {
namespace {

using Pair = std::array<int64_t, 2>;
using Scales = std::array<double, 2>;

UpsampleMode parse_mode(const std::string& mode, const char* op) {
  if (mode == "nearest") return UpsampleMode::Nearest;
  if (mode == "bilinear") return UpsampleMode::Bilinear;
  throw ValueError(cat_str(op, ": mode must be 'nearest' or 'bilinear', got '", mode, "'"));
}

Input float_input(py::handle obj, const char* op, const char* arg) {
  Input x = py_arrays::import_float_array(obj, op, arg, true);
  FL_CHECK_VALUE(x.view.ndim == 4, op, ": ", arg, " must be 4-D (N, C, H, W), got shape ", x.view.shape_str());
  return x;
}

Upsample2dParams make_params(int64_t N, int64_t C, Pair in, Pair out, Scales scales, const std::string& mode,
                             bool align_corners, bool size_shortcuts, const char* op) {
  Upsample2dParams p;
  p.N = N; p.C = C; p.H = in[0]; p.W = in[1]; p.OH = out[0]; p.OW = out[1];
  p.scale_h = scales[0]; p.scale_w = scales[1];
  p.mode = parse_mode(mode, op);
  p.align_corners = align_corners;
  p.size_shortcuts = size_shortcuts;
  check_upsample2d_params(p, op);
  return p;
}

py::object forward(py::handle input, Pair output_size, Scales scales, const std::string& mode, bool align_corners,
                  bool size_shortcuts, const std::string& impl) {
  const char* op = "upsample2d_forward";
  Input x = float_input(input, op, "input");
  const TensorView& v = x.view;
  Upsample2dParams p = make_params(v.shape[0], v.shape[1], {v.shape[2], v.shape[3]}, output_size, scales, mode,
                                   align_corners, size_shortcuts, op);
  Input y = py_arrays::output_like(py::none(), x, {p.N, p.C, p.OH, p.OW}, op);
  {
    py::gil_scoped_release release;
    fl::upsample2d_forward(y.view, v, p, impl.c_str());
  }
  return py_arrays::result(y);
}

py::object backward(py::handle grad_output, Pair input_size, Scales scales, const std::string& mode,
                   bool align_corners, bool size_shortcuts, const std::string& impl) {
  const char* op = "upsample2d_backward";
  Input dy = float_input(grad_output, op, "grad_output");
  const TensorView& g = dy.view;
  Upsample2dParams p = make_params(g.shape[0], g.shape[1], input_size, {g.shape[2], g.shape[3]}, scales, mode,
                                   align_corners, size_shortcuts, op);
  Input dx = py_arrays::output_like(py::none(), dy, {p.N, p.C, p.H, p.W}, op);
  {
    py::gil_scoped_release release;
    fl::upsample2d_backward(dx.view, g, p, impl.c_str());
  }
  return py_arrays::result(dx);
}

}  // namespace

void bind_upsample(py::module_& m) {
  m.def("upsample2d_forward", &forward, py::arg("input"), py::arg("output_size"),
        py::arg("scales") = Scales{0.0, 0.0}, py::arg("mode") = "nearest", py::arg("align_corners") = false,
        py::arg("size_shortcuts") = true, py::arg("impl") = "",
        "Nearest or bilinear resampling of an N x C x H x W input to output_size. scales: the user's scale "
        "factors (0 = none; torch then uses 1/scale for the source index). size_shortcuts: nearest copies an "
        "axis that keeps its size and reads dst/2 on one that doubles (torch's 2-D rule; not its 1-D forward). impl forces 'direct' or "
        "'reference'.");
  m.def("upsample2d_backward", &backward, py::arg("grad_output"), py::arg("input_size"),
        py::arg("scales") = Scales{0.0, 0.0}, py::arg("mode") = "nearest", py::arg("align_corners") = false,
        py::arg("size_shortcuts") = true, py::arg("impl") = "",
        "Gradient of upsample2d_forward with respect to its input (N x C x input_size).");
}

}  // namespace fl::bindings
