// Binding of the dropout mask: a new mask shaped and typed like `like` (on its device), or written into `out`.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <vector>

#include "fastlayers/ops.h"
#include "python/arrays.h"

namespace py = pybind11;
using fl::py_arrays::Input;

namespace fl::bindings {
namespace {

py::object dropout_mask(py::handle like, std::vector<int64_t> shape, double p, uint64_t seed, uint64_t offset) {
  const char* op = "dropout";
  Input x = py_arrays::import_float_array(like, op, "input", true);
  Input m = py_arrays::output_like(py::none(), x, shape, op);
  DropoutParams dp;
  dp.numel = m.view.numel();
  dp.p = p;
  dp.seed = seed;
  dp.offset = offset;
  {
    py::gil_scoped_release release;
    fl::dropout_mask(m.view, dp);
  }
  return py_arrays::result(m);
}

}  // namespace

void bind_dropout(py::module_& m) {
  m.def("dropout_mask", &dropout_mask, py::arg("like"), py::arg("shape"), py::arg("p"), py::arg("seed"),
        py::arg("offset") = 0,
        "A mask of `shape` with like's dtype and device: 0 with probability p, else 1/(1-p), from a counter-based "
        "hash of (seed, offset + i): the same mask on every device for a seed.");
}

}  // namespace fl::bindings
