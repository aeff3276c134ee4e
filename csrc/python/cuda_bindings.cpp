// fastlayers._C's CUDA queries: safe in every build and on machines without a GPU or a driver.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "fastlayers/cuda.h"

namespace py = pybind11;

namespace fl::bindings {

void bind_cuda(py::module_& m) {
  m.def("cuda_is_built", &fl::cuda_is_built, "Whether this build contains the CUDA kernels.");
  m.def("cuda_device_count", &fl::cuda_device_count,
        "Usable CUDA devices: 0 when not built, without a driver or without a device.");
  m.def("cuda_set_stream", [](uintptr_t stream) { fl::set_cuda_stream(reinterpret_cast<void*>(stream)); },
        py::arg("stream"), "The cudaStream_t (as an integer; 0 is the legacy default) kernels launch on from this thread.");
  m.def("cuda_get_stream", [] { return reinterpret_cast<uintptr_t>(fl::cuda_stream()); });
}

}  // namespace fl::bindings
