// Each metric's accumulate_gradient against central differences of its value (double), with
// w != 1, accumulation onto nonzero gradients, and one side skipped (nullptr). Points are kept
// away from the kinks (Manhattan: |a_k - b_k| > 1e-3); the kinks are tested in
// test_metric_special_points.cpp.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <type_traits>

#include "metric_test_support.hpp"

using namespace invar;
using namespace invar::test;

TEST_SUITE_BEGIN("metrics");

namespace {

// Rows where the metric is smooth and its gradient is not zero by construction.
template <class M>
bool smooth_and_informative(index_t d) {
  if constexpr (std::is_same_v<M, CosineDistance>) return d >= 2;       // D == 1: cos is +-1, constant
  if constexpr (std::is_same_v<M, CorrelationDistance>) return d >= 3;  // D <= 2: r is +-1 or undefined
  return true;
}

struct Point {
  std::vector<double> a, b;
};

Point random_point(index_t d, std::uint64_t seed) {
  Point p{random_row(d, seed), random_row(d, seed + 1)};
  // Keep every coordinate pair apart so that L1 (and Euclidean) are smooth at the point and
  // within the finite-difference step.
  for (std::size_t k = 0; k < p.a.size(); ++k)
    if (std::fabs(p.a[k] - p.b[k]) < 1e-2) p.b[k] += p.a[k] >= p.b[k] ? -0.05 : 0.05;
  return p;
}

template <class M, class T>
void gradient(const M& metric, const Point& p, T w, std::vector<T>* ga, std::vector<T>* gb) {
  const auto a = cast_row<T>(p.a);
  const auto b = cast_row<T>(p.b);
  metric.accumulate_gradient(a.data(), b.data(), static_cast<index_t>(a.size()), w, ga ? ga->data() : nullptr,
                             gb ? gb->data() : nullptr);
}

}  // namespace

TEST_CASE("metric gradients match central differences") {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    for (index_t d : test_dims) {
      if (!smooth_and_informative<M>(d)) continue;
      for (std::uint64_t seed = 0; seed < 3; ++seed) {
        const std::string metric_name = M::name;
        CAPTURE(metric_name);
        CAPTURE(d);
        CAPTURE(seed);
        const Point p = random_point(d, 100 * seed + static_cast<std::uint64_t>(d));
        const auto [fa, fb] = finite_difference_gradient(metric, p.a, p.b);

        std::vector<double> ga(p.a.size(), 0.0), gb(p.b.size(), 0.0);
        gradient(metric, p, 1.0, &ga, &gb);
        CHECK(relative_error(ga, fa) < 1e-6);
        CHECK(relative_error(gb, fb) < 1e-6);

        // w != 1, added onto nonzero gradients: (g - g0) / w must be the gradient again.
        const double w = -0.7;
        const auto a0 = random_row(d, 9000 + seed);
        const auto b0 = random_row(d, 9100 + seed);
        std::vector<double> ga_acc = a0, gb_acc = b0;
        gradient(metric, p, w, &ga_acc, &gb_acc);
        for (std::size_t k = 0; k < ga_acc.size(); ++k) {
          ga_acc[k] = (ga_acc[k] - a0[k]) / w;
          gb_acc[k] = (gb_acc[k] - b0[k]) / w;
        }
        CHECK(relative_error(ga_acc, fa) < 1e-6);
        CHECK(relative_error(gb_acc, fb) < 1e-6);

        // One side skipped: the other is computed exactly as before.
        std::vector<double> only_a(p.a.size(), 0.0), only_b(p.b.size(), 0.0);
        gradient<M, double>(metric, p, 1.0, &only_a, nullptr);
        gradient<M, double>(metric, p, 1.0, nullptr, &only_b);
        CHECK(only_a == ga);
        CHECK(only_b == gb);
      }
    }
  });
}

TEST_CASE("float gradients agree with double gradients") {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    for (index_t d : test_dims) {
      if (!smooth_and_informative<M>(d)) continue;
      const std::string metric_name = M::name;
      CAPTURE(metric_name);
      CAPTURE(d);
      const Point p = random_point(d, 555 + static_cast<std::uint64_t>(d));
      // Compare at the float-rounded point so that only the arithmetic differs.
      const Point pf{cast_row<double>(cast_row<float>(p.a)), cast_row<double>(cast_row<float>(p.b))};
      std::vector<double> ga(p.a.size(), 0.0), gb(p.b.size(), 0.0);
      gradient(metric, pf, 1.0, &ga, &gb);
      std::vector<float> fa(p.a.size(), 0.0f), fb(p.b.size(), 0.0f);
      gradient(metric, pf, 1.0f, &fa, &fb);
      CHECK(relative_error(cast_row<double>(fa), ga) < 1e-5);
      CHECK(relative_error(cast_row<double>(fb), gb) < 1e-5);
    }
  });
}

TEST_SUITE_END();
