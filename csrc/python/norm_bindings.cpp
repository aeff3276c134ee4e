// Bindings of the normalization family. Inputs are (N, C, *) arrays, seen by the kernels as N x C x S.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <vector>

#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "python/arrays.h"

namespace py = pybind11;
using fl::py_arrays::Input;

namespace fl::bindings {
namespace {

std::vector<int64_t> shape_of(const TensorView& v) { return std::vector<int64_t>(v.shape, v.shape + v.ndim); }

// Running statistics are updated in place: they must be the caller's own contiguous array.
Input import_inplace(py::handle obj, const char* op, const char* arg) {
  Input in = py_arrays::import_optional(obj, op, arg, true);
  if (in.view.defined() && in.view.device == Device::CPU)
    FL_CHECK_VALUE(in.array.ptr() == obj.ptr() && in.array.writeable(), op, ": ", arg,
                   " must be a C-contiguous writeable numpy array (it is updated in place)");
  if (in.view.defined() && in.view.device == Device::CUDA)  // a strided one was copied: the update would be lost
    FL_CHECK_VALUE(in.source.ptr() == obj.ptr(), op, ": ", arg, " must be a C-contiguous array (it is updated in place)");
  return in;
}

py::object or_none(const Input& a) { return py_arrays::result_or_none(a); }

// Batch norm's saved mean / rstd (C,) in the dtype the front door asks for.
Input bn_stats_output(const Input& x, int64_t C, const char* op) {
  return py_arrays::output_like(py::none(), x, {C}, op, batch_norm_stats_dtype(x.view.dtype));
}

py::tuple batch_norm_forward(py::handle input, py::handle weight, py::handle bias, py::handle running_mean,
                             py::handle running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_optional(weight, op, "weight", true);
  Input b = py_arrays::import_optional(bias, op, "bias", true);
  Input rm = import_inplace(running_mean, op, "running_mean");
  Input rv = import_inplace(running_var, op, "running_var");
  const TensorView xv = norm_ncs_view(x.view, op, "input");
  BatchNormParams p;
  p.N = xv.shape[0]; p.C = xv.shape[1]; p.S = xv.shape[2];
  p.eps = eps; p.momentum = momentum;
  Input y = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  Input mean = bn_stats_output(x, p.C, op);
  Input rstd = bn_stats_output(x, p.C, op);
  const TensorView yv = norm_ncs_view(y.view, op, "output");
  {
    py::gil_scoped_release release;
    fl::batch_norm_forward(yv, mean.view, rstd.view, xv, w.view, b.view, rm.view, rv.view, p, training);
  }
  return py::make_tuple(py_arrays::result(y), py_arrays::result(mean), py_arrays::result(rstd));
}

py::tuple batch_norm_backward(py::handle grad_output, py::handle input, py::handle mean, py::handle rstd,
                              py::handle weight, bool training, std::array<bool, 3> mask) {
  const char* op = "batch_norm_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input m = py_arrays::import_float_array(mean, op, "mean", true);
  Input r = py_arrays::import_float_array(rstd, op, "rstd", true);
  Input w = py_arrays::import_optional(weight, op, "weight", true);
  const TensorView xv = norm_ncs_view(x.view, op, "input");
  const TensorView dyv = norm_ncs_view(dy.view, op, "grad_output");
  BatchNormParams p;
  p.N = xv.shape[0]; p.C = xv.shape[1]; p.S = xv.shape[2];
  Input dx, dw, db;
  TensorView dxv;
  if (mask[0]) {
    dx = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
    dxv = norm_ncs_view(dx.view, op, "grad_input");
  }
  // The weight/bias gradients take the weight's dtype (float32 under mixed precision).
  const Input& param_like = w.view.defined() ? w : x;
  if (mask[1]) dw = py_arrays::output_like(py::none(), param_like, {p.C}, op);
  if (mask[2]) db = py_arrays::output_like(py::none(), param_like, {p.C}, op);
  {
    py::gil_scoped_release release;
    fl::batch_norm_backward(dxv, dw.view, db.view, dyv, xv, m.view, r.view, w.view, p, training);
  }
  return py::make_tuple(or_none(dx), or_none(dw), or_none(db));
}

py::tuple group_norm_forward(py::handle input, int64_t num_groups, py::handle weight, py::handle bias, double eps) {
  const char* op = "group_norm";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input w = py_arrays::import_optional(weight, op, "weight", true);
  Input b = py_arrays::import_optional(bias, op, "bias", true);
  const TensorView xv = norm_ncs_view(x.view, op, "input");
  GroupNormParams p;
  p.N = xv.shape[0]; p.C = xv.shape[1]; p.S = xv.shape[2]; p.G = num_groups; p.eps = eps;
  check_group_norm_params(p);  // before the outputs are sized by G
  Input y = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  Input mean = py_arrays::output_like(py::none(), x, {p.N, p.G}, op);
  Input rstd = py_arrays::output_like(py::none(), x, {p.N, p.G}, op);
  const TensorView yv = norm_ncs_view(y.view, op, "output");
  {
    py::gil_scoped_release release;
    fl::group_norm_forward(yv, mean.view, rstd.view, xv, w.view, b.view, p);
  }
  return py::make_tuple(py_arrays::result(y), py_arrays::result(mean), py_arrays::result(rstd));
}

py::tuple group_norm_backward(py::handle grad_output, py::handle input, py::handle mean, py::handle rstd,
                              py::handle weight, int64_t num_groups, std::array<bool, 3> mask) {
  const char* op = "group_norm_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input m = py_arrays::import_float_array(mean, op, "mean", true);
  Input r = py_arrays::import_float_array(rstd, op, "rstd", true);
  Input w = py_arrays::import_optional(weight, op, "weight", true);
  const TensorView xv = norm_ncs_view(x.view, op, "input");
  const TensorView dyv = norm_ncs_view(dy.view, op, "grad_output");
  GroupNormParams p;
  p.N = xv.shape[0]; p.C = xv.shape[1]; p.S = xv.shape[2]; p.G = num_groups;
  check_group_norm_params(p);
  Input dx, dw, db;
  TensorView dxv;
  if (mask[0]) {
    dx = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
    dxv = norm_ncs_view(dx.view, op, "grad_input");
  }
  if (mask[1]) dw = py_arrays::output_like(py::none(), x, {p.C}, op);
  if (mask[2]) db = py_arrays::output_like(py::none(), x, {p.C}, op);
  {
    py::gil_scoped_release release;
    fl::group_norm_backward(dxv, dw.view, db.view, dyv, xv, m.view, r.view, w.view, p);
  }
  return py::make_tuple(or_none(dx), or_none(dw), or_none(db));
}

py::tuple lrn_forward(py::handle input, int64_t size, double alpha, double beta, double k) {
  const char* op = "local_response_norm";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  const TensorView xv = norm_ncs_view(x.view, op, "input");
  LRNParams p;
  p.N = xv.shape[0]; p.C = xv.shape[1]; p.S = xv.shape[2];
  p.size = size; p.alpha = alpha; p.beta = beta; p.k = k;
  check_lrn_params(p);
  Input y = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  Input scale = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  const TensorView yv = norm_ncs_view(y.view, op, "output");
  const TensorView sv = norm_ncs_view(scale.view, op, "scale");
  {
    py::gil_scoped_release release;
    fl::lrn_forward(yv, sv, xv, p);
  }
  return py::make_tuple(py_arrays::result(y), py_arrays::result(scale));
}

py::object lrn_backward(py::handle grad_output, py::handle input, py::handle scale, int64_t size, double alpha,
                       double beta, double k) {
  const char* op = "local_response_norm_backward";
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input x = py_arrays::import_float_array(input, op, "input", true);
  Input sc = py_arrays::import_float_array(scale, op, "scale", true);
  const TensorView xv = norm_ncs_view(x.view, op, "input");
  const TensorView dyv = norm_ncs_view(dy.view, op, "grad_output");
  const TensorView sv = norm_ncs_view(sc.view, op, "scale");
  LRNParams p;
  p.N = xv.shape[0]; p.C = xv.shape[1]; p.S = xv.shape[2];
  p.size = size; p.alpha = alpha; p.beta = beta; p.k = k;
  check_lrn_params(p);
  Input dx = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  const TensorView dxv = norm_ncs_view(dx.view, op, "grad_input");
  {
    py::gil_scoped_release release;
    fl::lrn_backward(dxv, dyv, xv, sv, p);
  }
  return py_arrays::result(dx);
}

}  // namespace

void bind_norm(py::module_& m) {
  m.def("batch_norm_forward", &batch_norm_forward, py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("training"), py::arg("momentum") = 0.1,
        py::arg("eps") = 1e-5,
        "Batch norm of an (N, C, *) input -> (output, mean, rstd). training: batch statistics, running ones "
        "updated in place when given; otherwise the running statistics are used (and returned as mean, rstd).");
  m.def("batch_norm_backward", &batch_norm_backward, py::arg("grad_output"), py::arg("input"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("training"),
        py::arg("mask") = std::array<bool, 3>{true, true, true},
        "Gradients (input, weight, bias) of batch_norm_forward; mask selects which are computed.");
  m.def("group_norm_forward", &group_norm_forward, py::arg("input"), py::arg("num_groups"), py::arg("weight"),
        py::arg("bias"), py::arg("eps") = 1e-5,
        "Group norm of an (N, C, *) input -> (output, mean[N, G], rstd[N, G]).");
  m.def("group_norm_backward", &group_norm_backward, py::arg("grad_output"), py::arg("input"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("num_groups"),
        py::arg("mask") = std::array<bool, 3>{true, true, true},
        "Gradients (input, weight, bias) of group_norm_forward; mask selects which are computed.");
  m.def("lrn_forward", &lrn_forward, py::arg("input"), py::arg("size"), py::arg("alpha") = 1e-4,
        py::arg("beta") = 0.75, py::arg("k") = 1.0,
        "Local response norm across the channels of an (N, C, *) input -> (output, scale).");
  m.def("lrn_backward", &lrn_backward, py::arg("grad_output"), py::arg("input"), py::arg("scale"), py::arg("size"),
        py::arg("alpha") = 1e-4, py::arg("beta") = 0.75, py::arg("k") = 1.0,
        "Gradient of the input of lrn_forward, given its scale.");
  m.def("set_norm_use_reference", &fl::set_norm_use_reference, py::arg("on"),
        "Run the naive reference kernels of the norm family instead of the fast ones (a test oracle).");
}

}  // namespace fl::bindings
