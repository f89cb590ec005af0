#pragma once
// For the examples that read a data set: when its files are not there, say so and exit 77, which
// ctest (examples/CMakeLists.txt, SKIP_RETURN_CODE) reports as skipped, not passed. With the
// environment variable INVAR_REQUIRE_DATA=1 (CI sets it where the data are installed) a missing
// data set is an error instead (exit 1), as for the tests.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>

namespace example {

/// Whether `dir` holds `file` (or `file` + ".gz" when gz is true).
inline bool has_file(const std::string& dir, const std::string& file, bool gz = false) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(fs::path(dir) / file, ec)) return true;
  return gz && fs::is_regular_file(fs::path(dir) / (file + ".gz"), ec);
}

/// The exit status of `program` when `what` is not found in `dir`: prints why, returns 77 (skipped)
/// or, under INVAR_REQUIRE_DATA=1, 1.
inline int missing_data(const char* program, const std::string& what, const std::string& dir) {
  const char* required = std::getenv("INVAR_REQUIRE_DATA");
  if (required != nullptr && std::string(required) == "1") {
    std::fprintf(stderr, "%s: %s not found in '%s' (required: INVAR_REQUIRE_DATA=1)\n", program, what.c_str(),
                 dir.c_str());
    return 1;
  }
  std::printf("%s: SKIPPED: %s not found in '%s'\n", program, what.c_str(), dir.c_str());
  return 77;
}

}  // namespace example
