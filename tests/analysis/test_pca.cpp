// PCA: a planted spectrum recovered from samples, the exact spectrum of small data against explicit
// covariance loops and a naive power iteration with deflation, the Gram (D > N) path against the
// covariance path, the effective rank of k equal variances, and errors.
#include <doctest/doctest.h>

#include <Eigen/QR>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/pca.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
using analysis::PcaMethod;
using analysis::PcaOptions;

TEST_SUITE_BEGIN("analysis");

namespace {

using Matrix = std::vector<std::vector<double>>;

double normal(std::mt19937_64& rng) {  // Box-Muller on our reproducible uniforms
  const double u1 = test::uniform(rng, 1e-300, 1.0), u2 = test::uniform(rng, 0.0, 1.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

/// Sample covariance (divided by N - 1) with explicit loops.
Matrix naive_covariance(const Tensor<double>& x) {
  const index_t n = x.dim(0), d = x.dim(1);
  std::vector<double> mean(std::size_t(d), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) mean[std::size_t(j)] += x(i, j) / double(n);
  Matrix c(std::size_t(d), std::vector<double>(std::size_t(d), 0.0));
  for (index_t a = 0; a < d; ++a)
    for (index_t b = 0; b < d; ++b) {
      double s = 0;
      for (index_t i = 0; i < n; ++i) s += (x(i, a) - mean[std::size_t(a)]) * (x(i, b) - mean[std::size_t(b)]);
      c[std::size_t(a)][std::size_t(b)] = s / double(n - 1);
    }
  return c;
}

/// Eigenvalues (decreasing) of a symmetric PSD matrix by power iteration with deflation.
std::vector<double> power_eigenvalues(Matrix a) {
  const std::size_t d = a.size();
  std::vector<double> out;
  std::mt19937_64 rng(5);
  for (std::size_t k = 0; k < d; ++k) {
    std::vector<double> v(d);
    for (auto& e : v) e = test::uniform(rng, -1, 1);
    double lambda = 0;
    for (int it = 0; it < 20000; ++it) {
      std::vector<double> w(d, 0.0);
      for (std::size_t i = 0; i < d; ++i)
        for (std::size_t j = 0; j < d; ++j) w[i] += a[i][j] * v[j];
      double norm = 0;
      for (double e : w) norm += e * e;
      norm = std::sqrt(norm);
      if (norm == 0) break;
      for (std::size_t i = 0; i < d; ++i) v[i] = w[i] / norm;
    }
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) lambda += v[i] * a[i][j] * v[j];
    out.push_back(lambda);
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) a[i][j] -= lambda * v[i] * v[j];
  }
  return out;
}

Tensor<double> transposed(const Tensor<double>& x) {
  Tensor<double> t(Shape{x.dim(1), x.dim(0)});
  for (index_t i = 0; i < x.dim(0); ++i)
    for (index_t j = 0; j < x.dim(1); ++j) t(j, i) = x(i, j);
  return t;
}

}  // namespace

TEST_CASE("pca: recovers a planted spectrum from many samples in a random orthogonal basis") {
  const index_t n = 20000, d = 6;
  const std::vector<double> sd{3.0, 2.0, 1.5, 1.0, 0.5, 0.25};
  std::mt19937_64 rng(11);
  Eigen::MatrixXd r(d, d);
  for (index_t i = 0; i < d; ++i)
    for (index_t j = 0; j < d; ++j) r(i, j) = normal(rng);
  const Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(r).householderQ();
  Tensor<float> x(Shape{n, d});
  for (index_t i = 0; i < n; ++i) {
    std::vector<double> z(static_cast<std::size_t>(d));
    for (index_t j = 0; j < d; ++j) z[std::size_t(j)] = normal(rng) * sd[std::size_t(j)];
    for (index_t a = 0; a < d; ++a) {
      double v = 5.0;  // an offset: PCA centres
      for (index_t j = 0; j < d; ++j) v += q(a, j) * z[std::size_t(j)];
      x(i, a) = float(v);
    }
  }
  double total = 0;
  for (double s : sd) total += s * s;
  const auto res = analysis::pca(x, PcaOptions{}.with_components(4));
  CHECK_FALSE(res.used_gram);
  REQUIRE(res.explained_variance_ratio.size() == 4);
  REQUIRE(res.eigenvalues.size() == 6);
  for (std::size_t k = 0; k < 4; ++k) {
    INFO("component ", k);
    CHECK(res.explained_variance_ratio[k] == doctest::Approx(sd[k] * sd[k] / total).epsilon(0.03));
  }
  for (std::size_t k = 0; k < 6; ++k) CHECK(res.eigenvalues[k] == doctest::Approx(sd[k] * sd[k]).epsilon(0.03));
  CHECK(res.pc1_share == doctest::Approx(9.0 / total).epsilon(0.03));
  CHECK(analysis::pc1_share(x) == res.pc1_share);
  std::vector<double> planted;
  for (double s : sd) planted.push_back(s * s);
  CHECK(res.effective_rank == doctest::Approx(analysis::effective_rank(planted)).epsilon(0.03));
}

TEST_CASE("pca: the exact spectrum of small data equals explicit covariance loops and power iteration") {
  const auto x = test::random_tensor<double>(Shape{7, 5}, 21, -2.0, 3.0);
  const Matrix c = naive_covariance(x);
  const std::vector<double> expected = power_eigenvalues(c);
  double trace = 0, frob = 0;
  for (std::size_t a = 0; a < c.size(); ++a) {
    trace += c[a][a];
    for (std::size_t b = 0; b < c.size(); ++b) frob += c[a][b] * c[a][b];
  }
  const auto res = analysis::pca(x);
  REQUIRE(res.eigenvalues.size() == 5);
  CHECK(res.total_variance == doctest::Approx(trace).epsilon(1e-12));
  double sum_sq = 0;
  for (std::size_t k = 0; k < 5; ++k) {
    INFO("eigenvalue ", k);
    CHECK(res.eigenvalues[k] == doctest::Approx(expected[k]).epsilon(1e-8));
    CHECK(res.explained_variance_ratio[k] == doctest::Approx(expected[k] / trace).epsilon(1e-8));
    sum_sq += res.eigenvalues[k] * res.eigenvalues[k];
  }
  CHECK(sum_sq == doctest::Approx(frob).epsilon(1e-10));  // sum lambda^2 = ||C||_F^2
  // N = D: square data, both methods.
  const auto sq = test::random_tensor<double>(Shape{5, 5}, 22);
  const std::vector<double> e2 = power_eigenvalues(naive_covariance(sq));
  for (auto method : {PcaMethod::covariance, PcaMethod::gram}) {
    const auto r2 = analysis::pca(sq, PcaOptions{}.with_method(method));
    for (std::size_t k = 0; k < 4; ++k) CHECK(r2.eigenvalues[k] == doctest::Approx(e2[k]).epsilon(1e-8));
    CHECK(r2.eigenvalues[4] <= 1e-12 * e2[0]);  // N = 5 centred rows: rank 4
  }
}

TEST_CASE("pca: the Gram path (D > N) equals the covariance path on the same data") {
  const auto wide = test::random_tensor<double>(Shape{9, 40}, 31);
  const auto automatic = analysis::pca(wide);
  CHECK(automatic.used_gram);
  const auto cov = analysis::pca(wide, PcaOptions{}.with_method(PcaMethod::covariance));
  CHECK_FALSE(cov.used_gram);
  REQUIRE(automatic.eigenvalues.size() == 9);
  REQUIRE(cov.eigenvalues.size() == 9);
  for (std::size_t k = 0; k < 9; ++k) {
    CHECK(automatic.eigenvalues[k] == doctest::Approx(cov.eigenvalues[k]).scale(automatic.eigenvalues[0]).epsilon(1e-10));
    CHECK(automatic.explained_variance_ratio[k] == doctest::Approx(cov.explained_variance_ratio[k]).epsilon(1e-9).scale(1));
  }
  CHECK(automatic.effective_rank == doctest::Approx(cov.effective_rank).epsilon(1e-9));
  // A tall matrix (covariance by default) forced through the Gram matrix.
  const Tensor<double> tall = transposed(wide);
  const auto t_cov = analysis::pca(tall);
  const auto t_gram = analysis::pca(tall, PcaOptions{}.with_method(PcaMethod::gram));
  CHECK_FALSE(t_cov.used_gram);
  CHECK(t_gram.used_gram);
  for (std::size_t k = 0; k < 9; ++k)
    CHECK(t_gram.eigenvalues[k] == doctest::Approx(t_cov.eigenvalues[k]).scale(t_cov.eigenvalues[0]).epsilon(1e-10));
}

TEST_CASE("pca: the effective rank of k equal variances is k") {
  for (index_t k : {1, 2, 3, 7}) {
    // Rows +e_j and -e_j for j < k, plus two zero columns: k equal variances, the rest 0.
    Tensor<double> x(Shape{2 * k, k + 2});
    for (index_t j = 0; j < k; ++j) {
      x(2 * j, j) = 1.0;
      x(2 * j + 1, j) = -1.0;
    }
    INFO("k = ", k);
    const auto res = analysis::pca(x);
    CHECK(res.effective_rank == doctest::Approx(double(k)).epsilon(1e-9));
    CHECK(res.pc1_share == doctest::Approx(1.0 / double(k)).epsilon(1e-9));
    CHECK(analysis::effective_rank(x) == res.effective_rank);
  }
  CHECK(analysis::effective_rank(std::vector<double>{2, 2, 2, 0}) == doctest::Approx(3.0));
  const double h = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  CHECK(analysis::effective_rank(std::vector<double>{3, 1}) == doctest::Approx(std::exp(h)).epsilon(1e-14));
}

TEST_CASE("pca: top-k ratios, float input and errors") {
  const auto xd = test::random_tensor<double>(Shape{30, 6}, 41);
  const auto xf = test::random_tensor<float>(Shape{30, 6}, 41);
  const auto top2 = analysis::explained_variance_ratio(xd, 2);
  const auto all = analysis::explained_variance_ratio(xd);
  REQUIRE(top2.size() == 2);
  REQUIRE(all.size() == 6);
  double sum = 0;
  for (double r : all) sum += r;
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(top2[0] == all[0]);
  CHECK(top2[1] == all[1]);
  CHECK(analysis::pca(xf).pc1_share == doctest::Approx(analysis::pca(xd).pc1_share).epsilon(1e-5));
  CHECK(analysis::explained_variance_ratio(xd, 100).size() == 6);

  CHECK_ERROR_CONTAINS(analysis::pca(Tensor<double>(Shape{1, 4})), "at least 2 rows");
  auto nan = xd;
  nan(3, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_ERROR_CONTAINS(analysis::pca(nan), "feature 2 of row 3 is not finite");
  CHECK_ERROR_CONTAINS(analysis::pca(xd, PcaOptions{}.with_components(-1)), "components must be >= 0");
  CHECK_ERROR_CONTAINS(analysis::pca(Tensor<double>(Shape{4})), "must be N x D");
  CHECK_ERROR_CONTAINS(analysis::effective_rank(std::vector<double>{1, HUGE_VAL}), "not finite");
}

TEST_CASE("pca: all-constant features have total variance 0 and undefined (NaN) ratios, not an error") {
  // 0.1 and 4.25 in every row: the mean of 7 copies of 0.1 is not exactly 0.1, and that rounding
  // must not become variance.
  Tensor<double> constant(Shape{7, 3});
  for (index_t i = 0; i < 7; ++i) constant(i, 0) = 0.1, constant(i, 1) = 4.25, constant(i, 2) = 0.0;
  for (const auto method : {PcaMethod::automatic, PcaMethod::covariance, PcaMethod::gram}) {
    INFO("method ", int(method));
    const auto p = analysis::pca(constant, PcaOptions{}.with_method(method).with_components(2));
    CHECK_FALSE(p.defined());
    CHECK(p.total_variance == 0.0);
    CHECK(p.eigenvalues == std::vector<double>{0.0, 0.0, 0.0});
    REQUIRE(p.explained_variance_ratio.size() == 2);
    CHECK(std::isnan(p.explained_variance_ratio[0]));
    CHECK(std::isnan(p.pc1_share));
    CHECK(std::isnan(p.effective_rank));
  }
  CHECK(std::isnan(analysis::pc1_share(Tensor<float>(Shape{4, 5}))));  // all dead
  CHECK(std::isnan(analysis::effective_rank(std::vector<double>{0, 0})));
}

TEST_CASE("pca: dead columns add exactly nothing, rank-1 features have PC1 share 1 and effective rank 1") {
  auto live = test::random_tensor<double>(Shape{9, 3}, 61);
  // The same features with two dead units (0) and one stuck unit (0.3) between the live ones.
  Tensor<double> padded(Shape{9, 6});
  for (index_t i = 0; i < 9; ++i) {
    padded(i, 0) = live(i, 0), padded(i, 1) = 0.0, padded(i, 2) = live(i, 1);
    padded(i, 3) = 0.3, padded(i, 4) = live(i, 2), padded(i, 5) = 0.0;
  }
  const auto a = analysis::pca(live), b = analysis::pca(padded);
  REQUIRE(b.eigenvalues.size() == 6);
  CHECK(b.total_variance == doctest::Approx(a.total_variance).epsilon(1e-13));
  for (std::size_t k = 0; k < 3; ++k) CHECK(b.eigenvalues[k] == doctest::Approx(a.eigenvalues[k]).epsilon(1e-12));
  for (std::size_t k = 3; k < 6; ++k) CHECK(b.eigenvalues[k] <= 1e-14 * a.total_variance);  // the solver's rounding
  CHECK(b.pc1_share == doctest::Approx(a.pc1_share).epsilon(1e-12));
  CHECK(b.effective_rank == doctest::Approx(a.effective_rank).epsilon(1e-12));

  // Rank 1: every row a multiple of one direction (one live unit, the rest dead or stuck).
  Tensor<float> rank1(Shape{8, 4});
  for (index_t i = 0; i < 8; ++i) rank1(i, 1) = float(i % 3), rank1(i, 3) = 2.5f;
  const auto r = analysis::pca(rank1);
  CHECK(r.defined());
  CHECK(r.pc1_share == 1.0);
  CHECK(r.effective_rank == 1.0);
  // Variance of {0, 1, 2, 0, 1, 2, 0, 1} (sample, N - 1): sum 7, sum of squares 11.
  CHECK(r.total_variance == doctest::Approx((11.0 - 49.0 / 8.0) / 7.0).epsilon(1e-14));
}

TEST_SUITE_END();
