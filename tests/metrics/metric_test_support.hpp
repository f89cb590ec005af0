#pragma once
// Shared by the metric tests: independent reference implementations (explicit loops in long
// double, written from the formulas, not from the headers), random rows, finite differences
// and a loop over all metrics.

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/metrics/metrics.hpp"
#include "support/random.hpp"

namespace invar::test {

using Row = std::vector<long double>;

/// The formula of each metric, evaluated naively in long double. The defined values at the
/// singular points (zero / constant rows) are those documented in docs/metrics.md.
template <class M>
long double naive_distance(const Row& a, const Row& b) {
  const std::size_t n = a.size();
  long double ss = 0, l1 = 0;
  for (std::size_t k = 0; k < n; ++k) {
    ss += (a[k] - b[k]) * (a[k] - b[k]);
    l1 += std::fabs(a[k] - b[k]);
  }
  if constexpr (std::is_same_v<M, MeanSquaredDifference>) {
    return n == 0 ? 0.0L : ss / static_cast<long double>(n);
  } else if constexpr (std::is_same_v<M, SquaredEuclidean>) {
    return ss;
  } else if constexpr (std::is_same_v<M, Euclidean>) {
    return std::sqrt(ss);
  } else if constexpr (std::is_same_v<M, Manhattan>) {
    return l1;
  } else {
    Row x = a, y = b;
    if constexpr (std::is_same_v<M, CorrelationDistance>) {
      long double mx = 0, my = 0;
      for (std::size_t k = 0; k < n; ++k) {
        mx += a[k];
        my += b[k];
      }
      for (std::size_t k = 0; k < n; ++k) {
        x[k] = a[k] - mx / static_cast<long double>(n);
        y[k] = b[k] - my / static_cast<long double>(n);
      }
    } else {
      static_assert(std::is_same_v<M, CosineDistance>, "naive_distance: unknown metric");
    }
    long double xy = 0, xx = 0, yy = 0;
    for (std::size_t k = 0; k < n; ++k) {
      xy += x[k] * y[k];
      xx += x[k] * x[k];
      yy += y[k] * y[k];
    }
    if (xx == 0 || yy == 0) return 1.0L;
    return 1.0L - xy / std::sqrt(xx * yy);
  }
}

/// A row of n values uniform in [lo, hi).
inline std::vector<double> random_row(index_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::vector<double> r(static_cast<std::size_t>(n));
  for (auto& v : r) v = uniform(rng, lo, hi);
  return r;
}

template <class T, class U>
std::vector<T> cast_row(const std::vector<U>& r) {
  return std::vector<T>(r.begin(), r.end());
}

inline double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

/// ||g - h|| / ||g + h||, the relative error used for gradient checks (0 when both are 0).
inline double relative_error(const std::vector<double>& g, const std::vector<double>& h) {
  std::vector<double> diff(g.size()), sum(g.size());
  for (std::size_t k = 0; k < g.size(); ++k) {
    diff[k] = g[k] - h[k];
    sum[k] = g[k] + h[k];
  }
  const double den = norm(sum);
  return den == 0 ? norm(diff) : norm(diff) / den;
}

/// Central differences of metric.value in double: (dd/da, dd/db).
template <class M>
std::pair<std::vector<double>, std::vector<double>> finite_difference_gradient(const M& metric, std::vector<double> a,
                                                                               std::vector<double> b, double h = 1e-5) {
  const index_t d = static_cast<index_t>(a.size());
  std::vector<double> ga(a.size()), gb(b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    const double ak = a[k];
    a[k] = ak + h;
    const double fp = metric.value(a.data(), b.data(), d);
    a[k] = ak - h;
    const double fm = metric.value(a.data(), b.data(), d);
    a[k] = ak;
    ga[k] = (fp - fm) / (2 * h);
  }
  for (std::size_t k = 0; k < b.size(); ++k) {
    const double bk = b[k];
    b[k] = bk + h;
    const double fp = metric.value(a.data(), b.data(), d);
    b[k] = bk - h;
    const double fm = metric.value(a.data(), b.data(), d);
    b[k] = bk;
    gb[k] = (fp - fm) / (2 * h);
  }
  return {ga, gb};
}

/// Calls f(M{}) for every metric in invar::all_metrics.
template <class F>
void for_each_metric(F&& f) {
  std::apply([&](auto... m) { (f(m), ...); }, all_metrics{});
}

/// Sizes the tests run at: 1, 2, 3 (tiny, and D == 1 is degenerate for correlation), 17 (not a
/// multiple of any SIMD width) and 64.
inline constexpr index_t test_dims[] = {1, 2, 3, 17, 64};

}  // namespace invar::test
