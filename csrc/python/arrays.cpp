#include "python/arrays.h"

// stl.h: py::cast of the std::vector shapes handed to the `empty` hook (without it that cast fails at run time,
// "Unable to convert call argument", for every CUDA output the bindings allocate).
#include <pybind11/stl.h>

#include <string>

#include "fastlayers/cuda.h"
#include "fastlayers/error.h"
#include "ops/device.h"
#include "python/dlpack.h"

namespace fl::py_arrays {
namespace {

// The Python callables set_array_hooks installs (`import fastlayers` passes those of its _device module);
// never freed, as a kernel may still allocate while the interpreter shuts down.
struct Hooks {
  py::object empty, ascontiguousarray, cupy_stream;
};
Hooks* g_hooks = nullptr;

const Hooks& hooks(const char* op) {
  if (!g_hooks)
    throw std::runtime_error(cat_str(op, ": cuda arrays need the array hooks that `import fastlayers` installs "
                                     "(fastlayers._C.set_array_hooks)"));
  return *g_hooks;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

std::string shape_str(const py::array& a) { return shape_str(std::vector<int64_t>(a.shape(), a.shape() + a.ndim())); }

// The refusal of a half-precision array on the cpu (the kernels there are float32/float64 only).
[[noreturn]] void half_on_cpu(const char* op, const char* arg, const char* dtype) {
  throw TypeError(cat_str(op, ": ", arg, " has dtype ", dtype, ", which is supported on cuda only; use float32 or "
                          "float64 on the cpu"));
}

// float16 / bfloat16 for a DLPack dtype that is one of them, else nullptr.
const char* dlpack_half_name(int code, int bits, int lanes) {
  if (lanes != 1 || bits != 16) return nullptr;
  return code == dlpack::kDLFloat ? "float16" : code == dlpack::kDLBfloat ? "bfloat16" : nullptr;
}

// numpy's name for a DLPack element type (what an error message says was given), e.g. "int64", "bfloat16".
std::string dlpack_dtype_name(int code, int bits, int lanes) {
  const char* kind = code == dlpack::kDLInt ? "int" : code == dlpack::kDLUInt ? "uint" : code == dlpack::kDLFloat
                     ? "float" : code == dlpack::kDLBfloat ? "bfloat" : code == 5 ? "complex" : code == 6 ? "bool" : nullptr;
  if (!kind) return cat_str("DLPack dtype code ", code, " with ", bits, " bits");
  std::string name = code == 6 ? std::string(kind) : cat_str(kind, bits);
  return lanes == 1 ? name : cat_str(name, "x", lanes);
}

DType dtype_of_array(const py::array& a, const char* op, const char* arg) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::Float32;
  if (a.dtype().is(py::dtype::of<double>())) return DType::Float64;
  if (a.dtype().kind() == 'f' && a.itemsize() == 2) half_on_cpu(op, arg, "float16");
  throw TypeError(cat_str(op, ": ", arg, " must have dtype float32 or float64, got ", std::string(py::str(a.dtype()))));
}

TensorView view_of(const py::array& a, DType dtype) {
  TensorView v;
  v.data = const_cast<void*>(a.data());
  v.dtype = dtype;
  v.device = Device::CPU;
  FL_CHECK_VALUE(a.ndim() <= kMaxDims, "arrays of more than ", kMaxDims, " dimensions are not supported");
  v.ndim = static_cast<int>(a.ndim());
  const py::ssize_t item = a.itemsize();
  for (int i = 0; i < v.ndim; ++i) {
    v.shape[i] = a.shape(i);
    v.strides[i] = a.strides(i) / item;
  }
  return v;
}

template <typename Managed>
void release_managed(void* p) {
  auto* m = static_cast<Managed*>(p);
  if (m->deleter) m->deleter(m);
}

// Wraps a DLPack tensor as a numpy array that owns the producer's tensor (released with the array).
template <typename Managed>
py::array from_dlpack_capsule(const py::capsule& capsule, const char* name, const char* used_name, const char* op,
                              const char* arg) {
  auto* managed = static_cast<Managed*>(PyCapsule_GetPointer(capsule.ptr(), name));
  if (!managed) throw py::error_already_set();
  const dlpack::DLTensor& t = managed->dl_tensor;
  const bool on_cpu = t.device.device_type == dlpack::kDLCPU || t.device.device_type == dlpack::kDLCUDAHost;
  const bool is_float = t.dtype.code == dlpack::kDLFloat && t.dtype.lanes == 1 && (t.dtype.bits == 32 || t.dtype.bits == 64);
  // The capsule is consumed from here on: rename it so its own destructor leaves the tensor to us.
  PyCapsule_SetName(capsule.ptr(), used_name);
  py::capsule owner(managed, release_managed<Managed>);
  FL_CHECK_VALUE(on_cpu, op, ": ", arg, " must be a cpu array, got a DLPack array on device type ",
                 t.device.device_type);
  if (const char* half = dlpack_half_name(t.dtype.code, t.dtype.bits, t.dtype.lanes)) half_on_cpu(op, arg, half);
  FL_CHECK_TYPE(is_float, op, ": ", arg, " must have dtype float32 or float64, got ",
                dlpack_dtype_name(t.dtype.code, t.dtype.bits, t.dtype.lanes));
  const py::ssize_t item = t.dtype.bits / 8;
  std::vector<py::ssize_t> shape(t.shape, t.shape + t.ndim), strides(t.ndim);
  py::ssize_t compact = item;
  for (int i = t.ndim - 1; i >= 0; --i) {
    strides[i] = t.strides ? static_cast<py::ssize_t>(t.strides[i]) * item : compact;
    compact *= shape[i];
  }
  void* data = static_cast<char*>(t.data) + t.byte_offset;
  py::dtype dt = t.dtype.bits == 32 ? py::dtype::of<float>() : py::dtype::of<double>();
  return py::array(dt, shape, strides, data, owner);
}

// ---- cuda ----
// Whether obj says (through __dlpack_device__) that it lives on a CUDA device.
bool is_cuda_dlpack(py::handle obj) {
  if (!py::hasattr(obj, "__dlpack_device__")) return false;
  py::tuple dev = obj.attr("__dlpack_device__")();
  return dev.size() >= 1 && py::cast<int>(dev[0]) == dlpack::kDLCUDA;
}

// A CUDA DLPack tensor as a view (dtype left to the caller: `code`/`bits` say what it holds), the capsule's
// tensor owned by `owner` (released with it).
struct CudaTensor {
  TensorView view;
  int code = 0, bits = 0;
};

template <typename Managed>
CudaTensor cuda_tensor_of_capsule(const py::capsule& capsule, const char* name, const char* used_name, const char* op,
                                  const char* arg, py::object& owner) {
  auto* managed = static_cast<Managed*>(PyCapsule_GetPointer(capsule.ptr(), name));
  if (!managed) throw py::error_already_set();
  const dlpack::DLTensor& t = managed->dl_tensor;
  PyCapsule_SetName(capsule.ptr(), used_name);
  owner = py::capsule(managed, release_managed<Managed>);
  FL_CHECK_VALUE(t.ndim <= kMaxDims, op, ": ", arg, ": arrays of more than ", kMaxDims, " dimensions are not supported");
  CudaTensor c;
  c.code = t.dtype.lanes == 1 ? t.dtype.code : -1;
  c.bits = t.dtype.bits;
  TensorView& v = c.view;
  v.data = static_cast<char*>(t.data) + t.byte_offset;
  v.dtype = t.dtype.bits == 32 ? DType::Float32
            : t.dtype.bits == 64 ? DType::Float64
            : t.dtype.code == dlpack::kDLBfloat ? DType::BFloat16 : DType::Float16;
  v.device = Device::CUDA;
  v.device_index = t.device.device_id;
  v.ndim = t.ndim;
  int64_t compact = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    v.shape[i] = t.shape[i];
    v.strides[i] = t.strides ? t.strides[i] : compact;
    compact *= t.shape[i];
  }
  return c;
}

// The stream this call's launches go on: the explicit override (fastlayers.cuda.set_stream; fastlayers.torch
// sets torch's current stream), else CuPy's current stream on a CuPy array's device (recorded as the call's
// array stream: every binding imports its CUDA operands before it launches), else the legacy default stream.
void* launch_stream_for(py::handle obj) {
  if (cuda_stream_is_set()) return cuda_stream();
  py::object s = hooks("cuda").cupy_stream(obj);
  void* stream = s.is_none() ? nullptr : reinterpret_cast<void*>(py::cast<uintptr_t>(s));
  set_cuda_array_stream(stream);
  return stream;
}

// Imports a CUDA array exporting __dlpack__ (CuPy, torch), asking the producer to order its work before our
// stream's.
CudaTensor import_cuda_tensor(py::handle obj, const char* op, const char* arg, py::object& owner) {
  void* s = launch_stream_for(obj);
  // DLPack's stream argument: 1 is the legacy default stream, anything else a stream handle.
  const py::int_ stream = s ? py::int_(reinterpret_cast<uintptr_t>(s)) : py::int_(1);
  py::object capsule_obj;
  try {
    capsule_obj = obj.attr("__dlpack__")(py::arg("stream") = stream, py::arg("max_version") = py::make_tuple(1, 0));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    capsule_obj = obj.attr("__dlpack__")(py::arg("stream") = stream);
  }
  py::capsule capsule = py::reinterpret_borrow<py::capsule>(capsule_obj);
  const char* name = PyCapsule_GetName(capsule.ptr());
  if (name && std::string(name) == "dltensor_versioned")
    return cuda_tensor_of_capsule<dlpack::DLManagedTensorVersioned>(capsule, "dltensor_versioned",
                                                                     "used_dltensor_versioned", op, arg, owner);
  return cuda_tensor_of_capsule<dlpack::DLManagedTensor>(capsule, "dltensor", "used_dltensor", op, arg, owner);
}

// A float CUDA array as an Input (source: the array object itself).
Input import_cuda_dlpack(py::handle obj, const char* op, const char* arg) {
  Input in;
  in.source = py::reinterpret_borrow<py::object>(obj);
  const CudaTensor c = import_cuda_tensor(obj, op, arg, in.owner);
  const bool is_float = c.code == dlpack::kDLFloat && (c.bits == 16 || c.bits == 32 || c.bits == 64);
  FL_CHECK_TYPE(is_float || (c.code == dlpack::kDLBfloat && c.bits == 16), op, ": ", arg,
                " must have dtype float16, bfloat16, float32 or float64, got ", dlpack_dtype_name(c.code, c.bits, 1));
  in.view = c.view;
  return in;
}

py::array import_dlpack(py::handle obj, const char* op, const char* arg) {
  py::object capsule_obj;
  try {
    capsule_obj = obj.attr("__dlpack__")(py::arg("max_version") = py::make_tuple(1, 0));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;  // producers that predate max_version reject the keyword
    capsule_obj = obj.attr("__dlpack__")();
  }
  py::capsule capsule = py::reinterpret_borrow<py::capsule>(capsule_obj);
  const char* name = PyCapsule_GetName(capsule.ptr());
  if (name && std::string(name) == "dltensor_versioned")
    return from_dlpack_capsule<dlpack::DLManagedTensorVersioned>(capsule, "dltensor_versioned",
                                                                  "used_dltensor_versioned", op, arg);
  return from_dlpack_capsule<dlpack::DLManagedTensor>(capsule, "dltensor", "used_dltensor", op, arg);
}

}  // namespace

Input import_float_array(py::handle obj, const char* op, const char* arg, bool allow_device) {
  py::array a;
  if (!py::isinstance<py::array>(obj) && is_cuda_dlpack(obj)) {
    if (!cuda_is_built()) cuda_not_built(op);
    if (!allow_device) no_cuda_kernel(op);
    Input in = import_cuda_dlpack(obj, op, arg);
    if (in.view.is_contiguous()) return in;  // a strided array is first made contiguous by its own framework
    py::object copy = hooks(op).ascontiguousarray(obj);
    in = import_cuda_dlpack(copy, op, arg);
    FL_CHECK_VALUE(in.view.is_contiguous(), op, ": ", arg, ": could not make the cuda array contiguous");
    return in;
  }
  if (py::isinstance<py::array>(obj)) {
    a = py::reinterpret_borrow<py::array>(obj);
  } else if (py::hasattr(obj, "__dlpack__")) {
    a = import_dlpack(obj, op, arg);
  } else {
    throw TypeError(cat_str(op, ": ", arg, " must be a numpy array or an array exporting __dlpack__, got ",
                            std::string(py::str(py::type::of(obj).attr("__name__")))));
  }
  DType dtype = dtype_of_array(a, op, arg);
  if (!(a.flags() & py::array::c_style)) a = py::array::ensure(a, py::array::c_style);
  return {a, view_of(a, dtype)};
}

Input import_optional(py::handle obj, const char* op, const char* arg, bool allow_device) {
  if (obj.is_none()) return {};
  return import_float_array(obj, op, arg, allow_device);
}

Input output_array(py::handle out, DType dtype, const std::vector<int64_t>& shape, const char* op) {
  py::dtype dt = dtype == DType::Float32 ? py::dtype::of<float>() : py::dtype::of<double>();
  if (out.is_none()) {
    py::array a(dt, std::vector<py::ssize_t>(shape.begin(), shape.end()));
    return {a, view_of(a, dtype)};
  }
  FL_CHECK_TYPE(py::isinstance<py::array>(out), op, ": out must be a numpy array");
  py::array a = py::reinterpret_borrow<py::array>(out);
  FL_CHECK_TYPE(a.dtype().is(dt), op, ": out must have dtype ", dtype_name(dtype), ", got ",
                std::string(py::str(a.dtype())));
  FL_CHECK_VALUE(std::vector<int64_t>(a.shape(), a.shape() + a.ndim()) == shape, op, ": out must have shape ",
                 shape_str(shape), ", got ", shape_str(a));
  FL_CHECK_VALUE((a.flags() & py::array::c_style) && a.writeable(), op, ": out must be C-contiguous and writeable");
  return {a, view_of(a, dtype)};
}

// ---- cuda ----
Input output_like(py::handle out, const Input& like, const std::vector<int64_t>& shape, const char* op) {
  return output_like(out, like, shape, op, like.view.dtype);
}

Input output_like(py::handle out, const Input& like, const std::vector<int64_t>& shape, const char* op,
                  DType dtype) {
  if (like.view.device == Device::CPU) {
    FL_CHECK_VALUE(out.is_none() || !is_cuda_dlpack(out), op, ": out is a cuda array but the input is on the cpu");
    return output_array(out, dtype, shape, op);
  }
  py::object obj = py::reinterpret_borrow<py::object>(out);
  if (out.is_none()) {
    obj = hooks(op).empty(like.source, py::cast(shape), dtype_name(dtype));
  } else {
    FL_CHECK_VALUE(is_cuda_dlpack(out), op, ": out must be a cuda array like the input, got ",
                   std::string(py::str(py::type::of(out).attr("__name__"))));
  }
  Input a = import_cuda_dlpack(obj, op, "out");
  FL_CHECK_VALUE(a.view.device_index == like.view.device_index, op, ": out is on cuda:", a.view.device_index,
                 " but the input is on cuda:", like.view.device_index);
  FL_CHECK_TYPE(a.view.dtype == dtype, op, ": out must have dtype ", dtype_name(dtype), ", got ",
                dtype_name(a.view.dtype));
  FL_CHECK_VALUE(std::vector<int64_t>(a.view.shape, a.view.shape + a.view.ndim) == shape, op,
                 ": out must have shape ", shape_str(shape), ", got ", a.view.shape_str());
  FL_CHECK_VALUE(a.view.is_contiguous(), op, ": out must be C-contiguous");
  return a;
}

py::object result(const Input& a) { return a.view.device == Device::CPU ? py::object(a.array) : a.source; }

py::object result_or_none(const Input& a) { return a.view.defined() ? result(a) : py::object(py::none()); }

DeviceIndex import_cuda_indices(py::handle obj, const char* op, const std::vector<int64_t>& shape, const char* arg) {
  FL_CHECK_TYPE(is_cuda_dlpack(obj), op, ": ", arg, " must be an int64 cuda array like the input, got ",
                std::string(py::str(py::type::of(obj).attr("__name__"))));
  DeviceIndex d;
  d.source = py::reinterpret_borrow<py::object>(obj);
  CudaTensor c = import_cuda_tensor(obj, op, arg, d.owner);
  FL_CHECK_TYPE(c.code == dlpack::kDLInt && c.bits == 64, op, ": ", arg,
                " must have dtype int64, got ", dlpack_dtype_name(c.code, c.bits, 1));
  if (!c.view.is_contiguous()) {
    d.source = hooks(op).ascontiguousarray(obj);
    c = import_cuda_tensor(d.source, op, arg, d.owner);
  }
  FL_CHECK_VALUE(std::vector<int64_t>(c.view.shape, c.view.shape + c.view.ndim) == shape, op, ": ", arg,
                 " must have shape ", shape_str(shape), ", got ", c.view.shape_str());
  d.view = c.view;
  return d;
}

DeviceIndex new_cuda_indices(const Input& like, const std::vector<int64_t>& shape, const char* op) {
  py::object obj = hooks(op).empty(like.source, py::cast(shape), "int64");
  return import_cuda_indices(obj, op, shape);
}

void set_array_hooks(py::object empty, py::object ascontiguousarray, py::object cupy_stream) {
  g_hooks = new Hooks{std::move(empty), std::move(ascontiguousarray), std::move(cupy_stream)};
}

}  // namespace fl::py_arrays
