#pragma once
/// \file error.hpp
/// invar::Error, the one exception type the library throws for bad input, and the
/// helpers that build messages naming the argument, the shapes and the problem.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace invar {

/// Thrown for every detected misuse or bad input: wrong shapes, empty groups, NaN where a
/// finite value is required, unreadable or corrupt files. `what()` names the argument
/// (or file) and says what was expected and what was found.
class Error : public std::runtime_error {
 public:
  /// `what()` is "invar: " followed by `message`.
  explicit Error(const std::string& message) : std::runtime_error("invar: " + message) {}
};

namespace detail {

/// Concatenates any streamable parts into one message (shapes stream as [2, 3]).
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace detail

/// Throws invar::Error with the concatenated message when `condition` is false.
/// Usage: `check(x.rank() == 2, "gemm: A must be a matrix, got shape ", x.shape());`
template <class... Parts>
inline void check(bool condition, const Parts&... parts) {
  if (!condition) throw Error(detail::concat(parts...));
}

}  // namespace invar
