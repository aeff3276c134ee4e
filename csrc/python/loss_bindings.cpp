// Bindings of the C++ losses (cross-entropy, nll_loss). No math here: arrays in, views to the front doors
// (csrc/ops/loss.cpp, GIL released), arrays out. Logits / log-probabilities are (N, C, d1, ...) with
// ndim >= 2 (the Python layer adds the batch axis of an unbatched input); class-index targets are int64
// numpy arrays (N, d1, ...); class-probability targets are float arrays shaped like the input.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "fastlayers/error.h"
#include "fastlayers/ops.h"
#include "python/arrays.h"

namespace py = pybind11;
using fl::py_arrays::Input;

namespace fl::bindings {
namespace {

using Index = py::array_t<int64_t, py::array::c_style>;

std::vector<int64_t> shape_of(const TensorView& v) { return std::vector<int64_t>(v.shape, v.shape + v.ndim); }

std::string py_shape(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

Reduction parse_reduction(const std::string& r) {
  if (r == "none") return Reduction::None;
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  throw ValueError(r + " is not a valid value for reduction");
}

// N, C, S of an (N, C, d1, ...) input.
void layout(const TensorView& x, int64_t& N, int64_t& C, int64_t& S, const char* op) {
  FL_CHECK_VALUE(x.ndim >= 2, op, ": input must have shape (N, C) or (N, C, d1, ...), got ", x.shape_str());
  N = x.shape[0];
  C = x.shape[1];
  S = 1;
  for (int i = 2; i < x.ndim; ++i) S *= x.shape[i];
}

// The (N, d1, ...) shape a class-index target (and a 'none' loss) has for input x.
std::vector<int64_t> row_shape(const TensorView& x) {
  std::vector<int64_t> s{x.shape[0]};
  for (int i = 2; i < x.ndim; ++i) s.push_back(x.shape[i]);
  return s;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

// An int64 class-index target of exactly `shape` (a contiguous copy when strided).
Index import_index_target(py::handle obj, const std::vector<int64_t>& shape, const char* op) {
  FL_CHECK_TYPE(py::isinstance<py::array>(obj), op, ": target must be a numpy int64 array, got ",
                std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  FL_CHECK_TYPE(a.dtype().is(py::dtype::of<int64_t>()), op, ": expected target dtype to be int64, got ",
                std::string(py::str(a.dtype())));
  bool same = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; same && i < shape.size(); ++i) same = a.shape(i) == shape[i];
  FL_CHECK_VALUE(same, op, ": target must have shape ", shape_str(shape), " for this input, got ", py_shape(a));
  return Index::ensure(a);
}

bool is_float_array(py::handle obj) {
  if (!py::isinstance<py::array>(obj)) {
    // CuPy / torch arrays name their dtype ("float32", "torch.int64"); other DLPack exporters count as float.
    if (py::hasattr(obj, "dtype")) return std::string(py::str(obj.attr("dtype"))).find("float") != std::string::npos;
    return py::hasattr(obj, "__dlpack__");
  }
  const char kind = py::reinterpret_borrow<py::array>(obj).dtype().kind();
  return kind == 'f';
}

struct Target {
  bool is_prob = false;
  Index index;                       // class indices on the cpu (when !is_prob)
  py_arrays::DeviceIndex cuda_index;  // class indices on a GPU (when !is_prob and the input is there)
  Input prob;                        // class probabilities (when is_prob)
  const int64_t* ptr() const {
    if (is_prob) return nullptr;
    return cuda_index.view.data ? cuda_index.data() : index.data();
  }
};

// Class indices (int64) on the input's device.
Target import_class_indices(py::handle obj, const Input& x, const char* op) {
  Target t;
  if (x.view.device == Device::CUDA) {
    t.cuda_index = py_arrays::import_cuda_indices(obj, op, row_shape(x.view), "target");
    FL_CHECK_VALUE(t.cuda_index.view.device_index == x.view.device_index, op, ": target is on cuda:",
                   t.cuda_index.view.device_index, " but input is on cuda:", x.view.device_index);
  } else {
    t.index = import_index_target(obj, row_shape(x.view), op);
  }
  return t;
}

// Class indices (int64) or class probabilities (a float array shaped like the input), on the input's device.
Target import_target(py::handle obj, const Input& x, const char* op) {
  if (!is_float_array(obj)) return import_class_indices(obj, x, op);
  Target t;
  t.is_prob = true;
  t.prob = py_arrays::import_float_array(obj, op, "target", x.view.device == Device::CUDA);
  FL_CHECK_VALUE(shape_of(t.prob.view) == shape_of(x.view), op, ": a class-probability target must have the "
                 "input's shape ", x.view.shape_str(), ", got ", t.prob.view.shape_str());
  return t;
}

CrossEntropyParams ce_params(const TensorView& x, bool prob, int64_t ignore_index, double label_smoothing,
                             const std::string& reduction, const char* op) {
  CrossEntropyParams p;
  layout(x, p.N, p.C, p.S, op);
  p.prob_target = prob;
  p.ignore_index = ignore_index;
  p.label_smoothing = label_smoothing;
  p.reduction = parse_reduction(reduction);
  return p;
}

std::vector<int64_t> loss_shape(const TensorView& x, Reduction r) {
  return r == Reduction::None ? row_shape(x) : std::vector<int64_t>{};
}

py::tuple cross_entropy_forward(py::handle input, py::handle target, py::handle weight, int64_t ignore_index,
                                double label_smoothing, const std::string& reduction, const std::string& impl) {
  const char* op = "cross_entropy";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  CrossEntropyParams p = ce_params(x.view, false, ignore_index, label_smoothing, reduction, op);
  Target t = import_target(target, x, op);
  p.prob_target = t.is_prob;
  Input w = py_arrays::import_optional(weight, op, "weight", true);
  Input loss = py_arrays::output_like(py::none(), x, loss_shape(x.view, p.reduction), op);
  Input lse = py_arrays::output_like(py::none(), x, row_shape(x.view), op);
  Input workspace;  // the GPU path's row losses, row weights and total
  if (x.view.device == Device::CUDA) workspace = py_arrays::output_like(py::none(), x, {2 * p.rows() + 1}, op);
  double total_weight = 0;
  {
    py::gil_scoped_release release;
    fl::cross_entropy_forward(loss.view, lse.view, &total_weight, x.view, t.ptr(), t.prob.view, w.view, p,
                              impl.c_str(), workspace.view);
  }
  return py::make_tuple(py_arrays::result(loss), py_arrays::result(lse), total_weight);
}

py::object cross_entropy_backward(py::handle grad_output, py::handle input, py::handle target, py::handle weight,
                                  py::handle lse, double total_weight, int64_t ignore_index, double label_smoothing,
                                  const std::string& reduction, const std::string& impl) {
  const char* op = "cross_entropy_backward";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  CrossEntropyParams p = ce_params(x.view, false, ignore_index, label_smoothing, reduction, op);
  Target t = import_target(target, x, op);
  p.prob_target = t.is_prob;
  Input w = py_arrays::import_optional(weight, op, "weight", true);
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input l = py_arrays::import_float_array(lse, op, "lse", true);
  Input dx = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  {
    py::gil_scoped_release release;
    fl::cross_entropy_backward(dx.view, dy.view, x.view, t.ptr(), t.prob.view, w.view, l.view, total_weight, p,
                               impl.c_str());
  }
  return py_arrays::result(dx);
}

NLLLossParams nll_params(const TensorView& x, int64_t ignore_index, const std::string& reduction, const char* op) {
  NLLLossParams p;
  layout(x, p.N, p.C, p.S, op);
  p.ignore_index = ignore_index;
  p.reduction = parse_reduction(reduction);
  return p;
}

py::tuple nll_loss_forward(py::handle input, py::handle target, py::handle weight, int64_t ignore_index,
                           const std::string& reduction, const std::string& impl) {
  const char* op = "nll_loss";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  NLLLossParams p = nll_params(x.view, ignore_index, reduction, op);
  Target t = import_class_indices(target, x, op);
  Input w = py_arrays::import_optional(weight, op, "weight", true);
  Input loss = py_arrays::output_like(py::none(), x, loss_shape(x.view, p.reduction), op);
  Input workspace;  // the GPU path's row losses, row weights and total
  if (x.view.device == Device::CUDA) workspace = py_arrays::output_like(py::none(), x, {2 * p.rows() + 1}, op);
  double total_weight = 0;
  {
    py::gil_scoped_release release;
    fl::nll_loss_forward(loss.view, &total_weight, x.view, t.ptr(), w.view, p, impl.c_str(), workspace.view);
  }
  return py::make_tuple(py_arrays::result(loss), total_weight);
}

// input: only its shape and dtype are read (the gradient does not depend on its values).
py::object nll_loss_backward(py::handle grad_output, py::handle input, py::handle target, py::handle weight,
                             double total_weight, int64_t ignore_index, const std::string& reduction,
                             const std::string& impl) {
  const char* op = "nll_loss_backward";
  Input x = py_arrays::import_float_array(input, op, "input", true);
  NLLLossParams p = nll_params(x.view, ignore_index, reduction, op);
  Target t = import_class_indices(target, x, op);
  Input w = py_arrays::import_optional(weight, op, "weight", true);
  Input dy = py_arrays::import_float_array(grad_output, op, "grad_output", true);
  Input dx = py_arrays::output_like(py::none(), x, shape_of(x.view), op);
  {
    py::gil_scoped_release release;
    fl::nll_loss_backward(dx.view, dy.view, t.ptr(), w.view, total_weight, p, impl.c_str());
  }
  return py_arrays::result(dx);
}

}  // namespace

void bind_loss(py::module_& m) {
  // Registered after module.cpp's translator, so tried before it: IndexError like torch's.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fl::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    }
  });
  m.def("cross_entropy_forward", &cross_entropy_forward, py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
        py::arg("reduction") = "mean", py::arg("impl") = "",
        "Fused log-softmax + NLL (class-index int64 target) or soft-target cross-entropy (float target shaped "
        "like the input); returns (loss, lse, total_weight).");
  m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("grad_output"), py::arg("input"),
        py::arg("target"), py::arg("weight"), py::arg("lse"), py::arg("total_weight"),
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
        py::arg("impl") = "", "Gradient of cross_entropy_forward w.r.t. the input, from the saved lse.");
  m.def("nll_loss_forward", &nll_loss_forward, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(),
        py::arg("ignore_index") = -100, py::arg("reduction") = "mean", py::arg("impl") = "",
        "Negative log-likelihood of log-probabilities; returns (loss, total_weight).");
  m.def("nll_loss_backward", &nll_loss_backward, py::arg("grad_output"), py::arg("input"), py::arg("target"),
        py::arg("weight"), py::arg("total_weight"), py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
        py::arg("impl") = "");
}

}  // namespace fl::bindings
