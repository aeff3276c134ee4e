#include "fastlayers/tensor.h"

#include <sstream>

#include "fastlayers/error.h"
#include "fastlayers/params.h"

namespace fl {

std::string TensorView::shape_str() const {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < ndim; ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

TensorView make_view(void* data, DType dtype, std::initializer_list<int64_t> shape, Device device) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.device = device;
  FL_CHECK_VALUE(shape.size() <= static_cast<size_t>(kMaxDims), "make_view: at most ", kMaxDims, " dims");
  v.ndim = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) v.shape[i++] = s;
  int64_t stride = 1;
  for (int d = v.ndim - 1; d >= 0; --d) {
    v.strides[d] = stride;
    stride *= v.shape[d];
  }
  return v;
}

std::string Conv2dParams::str() const {
  std::ostringstream os;
  os << "mb" << N << "ic" << C << "ih" << H;
  if (W != H) os << "iw" << W;
  os << "oc" << K << "kh" << R;
  if (S != R) os << "kw" << S;
  os << "sh" << stride_h;
  if (stride_w != stride_h) os << "sw" << stride_w;
  os << "ph" << pad_h;
  if (pad_w != pad_h) os << "pw" << pad_w;
  os << "dh" << dil_h;
  if (dil_w != dil_h) os << "dw" << dil_w;
  os << "g" << groups;
  return os.str();
}

}  // namespace fl
