// t-SNE: the perplexity calibration and the joint P against explicit loops, the exact gradient
// against central differences of a naive KL(P || Q), the Barnes-Hut gradient against the exact
// one (theta = 0: rounding; theta = 0.5: a few percent), separated clusters staying apart (exact
// and Barnes-Hut), determinism (seed, thread count, float vs double), KL decreasing, errors, and
// collapsed features (identical rows: uniform P; rank-1 groups stay apart).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/tsne.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
using analysis::tsne;
using analysis::TsneMethod;
using analysis::TsneOptions;

TEST_SUITE_BEGIN("analysis");

namespace {

std::vector<double> flat(const Tensor<double>& t) { return std::vector<double>(t.begin(), t.end()); }

/// Squared Euclidean distance between rows i and j, with explicit loops.
double naive_d2(const std::vector<double>& x, index_t d, index_t i, index_t j) {
  double s = 0;
  for (index_t k = 0; k < d; ++k) s += (x[std::size_t(i * d + k)] - x[std::size_t(j * d + k)]) * (x[std::size_t(i * d + k)] - x[std::size_t(j * d + k)]);
  return s;
}

/// Perplexity 2^H, H = -sum p log2 p, of a probability row.
double naive_perplexity(const std::vector<double>& p) {
  double h = 0;
  for (double v : p)
    if (v > 0) h -= v * std::log2(v);
  return std::pow(2.0, h);
}

/// KL(P || Q) with q_ij = (1 + |y_i - y_j|^2)^-1 / sum_{k != l} (1 + |y_k - y_l|^2)^-1, explicit loops.
double naive_kl(const std::vector<double>& p, const std::vector<double>& y, index_t n) {
  double z = 0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j)
      if (i != j) {
        const double dx = y[std::size_t(2 * i)] - y[std::size_t(2 * j)];
        const double dy = y[std::size_t(2 * i + 1)] - y[std::size_t(2 * j + 1)];
        z += 1.0 / (1.0 + dx * dx + dy * dy);
      }
  double kl = 0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      const double pij = p[std::size_t(i * n + j)];
      if (i == j || pij <= 0) continue;
      const double dx = y[std::size_t(2 * i)] - y[std::size_t(2 * j)];
      const double dy = y[std::size_t(2 * i + 1)] - y[std::size_t(2 * j + 1)];
      const double q = 1.0 / (1.0 + dx * dx + dy * dy) / z;
      kl += pij * std::log(pij / q);
    }
  return kl;
}

std::vector<double> random_vector(std::size_t m, std::uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(m);
  for (auto& x : v) x = test::uniform(rng, lo, hi);
  return v;
}

/// `per` points around each of `clusters` centres far apart in `d` dimensions; labels out.
Tensor<double> clusters(index_t clusters, index_t per, index_t d, std::uint64_t seed, std::vector<int>& label) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;  // values need not be portable here, only separation
  Tensor<double> x(Shape{clusters * per, d});
  label.clear();
  for (index_t c = 0; c < clusters; ++c)
    for (index_t i = 0; i < per; ++i) {
      label.push_back(int(c));
      for (index_t k = 0; k < d; ++k) x(c * per + i, k) = (k == c ? 30.0 : 0.0) + normal(rng);
    }
  return x;
}

/// Every point's nearest other point in the embedding has its label.
void check_nearest_neighbour_same_cluster(const Tensor<double>& y, const std::vector<int>& label) {
  const index_t n = y.dim(0);
  index_t wrong = 0;
  for (index_t i = 0; i < n; ++i) {
    double best = std::numeric_limits<double>::infinity();
    index_t arg = -1;
    for (index_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double d = (y(i, 0) - y(j, 0)) * (y(i, 0) - y(j, 0)) + (y(i, 1) - y(j, 1)) * (y(i, 1) - y(j, 1));
      if (d < best) best = d, arg = j;
    }
    if (label[std::size_t(arg)] != label[std::size_t(i)]) ++wrong;
  }
  CHECK(wrong == 0);
}

}  // namespace

TEST_CASE("tsne: each conditional row has the target perplexity and is Gaussian in the squared distance") {
  const index_t n = 60, d = 5;
  const auto x = random_vector(std::size_t(n * d), 11, -1, 1);
  for (double perplexity : {2.0, 10.0, 30.0}) {
    CAPTURE(perplexity);
    const auto c = analysis::detail::tsne_conditional_exact(x, n, d, perplexity);
    for (index_t i = 0; i < n; ++i) {
      std::vector<double> row;
      double sum = 0;
      for (index_t j = 0; j < n; ++j) {
        if (j != i) row.push_back(c[std::size_t(i * n + j)]), sum += c[std::size_t(i * n + j)];
      }
      CHECK(c[std::size_t(i * n + i)] == 0.0);
      CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));
      CHECK(std::abs(naive_perplexity(row) - perplexity) < 1e-3);
      // log p_j = -beta d2_j + const: beta from the nearest point and the farthest one with
      // p > 1e-100 (farther ones may underflow), then every point.
      index_t a = -1, b = -1;
      for (index_t j = 0; j < n; ++j) {
        if (j == i) continue;
        if (a < 0 || naive_d2(x, d, i, j) < naive_d2(x, d, i, a)) a = j;
        if (c[std::size_t(i * n + j)] > 1e-100 && (b < 0 || naive_d2(x, d, i, j) > naive_d2(x, d, i, b))) b = j;
      }
      REQUIRE(naive_d2(x, d, i, b) > naive_d2(x, d, i, a));
      const double beta = (std::log(c[std::size_t(i * n + a)]) - std::log(c[std::size_t(i * n + b)])) /
                          (naive_d2(x, d, i, b) - naive_d2(x, d, i, a));
      CHECK(beta > 0);
      for (index_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double expected = c[std::size_t(i * n + a)] * std::exp(-beta * (naive_d2(x, d, i, j) - naive_d2(x, d, i, a)));
        CHECK(c[std::size_t(i * n + j)] == doctest::Approx(expected).epsilon(1e-8));
      }
    }
    // Joint P: symmetric, (P_j|i + P_i|j) / 2N, sums to 1.
    const auto p = analysis::detail::tsne_joint_exact(c, n);
    double total = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j) {
        total += p[std::size_t(i * n + j)];
        CHECK(p[std::size_t(i * n + j)] == p[std::size_t(j * n + i)]);
        CHECK(p[std::size_t(i * n + j)] == doctest::Approx((c[std::size_t(i * n + j)] + c[std::size_t(j * n + i)]) / (2.0 * n)));
      }
    CHECK(total == doctest::Approx(1.0).epsilon(1e-12));
  }
}

TEST_CASE("tsne: the kNN rows have the target perplexity over the k nearest neighbours") {
  const index_t n = 80, d = 4, k = 30;
  const double perplexity = 10;
  const auto x = random_vector(std::size_t(n * d), 12, -1, 1);
  const auto nb = analysis::detail::tsne_conditional_knn(x, n, d, perplexity, k);
  for (index_t i = 0; i < n; ++i) {
    std::vector<double> row(nb.p.begin() + i * k, nb.p.begin() + (i + 1) * k);
    CHECK(std::abs(naive_perplexity(row) - perplexity) < 1e-3);
    // The neighbours are the k nearest (brute force in the test): the k-th distance is <= all others.
    double kth = 0;
    for (index_t t = 0; t < k; ++t) {
      const index_t j = nb.index[std::size_t(i * k + t)];
      CHECK(j != i);
      kth = std::max(kth, naive_d2(x, d, i, j));
    }
    index_t closer = 0;
    for (index_t j = 0; j < n; ++j)
      if (j != i && naive_d2(x, d, i, j) <= kth) ++closer;
    CHECK(closer == k);
  }
  const auto p = analysis::detail::tsne_joint_sparse(nb);
  double total = 0;
  for (double v : p.value) total += v;
  CHECK(total == doctest::Approx(1.0).epsilon(1e-12));
}

TEST_CASE("tsne: the exact gradient equals central differences of a naive KL(P || Q)") {
  const index_t n = 9, d = 3;
  const auto x = random_vector(std::size_t(n * d), 21, -1, 1);
  const auto p = analysis::detail::tsne_joint_exact(analysis::detail::tsne_conditional_exact(x, n, d, 3.0), n);
  auto y = random_vector(std::size_t(2 * n), 22, -2, 2);
  CHECK(analysis::detail::tsne_kl_exact(p, y.data(), n) == doctest::Approx(naive_kl(p, y, n)).epsilon(1e-12));
  std::vector<double> g(std::size_t(2 * n));
  analysis::detail::tsne_gradient_exact(p, y.data(), n, 1.0, g.data());
  const double h = 1e-5;
  for (std::size_t k = 0; k < y.size(); ++k) {
    const double saved = y[k];
    y[k] = saved + h;
    const double up = naive_kl(p, y, n);
    y[k] = saved - h;
    const double down = naive_kl(p, y, n);
    y[k] = saved;
    CAPTURE(k);
    CHECK(g[k] == doctest::Approx((up - down) / (2 * h)).epsilon(1e-6).scale(1e-3));
  }
  // Exaggeration multiplies the attractive part only: g(alpha) = g(1) + 4 (alpha - 1) sum_j p_ij w_ij (y_i - y_j).
  std::vector<double> g12(std::size_t(2 * n));
  analysis::detail::tsne_gradient_exact(p, y.data(), n, 12.0, g12.data());
  for (index_t i = 0; i < n; ++i) {
    double ax = 0, ay = 0;
    for (index_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double dx = y[std::size_t(2 * i)] - y[std::size_t(2 * j)], dy = y[std::size_t(2 * i + 1)] - y[std::size_t(2 * j + 1)];
      const double w = 1.0 / (1.0 + dx * dx + dy * dy);
      ax += p[std::size_t(i * n + j)] * w * dx;
      ay += p[std::size_t(i * n + j)] * w * dy;
    }
    CHECK(g12[std::size_t(2 * i)] == doctest::Approx(g[std::size_t(2 * i)] + 44.0 * ax).epsilon(1e-10));
    CHECK(g12[std::size_t(2 * i + 1)] == doctest::Approx(g[std::size_t(2 * i + 1)] + 44.0 * ay).epsilon(1e-10));
  }
}

TEST_CASE("tsne: the Barnes-Hut gradient matches the exact one (theta 0: rounding, theta 0.5: a few percent)") {
  const index_t n = 150, d = 5;
  const auto x = random_vector(std::size_t(n * d), 31, -1, 1);
  const auto sparse = analysis::detail::tsne_joint_sparse(analysis::detail::tsne_conditional_knn(x, n, d, 5.0, 15));
  std::vector<double> dense(std::size_t(n * n), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t t = sparse.row_start[std::size_t(i)]; t < sparse.row_start[std::size_t(i + 1)]; ++t)
      dense[std::size_t(i * n + sparse.column[std::size_t(t)])] = sparse.value[std::size_t(t)];
  auto y = random_vector(std::size_t(2 * n), 32, -10, 10);
  y[2] = y[0], y[3] = y[1];  // two coincident points
  for (double exaggeration : {1.0, 12.0}) {
    CAPTURE(exaggeration);
    std::vector<double> g(std::size_t(2 * n)), g0(std::size_t(2 * n)), g5(std::size_t(2 * n));
    const double z = analysis::detail::tsne_gradient_exact(dense, y.data(), n, exaggeration, g.data());
    const double z0 = analysis::detail::tsne_gradient_barnes_hut(sparse, y.data(), n, 0.0, exaggeration, g0.data());
    const double z5 = analysis::detail::tsne_gradient_barnes_hut(sparse, y.data(), n, 0.5, exaggeration, g5.data());
    CHECK(z0 == doctest::Approx(z).epsilon(1e-12));
    CHECK(z5 == doctest::Approx(z).epsilon(0.02));
    double norm = 0, err0 = 0, err5 = 0, maxabs = 0;
    for (std::size_t k = 0; k < g.size(); ++k) {
      norm += g[k] * g[k];
      maxabs = std::max(maxabs, std::abs(g[k]));
      err0 = std::max(err0, std::abs(g0[k] - g[k]));
      err5 += (g5[k] - g[k]) * (g5[k] - g[k]);
    }
    CHECK(err0 <= 1e-12 * maxabs);
    CHECK(std::sqrt(err5 / norm) < 0.03);
    CHECK(std::sqrt(err5 / norm) > 0);  // the approximation is in use
    CHECK(analysis::detail::tsne_kl_sparse(sparse, y.data(), z0) ==
          doctest::Approx(naive_kl(dense, y, n)).epsilon(1e-10));
  }
}

TEST_CASE("tsne: well-separated clusters stay apart, exact and Barnes-Hut") {
  std::vector<int> label;
  const auto x = clusters(3, 60, 10, 41, label);
  for (TsneMethod method : {TsneMethod::exact, TsneMethod::barnes_hut}) {
    CAPTURE(int(method));
    const auto r = tsne(x, TsneOptions{}.with_method(method).with_seed(5).with_iterations(500));
    CHECK(r.method == method);
    CHECK(r.embedding.shape() == Shape{180, 2});
    CHECK(r.iterations == 500);
    CHECK(r.learning_rate == 50.0);
    CHECK(std::isfinite(r.kl_divergence));
    check_nearest_neighbour_same_cluster(r.embedding, label);
  }
  // automatic: exact at N <= exact_max_points.
  CHECK(tsne(x, TsneOptions{}.with_iterations(1)).method == TsneMethod::exact);
  CHECK(tsne(x, TsneOptions{}.with_iterations(1).with_exact_max_points(100)).method == TsneMethod::barnes_hut);
}

TEST_CASE("tsne: same seed gives the same bits on any thread count, another seed another embedding, KL decreases") {
  std::vector<int> label;
  const auto x = clusters(3, 40, 6, 51, label);
  for (TsneMethod method : {TsneMethod::exact, TsneMethod::barnes_hut}) {
    CAPTURE(int(method));
    std::vector<std::pair<index_t, double>> calls;
    const auto options = TsneOptions{}.with_method(method).with_seed(7).with_perplexity(20).with_progress(
        [&](index_t it, double kl) { calls.emplace_back(it, kl); });
    std::vector<double> a, b;
    double kl_a = 0;
    {
      ThreadScope one(1);
      const auto r = tsne(x, options);
      a = flat(r.embedding);
      kl_a = r.kl_divergence;
    }
    REQUIRE(calls.size() == 20);
    CHECK(calls.front().first == 50);
    CHECK(calls.back().first == 1000);
    CHECK(calls.back().second == kl_a);
    double kl_250 = 0;
    for (auto [it, kl] : calls)
      if (it == 250) kl_250 = kl;
    CHECK(kl_a < kl_250);
    {
      ThreadScope two(2);
      b = flat(tsne(x, options).embedding);
    }
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
    const auto c = flat(tsne(x, TsneOptions{options}.with_seed(8)).embedding);
    CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(double)) != 0);
  }
  // float features give the same result as the same values in double.
  Tensor<float> xf(x.shape());
  for (index_t k = 0; k < x.numel(); ++k) xf[k] = float(x[k]);
  Tensor<double> xd(x.shape());
  for (index_t k = 0; k < x.numel(); ++k) xd[k] = double(xf[k]);
  const auto opt = TsneOptions{}.with_iterations(60);
  CHECK(flat(tsne(xf, opt).embedding) == flat(tsne(xd.view(), opt).embedding));
}

TEST_CASE("tsne: errors") {
  const auto x = test::random_tensor<double>(Shape{10, 3}, 61);
  CHECK_ERROR_CONTAINS(tsne(test::random_tensor<double>(Shape{3, 3}, 1)), "at least 4 points");
  CHECK_ERROR_CONTAINS(tsne(test::random_tensor<double>(Shape{10}, 1)), "N x D");
  CHECK_ERROR_CONTAINS(tsne(x), "perplexity 30 must be less than N - 1 = 9");
  CHECK_ERROR_CONTAINS(tsne(x), "try perplexity 3");
  CHECK_ERROR_CONTAINS(tsne(x, TsneOptions{}.with_perplexity(9)), "less than N - 1");
  CHECK_ERROR_CONTAINS(tsne(x, TsneOptions{}.with_perplexity(0.5)), "perplexity must be");
  CHECK_ERROR_CONTAINS(tsne(x, TsneOptions{}.with_perplexity(3).with_theta(-0.1)), "theta must be");
  CHECK_ERROR_CONTAINS(tsne(x, TsneOptions{}.with_perplexity(3).with_iterations(0)), "iterations must be");
  CHECK_ERROR_CONTAINS(tsne(x, TsneOptions{}.with_perplexity(3).with_learning_rate(-1)), "learning_rate");
  auto bad = x;
  bad(4, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK_ERROR_CONTAINS(tsne(bad, TsneOptions{}.with_perplexity(3)), "feature 2 of row 4 is not finite");
  CHECK(tsne(x, TsneOptions{}.with_perplexity(3).with_iterations(10)).embedding.shape() == Shape{10, 2});
}

TEST_CASE("tsne: identical rows (a dead layer) give a uniform P and a finite embedding") {
  // Equal distances: every neighbour equally likely, whatever the perplexity asks for.
  const std::vector<double> zero(5, 0.0);
  std::vector<double> row(5);
  analysis::detail::tsne_calibrate_row(zero.data(), 5, 3.0, row.data());
  for (const double v : row) CHECK(v == doctest::Approx(0.2).epsilon(1e-15));
  const index_t n = 12, d = 3;
  const std::vector<double> dead(std::size_t(n * d), 0.0);
  const auto p = analysis::detail::tsne_joint_exact(analysis::detail::tsne_conditional_exact(dead, n, d, 3.0), n);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j)
      CHECK(p[std::size_t(i * n + j)] == doctest::Approx(i == j ? 0.0 : 1.0 / double(n * (n - 1))).epsilon(1e-14));
  for (TsneMethod method : {TsneMethod::exact, TsneMethod::barnes_hut}) {
    CAPTURE(int(method));
    const auto r = tsne(Tensor<float>(Shape{n, d}), TsneOptions{}.with_method(method).with_perplexity(3).with_iterations(100));
    CHECK(std::isfinite(r.kl_divergence));
    CHECK(r.kl_divergence >= 0);
    for (const double v : r.embedding) CHECK(std::isfinite(v));
  }
}

TEST_CASE("tsne: rank-1 features with repeated rows keep their groups apart, exact and Barnes-Hut") {
  // One live unit of four taking 3 values (20 images each, identical within a value): collapsed
  // features whose only structure is which group an image falls in.
  const index_t per = 20, n = 3 * per;
  Tensor<double> x(Shape{n, 4});
  std::vector<int> label;
  for (index_t i = 0; i < n; ++i) {
    x(i, 1) = 5.0 * double(i % 3);
    label.push_back(int(i % 3));
  }
  for (TsneMethod method : {TsneMethod::exact, TsneMethod::barnes_hut}) {
    CAPTURE(int(method));
    const auto r = tsne(x, TsneOptions{}.with_method(method).with_perplexity(10).with_seed(3));
    CHECK(std::isfinite(r.kl_divergence));
    check_nearest_neighbour_same_cluster(r.embedding, label);
  }
}

TEST_SUITE_END();
