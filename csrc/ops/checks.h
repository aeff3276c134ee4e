// What the front doors share besides the device rule (ops/device.h): the operand check and the
// FASTLAYERS_VERBOSE switch that logs which implementation a front door picked.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>

#include "fastlayers/error.h"
#include "fastlayers/tensor.h"

namespace fl {

// Throws ValueError unless `v` has exactly `shape`, TypeError unless its dtype is `dtype` (the input's),
// ValueError unless it is contiguous; each message names `op` and `arg`.
void check_view(const TensorView& v, const char* op, const char* arg, std::initializer_list<int64_t> shape,
                DType dtype);

// The environment variable `name` is set to something other than "" or "0".
bool env_flag(const char* name);
// env_flag("FASTLAYERS_VERBOSE"), read once.
bool verbose();

// From `impls` (fastest first, the reference last, which accepts anything): the one named `forced` when given
// (ValueError if there is none of that name or it does not accept p), else the first that accepts p; the
// pick is logged under FASTLAYERS_VERBOSE. Impl has `name` and `accepts(p)`, Params has `str()`.
template <typename Impl, size_t K, typename Params>
const Impl& pick_impl(const Impl (&impls)[K], const Params& p, const char* op, const char* forced) {
  if (forced && *forced) {
    for (const auto& impl : impls)
      if (std::strcmp(impl.name, forced) == 0) {
        FL_CHECK_VALUE(impl.accepts(p), op, ": implementation '", forced, "' does not accept ", p.str());
        return impl;
      }
    std::string names;
    for (const auto& impl : impls) names += std::string(names.empty() ? "" : ", ") + impl.name;
    throw ValueError(cat_str(op, ": impl must be one of ", names, ", got '", forced, "'"));
  }
  for (const auto& impl : impls)
    if (impl.accepts(p)) {
      if (verbose()) std::fprintf(stderr, "fastlayers: %s %s -> %s\n", op, p.str().c_str(), impl.name);
      return impl;
    }
  return impls[K - 1];
}

}  // namespace fl
