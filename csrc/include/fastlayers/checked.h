// Overflow-checked arithmetic on sizes, strides, paddings and dilations (host only). A front door computes
// every derived size through these before a kernel sees it: an argument whose products or sums leave int64
// becomes a ValueError naming the op and the argument, never a wrapped (small, "valid") size.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "fastlayers/error.h"

namespace fl {

[[noreturn]] inline void throw_index_overflow(const char* op, const char* arg, int64_t value) {
  throw ValueError(cat_str(op, ": ", arg, " ", value, " gives an index beyond int64"));
}

// a + b; ValueError "<op>: <arg> <value> gives an index beyond int64" when it overflows.
inline int64_t checked_add(int64_t a, int64_t b, const char* op, const char* arg, int64_t value) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) throw_index_overflow(op, arg, value);
  return r;
}

// a * b; ValueError as checked_add when it overflows.
inline int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* arg, int64_t value) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw_index_overflow(op, arg, value);
  return r;
}

// The product of `sizes` (the element count of a shape); ValueError naming `arg` when it overflows.
inline int64_t checked_numel(std::initializer_list<int64_t> sizes, const char* op, const char* arg) {
  int64_t r = 1;
  for (int64_t s : sizes)
    if (__builtin_mul_overflow(r, s, &r))
      throw ValueError(cat_str(op, ": ", arg, " has more elements than int64 can index"));
  return r;
}

// Extent of a sliding window's axis in checked arithmetic: the padded input in + 2 * pad, the window's
// reach dil * (k - 1), and stride * padded (how far the kernels step through the input per output along
// this axis, and the phase decomposition's size). Once these fit, conv_out_size / pool_out_size and every
// index a kernel forms from them stay inside int64.
struct WindowAxis {
  int64_t padded, reach;
};
inline WindowAxis checked_window_axis(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, const char* op) {
  WindowAxis a;
  a.padded = checked_add(in, checked_mul(2, pad, op, "padding", pad), op, "padding", pad);
  a.reach = checked_mul(dil, k - 1, op, "dilation", dil);
  checked_mul(stride, a.padded, op, "stride", stride);
  return a;
}

}  // namespace fl
