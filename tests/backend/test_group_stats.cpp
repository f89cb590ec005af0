// The CPU group statistics behind the linear-path losses (backend/cpu/group_stats.hpp) against
// explicit loops in long double: group_sums (sums, their norms, the rows' norms; rows in no group
// left out) and group_centered_combination with 0 to 4 terms, rows in no group of a term, zero
// coefficients, beta 0 (NaN in out never read), 1 and 0.5, and an output large enough for the
// streamed stores.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/cpu/group_stats.hpp"
#include "invar/losses/grouping.hpp"

using namespace invar;

TEST_SUITE_BEGIN("backend");

namespace group_stats_test {

template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(u(rng));
  return v;
}

/// One grouping of `rows` rows with `groups` groups (shuffled ids, every third row of the last
/// group in no group when `holes`), its sums of the shifted rows in double and their inverse sizes.
struct TermData {
  Grouping grouping;
  std::vector<double> coefficients, sums, inverse_sizes;
};

template <class T>
TermData make_term(const std::vector<T>& x, const T* shift, index_t rows, index_t cols, index_t groups, bool holes,
                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<index_t> ids(static_cast<std::size_t>(rows));
  for (index_t i = 0; i < rows; ++i) {
    ids[std::size_t(i)] = 5 * index_t(rng() % std::uint64_t(groups)) + 3;
    if (holes && i % 3 == 2) ids[std::size_t(i)] = no_group;
  }
  TermData t{Grouping(TensorView<const index_t>(ids.data(), Shape{rows}), "ids"), {}, {}, {}};
  t.coefficients = random_values<double>(std::size_t(rows), seed + 1, -2, 2);
  for (index_t i = 0; i < rows; i += 4) t.coefficients[std::size_t(i)] = 0;  // a zero coefficient adds nothing
  const index_t k = t.grouping.groups();
  t.sums.assign(std::size_t(k * cols), 0.0);
  for (index_t i = 0; i < rows; ++i)
    if (const index_t g = t.grouping.of(i); g >= 0)
      for (index_t j = 0; j < cols; ++j)
        t.sums[std::size_t(g * cols + j)] += double(x[std::size_t(i * cols + j)]) - double(shift[j]);
  for (index_t g = 0; g < k; ++g) t.inverse_sizes.push_back(1.0 / double(t.grouping.size(g)));
  return t;
}

template <class T>
void check_combination(index_t rows, index_t cols, int count, T beta, std::uint64_t seed, double tol) {
  CAPTURE(rows);
  CAPTURE(cols);
  CAPTURE(count);
  CAPTURE(double(beta));
  const auto x = random_values<T>(std::size_t(rows * cols), seed, -1, 3);
  const T* shift = x.data() + 2 * cols;  // a row of x, as the losses shift
  std::vector<TermData> data;
  CenteredTerms terms;
  terms.count = count;
  const index_t group_counts[4] = {rows / 2 + 1, 5, 1, 3};
  for (int t = 0; t < count; ++t) data.push_back(make_term(x, shift, rows, cols, group_counts[t], t == 1, seed + 10 * t));
  for (int t = 0; t < count; ++t)
    terms.term[t] = CenteredTerm{data[t].grouping.dense().data(), data[t].coefficients.data(), data[t].sums.data(),
                                 data[t].inverse_sizes.data()};
  const auto before = beta == T(0) ? std::vector<T>(x.size(), std::numeric_limits<T>::quiet_NaN())
                                   : random_values<T>(x.size(), seed + 99, -1, 1);
  std::vector<T> out = before;
  // Rows in the first term's order (or 0, 1, ... without terms), as the losses pass them.
  std::vector<index_t> order(static_cast<std::size_t>(rows));
  for (index_t i = 0; i < rows; ++i) order[std::size_t(i)] = count > 0 ? data[0].grouping.order()[std::size_t(i)] : i;
  cpu::group_centered_combination(rows, cols, x.data(), shift, order.data(), terms, beta, out.data());
  double worst = 0, scale = 0;
  index_t non_finite = 0;
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      const std::size_t e = std::size_t(i * cols + j);
      long double want = beta == T(0) ? 0.0L : (long double)beta * before[e];
      const long double s = (long double)x[e] - shift[j];
      for (int t = 0; t < count; ++t) {
        const index_t g = data[std::size_t(t)].grouping.of(i);
        if (g < 0) continue;
        const long double mean = (long double)data[std::size_t(t)].sums[std::size_t(g * cols + j)] /
                                 data[std::size_t(t)].grouping.size(g);
        want += data[std::size_t(t)].coefficients[std::size_t(i)] * (s - mean);
      }
      non_finite += std::isfinite(double(out[e])) ? 0 : 1;
      worst = std::max(worst, double(std::fabs(want - out[e])));
      scale = std::max(scale, double(std::fabs(want)));
    }
  CHECK(non_finite == 0);
  CHECK(worst <= tol * std::max(scale, 1.0));
}

// The cases live in the namespace too: a unity build joins this file with others.

TEST_CASE_TEMPLATE("group_sums: per-group sums of the shifted rows and their norms against explicit loops", T, double,
                   float) {
  const index_t rows = 23, cols = 37;
  const auto x = random_values<T>(std::size_t(rows * cols), 4, -1, 2);
  const T* shift = x.data() + 5 * cols;
  std::vector<index_t> ids(static_cast<std::size_t>(rows));
  for (index_t i = 0; i < rows; ++i) ids[std::size_t(i)] = i % 6 == 5 ? no_group : (i * 7) % 5 * 10;
  const Grouping g(TensorView<const index_t>(ids.data(), Shape{rows}), "ids");
  const index_t k = g.groups();
  std::vector<double> sums(std::size_t(k * cols), -1.0), sq(static_cast<std::size_t>(k)),
      group_sq(static_cast<std::size_t>(k));
  cpu::group_sums(rows, cols, x.data(), shift, g.order().data(), g.offsets().data(), k, sums.data(), sq.data(),
                  group_sq.data());
  for (index_t group = 0; group < k; ++group) {
    long double norm = 0, rows_norm = 0;
    for (index_t j = 0; j < cols; ++j) {
      long double sum = 0;
      for (index_t i = 0; i < rows; ++i)
        if (g.of(i) == group) {
          const long double d = (long double)x[std::size_t(i * cols + j)] - shift[j];
          sum += d;
          rows_norm += d * d;
        }
      CHECK(std::fabs(double(sum) - sums[std::size_t(group * cols + j)]) < 1e-12);
      norm += sum * sum;
    }
    CHECK(std::fabs(double(norm) - sq[std::size_t(group)]) < 1e-10 * double(norm));
    CHECK(std::fabs(double(rows_norm) - group_sq[std::size_t(group)]) < 1e-10 * double(rows_norm));
  }
}

TEST_CASE_TEMPLATE("group_centered_combination: 0 to 4 terms against explicit loops", T, double, float) {
  const double tol = std::is_same_v<T, double> ? 1e-13 : 2e-6;
  for (int count = 0; count <= CenteredTerms::capacity; ++count)
    for (T beta : {T(0), T(1), T(0.5)}) {
      check_combination<T>(17, 29, count, beta, 7 + std::uint64_t(count), tol);  // odd sizes, short rows
      check_combination<T>(6, 1024, count, beta, 70 + std::uint64_t(count), tol);
    }
}

TEST_CASE("group_centered_combination: an output beyond the caches (streamed stores) gets the same values") {
  // 64 x 135168 floats = 34.6 MB > 32 MB: the non-temporal store path where AVX is on.
  check_combination<float>(64, 135168, 3, 0.0f, 5, 2e-6);
}

}  // namespace group_stats_test
