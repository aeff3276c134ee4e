// fastlayers._C's CUDA queries: safe in every build and on machines without a GPU or a driver.
#include <pybind11/pybind11.h>

#include <pybind11/stl.h>

#include <cstdint>
#include <optional>

#include "fastlayers/cuda.h"

namespace py = pybind11;

namespace fl::bindings {

void bind_cuda(py::module_& m) {
  m.def("cuda_is_built", &fl::cuda_is_built, "Whether this build contains the CUDA kernels.");
  m.def("cuda_device_count", &fl::cuda_device_count,
        "Usable CUDA devices: 0 when not built, without a driver or without a device.");
  m.def("cuda_set_stream",
        [](std::optional<uintptr_t> stream) {
          if (stream) fl::set_cuda_stream(reinterpret_cast<void*>(*stream));
          else fl::clear_cuda_stream();
        },
        py::arg("stream"),
        "The cudaStream_t (as an integer; 0 is the legacy default) kernels launch on from this thread; None: no "
        "override, launches follow the arrays' framework (CuPy's current stream for CuPy arrays).");
  m.def("cuda_get_stream", []() -> py::object {
    if (!fl::cuda_stream_is_set()) return py::none();
    return py::int_(reinterpret_cast<uintptr_t>(fl::cuda_stream()));
  }, "The override set by cuda_set_stream, or None.");
}

}  // namespace fl::bindings
