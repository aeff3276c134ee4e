#include "ops/checks.h"

#include "fastlayers/error.h"

namespace fl {

void check_view(const TensorView& v, const char* op, const char* arg, std::initializer_list<int64_t> shape,
                DType dtype) {
  const int ndim = static_cast<int>(shape.size());
  bool same = v.ndim == ndim;
  int i = 0;
  for (int64_t s : shape) same = same && v.shape[i++] == s;
  if (!same) {
    TensorView want;
    want.ndim = ndim;
    i = 0;
    for (int64_t s : shape) want.shape[i++] = s;
    throw ValueError(cat_str(op, ": ", arg, " must have shape ", want.shape_str(), ", got ", v.shape_str()));
  }
  FL_CHECK_TYPE(v.dtype == dtype, op, ": ", arg, " must have dtype ", dtype_name(dtype), " like the input, got ",
                dtype_name(v.dtype));
  FL_CHECK_VALUE(v.is_contiguous(), op, ": ", arg, " must be contiguous");
}

}  // namespace fl
