// The doctest runner for invar_tests (all other test files only define test cases). After the
// run it lists the test cases that were skipped because something they need is missing
// (support/skip.hpp), so that a skip never passes for a pass.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "support/skip.hpp"

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int rc = context.run();
  if (context.shouldExit()) return rc;
  const std::string skipped = invar::test::skipped_summary();
  if (!skipped.empty()) std::cout << skipped;
  return rc;
}
