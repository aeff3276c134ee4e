// fastlayers._C: the bindings. No math here: arrays in, views to the front doors, arrays out.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "fastlayers/error.h"
#include "fastlayers/runtime.h"
#include "ops/impls.h"
#include "python/arrays.h"

namespace py = pybind11;

namespace fl::bindings {
void bind_conv(py::module_& m);
void bind_norm(py::module_& m);
void bind_conv_transpose2d(py::module_& m);
void bind_pool(py::module_& m);
void bind_activation(py::module_& m);
// ---- upsampling ----
void bind_upsample(py::module_& m);
// ---- linear ----
void bind_linear(py::module_& m);
// ---- losses ----
void bind_loss(py::module_& m);
// ---- cuda ----
void bind_cuda(py::module_& m);
void bind_dropout(py::module_& m);
}  // namespace fl::bindings

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastlayers C++ kernels";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fl::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const fl::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });

  m.def("set_num_threads", &fl::set_num_threads, py::arg("n"), "Threads used by every kernel (n >= 1).");
  m.def("get_num_threads", &fl::get_num_threads,
        "Threads used by every kernel: set_num_threads, else FASTLAYERS_NUM_THREADS, else OMP_NUM_THREADS, else "
        "the CPUs this process may run on (physical cores where they can be told apart).");
  m.def("build_info", [] {
    py::dict d;
    d["git_revision"] = FL_BUILD_GIT;
    d["compiler"] = FL_BUILD_COMPILER;
    d["openmp"] = FL_BUILD_OPENMP;
    d["build_type"] = FL_BUILD_TYPE;
    d["simd_units"] = fl::simd_units_built();
#if defined(FL_WITH_CUDA)
    d["cuda"] = true;
    d["cuda_architectures"] = FL_BUILD_CUDA_ARCHS;
#else
    d["cuda"] = false;
    d["cuda_architectures"] = "";
#endif
    return d;
  }, "How this extension was built: git revision, compiler, OpenMP version, SIMD units, CUDA architectures.");
  m.def("num_threads_source", &fl::num_threads_source, "Where get_num_threads() came from.");
  m.def("set_flush_denormal", &fl::set_flush_denormal, py::arg("mode"),
        "Flush denormal floats to zero in the kernels (x86 FTZ/DAZ); returns False where unsupported.");
  m.def("simd_level", [] { return fl::simd_level_name(fl::simd_level()); },
        "The SIMD path kernels run: 'portable', 'avx2' or 'avx512'.");
  m.def("max_simd_level", [] { return fl::simd_level_name(fl::max_simd_level()); });
  m.def("set_simd_level", [](const std::string& name) {
    fl::SimdLevel level;
    if (name == "portable") level = fl::SimdLevel::Portable;
    else if (name == "avx2") level = fl::SimdLevel::AVX2;
    else if (name == "avx512") level = fl::SimdLevel::AVX512;
    else throw fl::ValueError("set_simd_level: level must be 'portable', 'avx2' or 'avx512', got '" + name + "'");
    fl::set_simd_level(level);
    return fl::simd_level_name(fl::simd_level());
  }, py::arg("level"), "Forces a SIMD path (clamped to what the CPU supports); returns the path now in use.");

  // ---- implementation lists (csrc/ops/impls.h) ----
  m.def("impls", [](const std::string& op) { return fl::impl_names(op); }, py::arg("op"),
        "The implementations of `op`, fastest first, the reference last.");
  m.def("impl_ops", &fl::impl_ops, "The ops that have implementation lists (the names set_impl takes).");
  m.def("set_impl", &fl::set_impl, py::arg("op"), py::arg("name"),
        "Forces implementation `name` of `op` for every later call ('' restores the automatic choice); as "
        "FASTLAYERS_IMPL=op:name. A forced implementation that does not accept a problem raises ValueError.");
  m.def("get_impl", [](const std::string& op) { return fl::forced_impl(op.c_str()); }, py::arg("op"),
        "The forced implementation of `op` ('' when the front door chooses).");
  m.def("set_verbose", &fl::set_verbose, py::arg("on"),
        "Log every implementation choice (and why the faster ones declined) to the 'fastlayers' logger; as "
        "FASTLAYERS_VERBOSE=1.");
  m.def("get_verbose", &fl::verbose);
  m.def("_set_log_sink", [](py::object sink) {
    if (sink.is_none()) return fl::set_log_sink(nullptr);
    // Leaked on purpose: a front door may log while the interpreter shuts down, after module teardown.
    auto* fn = new py::object(std::move(sink));
    fl::set_log_sink([fn](const std::string& line) {
      py::gil_scoped_acquire gil;  // front doors run with the GIL released
      try {
        (*fn)(line);
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("fastlayers log sink");
      }
    });
  }, py::arg("sink"), "Where the implementation log goes: a callable taking one line (fastlayers installs "
                      "logging.getLogger('fastlayers').info); None: stderr.");

  m.def("set_array_hooks", &fl::py_arrays::set_array_hooks, py::arg("empty"), py::arg("ascontiguousarray"),
        py::arg("cupy_stream"),
        "The callables _C uses for GPU arrays of the caller's framework: empty(like, shape, dtype_name), "
        "ascontiguousarray(a), cupy_stream(a); `import fastlayers` installs fastlayers._device's.");

  fl::bindings::bind_conv(m);
  // ---- normalization ----
  fl::bindings::bind_norm(m);
  // ---- transposed convolution ----
  fl::bindings::bind_conv_transpose2d(m);
  // ---- pooling ----
  fl::bindings::bind_pool(m);
  // ---- activations ----
  fl::bindings::bind_activation(m);
  // ---- upsampling ----
  fl::bindings::bind_upsample(m);
  // ---- linear ----
  fl::bindings::bind_linear(m);
  // ---- losses ----
  fl::bindings::bind_loss(m);
  // ---- cuda ----
  fl::bindings::bind_cuda(m);
  fl::bindings::bind_dropout(m);
}
