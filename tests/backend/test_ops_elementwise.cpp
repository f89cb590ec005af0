#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "support/random.hpp"

using invar::index_t;
using invar::Shape;
using invar::Tensor;
namespace ops = invar::ops;

TEST_CASE_TEMPLATE("map with 0, 1, 2 and 3 inputs matches explicit loops, out may alias an input", T, float, double) {
  const Shape s{37, 1031};  // large enough to run in parallel, odd so chunks are uneven
  auto a = invar::test::random_tensor<T>(s, 1), b = invar::test::random_tensor<T>(s, 2),
       c = invar::test::random_tensor<T>(s, 3);
  Tensor<T> out(s);

  ops::map(out, [](T x, T y, T z) { return x * y - z; }, a, b, c);
  for (index_t i = 0; i < s.numel(); ++i) REQUIRE(out[i] == a[i] * b[i] - c[i]);

  ops::map(out, [](T x) { return x * x; }, a);
  for (index_t i = 0; i < s.numel(); ++i) REQUIRE(out[i] == a[i] * a[i]);

  auto a0 = a;
  ops::axpby(2.0, b, -1.0, a);  // a = 2 b - a, aliasing out and an input
  for (index_t i = 0; i < s.numel(); ++i) REQUIRE(a[i] == T(2) * b[i] + T(-1) * a0[i]);

  ops::fill(out, 3);
  for (index_t i = 0; i < s.numel(); ++i) REQUIRE(out[i] == T(3));
  ops::copy(b, out);
  for (index_t i = 0; i < s.numel(); ++i) REQUIRE(out[i] == b[i]);
  ops::scale(out, 0.5);
  for (index_t i = 0; i < s.numel(); ++i) REQUIRE(out[i] == b[i] * T(0.5));
}

TEST_CASE_TEMPLATE("broadcast_rows / broadcast_cols match explicit loops", T, float, double) {
  const Shape s{9, 4, 5};  // rows = 9, flattened columns = 20
  auto x = invar::test::random_tensor<T>(s, 4);
  auto vr = invar::test::random_tensor<T>(Shape{9}, 5);
  auto vc = invar::test::random_tensor<T>(Shape{20}, 6);
  Tensor<T> out(s);
  ops::broadcast_rows(out, x, vr, [](T a, T v) { return a - v; });
  for (index_t i = 0; i < 9; ++i)
    for (index_t j = 0; j < 20; ++j) REQUIRE(out[i * 20 + j] == x[i * 20 + j] - vr[i]);
  const Tensor<T> x0 = x;
  ops::broadcast_cols(x, x, vc, [](T a, T v) { return a * v; });  // in place
  for (index_t i = 0; i < 9; ++i)
    for (index_t j = 0; j < 20; ++j) REQUIRE(x[i * 20 + j] == x0[i * 20 + j] * vc[j]);
}

TEST_CASE("element-wise ops reject mismatched shapes with the shapes in the message") {
  Tensor<float> a(Shape{2, 3}), b(Shape{3, 2}), v(Shape{3});
  CHECK_THROWS_WITH_AS(ops::map(a, [](float x) { return x; }, b),
                       doctest::Contains("input shape [3, 2] differs from output shape [2, 3]"), invar::Error);
  CHECK_THROWS_WITH_AS(ops::broadcast_rows(a, a, v, [](float x, float) { return x; }),
                       doctest::Contains("v must be a vector of 2"), invar::Error);
  CHECK_THROWS_WITH_AS(ops::broadcast_cols(a, b, v, [](float x, float) { return x; }),
                       doctest::Contains("x has shape [3, 2], out has [2, 3]"), invar::Error);
  Tensor<float> empty(Shape{0, 3});
  CHECK_NOTHROW(ops::map(empty, [](float x) { return x; }, empty));
}
