// dL/dX against central differences in double, for every metric, convention and reference set,
// on both paths where both apply.
#include <doctest/doctest.h>

#include <limits>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"
#include "losses/loss_test_data.hpp"

using namespace invar;

namespace {

template <class M, class Call>
double gradient_error(Tensor<double> x, Call&& call) {
  Tensor<double> g(x.shape());
  call(x, g);
  Tensor<double> fd(x.shape());
  const double h = 1e-5;
  for (index_t i = 0; i < x.numel(); ++i) {
    const double xi = x[i];
    x[i] = xi + h;
    const double fp = call(x, no_gradient).value;
    x[i] = xi - h;
    const double fm = call(x, no_gradient).value;
    x[i] = xi;
    fd[i] = (fp - fm) / (2 * h);
  }
  double diff = 0, sum = 0;
  for (index_t i = 0; i < x.numel(); ++i) {
    diff += (g[i] - fd[i]) * (g[i] - fd[i]);
    sum += (g[i] + fd[i]) * (g[i] + fd[i]);
  }
  return sum == 0 ? std::sqrt(diff) : std::sqrt(diff / sum);
}

template <class M>
void check_metric_gradients(const test::LossBatch& b) {
  const auto seeds = test::id_tensor(b.seeds), classes = test::id_tensor(b.classes);
  for (auto conv : {PairConvention::paper, PairConvention::pooled})
    for (auto path : {LossPath::automatic, LossPath::pairwise}) {
      const auto o = GroupLossOptions{}.with_convention(conv).with_path(path);
      CAPTURE(M::name);
      CAPTURE(to_string(conv));
      CAPTURE(int(path));
      CHECK(gradient_error<M>(b.x, [&](const Tensor<double>& x, auto&& g) {
              return augmentation_invariance(M{}, x, seeds, g, o);
            }) < 1e-6);
      CHECK(gradient_error<M>(b.x, [&](const Tensor<double>& x, auto&& g) {
              return augmentation_invariance(M{}, x, seeds, same_class(classes), g, o);
            }) < 1e-6);
      CHECK(gradient_error<M>(b.x, [&](const Tensor<double>& x, auto&& g) {
              return class_invariance(M{}, x, classes, g, o);
            }) < 1e-6);
    }
}

}  // namespace

TEST_CASE("central differences: every metric x convention x reference, both paths") {
  const auto b = test::loss_batch(6, 77);
  test::for_each_metric([&](auto m) { check_metric_gradients<decltype(m)>(b); });
}

TEST_CASE("gradient_scale scales and accumulate adds") {
  const auto b = test::loss_batch(5, 3);
  const auto seeds = test::id_tensor(b.seeds);
  for (auto path : {LossPath::linear, LossPath::pairwise}) {
    Tensor<double> g1(b.x.shape()), g2(b.x.shape());
    augmentation_invariance(SquaredEuclidean{}, b.x, seeds, g1, GroupLossOptions{}.with_path(path));
    for (auto& v : g2) v = 1.0;
    augmentation_invariance(SquaredEuclidean{}, b.x, seeds, g2,
                            GroupLossOptions{}.with_path(path).with_gradient_scale(-2.5).accumulating());
    for (index_t i = 0; i < g1.numel(); ++i) CHECK(g2[i] == doctest::Approx(1.0 - 2.5 * g1[i]).epsilon(1e-12));
  }
}

TEST_CASE_TEMPLATE("the Gram path writes, scales and adds the gradient as the pairwise path does", M, Euclidean,
                   CosineDistance, CorrelationDistance) {
  // The Gram path assembles the gradient in grad itself when it does not accumulate, and reuses
  // its buffers between calls: a second call, and a call that adds, must see none of the first.
  const auto b = test::loss_batch(5, 11);
  const auto seeds = test::id_tensor(b.seeds);
  Tensor<double> pairwise(b.x.shape()), written(b.x.shape()), added(b.x.shape());
  augmentation_invariance(M{}, b.x, seeds, pairwise, GroupLossOptions{}.with_path(LossPath::pairwise));
  for (auto& v : written) v = std::numeric_limits<double>::quiet_NaN();  // never read without accumulating
  for (int call = 0; call < 2; ++call) {
    augmentation_invariance(M{}, b.x, seeds, written, GroupLossOptions{}.with_path(LossPath::gram));
    for (index_t i = 0; i < written.numel(); ++i)
      REQUIRE(written[i] == doctest::Approx(pairwise[i]).epsilon(1e-9).scale(1.0));
  }
  for (auto& v : added) v = 1.0;
  augmentation_invariance(M{}, b.x, seeds, added,
                          GroupLossOptions{}.with_path(LossPath::gram).with_gradient_scale(-2.5).accumulating());
  for (index_t i = 0; i < added.numel(); ++i)
    CHECK(added[i] == doctest::Approx(1.0 - 2.5 * pairwise[i]).epsilon(1e-9).scale(1.0));
}
