#pragma once
// The message of the invar::Error an expression throws, for tests that check what it says.

#include <doctest/doctest.h>

#include <string>

#include "invar/cpu.hpp"
#include "invar/core/error.hpp"

namespace invar::test {

inline std::string error_of(const auto& fn) {
  try {
    fn();
  } catch (const invar::Error& e) {
    return e.what();
  }
  return "(no invar::Error thrown)";
}

}  // namespace invar::test

/// CHECK that `expr` throws an invar::Error whose message contains `text` (shown on failure).
#define CHECK_ERROR_CONTAINS(expr, text)                                   \
  do {                                                                     \
    const std::string msg_ = ::invar::test::error_of([&] { (void)(expr); }); \
    INFO("message: ", msg_);                                               \
    CHECK(msg_.find(text) != std::string::npos);                           \
  } while (0)
