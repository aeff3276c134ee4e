// Non-owning views of arrays handed to kernels. Kernels never own or allocate their outputs.
#pragma once
#include <cstdint>
#include <string>

namespace fl {

// Float16 / BFloat16 (IEEE half, bfloat16) are storage types of the CUDA kernels only, which accumulate in
// float32; every CPU front door refuses them (TypeError naming the op, the argument and the dtype).
enum class DType : int { Float32 = 0, Float64 = 1, Float16 = 2, BFloat16 = 3 };
enum class Device : int { CPU = 0, CUDA = 1 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
  }
  return "unknown";
}
inline bool is_half(DType d) { return d == DType::Float16 || d == DType::BFloat16; }
inline int64_t dtype_size(DType d) { return d == DType::Float64 ? 8 : d == DType::Float32 ? 4 : 2; }
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }

constexpr int kMaxDims = 8;

// Shape and strides are in elements, row-major meaning. A view with data == nullptr is "absent"
// (an optional bias, a gradient that was not asked for).
struct TensorView {
  void* data = nullptr;
  DType dtype = DType::Float32;
  Device device = Device::CPU;
  int device_index = 0;  // which GPU, for Device::CUDA
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};

  bool defined() const { return data != nullptr; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  bool is_contiguous() const {
    if (numel() == 0) return true;  // an empty array's strides carry no meaning
    int64_t expect = 1;
    for (int i = ndim - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expect) return false;
      expect *= shape[i];
    }
    return true;
  }
  template <typename T> T* ptr() const { return static_cast<T*>(data); }
  std::string shape_str() const;
};

// A contiguous view over caller-owned memory.
TensorView make_view(void* data, DType dtype, std::initializer_list<int64_t> shape, Device device = Device::CPU);

}  // namespace fl
