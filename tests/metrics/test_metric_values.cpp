// Each metric's value against the naive long-double formula (metric_test_support.hpp) on random
// rows, for float and double and D in {1, 2, 3, 17, 64}.

#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "metric_test_support.hpp"

using namespace invar;
using namespace invar::test;

TEST_SUITE_BEGIN("metrics");

namespace {

// Float sums of up to 64 terms carry ~1e-6 relative error; double ~1e-15.
template <class T>
constexpr double value_tolerance = std::is_same_v<T, float> ? 2e-5 : 1e-12;

template <class T, class M>
void check_against_naive(const M& metric, const std::vector<double>& a64, const std::vector<double>& b64) {
  // Round the inputs to T first: the test measures the metric's arithmetic, not the input rounding.
  const auto a = cast_row<T>(a64);
  const auto b = cast_row<T>(b64);
  const index_t d = static_cast<index_t>(a.size());
  const long double ref = naive_distance<M>(cast_row<long double>(a), cast_row<long double>(b));
  const T v = metric.value(a.data(), b.data(), d);
  const std::string metric_name = M::name;
  CAPTURE(metric_name);
  CAPTURE(d);
  CAPTURE(static_cast<double>(ref));
  CAPTURE(static_cast<double>(v));
  CHECK(std::isfinite(v));
  CHECK(std::fabs(static_cast<double>(v) - static_cast<double>(ref)) <=
        value_tolerance<T> * std::fmax(1.0, std::fabs(static_cast<double>(ref))));
}

}  // namespace

TEST_CASE_TEMPLATE("metric values match a naive long-double computation", T, float, double) {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    for (index_t d : test_dims) {
      for (std::uint64_t seed = 0; seed < 4; ++seed) {
        const auto a = random_row(d, 1000 * static_cast<std::uint64_t>(d) + 2 * seed);
        const auto b = random_row(d, 1000 * static_cast<std::uint64_t>(d) + 2 * seed + 1);
        check_against_naive<T>(M{}, a, b);
      }
    }
  });
}

TEST_CASE_TEMPLATE("metric values on non-negative rows (ReLU features)", T, float, double) {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    for (index_t d : test_dims) {
      const auto a = random_row(d, 77 + static_cast<std::uint64_t>(d), 0.0, 3.0);
      const auto b = random_row(d, 78 + static_cast<std::uint64_t>(d), 0.0, 3.0);
      check_against_naive<T>(M{}, a, b);
    }
  });
}

TEST_CASE_TEMPLATE("correlation distance stays accurate when the mean dwarfs the spread", T, float, double) {
  // Rows around 1000 with spread 1: centring the naive way in float leaves ~1e-4 noise per
  // element; invar shifts by the first element before centring.
  for (index_t d : {3, 17, 64}) {
    const auto a = random_row(d, 5 + static_cast<std::uint64_t>(d), 1000.0, 1001.0);
    const auto b = random_row(d, 6 + static_cast<std::uint64_t>(d), 1000.0, 1001.0);
    const auto at = cast_row<T>(a);
    const auto bt = cast_row<T>(b);
    const long double ref = naive_distance<CorrelationDistance>(cast_row<long double>(at), cast_row<long double>(bt));
    const T v = CorrelationDistance{}.value(at.data(), bt.data(), d);
    CAPTURE(d);
    CHECK(std::fabs(static_cast<double>(v) - static_cast<double>(ref)) <= (std::is_same_v<T, float> ? 1e-3 : 1e-9));
  }
}

TEST_CASE("metric values of hand-computed examples") {
  const double a[] = {1.0, 2.0, 3.0};
  const double b[] = {2.0, 0.0, 3.0};
  CHECK(MeanSquaredDifference{}.value(a, b, 3) == doctest::Approx(5.0 / 3.0));
  CHECK(SquaredEuclidean{}.value(a, b, 3) == doctest::Approx(5.0));
  CHECK(Euclidean{}.value(a, b, 3) == doctest::Approx(std::sqrt(5.0)));
  CHECK(Manhattan{}.value(a, b, 3) == doctest::Approx(3.0));
  // a.b = 11, |a| = sqrt(14), |b| = sqrt(13).
  CHECK(CosineDistance{}.value(a, b, 3) == doctest::Approx(1.0 - 11.0 / std::sqrt(14.0 * 13.0)));
  // Centred: a' = (-1, 0, 1), b' = (1/3, -5/3, 4/3): a'.b' = 1, |a'| = sqrt(2), |b'| = sqrt(42) / 3.
  CHECK(CorrelationDistance{}.value(a, b, 3) == doctest::Approx(1.0 - 3.0 / std::sqrt(84.0)));
}

TEST_SUITE_END();
