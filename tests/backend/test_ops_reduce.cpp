#include <doctest/doctest.h>

#include <cmath>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "support/random.hpp"

using invar::index_t;
using invar::Shape;
using invar::Tensor;
namespace ops = invar::ops;

namespace {
template <class T>
double tol() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-13;
}
}  // namespace

TEST_CASE_TEMPLATE("reduce_rows, reduce_cols and reduce_all match explicit loops", T, float, double) {
  for (auto [r, c] : {std::pair{1, 1}, {3, 7}, {64, 1000}, {513, 300}, {2, 70000}}) {
    auto x = invar::test::random_tensor<T>(Shape{r, c}, 11);
    auto y = invar::test::random_tensor<T>(Shape{r, c}, 12);
    Tensor<T> rs(Shape{r}), cs(Shape{c}), rd(Shape{r});
    ops::row_sums(x, rs);
    ops::col_sums(x, cs);
    ops::reduce_rows(rd, [](T a, T b) { return a * b; }, x, y);
    long double total = 0, total_dot = 0;
    for (index_t i = 0; i < r; ++i) {
      long double s = 0, d = 0;
      for (index_t j = 0; j < c; ++j) {
        s += x(i, j);
        d += static_cast<long double>(x(i, j)) * y(i, j);
      }
      total += s;
      total_dot += d;
      REQUIRE(std::abs(double(rs[i]) - double(s)) <= tol<T>() * std::sqrt(double(c)) * 4);
      REQUIRE(std::abs(double(rd[i]) - double(d)) <= tol<T>() * std::sqrt(double(c)) * 4);
    }
    for (index_t j = 0; j < c; ++j) {
      long double s = 0;
      for (index_t i = 0; i < r; ++i) s += x(i, j);
      REQUIRE(std::abs(double(cs[j]) - double(s)) <= tol<T>() * r);
    }
    CHECK(std::abs(double(ops::sum(x)) - double(total)) <= tol<T>() * std::sqrt(double(r) * c) * 4);
    CHECK(std::abs(double(ops::dot(x, y)) - double(total_dot)) <= tol<T>() * std::sqrt(double(r) * c) * 4);
  }
}

TEST_CASE("row_squared_norms of a rank-4 activation sees it as rows x flattened rest") {
  auto x = invar::test::random_tensor<double>(Shape{3, 2, 4, 5}, 13);
  Tensor<double> n(Shape{3});
  ops::row_squared_norms(x, n);
  for (index_t i = 0; i < 3; ++i) {
    double s = 0;
    for (index_t j = 0; j < 40; ++j) s += x[i * 40 + j] * x[i * 40 + j];
    CHECK(n[i] == doctest::Approx(s).epsilon(1e-14));
  }
}

TEST_CASE("float sums of millions of elements keep their precision (double accumulators)") {
  Tensor<float> x(Shape{1 << 22});
  ops::fill(x, 0.1f);
  const double exact = double(0.1f) * double(1 << 22);
  CHECK(std::abs(double(ops::sum(x)) - exact) / exact < 1e-7);
  Tensor<float> wide(Shape{2, 1 << 20}), rs(Shape{2});
  ops::fill(wide, 0.1f);
  ops::row_sums(wide, rs);
  CHECK(std::abs(double(rs[1]) - double(0.1f) * (1 << 20)) / (double(0.1f) * (1 << 20)) < 1e-7);
  Tensor<float> tall(Shape{1 << 20, 2}), cs(Shape{2});
  ops::fill(tall, 0.1f);
  ops::col_sums(tall, cs);
  CHECK(std::abs(double(cs[0]) - double(0.1f) * (1 << 20)) / (double(0.1f) * (1 << 20)) < 1e-7);
}

TEST_CASE("reductions: empty inputs give zeros, wrong output shapes throw") {
  Tensor<float> x(Shape{0, 4}), cs(Shape{4});
  ops::fill(cs, 1.f);
  ops::col_sums(x, cs);
  for (auto v : cs) CHECK(v == 0.f);
  CHECK(ops::sum(x) == 0.f);
  Tensor<float> y(Shape{3, 4}), bad(Shape{4});
  CHECK_THROWS_WITH_AS(ops::row_sums(y, bad), doctest::Contains("out must be a vector of 3"), invar::Error);
  CHECK_THROWS_WITH_AS(ops::col_sums(y, Tensor<float>(Shape{3})), doctest::Contains("out must be a vector of 4"),
                       invar::Error);
  CHECK_THROWS_WITH_AS(ops::dot(y, x), doctest::Contains("inputs differ in shape"), invar::Error);
}
