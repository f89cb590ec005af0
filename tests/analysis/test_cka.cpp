// CKA: identity, invariance to orthogonal transforms and isotropic scaling (not to non-isotropic
// scaling), the biased linear CKA against Kornblith's feature-space formula, the biased and
// debiased HSIC against explicit-loop estimators (the debiased one as the U-statistic over 4-tuples
// of Song et al. 2012), the RBF kernel against explicit loops, and errors.
#include <doctest/doctest.h>

#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/cka.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
using analysis::CkaKernel;
using analysis::CkaOptions;

TEST_SUITE_BEGIN("analysis");

namespace {

using Matrix = std::vector<std::vector<double>>;

Matrix centred_rows(const Tensor<double>& x) {
  const std::size_t n = std::size_t(x.dim(0)), d = std::size_t(x.dim(1));
  Matrix m(n, std::vector<double>(d));
  for (std::size_t j = 0; j < d; ++j) {
    double mean = 0;
    for (std::size_t i = 0; i < n; ++i) mean += x(index_t(i), index_t(j));
    mean /= double(n);
    for (std::size_t i = 0; i < n; ++i) m[i][j] = x(index_t(i), index_t(j)) - mean;
  }
  return m;
}

Matrix linear_gram(const Matrix& x) {
  const std::size_t n = x.size();
  Matrix k(n, std::vector<double>(n, 0.0));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t a = 0; a < x[i].size(); ++a) k[i][j] += x[i][a] * x[j][a];
  return k;
}

Matrix rbf_gram(const Matrix& x, double fraction) {
  const std::size_t n = x.size();
  Matrix sq(n, std::vector<double>(n, 0.0));
  std::vector<double> dist;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t a = 0; a < x[i].size(); ++a) sq[i][j] += (x[i][a] - x[j][a]) * (x[i][a] - x[j][a]);
      if (j > i) dist.push_back(std::sqrt(sq[i][j]));
    }
  std::sort(dist.begin(), dist.end());
  const double median = dist.size() % 2 ? dist[dist.size() / 2]
                                        : (dist[dist.size() / 2 - 1] + dist[dist.size() / 2]) / 2;
  const double sigma = fraction * median;
  Matrix k(n, std::vector<double>(n));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) k[i][j] = std::exp(-sq[i][j] / (2 * sigma * sigma));
  return k;
}

/// tr(K H L H) / (n-1)^2 with an explicit H = I - 11^T/n and explicit matrix products.
double biased_hsic(const Matrix& k, const Matrix& l) {
  const std::size_t n = k.size();
  Matrix h(n, std::vector<double>(n));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) h[i][j] = (i == j ? 1.0 : 0.0) - 1.0 / double(n);
  auto mul = [n](const Matrix& a, const Matrix& b) {
    Matrix c(n, std::vector<double>(n, 0.0));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t t = 0; t < n; ++t)
        for (std::size_t j = 0; j < n; ++j) c[i][j] += a[i][t] * b[t][j];
    return c;
  };
  const Matrix p = mul(mul(mul(k, h), l), h);
  double tr = 0;
  for (std::size_t i = 0; i < n; ++i) tr += p[i][i];
  return tr / double((n - 1) * (n - 1));
}

/// The unbiased HSIC as the U-statistic of Song et al. 2012 (Theorem 2): the mean over ordered
/// 4-tuples of distinct indices (i, j, q, r) of k_ij l_ij + k_ij l_qr - 2 k_ij l_iq.
double ustat_hsic(const Matrix& k, const Matrix& l) {
  const std::size_t n = k.size();
  double sum = 0;
  double count = 0;
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t q = 0; q < n; ++q)
        for (std::size_t r = 0; r < n; ++r) {
          if (i == j || i == q || i == r || j == q || j == r || q == r) continue;
          sum += k[i][j] * l[i][j] + k[i][j] * l[q][r] - 2 * k[i][j] * l[i][q];
          count += 1;
        }
  return sum / count;
}

double cka_of(const Matrix& k, const Matrix& l, double (*hsic)(const Matrix&, const Matrix&)) {
  return hsic(k, l) / std::sqrt(hsic(k, k) * hsic(l, l));
}

Tensor<double> times(const Tensor<double>& x, const Eigen::MatrixXd& m) {
  Tensor<double> y(Shape{x.dim(0), index_t(m.cols())});
  for (index_t i = 0; i < x.dim(0); ++i)
    for (index_t j = 0; j < index_t(m.cols()); ++j)
      for (index_t a = 0; a < x.dim(1); ++a) y(i, j) += x(i, a) * m(a, j);
  return y;
}

Tensor<double> matrix_tensor(const Matrix& m) {
  Tensor<double> t(Shape{index_t(m.size()), index_t(m[0].size())});
  for (std::size_t i = 0; i < m.size(); ++i)
    for (std::size_t j = 0; j < m[0].size(); ++j) t(index_t(i), index_t(j)) = m[i][j];
  return t;
}

}  // namespace

TEST_CASE("cka: linear CKA of X with itself is 1, invariant to orthogonal maps and isotropic scaling") {
  const auto x = test::random_tensor<double>(Shape{40, 10}, 1);
  const auto y = test::random_tensor<double>(Shape{40, 7}, 2, -3.0, 1.0);
  for (bool debiased : {false, true}) {
    INFO("debiased: ", debiased);
    const auto o = CkaOptions{}.with_debiased(debiased);
    CHECK(analysis::cka(x, x, o) == doctest::Approx(1.0).epsilon(1e-12));
    const double base = analysis::cka(x, y, o);
    CHECK(std::abs(base) < 0.9);
    if (!debiased) CHECK(base > 0.0);  // the debiased estimate of independent data can be < 0
    std::mt19937_64 rng(3);
    Eigen::MatrixXd r(10, 10);
    for (auto& v : r.reshaped()) v = test::uniform(rng, -1, 1);
    const Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(r).householderQ();
    CHECK(analysis::cka(times(x, q), y, o) == doctest::Approx(base).epsilon(1e-11));
    CHECK(analysis::cka(times(x, 3.7 * Eigen::MatrixXd::Identity(10, 10)), y, o) ==
          doctest::Approx(base).epsilon(1e-11));
    Eigen::MatrixXd aniso = Eigen::MatrixXd::Identity(10, 10);
    aniso(0, 0) = 10.0;
    aniso(1, 1) = 0.1;
    const double changed = analysis::cka(times(x, aniso), y, o);
    CHECK(std::abs(changed - base) > 1e-3);
  }
  // float input
  const auto xf = test::random_tensor<float>(Shape{40, 10}, 1);
  CHECK(analysis::cka(xf, y) == doctest::Approx(analysis::cka(x, y)).epsilon(1e-5));
}

TEST_CASE("cka: biased linear CKA equals ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centred data") {
  const auto x = test::random_tensor<double>(Shape{25, 6}, 11, 0.0, 2.0);
  auto y = test::random_tensor<double>(Shape{25, 9}, 12);
  for (index_t i = 0; i < 25; ++i) y(i, 0) += 2 * x(i, 1);  // some shared signal
  const Matrix xc = centred_rows(x), yc = centred_rows(y);
  auto cross_frob2 = [](const Matrix& a, const Matrix& b) {  // ||A^T B||_F^2
    double s = 0;
    for (std::size_t p = 0; p < a[0].size(); ++p)
      for (std::size_t q = 0; q < b[0].size(); ++q) {
        double e = 0;
        for (std::size_t i = 0; i < a.size(); ++i) e += a[i][p] * b[i][q];
        s += e * e;
      }
    return s;
  };
  const double expected = cross_frob2(yc, xc) / std::sqrt(cross_frob2(xc, xc) * cross_frob2(yc, yc));
  CHECK(analysis::cka(x, y) == doctest::Approx(expected).epsilon(1e-12));
  CHECK(analysis::cka(y, x) == doctest::Approx(expected).epsilon(1e-12));
}

TEST_CASE("cka: cka_from_grams equals cka for every kernel and estimator, and checks its input") {
  const auto x = test::random_tensor<double>(Shape{30, 6}, 31, 0.0, 2.0);
  auto y = test::random_tensor<double>(Shape{30, 4}, 32);
  for (index_t i = 0; i < 30; ++i) y(i, 2) += x(i, 0);
  for (const auto kernel : {CkaKernel::linear, CkaKernel::rbf})
    for (const bool debiased : {false, true}) {
      const auto o = CkaOptions{}.with_kernel(kernel).with_debiased(debiased);
      const auto k = analysis::cka_gram_matrix(x, o), l = analysis::cka_gram_matrix(y, o);
      CHECK(analysis::cka_from_grams(k, l, debiased) == analysis::cka(x, y, o));
    }
  const auto k = analysis::cka_gram_matrix(x);
  const auto small = analysis::cka_gram_matrix(test::random_tensor<double>(Shape{3, 2}, 33));
  CHECK_THROWS_AS(analysis::cka_from_grams(k, small, false), Error);
  CHECK_THROWS_AS(analysis::cka_from_grams(small, small, true), Error);  // debiased needs N >= 4
  CHECK(std::isnan(analysis::cka_from_grams(k, Tensor<double>(Shape{30, 30}), false)));  // HSIC(L, L) = 0: undefined
}

TEST_CASE("cka: HSIC estimators equal explicit-loop implementations") {
  const auto x = test::random_tensor<double>(Shape{8, 3}, 21);
  auto y = test::random_tensor<double>(Shape{8, 4}, 22);
  for (index_t i = 0; i < 8; ++i) y(i, 2) += x(i, 0) - x(i, 2);
  const Matrix k = linear_gram(centred_rows(x)), l = linear_gram(centred_rows(y));
  const Tensor<double> kt = matrix_tensor(k), lt = matrix_tensor(l);
  CHECK(analysis::hsic(kt, lt, false) == doctest::Approx(biased_hsic(k, l)).epsilon(1e-12));
  CHECK(analysis::hsic(kt, lt, true) == doctest::Approx(ustat_hsic(k, l)).epsilon(1e-11));
  // The unbiased form on a non-centred, non-linear pair of kernels too.
  const Matrix kr = rbf_gram(centred_rows(x), 0.5);
  const Matrix lraw = linear_gram(centred_rows(test::random_tensor<double>(Shape{8, 2}, 23, 1.0, 3.0)));
  CHECK(analysis::hsic(matrix_tensor(kr), matrix_tensor(lraw), true) ==
        doctest::Approx(ustat_hsic(kr, lraw)).epsilon(1e-11));
  // Debiased linear CKA from the U-statistic.
  CHECK(analysis::cka(x, y, CkaOptions{}.with_debiased()) == doctest::Approx(cka_of(k, l, ustat_hsic)).epsilon(1e-11));
  CHECK(analysis::cka(x, y) == doctest::Approx(cka_of(k, l, biased_hsic)).epsilon(1e-12));
  // The debiased value differs from the biased one at small N.
  CHECK(std::abs(analysis::cka(x, y, CkaOptions{}.with_debiased()) - analysis::cka(x, y)) > 1e-3);
}

TEST_CASE("cka: RBF kernel against explicit loops, 1 on X itself, within [0, 1]") {
  const auto x = test::random_tensor<double>(Shape{15, 5}, 31);
  const auto y = test::random_tensor<double>(Shape{15, 3}, 32, 0.0, 4.0);
  for (double fraction : {0.2, 0.8, 1.5}) {
    INFO("fraction ", fraction);
    const auto o = CkaOptions{}.with_kernel(CkaKernel::rbf).with_rbf_fraction(fraction);
    CHECK(analysis::cka(x, x, o) == doctest::Approx(1.0).epsilon(1e-12));
    const Matrix k = rbf_gram(centred_rows(x), fraction), l = rbf_gram(centred_rows(y), fraction);
    const double v = analysis::cka(x, y, o);
    CHECK(v == doctest::Approx(cka_of(k, l, biased_hsic)).epsilon(1e-10));
    CHECK(v >= 0.0);
    CHECK(v <= 1.0);
    CHECK(analysis::cka(x, y, CkaOptions(o).with_debiased()) == doctest::Approx(cka_of(k, l, ustat_hsic)).epsilon(1e-9));
    const Tensor<double> g = analysis::cka_gram_matrix(x, o);
    for (std::size_t i = 0; i < 15; ++i)
      for (std::size_t j = 0; j < 15; ++j) CHECK(g(index_t(i), index_t(j)) == doctest::Approx(k[i][j]).epsilon(1e-12));
  }
  for (std::uint64_t seed = 40; seed < 45; ++seed) {
    const auto a = test::random_tensor<double>(Shape{20, 4}, seed);
    const auto b = test::random_tensor<double>(Shape{20, 6}, seed + 100);
    const double v = analysis::cka(a, b, CkaOptions{}.with_kernel(CkaKernel::rbf));
    CHECK(v >= 0.0);
    CHECK(v <= 1.0);
  }
}

TEST_CASE("cka: errors") {
  const auto x = test::random_tensor<double>(Shape{10, 3}, 51);
  const auto y = test::random_tensor<double>(Shape{9, 3}, 52);
  CHECK_ERROR_CONTAINS(analysis::cka(x, y), "same number of rows");
  const auto x3 = test::random_tensor<double>(Shape{3, 3}, 53);
  CHECK_ERROR_CONTAINS(analysis::cka(x3, x3, CkaOptions{}.with_debiased()), "needs N >= 4");
  CHECK(analysis::cka(x3, x3) == doctest::Approx(1.0));  // biased is fine at N = 3
  CHECK_ERROR_CONTAINS(analysis::cka(Tensor<double>(Shape{1, 2}), Tensor<double>(Shape{1, 2})), "needs N >= 2");
  auto nan = x;
  nan(4, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_ERROR_CONTAINS(analysis::cka(x, nan), "feature 1 of row 4 of y is not finite");
  CHECK_ERROR_CONTAINS(analysis::cka(nan, x), "of x is not finite");
  CHECK_ERROR_CONTAINS(analysis::cka(x, x, CkaOptions{}.with_kernel(CkaKernel::rbf).with_rbf_fraction(0)),
                       "rbf_fraction must be finite and > 0");
  CHECK_ERROR_CONTAINS(analysis::hsic(Tensor<double>(Shape{3, 3}), Tensor<double>(Shape{3, 3}), true), "needs N >= 4");
  CHECK_ERROR_CONTAINS(analysis::hsic(Tensor<double>(Shape{4, 4}), Tensor<double>(Shape{5, 5}), false), "same shape");
}

TEST_CASE("cka: a constant representation makes CKA undefined (NaN) for every kernel and estimator") {
  const auto x = test::random_tensor<double>(Shape{10, 3}, 71);
  // Equal values whose mean is not exactly representable (0.1) and dead units (0).
  Tensor<double> constant(Shape{10, 2});
  for (index_t i = 0; i < 10; ++i) constant(i, 0) = 0.1, constant(i, 1) = 0.0;
  const auto k = analysis::cka_gram_matrix(constant);
  for (const double v : k) CHECK(v == 0.0);  // exactly: no Gram matrix of rounding noise
  const auto kr = analysis::cka_gram_matrix(constant, CkaOptions{}.with_kernel(CkaKernel::rbf));
  for (const double v : kr) CHECK(v == 1.0);  // every row at distance 0 from every other
  for (const auto kernel : {CkaKernel::linear, CkaKernel::rbf})
    for (const bool debiased : {false, true}) {
      INFO("kernel ", int(kernel), " debiased ", debiased);
      const auto o = CkaOptions{}.with_kernel(kernel).with_debiased(debiased);
      CHECK(std::isnan(analysis::cka(x, constant, o)));
      CHECK(std::isnan(analysis::cka(constant, x, o)));
      CHECK(std::isnan(analysis::cka(constant, constant, o)));
    }
}

TEST_CASE("cka: dead and stuck units change nothing, rank-1 features against a rescaled copy give 1") {
  const auto live = test::random_tensor<double>(Shape{12, 3}, 72);
  auto y = test::random_tensor<double>(Shape{12, 4}, 73);
  for (index_t i = 0; i < 12; ++i) y(i, 1) += 2 * live(i, 0);
  Tensor<double> padded(Shape{12, 5});  // live units with a dead (0) and a stuck (0.7) unit
  for (index_t i = 0; i < 12; ++i) {
    padded(i, 0) = 0.0, padded(i, 1) = live(i, 0), padded(i, 2) = 0.7;
    padded(i, 3) = live(i, 1), padded(i, 4) = live(i, 2);
  }
  for (const auto kernel : {CkaKernel::linear, CkaKernel::rbf})
    for (const bool debiased : {false, true}) {
      INFO("kernel ", int(kernel), " debiased ", debiased);
      const auto o = CkaOptions{}.with_kernel(kernel).with_debiased(debiased);
      CHECK(analysis::cka(padded, y, o) == doctest::Approx(analysis::cka(live, y, o)).epsilon(1e-12));
    }
  // Rank 1: one live unit; its copy scaled by 3 with a stuck unit is the same representation.
  Tensor<float> r1(Shape{9, 3}), r2(Shape{9, 2});
  for (index_t i = 0; i < 9; ++i) {
    r1(i, 1) = float(1 + i % 4);
    r2(i, 0) = 3 * r1(i, 1), r2(i, 1) = -1.0f;
  }
  CHECK(analysis::cka(r1, r2) == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(analysis::cka(r1, r2, CkaOptions{}.with_kernel(CkaKernel::rbf)) == doctest::Approx(1.0).epsilon(1e-12));
}

TEST_CASE("cka: rbf with more than half the pairs of rows equal uses the sigma -> 0 limit kernel") {
  // 9 rows, 7 of them dead (all zero): 21 of the 36 pairs at distance 0, so the median is 0.
  Tensor<double> x(Shape{9, 2}), z(Shape{9, 2});
  x(3, 0) = 1.0, x(3, 1) = 2.0;
  x(7, 0) = -0.5;
  z(0, 0) = 4.0;  // another pattern: rows 0 and 1 live, the rest dead
  z(1, 1) = 4.0;
  const auto o = CkaOptions{}.with_kernel(CkaKernel::rbf);
  const auto k = analysis::cka_gram_matrix(x, o);
  Matrix expected_k(9, std::vector<double>(9)), expected_l(9, std::vector<double>(9));
  auto dead_x = [](index_t i) { return i != 3 && i != 7; };
  auto dead_z = [](index_t i) { return i >= 2; };
  for (index_t i = 0; i < 9; ++i)
    for (index_t j = 0; j < 9; ++j) {
      expected_k[std::size_t(i)][std::size_t(j)] = i == j || (dead_x(i) && dead_x(j)) ? 1.0 : 0.0;
      expected_l[std::size_t(i)][std::size_t(j)] = i == j || (dead_z(i) && dead_z(j)) ? 1.0 : 0.0;
      INFO(i, ", ", j);
      CHECK(k(i, j) == expected_k[std::size_t(i)][std::size_t(j)]);
    }
  // The same pattern of equal rows (x rescaled) is the same kernel: CKA 1; another pattern gives
  // the CKA of the two indicator kernels.
  Tensor<double> x3(Shape{9, 2});
  for (index_t i = 0; i < 18; ++i) x3[i] = 3 * x[i];
  CHECK(analysis::cka(x, x3, o) == doctest::Approx(1.0).epsilon(1e-12));
  const double want = biased_hsic(expected_k, expected_l) /
                      std::sqrt(biased_hsic(expected_k, expected_k) * biased_hsic(expected_l, expected_l));
  CHECK(analysis::cka(x, z, o) == doctest::Approx(want).epsilon(1e-12));
}

TEST_SUITE_END();
