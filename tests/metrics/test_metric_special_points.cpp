// The defined values and subgradients at the points where a metric is not differentiable (or not
// even defined): Euclidean at a == b, Manhattan at equal coordinates, cosine at zero rows,
// correlation at constant rows and D == 1, and D == 0 for all. Everything must stay finite in float.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "metric_test_support.hpp"

using namespace invar;
using namespace invar::test;

TEST_SUITE_BEGIN("metrics");

namespace {

template <class T>
bool all_finite(const std::vector<T>& v) {
  for (T x : v)
    if (!std::isfinite(x)) return false;
  return true;
}

/// Runs accumulate_gradient with w = 0.5 onto nonzero starting gradients and checks that
/// nothing was added (the defined gradient is zero).
template <class T, class M>
void check_zero_gradient(const M& metric, const std::vector<T>& a, const std::vector<T>& b) {
  const auto ga0 = cast_row<T>(random_row(static_cast<index_t>(a.size()), 31));
  const auto gb0 = cast_row<T>(random_row(static_cast<index_t>(b.size()), 32));
  auto ga = ga0;
  auto gb = gb0;
  metric.accumulate_gradient(a.data(), b.data(), static_cast<index_t>(a.size()), T(0.5), ga.data(), gb.data());
  CHECK(ga == ga0);
  CHECK(gb == gb0);
}

}  // namespace

TEST_CASE_TEMPLATE("Euclidean at a == b: value 0, gradient 0", T, float, double) {
  for (index_t d : test_dims) {
    CAPTURE(d);
    const auto a = cast_row<T>(random_row(d, 11 + static_cast<std::uint64_t>(d)));
    CHECK(Euclidean{}.value(a.data(), a.data(), d) == T(0));
    check_zero_gradient<T>(Euclidean{}, a, a);
  }
  // Rows so close that the sum of squares underflows to 0: the same defined point, no 0/0.
  const T tiny = std::is_same_v<T, float> ? T(1e-30) : T(1e-170);
  std::vector<T> a(8, T(0)), b(8, T(0));
  for (std::size_t k = 0; k < b.size(); k += 2) b[k] = tiny * T(k + 1);
  CHECK(Euclidean{}.value(a.data(), b.data(), 8) == T(0));
  std::vector<T> ga(8, T(0)), gb(8, T(0));
  Euclidean{}.accumulate_gradient(a.data(), b.data(), 8, T(1), ga.data(), gb.data());
  CHECK(all_finite(ga));
  CHECK(all_finite(gb));
}

TEST_CASE_TEMPLATE("Manhattan at equal coordinates: sign(0) = 0", T, float, double) {
  const index_t d = 17;
  const auto a = cast_row<T>(random_row(d, 21));
  auto b = a;
  double expected_value = 0;
  for (index_t k = 0; k < d; k += 3) {
    const T delta = (k % 2 == 0) ? T(0.5) : T(-0.25);
    b[static_cast<std::size_t>(k)] = a[static_cast<std::size_t>(k)] + delta;
    expected_value += std::fabs(static_cast<double>(b[static_cast<std::size_t>(k)]) -
                                static_cast<double>(a[static_cast<std::size_t>(k)]));
  }
  CHECK(static_cast<double>(Manhattan{}.value(a.data(), b.data(), d)) == doctest::Approx(expected_value));
  const T w = T(0.5);
  std::vector<T> ga(a.size(), T(0)), gb(b.size(), T(0));
  Manhattan{}.accumulate_gradient(a.data(), b.data(), d, w, ga.data(), gb.data());
  for (index_t k = 0; k < d; ++k) {
    const auto i = static_cast<std::size_t>(k);
    CAPTURE(k);
    if (k % 3 != 0) {
      CHECK(ga[i] == T(0));
      CHECK(gb[i] == T(0));
    } else {
      const T s = a[i] > b[i] ? T(1) : T(-1);
      CHECK(ga[i] == w * s);
      CHECK(gb[i] == -w * s);
    }
  }
  // A self-pair: value 0, no gradient at all.
  CHECK(Manhattan{}.value(a.data(), a.data(), d) == T(0));
  check_zero_gradient<T>(Manhattan{}, a, a);
}

TEST_CASE_TEMPLATE("cosine distance with a zero row: value 1, gradient 0", T, float, double) {
  for (index_t d : test_dims) {
    CAPTURE(d);
    const auto x = cast_row<T>(random_row(d, 41 + static_cast<std::uint64_t>(d)));
    const std::vector<T> zero(static_cast<std::size_t>(d), T(0));
    CHECK(CosineDistance{}.value(zero.data(), x.data(), d) == T(1));
    CHECK(CosineDistance{}.value(x.data(), zero.data(), d) == T(1));
    CHECK(CosineDistance{}.value(zero.data(), zero.data(), d) == T(1));
    check_zero_gradient<T>(CosineDistance{}, zero, x);
    check_zero_gradient<T>(CosineDistance{}, x, zero);
    check_zero_gradient<T>(CosineDistance{}, zero, zero);

    // A row whose squares all underflow counts as zero (no 0/0, no 1/tiny blow-up).
    const T tiny = std::is_same_v<T, float> ? T(1e-30) : T(1e-170);
    std::vector<T> t = x;
    for (auto& v : t) v *= tiny;
    CHECK(CosineDistance{}.value(t.data(), x.data(), d) == T(1));
    check_zero_gradient<T>(CosineDistance{}, t, x);
  }
}

TEST_CASE_TEMPLATE("cosine distance of small but normal rows is exact and finite", T, float, double) {
  // Rows of norm ~1e-17 (float) or 1e-150 (double): squares are still normal numbers, so the
  // rows are not zero, and the value must match the unscaled rows (cosine ignores lengths).
  const index_t d = 17;
  const auto a = cast_row<T>(random_row(d, 51));
  const auto b = cast_row<T>(random_row(d, 52));
  const T scale = std::is_same_v<T, float> ? T(1e-17) : T(1e-150);
  auto as = a;
  auto bs = b;
  for (auto& v : as) v *= scale;
  for (auto& v : bs) v *= scale;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  CHECK(std::fabs(static_cast<double>(CosineDistance{}.value(as.data(), bs.data(), d)) -
                  static_cast<double>(CosineDistance{}.value(a.data(), b.data(), d))) < tol);
  std::vector<T> ga(a.size(), T(0)), gb(b.size(), T(0));
  CosineDistance{}.accumulate_gradient(as.data(), bs.data(), d, T(1), ga.data(), gb.data());
  CHECK(all_finite(ga));
  CHECK(all_finite(gb));
}

TEST_CASE_TEMPLATE("correlation distance with a constant row or D == 1: value 1, gradient 0", T, float, double) {
  for (index_t d : {2, 3, 17, 64}) {
    CAPTURE(d);
    const auto x = cast_row<T>(random_row(d, 61 + static_cast<std::uint64_t>(d)));
    // 0.1 is not representable: the naive mean of a constant row is not the constant, and the
    // "centred" row would be rounding noise. invar centres constant rows to exactly zero.
    for (T c : {T(0), T(0.1), T(-3.7), T(1e6)}) {
      CAPTURE(static_cast<double>(c));
      const std::vector<T> constant(static_cast<std::size_t>(d), c);
      CHECK(CorrelationDistance{}.value(constant.data(), x.data(), d) == T(1));
      CHECK(CorrelationDistance{}.value(x.data(), constant.data(), d) == T(1));
      check_zero_gradient<T>(CorrelationDistance{}, constant, x);
      check_zero_gradient<T>(CorrelationDistance{}, x, constant);
    }
  }
  const std::vector<T> a{T(0.3)}, b{T(-2)};
  CHECK(CorrelationDistance{}.value(a.data(), b.data(), 1) == T(1));
  check_zero_gradient<T>(CorrelationDistance{}, a, b);
}

TEST_CASE_TEMPLATE("identical rows are at distance ~0, never below 0", T, float, double) {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    for (index_t d : {2, 3, 17, 64}) {
      const std::string metric_name = M::name;
      CAPTURE(metric_name);
      CAPTURE(d);
      const auto a = cast_row<T>(random_row(d, 71 + static_cast<std::uint64_t>(d)));
      const T v = metric.value(a.data(), a.data(), d);
      CHECK(v >= T(0));
      CHECK(v <= T(1e-6));
      std::vector<T> ga(a.size(), T(0)), gb(a.size(), T(0));
      metric.accumulate_gradient(a.data(), a.data(), d, T(1), ga.data(), gb.data());
      CHECK(all_finite(ga));
      CHECK(all_finite(gb));
    }
  });
}

TEST_CASE_TEMPLATE("D == 0: value 0 (1 for cosine and correlation), no gradient", T, float, double) {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    const std::string metric_name = M::name;
    CAPTURE(metric_name);
    const T expected = std::is_same_v<M, CosineDistance> || std::is_same_v<M, CorrelationDistance> ? T(1) : T(0);
    // Empty rows may come with null pointers (an empty tensor's data()).
    CHECK(metric.value(static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), 0) == expected);
    T ga = T(3), gb = T(4);  // one element past the (empty) rows: must not be touched
    metric.accumulate_gradient(static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), 0, T(1), &ga, &gb);
    CHECK(ga == T(3));
    CHECK(gb == T(4));
  });
}

TEST_SUITE_END();
