// Bindings of the pooling family: arrays in, views to the front doors (csrc/ops/pool2d.cpp), arrays out.
// Indices are int64 numpy arrays (flat positions within each input plane, like torch).
#include <pybind11/numpy.h>
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

using Pair = std::array<int64_t, 2>;
using Index = py::array_t<int64_t, py::array::c_style>;

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// An int64 numpy array of exactly `shape` (a contiguous copy when strided).
Index import_indices(py::handle obj, const char* op, const std::vector<int64_t>& shape) {
  FL_CHECK_TYPE(py::isinstance<py::array>(obj), op, ": indices must be a numpy int64 array, got ",
                std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  FL_CHECK_TYPE(a.dtype().is(py::dtype::of<int64_t>()), op, ": indices must have dtype int64, got ",
                std::string(py::str(a.dtype())));
  bool same = a.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t i = 0; same && i < shape.size(); ++i) same = a.shape(i) == shape[i];
  if (!same) {
    std::string want = "(";
    for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
    throw ValueError(cat_str(op, ": indices must have shape ", want, ")", ", got ", shape_of(a)));
  }
  return Index::ensure(a);
}

// ---- cuda ----
// Indices on the device of `like`: an int64 numpy array on the CPU, the framework's int64 array on a GPU.
struct Indices {
  py::object obj;
  int64_t* ptr = nullptr;
  py::object keep;  // the DLPack owner of a device array
};

Indices new_indices(const Input& like, const std::vector<int64_t>& shape, const char* op) {
  if (like.view.device == Device::CUDA) {
    py_arrays::DeviceIndex d = py_arrays::new_cuda_indices(like, shape, op);
    return {d.source, d.data(), d.owner};
  }
  Index ind(std::vector<py::ssize_t>(shape.begin(), shape.end()));
  return {ind, ind.mutable_data(), {}};
}

Indices get_indices(py::handle obj, const Input& like, const std::vector<int64_t>& shape, const char* op) {
  if (like.view.device == Device::CUDA) {
    py_arrays::DeviceIndex d = py_arrays::import_cuda_indices(obj, op, shape);
    FL_CHECK_VALUE(d.view.device_index == like.view.device_index, op, ": indices are on cuda:", d.view.device_index,
                   " but the input is on cuda:", like.view.device_index);
    return {d.source, d.data(), d.owner};
  }
  Index ind = import_indices(obj, op, shape);
  return {ind, const_cast<int64_t*>(ind.data()), {}};  // read only: the array may be read-only
}

Input float_input(py::handle obj, const char* op, const char* arg) {
  Input x = py_arrays::import_float_array(obj, op, arg, true);
  FL_CHECK_VALUE(x.view.ndim == 4, op, ": ", arg, " must be 4-D (N, C, H, W), got shape ", x.view.shape_str());
  return x;
}

Pool2dParams pool_params(int64_t N, int64_t C, int64_t H, int64_t W, Pair kernel, Pair stride, Pair padding,
                         Pair dilation, bool ceil_mode, bool count_include_pad, int64_t divisor) {
  Pool2dParams p;
  p.N = N; p.C = C; p.H = H; p.W = W;
  p.kh = kernel[0]; p.kw = kernel[1];
  p.stride_h = stride[0]; p.stride_w = stride[1];
  p.pad_h = padding[0]; p.pad_w = padding[1];
  p.dil_h = dilation[0]; p.dil_w = dilation[1];
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  p.divisor = divisor;
  return p;
}

AdaptivePool2dParams adaptive_params(const TensorView& x, Pair in_size, Pair out_size) {
  AdaptivePool2dParams p;
  p.N = x.shape[0]; p.C = x.shape[1]; p.H = in_size[0]; p.W = in_size[1];
  p.OH = out_size[0]; p.OW = out_size[1];
  return p;
}

py::tuple max_pool2d_forward(py::handle input, Pair kernel, Pair stride, Pair padding, Pair dilation, bool ceil_mode,
                             const std::string& impl) {
  const char* op = "max_pool2d";
  Input x = float_input(input, op, "input");
  const TensorView& v = x.view;
  Pool2dParams p = pool_params(v.shape[0], v.shape[1], v.shape[2], v.shape[3], kernel, stride, padding, dilation,
                               ceil_mode, true, 0);
  check_pool2d_params(p, op, false);
  Input y = py_arrays::output_like(py::none(), x, {p.N, p.C, p.P(), p.Q()}, op);
  Indices ind = new_indices(x, {p.N, p.C, p.P(), p.Q()}, op);
  int64_t* ip = ind.ptr;
  {
    py::gil_scoped_release release;
    fl::max_pool2d_forward(y.view, ip, v, p, impl.c_str());
  }
  return py::make_tuple(py_arrays::result(y), ind.obj);
}

// Backward of max_pool2d and adaptive_max_pool2d: grad_input (N, C, H, W) from grad_output and indices.
py::object max_pool2d_backward(py::handle grad_output, py::handle indices, Pair input_size) {
  const char* op = "max_pool2d_backward";
  Input dy = float_input(grad_output, op, "grad_output");
  const TensorView& g = dy.view;
  Indices ind = get_indices(indices, dy, {g.shape[0], g.shape[1], g.shape[2], g.shape[3]}, op);
  Input dx = py_arrays::output_like(py::none(), dy, {g.shape[0], g.shape[1], input_size[0], input_size[1]}, op);
  const int64_t* ip = ind.ptr;
  {
    py::gil_scoped_release release;
    fl::max_pool2d_backward(dx.view, g, ip);
  }
  return py_arrays::result(dx);
}

py::object avg_pool2d_forward(py::handle input, Pair kernel, Pair stride, Pair padding, bool ceil_mode,
                             bool count_include_pad, int64_t divisor, const std::string& impl) {
  const char* op = "avg_pool2d";
  Input x = float_input(input, op, "input");
  const TensorView& v = x.view;
  Pool2dParams p = pool_params(v.shape[0], v.shape[1], v.shape[2], v.shape[3], kernel, stride, padding, {1, 1},
                               ceil_mode, count_include_pad, divisor);
  check_pool2d_params(p, op, true);
  Input y = py_arrays::output_like(py::none(), x, {p.N, p.C, p.P(), p.Q()}, op);
  {
    py::gil_scoped_release release;
    fl::avg_pool2d_forward(y.view, v, p, impl.c_str());
  }
  return py_arrays::result(y);
}

py::object avg_pool2d_backward(py::handle grad_output, Pair input_size, Pair kernel, Pair stride, Pair padding,
                              bool ceil_mode, bool count_include_pad, int64_t divisor, const std::string& impl) {
  const char* op = "avg_pool2d_backward";
  Input dy = float_input(grad_output, op, "grad_output");
  const TensorView& g = dy.view;
  Pool2dParams p = pool_params(g.shape[0], g.shape[1], input_size[0], input_size[1], kernel, stride, padding,
                               {1, 1}, ceil_mode, count_include_pad, divisor);
  check_pool2d_params(p, op, true);
  Input dx = py_arrays::output_like(py::none(), dy, {p.N, p.C, p.H, p.W}, op);
  {
    py::gil_scoped_release release;
    fl::avg_pool2d_backward(dx.view, g, p, impl.c_str());
  }
  return py_arrays::result(dx);
}

py::object adaptive_avg_pool2d_forward(py::handle input, Pair output_size, const std::string& impl) {
  const char* op = "adaptive_avg_pool2d";
  Input x = float_input(input, op, "input");
  AdaptivePool2dParams p = adaptive_params(x.view, {x.view.shape[2], x.view.shape[3]}, output_size);
  check_adaptive_pool2d_params(p, op);
  Input y = py_arrays::output_like(py::none(), x, {p.N, p.C, p.OH, p.OW}, op);
  {
    py::gil_scoped_release release;
    fl::adaptive_avg_pool2d_forward(y.view, x.view, p, impl.c_str());
  }
  return py_arrays::result(y);
}

py::object adaptive_avg_pool2d_backward(py::handle grad_output, Pair input_size, const std::string& impl) {
  const char* op = "adaptive_avg_pool2d_backward";
  Input dy = float_input(grad_output, op, "grad_output");
  AdaptivePool2dParams p = adaptive_params(dy.view, input_size, {dy.view.shape[2], dy.view.shape[3]});
  check_adaptive_pool2d_params(p, op);
  Input dx = py_arrays::output_like(py::none(), dy, {p.N, p.C, p.H, p.W}, op);
  {
    py::gil_scoped_release release;
    fl::adaptive_avg_pool2d_backward(dx.view, dy.view, p, impl.c_str());
  }
  return py_arrays::result(dx);
}

py::tuple adaptive_max_pool2d_forward(py::handle input, Pair output_size, const std::string& impl) {
  const char* op = "adaptive_max_pool2d";
  Input x = float_input(input, op, "input");
  AdaptivePool2dParams p = adaptive_params(x.view, {x.view.shape[2], x.view.shape[3]}, output_size);
  check_adaptive_pool2d_params(p, op);
  Input y = py_arrays::output_like(py::none(), x, {p.N, p.C, p.OH, p.OW}, op);
  Indices ind = new_indices(x, {p.N, p.C, p.OH, p.OW}, op);
  int64_t* ip = ind.ptr;
  {
    py::gil_scoped_release release;
    fl::adaptive_max_pool2d_forward(y.view, ip, x.view, p, impl.c_str());
  }
  return py::make_tuple(py_arrays::result(y), ind.obj);
}

py::object max_unpool2d_forward(py::handle input, py::handle indices, Pair output_size) {
  const char* op = "max_unpool2d";
  Input x = float_input(input, op, "input");
  const TensorView& v = x.view;
  Indices ind = get_indices(indices, x, {v.shape[0], v.shape[1], v.shape[2], v.shape[3]}, op);
  FL_CHECK_VALUE(output_size[0] >= 1 && output_size[1] >= 1, op, ": output_size must be positive, got (",
                 output_size[0], ", ", output_size[1], ")");
  Input y = py_arrays::output_like(py::none(), x, {v.shape[0], v.shape[1], output_size[0], output_size[1]}, op);
  const int64_t* ip = ind.ptr;
  {
    py::gil_scoped_release release;
    fl::max_unpool2d_forward(y.view, v, ip);
  }
  return py_arrays::result(y);
}

py::object max_unpool2d_backward(py::handle grad_output, py::handle indices) {
  const char* op = "max_unpool2d_backward";
  Input dy = float_input(grad_output, op, "grad_output");
  std::vector<int64_t> ishape;
  if (dy.view.device == Device::CUDA) {  // a device array's shape, read before its import checks it
    ishape = py::cast<std::vector<int64_t>>(indices.attr("shape"));
    FL_CHECK_VALUE(ishape.size() == 4, op, ": indices must be 4-D, got ", ishape.size(), " dimensions");
  } else {
    FL_CHECK_TYPE(py::isinstance<py::array>(indices), op, ": indices must be a numpy int64 array");
    py::array ia = py::reinterpret_borrow<py::array>(indices);
    FL_CHECK_VALUE(ia.ndim() == 4, op, ": indices must be 4-D, got ", shape_of(ia));
    ishape.assign(ia.shape(), ia.shape() + 4);
  }
  Indices ind = get_indices(indices, dy, ishape, op);
  Input dx = py_arrays::output_like(py::none(), dy, ishape, op);
  const int64_t* ip = ind.ptr;
  {
    py::gil_scoped_release release;
    fl::max_unpool2d_backward(dx.view, dy.view, ip);
  }
  return py_arrays::result(dx);
}

std::string pool2d_impl(const std::string& pass, std::array<int64_t, 4> input_shape, Pair kernel, Pair stride,
                        Pair padding, Pair dilation, bool ceil_mode, bool count_include_pad, int64_t divisor) {
  Pool2dParams p = pool_params(input_shape[0], input_shape[1], input_shape[2], input_shape[3], kernel, stride,
                               padding, dilation, ceil_mode, count_include_pad, divisor);
  check_pool2d_params(p, "pool2d_impl", pass != "max_forward");
  return std::string(pool2d_impl_name(pass.c_str(), p)) + " " + p.str();
}

std::string adaptive_pool2d_impl(const std::string& pass, std::array<int64_t, 4> input_shape, Pair output_size) {
  AdaptivePool2dParams p;
  p.N = input_shape[0]; p.C = input_shape[1]; p.H = input_shape[2]; p.W = input_shape[3];
  p.OH = output_size[0]; p.OW = output_size[1];
  check_adaptive_pool2d_params(p, "adaptive_pool2d_impl");
  return std::string(adaptive_pool2d_impl_name(pass.c_str(), p)) + " " + p.str();
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1}, py::arg("ceil_mode") = false,
        py::arg("impl") = "",
        "2-D max pooling of an N x C x H x W input: (output, int64 indices into each H*W plane). impl forces an "
        "implementation by name ('reference', ...).");
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_size"), "Gradient of max_pool2d / adaptive_max_pool2d: grad_output scattered by indices.");
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding") = Pair{0, 0}, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
        py::arg("divisor_override") = 0, py::arg("impl") = "",
        "2-D average pooling (divisor_override 0 means none).");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad_output"), py::arg("input_size"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding") = Pair{0, 0}, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true, py::arg("divisor_override") = 0, py::arg("impl") = "",
        "Gradient of avg_pool2d with respect to its input.");
  m.def("adaptive_avg_pool2d_forward", &adaptive_avg_pool2d_forward, py::arg("input"), py::arg("output_size"),
        py::arg("impl") = "");
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward, py::arg("grad_output"),
        py::arg("input_size"), py::arg("impl") = "");
  m.def("adaptive_max_pool2d_forward", &adaptive_max_pool2d_forward, py::arg("input"), py::arg("output_size"),
        py::arg("impl") = "");
  m.def("max_unpool2d_forward", &max_unpool2d_forward, py::arg("input"), py::arg("indices"), py::arg("output_size"),
        "Places each input value at its index in a zero output plane of output_size.");
  m.def("max_unpool2d_backward", &max_unpool2d_backward, py::arg("grad_output"), py::arg("indices"));
  m.def("pool2d_impl", &pool2d_impl, py::arg("pass_"), py::arg("input_shape"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding") = Pair{0, 0}, py::arg("dilation") = Pair{1, 1},
        py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("divisor_override") = 0,
        "Which implementation pooling picks ('max_forward', 'avg_forward', 'avg_backward'), and the descriptor.");
  m.def("adaptive_pool2d_impl", &adaptive_pool2d_impl, py::arg("pass_"), py::arg("input_shape"),
        py::arg("output_size"));
}

}  // namespace fl::bindings
