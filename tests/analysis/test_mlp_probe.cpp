// The MLP probe: its objective against explicit loops and central differences, an XOR problem the
// linear probe cannot learn (and the MLP probe can), determinism for a seed, a dead layer, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/linear_probe.hpp"
#include "invar/analysis/mlp_probe.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
using analysis::fit_mlp_probe;
using analysis::MlpProbeOptions;

TEST_SUITE_BEGIN("analysis");

namespace {

/// XOR in the first two of `d` features (the rest uniform noise): label = [x0 > 0] xor [x1 > 0].
struct Xor {
  Tensor<float> x;
  Tensor<index_t> y;
};
Xor make_xor(index_t n, index_t d, std::uint64_t seed) {
  Xor s{test::random_tensor<float>(Shape{n, d}, seed), Tensor<index_t>(Shape{n})};
  for (index_t i = 0; i < n; ++i) s.y[i] = (s.x(i, 0) > 0) != (s.x(i, 1) > 0) ? 1 : 0;
  return s;
}

}  // namespace

TEST_CASE("MlpProbeObjective equals explicit loops, its gradient equals central differences") {
  const index_t n = 9, d = 3, h = 5, c = 4;
  const auto x = test::random_tensor<double>(Shape{n, d}, 1, -2, 2);
  const auto y = test::random_indices(n, c, 2);
  const double l2 = 0.2;
  analysis::MlpProbeObjective f(x, y, c, h, l2);
  const auto l = f.layout();
  REQUIRE(f.parameters() == d * h + h + h * c + c);
  const auto t = test::random_tensor<double>(Shape{f.parameters()}, 3);
  const Eigen::VectorXd theta = Eigen::Map<const Eigen::VectorXd>(t.data(), t.numel());
  // Explicit loops.
  double loss = 0, penalty = 0;
  for (index_t i = 0; i < n; ++i) {
    std::vector<double> hid(static_cast<std::size_t>(h)), z(static_cast<std::size_t>(c));
    for (index_t j = 0; j < h; ++j) {
      double a = theta[l.b1 + j];
      for (index_t k = 0; k < d; ++k) a += x(i, k) * theta[l.w1 + k * h + j];
      hid[std::size_t(j)] = a > 0 ? a : 0;
    }
    double sum = 0;
    for (index_t k = 0; k < c; ++k) {
      z[std::size_t(k)] = theta[l.b2 + k];
      for (index_t j = 0; j < h; ++j) z[std::size_t(k)] += hid[std::size_t(j)] * theta[l.w2 + j * c + k];
      sum += std::exp(z[std::size_t(k)]);
    }
    loss += (std::log(sum) - z[std::size_t(y[i])]) / double(n);
  }
  for (index_t i = 0; i < d * h; ++i) penalty += 0.5 * l2 * theta[l.w1 + i] * theta[l.w1 + i];
  for (index_t i = 0; i < h * c; ++i) penalty += 0.5 * l2 * theta[l.w2 + i] * theta[l.w2 + i];
  Eigen::VectorXd g;
  CHECK(f(theta, g) == doctest::Approx(loss + penalty).epsilon(1e-13));
  const double h_fd = 1e-6;
  double diff = 0, sum = 0;
  for (index_t p = 0; p < f.parameters(); ++p) {
    Eigen::VectorXd tp = theta, tm = theta;
    tp[p] += h_fd;
    tm[p] -= h_fd;
    const double fd = (f(tp, nullptr) - f(tm, nullptr)) / (2 * h_fd);
    diff += (g[p] - fd) * (g[p] - fd);
    sum += (g[p] + fd) * (g[p] + fd);
  }
  CHECK(std::sqrt(diff / sum) < 1e-7);
}

TEST_CASE("MLP probe learns XOR, which the linear probe cannot") {
  const auto train = make_xor(400, 2, 10);
  const auto test = make_xor(400, 2, 11);
  const auto linear = analysis::fit_linear_probe(train.x, train.y);
  const double linear_train = linear.accuracy(train.x, train.y), linear_test = linear.accuracy(test.x, test.y);
  INFO("linear probe: train ", linear_train, ", test ", linear_test);
  CHECK(linear_train < 0.75);
  CHECK(linear_test < 0.75);
  const auto mlp = fit_mlp_probe(train.x, train.y, MlpProbeOptions{}.with_hidden(64).with_max_iterations(300));
  const double mlp_train = mlp.accuracy(train.x, train.y), mlp_test = mlp.accuracy(test.x, test.y);
  INFO("MLP probe: train ", mlp_train, ", test ", mlp_test, "; ", mlp.report().iterations, " iterations, stop: ",
       mlp.report().stop_reason);
  CHECK(mlp_train > 0.95);
  CHECK(mlp_test > 0.95);
  CHECK(mlp.hidden() == 64);
  CHECK(mlp.report().iterations > 0);
  CHECK(mlp.report().objective < 0.2);
}

TEST_CASE("MLP probe: the same seed gives the same weights, another seed others") {
  const auto train = make_xor(120, 3, 20);
  const auto o = MlpProbeOptions{}.with_hidden(16).with_max_iterations(60).with_seed(5);
  const auto a = fit_mlp_probe(train.x, train.y, o);
  const auto b = fit_mlp_probe(train.x, train.y, o);
  CHECK(std::memcmp(a.w1().data(), b.w1().data(), a.w1().bytes()) == 0);
  CHECK(std::memcmp(a.b1().data(), b.b1().data(), a.b1().bytes()) == 0);
  CHECK(std::memcmp(a.w2().data(), b.w2().data(), a.w2().bytes()) == 0);
  CHECK(std::memcmp(a.b2().data(), b.b2().data(), a.b2().bytes()) == 0);
  CHECK(a.report().objective == b.report().objective);
  auto other = o;
  const auto c = fit_mlp_probe(train.x, train.y, other.with_seed(6));
  CHECK(std::memcmp(a.w1().data(), c.w1().data(), a.w1().bytes()) != 0);
  const auto p = a.predict(train.x);
  const auto q = b.predict(train.x);
  for (index_t i = 0; i < p.numel(); ++i) CHECK(p[i] == q[i]);
}

TEST_CASE("MLP probe on all-constant features (a dead layer) predicts the majority class") {
  Tensor<float> dead(Shape{10, 4});
  Tensor<index_t> y(Shape{10});
  const index_t labels[10] = {3, 1, 3, 3, 0, 1, 3, 0, 3, 1};  // class 3: 5 of 10
  for (index_t i = 0; i < 10; ++i) y[i] = labels[i], dead(i, 2) = -0.3f;
  const auto probe = fit_mlp_probe(dead, y, MlpProbeOptions{}.with_hidden(8));
  CHECK(probe.accuracy(dead, y) == 0.5);
  const auto predicted = probe.predict(dead);
  for (index_t i = 0; i < 10; ++i) CHECK(predicted[i] == 3);
}

TEST_CASE("MLP probe errors") {
  const auto x = test::random_tensor<float>(Shape{6, 2}, 30);
  Tensor<index_t> y(Shape{6});
  for (index_t i = 0; i < 6; ++i) y[i] = i % 3;
  CHECK_ERROR_CONTAINS(fit_mlp_probe(x, Tensor<index_t>(Shape{4})), "one label per row");
  CHECK_ERROR_CONTAINS(fit_mlp_probe(x, Tensor<index_t>(Shape{6})), "at least 2 classes");
  CHECK_ERROR_CONTAINS(fit_mlp_probe(x, y, MlpProbeOptions{}.with_hidden(0)), "hidden");
  auto nan = Tensor<float>::copy_of(x.view());
  nan(2, 0) = std::nanf("");
  CHECK_ERROR_CONTAINS(fit_mlp_probe(nan, y), "feature 0 of row 2 is not finite");
  const auto probe = fit_mlp_probe(x, y, MlpProbeOptions{}.with_hidden(4).with_max_iterations(5));
  CHECK(probe.classes() == 3);
  CHECK_ERROR_CONTAINS(probe.predict(Tensor<float>(Shape{2, 5})), "fitted on 2");
  CHECK_ERROR_CONTAINS(probe.accuracy(x, Tensor<index_t>(Shape{2})), "one label per row");
}

TEST_SUITE_END();
