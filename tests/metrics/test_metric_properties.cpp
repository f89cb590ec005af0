// The properties each metric declares (symmetric, translation_invariant, homogeneity, the
// squared-difference weight), verified numerically, plus the invariances the losses rely on.

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <type_traits>

#include "metric_test_support.hpp"

using namespace invar;
using namespace invar::test;

TEST_SUITE_BEGIN("metrics");

namespace {

template <class T>
constexpr double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;

template <class T>
bool close(T x, T y) {
  const double a = static_cast<double>(x), b = static_cast<double>(y);
  return std::fabs(a - b) <= tolerance<T> * std::fmax(1.0, std::fmax(std::fabs(a), std::fabs(b)));
}

}  // namespace

TEST_CASE_TEMPLATE("symmetric metrics are bit-exactly symmetric", T, float, double) {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    static_assert(M::symmetric, "every built-in metric is symmetric");
    for (index_t d : test_dims) {
      for (std::uint64_t seed = 0; seed < 4; ++seed) {
        const std::string metric_name = M::name;
        CAPTURE(metric_name);
        CAPTURE(d);
        const auto a = cast_row<T>(random_row(d, 200 + seed));
        const auto b = cast_row<T>(random_row(d, 300 + seed, -5.0, 2.0));
        CHECK(metric.value(a.data(), b.data(), d) == metric.value(b.data(), a.data(), d));
      }
    }
  });
}

TEST_CASE_TEMPLATE("homogeneity: d(c a, c b) = c^p d(a, b)", T, float, double) {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    static_assert(M::homogeneity >= 0, "every built-in metric is homogeneous");
    for (index_t d : test_dims) {
      const std::string metric_name = M::name;
      CAPTURE(metric_name);
      CAPTURE(d);
      const auto a = cast_row<T>(random_row(d, 400 + static_cast<std::uint64_t>(d)));
      const auto b = cast_row<T>(random_row(d, 500 + static_cast<std::uint64_t>(d)));
      const T v = metric.value(a.data(), b.data(), d);
      // c = 2 scales every intermediate by a power of two: exact. c = 3.7: up to rounding.
      for (T c : {T(2), T(3.7), T(0.125)}) {
        CAPTURE(static_cast<double>(c));
        auto ca = a;
        auto cb = b;
        for (auto& x : ca) x *= c;
        for (auto& x : cb) x *= c;
        const T cv = metric.value(ca.data(), cb.data(), d);
        const T expected = static_cast<T>(std::pow(static_cast<double>(c), M::homogeneity) * static_cast<double>(v));
        if (c == T(2) || c == T(0.125))
          CHECK(cv == expected);
        else
          CHECK(close(cv, expected));
      }
    }
  });
}

TEST_CASE_TEMPLATE("translation invariance where declared, and its absence where not", T, float, double) {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    for (index_t d : {2, 3, 17, 64}) {
      const std::string metric_name = M::name;
      CAPTURE(metric_name);
      CAPTURE(d);
      const auto a = cast_row<T>(random_row(d, 600 + static_cast<std::uint64_t>(d)));
      const auto b = cast_row<T>(random_row(d, 700 + static_cast<std::uint64_t>(d)));
      const auto t = cast_row<T>(random_row(d, 800 + static_cast<std::uint64_t>(d), -5.0, 5.0));
      auto at = a;
      auto bt = b;
      for (std::size_t k = 0; k < a.size(); ++k) {
        at[k] += t[k];
        bt[k] += t[k];
      }
      const T v = metric.value(a.data(), b.data(), d);
      const T vt = metric.value(at.data(), bt.data(), d);
      if constexpr (M::translation_invariant) {
        // Up to the rounding of a + t and b + t.
        CHECK(std::fabs(static_cast<double>(vt) - static_cast<double>(v)) <=
              (std::is_same_v<T, float> ? 2e-5 : 1e-12) * std::fmax(1.0, static_cast<double>(v)));
        // Then dd/da = -dd/db, exactly in invar's implementations.
        std::vector<T> ga(a.size(), T(0)), gb(b.size(), T(0));
        metric.accumulate_gradient(a.data(), b.data(), d, T(1), ga.data(), gb.data());
        for (std::size_t k = 0; k < ga.size(); ++k) CHECK(ga[k] == -gb[k]);
      } else if (d >= 3) {  // (for D == 2 the correlation is +-1 whatever t is)
        CHECK(std::fabs(static_cast<double>(vt) - static_cast<double>(v)) > 1e-3);
      }
    }
  });
}

TEST_CASE_TEMPLATE("correlation distance ignores per-row shifts and positive scales", T, float, double) {
  for (index_t d : {3, 17, 64}) {
    CAPTURE(d);
    const auto a = cast_row<T>(random_row(d, 900 + static_cast<std::uint64_t>(d)));
    const auto b = cast_row<T>(random_row(d, 950 + static_cast<std::uint64_t>(d)));
    auto as = a;
    auto bs = b;
    for (auto& x : as) x = T(3) * x + T(1.5);
    for (auto& x : bs) x = T(0.5) * x - T(2);
    const CorrelationDistance m;
    CHECK(close(m.value(as.data(), bs.data(), d), m.value(a.data(), b.data(), d)));
    // Shift invariance means the gradient of each row sums to zero.
    std::vector<double> a64 = cast_row<double>(a), b64 = cast_row<double>(b);
    std::vector<double> ga(a.size(), 0.0), gb(b.size(), 0.0);
    m.accumulate_gradient(a64.data(), b64.data(), d, 1.0, ga.data(), gb.data());
    double sa = 0, sb = 0;
    for (std::size_t k = 0; k < ga.size(); ++k) {
      sa += ga[k];
      sb += gb[k];
    }
    CHECK(std::fabs(sa) < 1e-12 * (1 + norm(ga)) * static_cast<double>(d));
    CHECK(std::fabs(sb) < 1e-12 * (1 + norm(gb)) * static_cast<double>(d));
  }
}

TEST_CASE_TEMPLATE("cosine distance ignores positive per-row scales", T, float, double) {
  for (index_t d : {2, 3, 17, 64}) {
    CAPTURE(d);
    const auto a = cast_row<T>(random_row(d, 1100 + static_cast<std::uint64_t>(d)));
    const auto b = cast_row<T>(random_row(d, 1200 + static_cast<std::uint64_t>(d)));
    auto as = a;
    auto bs = b;
    for (auto& x : as) x *= T(7.5);
    for (auto& x : bs) x *= T(0.03);
    const CosineDistance m;
    CHECK(close(m.value(as.data(), bs.data(), d), m.value(a.data(), b.data(), d)));
  }
}

TEST_CASE_TEMPLATE("squared_difference_weight times ||a - b||^2 is the value", T, float, double) {
  auto check_weight = [](auto metric) {
    using M = decltype(metric);
    static_assert(SquaredDifferenceMetric<M, T>);
    for (index_t d : test_dims) {
      const std::string metric_name = M::name;
      CAPTURE(metric_name);
      CAPTURE(d);
      const auto a = cast_row<T>(random_row(d, 1300 + static_cast<std::uint64_t>(d)));
      const auto b = cast_row<T>(random_row(d, 1400 + static_cast<std::uint64_t>(d)));
      double ss = 0;
      for (std::size_t k = 0; k < a.size(); ++k) {
        const double diff = static_cast<double>(a[k]) - static_cast<double>(b[k]);
        ss += diff * diff;
      }
      const T w = M::template squared_difference_weight<T>(d);
      CHECK(close(metric.value(a.data(), b.data(), d), static_cast<T>(static_cast<double>(w) * ss)));
    }
    CHECK(std::isfinite(M::template squared_difference_weight<T>(0)));
  };
  check_weight(MeanSquaredDifference{});
  check_weight(SquaredEuclidean{});
  CHECK(MeanSquaredDifference::squared_difference_weight<T>(4) == T(0.25));
  CHECK(SquaredEuclidean::squared_difference_weight<T>(4) == T(1));
}

TEST_SUITE_END();
