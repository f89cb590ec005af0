#include <doctest/doctest.h>

#include <sstream>

#include "invar/cpu.hpp"
#include "invar/core/error.hpp"
#include "invar/core/shape.hpp"

using invar::Error;
using invar::Shape;

TEST_CASE("Shape: extents, numel, row size, printing") {
  const Shape s{2, 3, 4};
  CHECK(s.rank() == 3);
  CHECK(s.numel() == 24);
  CHECK(s.row_size() == 12);
  CHECK(s.dim(-1) == 4);
  CHECK(s.dim(0) == 2);
  std::ostringstream out;
  out << s;
  CHECK(out.str() == "[2, 3, 4]");
  CHECK(Shape{}.numel() == 1);
  CHECK(Shape{}.rank() == 0);
  CHECK(Shape{0, 5}.numel() == 0);
  CHECK(Shape{2, 3} == Shape{2, 3});
  CHECK_FALSE(Shape{2, 3} == Shape{3, 2});
  CHECK_FALSE(Shape{6} == Shape{6, 1});
}

TEST_CASE("Shape: bad extents and axes are invar::Error naming the problem") {
  CHECK_THROWS_WITH_AS(Shape({2, -1}), doctest::Contains("negative"), Error);
  CHECK_THROWS_WITH_AS(Shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), doctest::Contains("rank 9"), Error);
  CHECK_THROWS_WITH_AS((void)Shape({2, 3}).dim(2), doctest::Contains("axis 2 out of range for shape [2, 3]"), Error);
}

TEST_CASE("Error: derives from std::runtime_error and concatenates its message") {
  try {
    invar::check(false, "gemm: a has shape ", Shape{2, 3}, ", expected ", 4, " columns");
    FAIL("check(false) did not throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "invar: gemm: a has shape [2, 3], expected 4 columns");
  }
  CHECK_NOTHROW(invar::check(true, "never shown"));
}
