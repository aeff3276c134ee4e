// Exceptions thrown at the front doors; the Python bindings map them to ValueError, TypeError, RuntimeError.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fl {

struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };

template <typename... Args> std::string cat_str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace fl

#define FL_CHECK_VALUE(cond, ...) \
  do { if (!(cond)) throw ::fl::ValueError(::fl::cat_str(__VA_ARGS__)); } while (0)
#define FL_CHECK_TYPE(cond, ...) \
  do { if (!(cond)) throw ::fl::TypeError(::fl::cat_str(__VA_ARGS__)); } while (0)

// ---- losses ----
namespace fl {
// An index out of range (a class index past the number of classes); Python's IndexError, as torch.
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
}  // namespace fl
