// The linear probe: its objective against explicit loops, its gradient against central
// differences, the standardiser against a naive two-pass computation, 100 % accuracy on separated
// clusters, convergence on features whose standardised covariance has condition number >= 1e6
// (with the accuracy of the well-conditioned version of the same problem), unlabelled rows,
// determinism, collapsed features (all constant, dead units) and errors.
#include <doctest/doctest.h>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/linear_probe.hpp"
#include "invar/core/random.hpp"
#include "invar/losses/grouping.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
using analysis::fit_linear_probe;
using analysis::LinearProbeOptions;

TEST_SUITE_BEGIN("analysis");

namespace {

using Matrix = std::vector<std::vector<double>>;  // rows

Matrix rows_of(TensorView<const double> x) {
  Matrix m(static_cast<std::size_t>(x.dim(0)), std::vector<double>(static_cast<std::size_t>(x.dim(1))));
  for (index_t i = 0; i < x.dim(0); ++i)
    for (index_t j = 0; j < x.dim(1); ++j) m[std::size_t(i)][std::size_t(j)] = x(i, j);
  return m;
}

/// (x - mean) / std per column (population std), with explicit loops.
template <class T>
Matrix naive_standardize(const Tensor<T>& x) {
  const index_t n = x.dim(0), d = x.dim(1);
  Matrix out(static_cast<std::size_t>(n), std::vector<double>(static_cast<std::size_t>(d)));
  for (index_t j = 0; j < d; ++j) {
    double mean = 0, var = 0;
    for (index_t i = 0; i < n; ++i) mean += double(x(i, j));
    mean /= double(n);
    for (index_t i = 0; i < n; ++i) var += (double(x(i, j)) - mean) * (double(x(i, j)) - mean);
    const double sd = std::sqrt(var / double(n));
    for (index_t i = 0; i < n; ++i) out[std::size_t(i)][std::size_t(j)] = (double(x(i, j)) - mean) / sd;
  }
  return out;
}

/// The probe's objective and gradient with explicit loops: W is D x C (W[j][k]), b is C.
double naive_objective(const Matrix& x, const std::vector<index_t>& y, const Matrix& w, const std::vector<double>& b,
                       double l2, Matrix* gw = nullptr, std::vector<double>* gb = nullptr) {
  const std::size_t n = x.size(), d = w.size(), c = b.size();
  if (gw) *gw = Matrix(d, std::vector<double>(c, 0.0));
  if (gb) *gb = std::vector<double>(c, 0.0);
  double loss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> z(c);
    for (std::size_t k = 0; k < c; ++k) {
      z[k] = b[k];
      for (std::size_t j = 0; j < d; ++j) z[k] += x[i][j] * w[j][k];
    }
    double sum = 0;
    for (std::size_t k = 0; k < c; ++k) sum += std::exp(z[k]);
    loss += std::log(sum) - z[std::size_t(y[i])];
    for (std::size_t k = 0; k < c; ++k) {
      const double r = (std::exp(z[k]) / sum - (index_t(k) == y[i] ? 1.0 : 0.0)) / double(n);
      if (gb) (*gb)[k] += r;
      if (gw)
        for (std::size_t j = 0; j < d; ++j) (*gw)[j][k] += r * x[i][j];
    }
  }
  double penalty = 0;
  for (std::size_t j = 0; j < d; ++j)
    for (std::size_t k = 0; k < c; ++k) {
      penalty += 0.5 * l2 * w[j][k] * w[j][k];
      if (gw) (*gw)[j][k] += l2 * w[j][k];
    }
  return loss / double(n) + penalty;
}

Matrix weights_of(const analysis::LinearProbe& p) {
  return rows_of(p.weights().view());
}
std::vector<double> bias_of(const analysis::LinearProbe& p) { return {p.bias().begin(), p.bias().end()}; }

/// Gaussian clusters: `per_class` points around each centre, standard deviation sigma.
struct Labelled {
  Tensor<float> x;
  Tensor<index_t> y;
};
Labelled clusters(const std::vector<std::vector<double>>& centres, index_t per_class, double sigma, std::uint64_t seed,
                  const std::vector<index_t>& label_values = {}) {
  const index_t c = index_t(centres.size()), d = index_t(centres[0].size());
  Labelled s{Tensor<float>(Shape{c * per_class, d}), Tensor<index_t>(Shape{c * per_class})};
  Rng rng(seed);
  for (index_t i = 0; i < c * per_class; ++i) {
    const index_t k = i % c;
    s.y[i] = label_values.empty() ? k : label_values[std::size_t(k)];
    for (index_t j = 0; j < d; ++j) s.x(i, j) = float(centres[std::size_t(k)][std::size_t(j)] + sigma * rng.normal());
  }
  return s;
}

/// Condition number of the covariance of the (naively) standardised features.
double standardized_condition(const Tensor<float>& x) {
  const Matrix s = naive_standardize(x);
  const index_t d = x.dim(1);
  Eigen::MatrixXd cov = Eigen::MatrixXd::Zero(d, d);
  for (const auto& row : s)
    for (index_t a = 0; a < d; ++a)
      for (index_t b = 0; b < d; ++b) cov(a, b) += row[std::size_t(a)] * row[std::size_t(b)] / double(s.size());
  const Eigen::VectorXd ev = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(cov).eigenvalues();
  return ev.maxCoeff() / ev.minCoeff();
}

double inf_norm(const Matrix& gw, const std::vector<double>& gb) {
  double m = 0;
  for (const auto& r : gw)
    for (double v : r) m = std::max(m, std::abs(v));
  for (double v : gb) m = std::max(m, std::abs(v));
  return m;
}

}  // namespace

TEST_CASE("LinearProbeObjective equals explicit loops, its gradient equals central differences") {
  const index_t n = 13, d = 4, c = 3;
  const auto x = test::random_tensor<double>(Shape{n, d}, 1, -2, 2);
  const auto y = test::random_indices(n, c, 2);
  const double l2 = 0.3;
  analysis::LinearProbeObjective f(x, y, c, l2);
  REQUIRE(f.parameters() == d * c + c);
  const auto t = test::random_tensor<double>(Shape{d * c + c}, 3);
  Eigen::VectorXd theta = Eigen::Map<const Eigen::VectorXd>(t.data(), t.numel());
  Matrix w(static_cast<std::size_t>(d), std::vector<double>(static_cast<std::size_t>(c)));
  std::vector<double> b(static_cast<std::size_t>(c));
  for (index_t j = 0; j < d; ++j)
    for (index_t k = 0; k < c; ++k) w[std::size_t(j)][std::size_t(k)] = theta[j * c + k];
  for (index_t k = 0; k < c; ++k) b[std::size_t(k)] = theta[d * c + k];
  const std::vector<index_t> labels(y.begin(), y.end());
  Matrix gw;
  std::vector<double> gb;
  const double expected = naive_objective(rows_of(x), labels, w, b, l2, &gw, &gb);
  Eigen::VectorXd g;
  CHECK(f(theta, nullptr) == doctest::Approx(expected).epsilon(1e-13));
  CHECK(f(theta, g) == doctest::Approx(expected).epsilon(1e-13));
  REQUIRE(g.size() == f.parameters());
  for (index_t j = 0; j < d; ++j)
    for (index_t k = 0; k < c; ++k) CHECK(g[j * c + k] == doctest::Approx(gw[std::size_t(j)][std::size_t(k)]).epsilon(1e-12));
  for (index_t k = 0; k < c; ++k) CHECK(g[d * c + k] == doctest::Approx(gb[std::size_t(k)]).epsilon(1e-12));
  // Central differences of the value.
  const double h = 1e-6;
  double diff = 0, sum = 0;
  for (index_t p = 0; p < f.parameters(); ++p) {
    Eigen::VectorXd tp = theta, tm = theta;
    tp[p] += h;
    tm[p] -= h;
    const double fd = (f(tp, nullptr) - f(tm, nullptr)) / (2 * h);
    diff += (g[p] - fd) * (g[p] - fd);
    sum += (g[p] + fd) * (g[p] + fd);
  }
  CHECK(std::sqrt(diff / sum) < 1e-8);
}

TEST_CASE("Standardizer: two-pass mean and population std, constant features get scale 1") {
  Tensor<float> x(Shape{5, 3});
  const float col0[5] = {1e6f + 1, 1e6f + 2, 1e6f + 3, 1e6f + 4, 1e6f + 5};  // |mean| >> std
  for (index_t i = 0; i < 5; ++i) {
    x(i, 0) = col0[i];
    x(i, 1) = 7.0f;  // constant
    x(i, 2) = float(i * i) - 3.0f;
  }
  const auto s = analysis::Standardizer::fit(x);
  CHECK(s.mean()[0] == doctest::Approx(1e6 + 3).epsilon(1e-15));
  CHECK(s.scale()[0] == doctest::Approx(std::sqrt(2.0)).epsilon(1e-12));  // population: sqrt(10 / 5)
  CHECK(s.scale()[1] == 1.0);
  CHECK(s.is_constant(1));
  CHECK(s.constant_features() == 1);
  const auto z = s.apply(x);
  const Matrix ref = naive_standardize(x);
  for (index_t i = 0; i < 5; ++i) {
    CHECK(z(i, 0) == doctest::Approx(ref[std::size_t(i)][0]).epsilon(1e-12));
    CHECK(z(i, 1) == 0.0);
    CHECK(z(i, 2) == doctest::Approx(ref[std::size_t(i)][2]).epsilon(1e-12));
  }
  CHECK_ERROR_CONTAINS(s.apply(Tensor<float>(Shape{2, 4})), "fitted on 3");
  Tensor<double> bad(Shape{2, 2});
  bad(1, 0) = std::nan("");
  CHECK_ERROR_CONTAINS(analysis::Standardizer::fit(bad), "feature 0 of row 1 is not finite");
}

TEST_CASE("linear probe: 100 % accuracy on separated clusters, the objective it reports is the explicit one") {
  const std::vector<std::vector<double>> centres = {{6, 0, 0, 1, 0}, {0, 6, 0, 0, -1}, {0, 0, 6, 1, 1}};
  const auto train = clusters(centres, 50, 1.0, 10, {2, 5, 7});
  const auto test = clusters(centres, 50, 1.0, 11, {2, 5, 7});
  const auto probe = fit_linear_probe(train.x, train.y);
  CHECK(probe.class_labels() == std::vector<index_t>{2, 5, 7});
  CHECK(probe.report().converged);
  CHECK(probe.report().stop_reason == "gradient tolerance");
  CHECK(probe.accuracy(train.x, train.y) == 1.0);
  CHECK(probe.accuracy(test.x, test.y) == 1.0);
  const auto predicted = probe.predict(test.x);
  for (index_t i = 0; i < predicted.numel(); ++i) CHECK(predicted[i] == test.y[i]);

  // The reported objective and gradient norm, recomputed with loops from the naive standardisation.
  std::vector<index_t> compact(std::size_t(train.y.numel()));
  for (index_t i = 0; i < train.y.numel(); ++i) compact[std::size_t(i)] = train.y[i] == 2 ? 0 : train.y[i] == 5 ? 1 : 2;
  Matrix gw;
  std::vector<double> gb;
  const double value = naive_objective(naive_standardize(train.x), compact, weights_of(probe), bias_of(probe), 1e-4,
                                       &gw, &gb);
  CHECK(probe.report().objective == doctest::Approx(value).epsilon(1e-10));
  CHECK(inf_norm(gw, gb) <= 1e-6 * std::max(1.0, probe.report().initial_gradient_norm) * 1.01);
  CHECK(probe.report().gradient_norm <= 1e-6 * std::max(1.0, probe.report().initial_gradient_norm));
  // The initial gradient (W = 0, b = 0: uniform probabilities) by hand: d f / d b_k = 1/3 - n_k / n = 0 here,
  // so the norm comes from W: |(1/n) sum_i x_ij (1/3 - [y_i = k])|.
  Matrix w0(5, std::vector<double>(3, 0.0));
  naive_objective(naive_standardize(train.x), compact, w0, {0, 0, 0}, 1e-4, &gw, &gb);
  CHECK(probe.report().initial_gradient_norm == doctest::Approx(inf_norm(gw, gb)).epsilon(1e-10));
}

TEST_CASE("linear probe converges when the standardised covariance has condition number 1e6") {
  // Well-conditioned problem Z: 3 overlapping classes in dims 0-1, independent noise in dims 2-3.
  const std::vector<std::vector<double>> centres = {{1.5, 0, 0, 0}, {-0.75, 1.3, 0, 0}, {-0.75, -1.3, 0, 0}};
  const auto train_z = clusters(centres, 200, 1.0, 20);
  const auto test_z = clusters(centres, 200, 1.0, 21);
  // Ill-conditioned version X = Z diag(s) Q: singular values spanning 1e3, mixed by a rotation so
  // that standardising the columns cannot undo it.
  const double s[4] = {1.0, 0.5, 1e-3, 1e-3};
  std::mt19937_64 rng(22);
  Eigen::MatrixXd g(4, 4);
  for (index_t i = 0; i < 16; ++i) g.data()[i] = test::uniform(rng, -1, 1);
  const Eigen::MatrixXd q = Eigen::HouseholderQR<Eigen::MatrixXd>(g).householderQ();
  auto mix = [&](const Tensor<float>& z) {
    Tensor<float> x(z.shape());
    for (index_t i = 0; i < z.dim(0); ++i)
      for (index_t j = 0; j < 4; ++j) {
        double v = 0;
        for (index_t k = 0; k < 4; ++k) v += double(z(i, k)) * s[k] * q(k, j);
        x(i, j) = float(v);
      }
    return x;
  };
  const auto train_x = mix(train_z.x), test_x = mix(test_z.x);
  const double cond = standardized_condition(train_x);
  INFO("condition number of the standardised covariance: ", cond);
  CHECK(cond >= 1e6);
  CHECK(standardized_condition(train_z.x) < 10);

  const auto ill = fit_linear_probe(train_x, train_z.y);
  const auto well = fit_linear_probe(train_z.x, train_z.y);
  INFO("ill: ", ill.report().iterations, " iterations, |g| ", ill.report().gradient_norm, ", stop: ",
       ill.report().stop_reason);
  CHECK(ill.report().converged);
  CHECK(ill.report().iterations < 1000);
  CHECK(ill.report().gradient_norm <= 1e-6 * std::max(1.0, ill.report().initial_gradient_norm));
  CHECK(well.report().converged);
  // The gradient at the returned weights, recomputed independently, is below the tolerance too.
  Matrix gw;
  std::vector<double> gb;
  naive_objective(naive_standardize(train_x), std::vector<index_t>(train_z.y.begin(), train_z.y.end()), weights_of(ill),
                  bias_of(ill), 1e-4, &gw, &gb);
  CHECK(inf_norm(gw, gb) <= 1.05e-6 * std::max(1.0, ill.report().initial_gradient_norm));
  // Same information, same accuracy (the classes overlap: neither is 100 %). With the penalty the
  // two problems differ slightly (the well-conditioned probe can afford small weights on the
  // noise dimensions, the other cannot), so the training accuracy may differ by a row or two.
  const double acc_ill = ill.accuracy(test_x, test_z.y), acc_well = well.accuracy(test_z.x, test_z.y);
  INFO("accuracy ill ", acc_ill, ", well ", acc_well);
  CHECK(acc_well > 0.7);
  CHECK(acc_well < 0.99);
  CHECK(acc_ill == acc_well);
  CHECK(std::abs(ill.accuracy(train_x, train_z.y) - well.accuracy(train_z.x, train_z.y)) <= 2.0 / 600);

  // Without the penalty the Hessian itself has condition number ~1e6, and the two problems are the
  // same (logistic regression is invariant under invertible affine maps of the features): the
  // same predictions, so exactly the same accuracies.
  const auto ill0 = fit_linear_probe(train_x, train_z.y, LinearProbeOptions{}.with_l2(0));
  const auto well0 = fit_linear_probe(train_z.x, train_z.y, LinearProbeOptions{}.with_l2(0));
  INFO("ill, l2 = 0: ", ill0.report().iterations, " iterations, |g| ", ill0.report().gradient_norm, ", stop: ",
       ill0.report().stop_reason);
  CHECK(ill0.report().converged);
  CHECK(well0.report().converged);
  naive_objective(naive_standardize(train_x), std::vector<index_t>(train_z.y.begin(), train_z.y.end()),
                  weights_of(ill0), bias_of(ill0), 0.0, &gw, &gb);
  CHECK(inf_norm(gw, gb) <= 1.05e-6 * std::max(1.0, ill0.report().initial_gradient_norm));
  CHECK(ill0.accuracy(train_x, train_z.y) == well0.accuracy(train_z.x, train_z.y));
  CHECK(ill0.accuracy(test_x, test_z.y) == well0.accuracy(test_z.x, test_z.y));
  const auto p_ill = ill0.predict(test_x), p_well = well0.predict(test_z.x);
  index_t same = 0;
  for (index_t i = 0; i < p_ill.numel(); ++i) same += p_ill[i] == p_well[i];
  CHECK(same == p_ill.numel());
}

TEST_CASE("linear probe: unlabelled rows are ignored, two fits give identical weights") {
  const std::vector<std::vector<double>> centres = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  const auto train = clusters(centres, 40, 0.8, 30);
  const auto a = fit_linear_probe(train.x, train.y);
  const auto b = fit_linear_probe(train.x, train.y);
  REQUIRE(a.weights().numel() == b.weights().numel());
  CHECK(std::memcmp(a.weights().data(), b.weights().data(), a.weights().bytes()) == 0);
  CHECK(std::memcmp(a.bias().data(), b.bias().data(), a.bias().bytes()) == 0);
  CHECK(a.report().iterations == b.report().iterations);

  // The same rows plus unlabelled rows with wild (finite) features: the same probe.
  const index_t n = train.x.dim(0);
  Tensor<float> x(Shape{n + 7, 3});
  Tensor<index_t> y(Shape{n + 7});
  for (index_t i = 0, r = 0; i < n + 7; ++i) {
    if (i % 6 == 5 && i / 6 < 7) {
      for (index_t j = 0; j < 3; ++j) x(i, j) = 1e4f * float(j + 1);
      y[i] = no_group;
      continue;
    }
    for (index_t j = 0; j < 3; ++j) x(i, j) = train.x(r, j);
    y[i] = train.y[r++];
  }
  const auto c = fit_linear_probe(x, y);
  CHECK(std::memcmp(a.weights().data(), c.weights().data(), a.weights().bytes()) == 0);
  CHECK(c.accuracy(x, y) == a.accuracy(train.x, train.y));  // unlabelled rows do not count
  // Double features work the same way (the standardiser reads doubles).
  Tensor<double> xd(train.x.shape());
  for (index_t i = 0; i < xd.numel(); ++i) xd[i] = train.x[i];
  const auto e = fit_linear_probe(xd, train.y);
  CHECK(std::memcmp(a.weights().data(), e.weights().data(), a.weights().bytes()) == 0);
}

TEST_CASE("linear probe on collapsed features: all-constant features predict the majority class, dead units get weight 0") {
  // Every feature constant (a dead layer: 0, and stuck units: 0.1): only the biases can learn, and
  // they learn the class frequencies, so every image gets the most frequent class (1: 5 of 10).
  Tensor<float> dead(Shape{10, 3});
  Tensor<index_t> y(Shape{10});
  const index_t labels[10] = {0, 1, 2, 1, 1, 0, 2, 1, 2, 1};
  for (index_t i = 0; i < 10; ++i) y[i] = labels[i], dead(i, 1) = 0.1f;
  const auto probe = fit_linear_probe(dead, y);
  CHECK(probe.report().converged);
  CHECK(probe.accuracy(dead, y) == 0.5);
  for (const double w : probe.weights()) CHECK(w == 0.0);
  const auto predicted = probe.predict(dead);
  for (index_t i = 0; i < 10; ++i) CHECK(predicted[i] == 1);
  // softmax(b) = the class frequencies 0.2, 0.5, 0.3.
  const auto b = bias_of(probe);
  CHECK(b[1] - b[0] == doctest::Approx(std::log(0.5 / 0.2)).epsilon(1e-4));
  CHECK(b[2] - b[0] == doctest::Approx(std::log(0.3 / 0.2)).epsilon(1e-4));

  // Live features between dead units: the dead units' weights stay exactly 0 and the probe
  // predicts as the probe of the live features alone.
  const std::vector<std::vector<double>> centres = {{1, 0}, {0, 1}, {-1, -1}};
  const auto train = clusters(centres, 30, 0.9, 50), test = clusters(centres, 30, 0.9, 51);
  auto pad = [](const Tensor<float>& live) {
    Tensor<float> x(Shape{live.dim(0), 4});
    for (index_t i = 0; i < live.dim(0); ++i) x(i, 1) = live(i, 0), x(i, 2) = live(i, 1);  // columns 0, 3 dead
    return x;
  };
  const auto a = fit_linear_probe(train.x, train.y);
  const auto p = fit_linear_probe(pad(train.x), train.y);
  for (index_t k = 0; k < 3; ++k) {
    CHECK(p.weights()(0, k) == 0.0);
    CHECK(p.weights()(3, k) == 0.0);
  }
  CHECK(p.accuracy(pad(test.x), test.y) == a.accuracy(test.x, test.y));
  const auto pa = a.predict(test.x), pp = p.predict(pad(test.x));
  for (index_t i = 0; i < pa.numel(); ++i) CHECK(pa[i] == pp[i]);
}

TEST_CASE("linear probe errors") {
  const auto x = test::random_tensor<float>(Shape{6, 2}, 40);
  Tensor<index_t> y(Shape{6});
  for (index_t i = 0; i < 6; ++i) y[i] = i % 2;
  CHECK_ERROR_CONTAINS(fit_linear_probe(x, Tensor<index_t>(Shape{5})), "one label per row");
  CHECK_ERROR_CONTAINS(fit_linear_probe(x, Tensor<index_t>(Shape{6})), "at least 2 classes");
  Tensor<index_t> unlabelled(Shape{6});
  for (auto& v : unlabelled) v = no_group;
  CHECK_ERROR_CONTAINS(fit_linear_probe(x, unlabelled), "at least 2 classes");
  auto nan = Tensor<float>::copy_of(x.view());
  nan(3, 1) = std::nanf("");
  CHECK_ERROR_CONTAINS(fit_linear_probe(nan, y), "feature 1 of row 3 is not finite");
  CHECK_ERROR_CONTAINS(fit_linear_probe(Tensor<float>(Shape{6}), y), "N x D");
  CHECK_ERROR_CONTAINS(fit_linear_probe(x, y, LinearProbeOptions{}.with_l2(-1)), "l2");
  CHECK_ERROR_CONTAINS(fit_linear_probe(x, y, LinearProbeOptions{}.with_tolerance(std::nan(""))), "tolerance");
  const auto probe = fit_linear_probe(x, y);
  CHECK_ERROR_CONTAINS(probe.predict(Tensor<float>(Shape{3, 3})), "fitted on 2");
  CHECK_ERROR_CONTAINS(probe.predict(nan), "not finite");
  CHECK_ERROR_CONTAINS(probe.accuracy(x, Tensor<index_t>(Shape{4})), "one label per row");
  CHECK_ERROR_CONTAINS(probe.accuracy(x, unlabelled), "no labelled rows");
  // max_iterations = 0: no step, not converged, weights zero.
  const auto none = fit_linear_probe(x, y, LinearProbeOptions{}.with_max_iterations(0));
  CHECK_FALSE(none.report().converged);
  CHECK(none.report().stop_reason == "max_iterations");
  CHECK(none.report().iterations == 0);
}

TEST_SUITE_END();
