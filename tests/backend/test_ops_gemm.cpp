#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "support/random.hpp"

using invar::index_t;
using invar::Shape;
using invar::Tensor;
namespace ops = invar::ops;

namespace {
// Explicit triple loop in long double: the reference for every transpose/alpha/beta combination.
template <class T>
Tensor<T> naive_gemm(const Tensor<T>& a, bool ta, const Tensor<T>& b, bool tb, const Tensor<T>& c0, double alpha,
                     double beta) {
  const index_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1);
  const index_t n = tb ? b.dim(0) : b.dim(1);
  Tensor<T> c(Shape{m, n});
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      long double s = 0;
      for (index_t p = 0; p < k; ++p) s += static_cast<long double>(ta ? a(p, i) : a(i, p)) * (tb ? b(j, p) : b(p, j));
      c(i, j) = static_cast<T>(alpha * s + (beta == 0 ? 0.0L : beta * static_cast<long double>(c0(i, j))));
    }
  return c;
}
}  // namespace

TEST_CASE_TEMPLATE("gemm matches explicit loops for all transposes, alpha, beta and odd sizes", T, float, double) {
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;
  std::uint64_t seed = 100;
  for (auto [m, n, k] : {std::tuple{1, 1, 1}, {3, 5, 7}, {17, 1, 33}, {64, 65, 63}, {130, 70, 257}, {5, 300, 2}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (auto [alpha, beta] : {std::pair{1.0, 0.0}, {-0.5, 1.0}, {2.0, 0.25}}) {
          auto a = invar::test::random_tensor<T>(ta ? Shape{k, m} : Shape{m, k}, ++seed);
          auto b = invar::test::random_tensor<T>(tb ? Shape{n, k} : Shape{k, n}, ++seed);
          auto c = invar::test::random_tensor<T>(Shape{m, n}, ++seed);
          const auto expected = naive_gemm(a, ta, b, tb, c, alpha, beta);
          ops::gemm(a, b, c, ops::GemmOptions{}.transpose_a(ta).transpose_b(tb).with_alpha(alpha).with_beta(beta));
          for (index_t i = 0; i < c.numel(); ++i)
            REQUIRE(std::abs(double(c[i]) - double(expected[i])) <= tol * (1 + std::abs(double(expected[i]))) * k);
        }
}

TEST_CASE("gemm: beta = 0 overwrites NaN in c, k = 0 scales c") {
  Tensor<float> a(Shape{2, 3}), b(Shape{3, 2}), c(Shape{2, 2});
  for (auto& x : a) x = 1.f;
  for (auto& x : b) x = 2.f;
  for (auto& x : c) x = std::numeric_limits<float>::quiet_NaN();
  ops::gemm(a, b, c);
  for (auto x : c) CHECK(x == 6.f);

  Tensor<float> a0(Shape{2, 0}), b0(Shape{0, 2});
  ops::gemm(a0, b0, c, ops::GemmOptions{}.with_beta(0.5));
  for (auto x : c) CHECK(x == 3.f);
  ops::gemm(a0, b0, c);
  for (auto x : c) CHECK(x == 0.f);
}

TEST_CASE("gemm: shape errors name the operands and shapes") {
  Tensor<float> a(Shape{2, 3}), b(Shape{4, 2}), c(Shape{2, 2}), v(Shape{3});
  CHECK_THROWS_WITH_AS(ops::gemm(a, b, c), doctest::Contains("inner dimensions differ"), invar::Error);
  CHECK_THROWS_WITH_AS(ops::gemm(v, b, c), doctest::Contains("must be matrices"), invar::Error);
  Tensor<float> c3(Shape{3, 3});
  CHECK_THROWS_WITH_AS(ops::gemm(a, a, c3, ops::GemmOptions{}.transpose_b()),
                       doctest::Contains("c has shape [3, 3], expected [2, 2]"), invar::Error);
}

TEST_CASE("gemm works on views of user buffers and sub-blocks of rows") {
  std::vector<double> abuf(12), bbuf(6), cbuf(4, 0.0);
  for (int i = 0; i < 12; ++i) abuf[static_cast<std::size_t>(i)] = i;
  for (int i = 0; i < 6; ++i) bbuf[static_cast<std::size_t>(i)] = 1.0;
  auto a = invar::view(abuf.data(), Shape{4, 3});
  ops::gemm(a.slice_rows(2, 4), invar::view(bbuf.data(), Shape{3, 2}), invar::view(cbuf.data(), Shape{2, 2}));
  CHECK(cbuf[0] == 6 + 7 + 8);
  CHECK(cbuf[3] == 9 + 10 + 11);
}
