#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "support/random.hpp"

using invar::index_t;
using invar::Shape;
using invar::Tensor;
namespace ops = invar::ops;

TEST_CASE_TEMPLATE("gather_rows and scatter_add_rows match explicit loops", T, float, double) {
  for (auto [n, rows, cols] : {std::tuple{5, 9, 3}, {16, 256, 1024}, {40, 1000, 700}}) {
    auto src = invar::test::random_tensor<T>(Shape{n, cols}, 21);
    auto idx = invar::test::random_indices(rows, n, 22);
    Tensor<T> g(Shape{rows, cols});
    ops::gather_rows(src, idx, g);
    for (index_t r = 0; r < rows; ++r)
      for (index_t j = 0; j < cols; ++j) REQUIRE(g(r, j) == src(idx[r], j));

    // Segment sums: out[k] = base[k] + alpha * sum of the rows with id k, in row order.
    auto base = invar::test::random_tensor<T>(Shape{n, cols}, 23);
    Tensor<T> out = base;
    ops::scatter_add_rows(g, idx, out, -0.5);
    Tensor<T> expected = base;
    for (index_t r = 0; r < rows; ++r)
      for (index_t j = 0; j < cols; ++j) expected(idx[r], j) += T(-0.5) * g(r, j);
    for (index_t i = 0; i < out.numel(); ++i) REQUIRE(out[i] == expected[i]);  // same order -> same bits
  }
}

TEST_CASE("gather/scatter: out-of-range and wrongly shaped indices are invar::Error") {
  Tensor<float> src(Shape{4, 3}), out(Shape{2, 3}), out_wide(Shape{2, 4});
  Tensor<index_t> idx(Shape{2});
  idx[1] = 4;
  CHECK_THROWS_WITH_AS(ops::gather_rows(src, idx, out), doctest::Contains("idx[1] = 4 is out of range [0, 4)"),
                       invar::Error);
  idx[1] = -1;
  CHECK_THROWS_WITH_AS(ops::scatter_add_rows(out, idx, src), doctest::Contains("idx[1] = -1"), invar::Error);
  idx[1] = 0;
  CHECK_THROWS_WITH_AS(ops::gather_rows(src, idx, out_wide), doctest::Contains("row sizes differ"), invar::Error);
  CHECK_THROWS_WITH_AS(ops::scatter_add_rows(src, idx, out), doctest::Contains("one index per source row (4)"),
                       invar::Error);
}
