#pragma once
// Tests that need something outside the repository (a data set, python3 with numpy) and do not
// find it are reported as SKIPPED with the reason, never as passed:
//   - the test prints "INVAR-TEST-SKIPPED: <reason>" and returns; ctest's SKIP_REGULAR_EXPRESSION
//     (tests/CMakeLists.txt) turns that into "Skipped", and invar_tests ends its run with a
//     summary of the skipped test cases and their reasons (tests/main.cpp);
//   - with the environment variable INVAR_REQUIRE_DATA=1 (CI sets it, where the data are
//     installed) a missing requirement is a test failure instead.
//
//   if (!INVAR_REQUIRE_FILE(dir + "/t10k-images-idx3-ubyte.gz", "Fashion-MNIST (Debian package dataset-fashion-mnist)"))
//     return;
//   if (rc == 77) { INVAR_SKIP_TEST("python3 with numpy not found"); return; }           // required under CI
//   if (rc == 77) { INVAR_SKIP_OPTIONAL("python3-torch not installed"); return; }        // never required

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

namespace invar::test {

/// Whether the environment asks for every external requirement to be present (INVAR_REQUIRE_DATA=1).
inline bool data_required() {
  const char* v = std::getenv("INVAR_REQUIRE_DATA");
  return v != nullptr && std::string(v) == "1";
}

/// The marker ctest looks for (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt).
inline constexpr const char* skip_marker = "INVAR-TEST-SKIPPED: ";

/// The test cases skipped in this run, with their reasons (printed by tests/main.cpp at the end).
inline std::vector<std::string>& skipped_tests() {
  static std::vector<std::string> list;
  return list;
}
inline std::mutex& skipped_tests_mutex() {
  static std::mutex m;
  return m;
}

/// The name of the running test case (doctest's), or "" outside one.
inline std::string current_test_name() {
  const doctest::ContextOptions* o = doctest::getContextOptions();
  const doctest::detail::TestCase* tc = o != nullptr ? o->currentTest : nullptr;
  return tc != nullptr && tc->m_name != nullptr ? std::string(tc->m_name) : std::string();
}

/// Records and prints the skip of the current test case.
inline void report_skip(const std::string& reason) {
  const std::string name = current_test_name();
  std::cout << skip_marker << (name.empty() ? "" : "'" + name + "': ") << reason << std::endl;
  const std::lock_guard<std::mutex> lock(skipped_tests_mutex());
  skipped_tests().push_back((name.empty() ? std::string("(unnamed)") : name) + ": " + reason);
}

/// The summary printed after a run, "" when nothing was skipped.
inline std::string skipped_summary() {
  const std::lock_guard<std::mutex> lock(skipped_tests_mutex());
  const auto& list = skipped_tests();
  if (list.empty()) return "";
  std::string s = "[invar] " + std::to_string(list.size()) + " of the test cases above " +
                  (list.size() == 1 ? "was" : "were") +
                  " SKIPPED, not passed (doctest counts them as passed; INVAR_REQUIRE_DATA=1 makes a missing "
                  "requirement fail):\n";
  for (const auto& line : list) s += "[invar]   " + line + "\n";
  return s;
}

inline bool file_present(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace invar::test

/// Skips the current test case (the caller returns right after): a failure instead when
/// INVAR_REQUIRE_DATA=1.
#define INVAR_SKIP_TEST(reason)                                                                       \
  do {                                                                                                \
    const std::string invar_skip_reason_ = (reason);                                                  \
    if (::invar::test::data_required())                                                               \
      FAIL_CHECK("required (INVAR_REQUIRE_DATA=1) but missing: " << invar_skip_reason_);              \
    else                                                                                              \
      ::invar::test::report_skip(invar_skip_reason_);                                                 \
  } while (0)

/// Skips the current test case for a requirement that is never mandatory (an optional tool).
#define INVAR_SKIP_OPTIONAL(reason) ::invar::test::report_skip(std::string(reason) + " (optional)")

/// True when `path` exists; otherwise INVAR_SKIP_TEST("<what> not found at <path>") and false.
#define INVAR_REQUIRE_FILE(path, what)                                                               \
  ([&]() -> bool {                                                                                   \
    const std::string invar_required_path_ = (path);                                                 \
    if (::invar::test::file_present(invar_required_path_)) return true;                              \
    INVAR_SKIP_TEST(std::string(what) + " not found at '" + invar_required_path_ + "'");             \
    return false;                                                                                    \
  }())
