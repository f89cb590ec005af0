// Every metric x convention x reference set against the naive double computation.
#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"
#include "losses/loss_test_data.hpp"

using namespace invar;
using test::rel;

namespace {

template <class M, class T>
void check_against_naive(const test::LossBatch& b, double tol) {
  const auto x = test::cast<T>(b.x);
  const auto rows = test::rows_of(x);
  const auto seeds = test::id_tensor(b.seeds), classes = test::id_tensor(b.classes);
  for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
    const auto o = GroupLossOptions{}.with_convention(conv).with_epsilon(1e-9);
    const long double eps = 1e-9L;
    CAPTURE(M::name);
    CAPTURE(to_string(conv));
    {  // L_DA, all pairs
      const auto n = test::naive_loss<M>(rows, b.seeds, {}, conv, eps);
      const auto v = augmentation_invariance(M{}, x, seeds, no_gradient, o);
      CHECK(rel(v.numerator, double(n.numerator)) < tol);
      CHECK(rel(v.denominator, double(n.denominator)) < tol);
      CHECK(rel(v.value, double(n.value)) < tol);
    }
    {  // L_DA, same-class reference (the unlabelled row is in no reference group)
      const auto n = test::naive_loss<M>(rows, b.seeds, b.classes, conv, eps);
      const auto v = augmentation_invariance(M{}, x, seeds, same_class(classes), no_gradient, o);
      CHECK(rel(v.denominator, double(n.denominator)) < tol);
      CHECK(rel(v.value, double(n.value)) < tol);
    }
    {  // L_C, all pairs, an unlabelled row
      const auto n = test::naive_loss<M>(rows, b.classes, {}, conv, eps);
      const auto v = class_invariance(M{}, x, classes, no_gradient, o);
      CHECK(rel(v.numerator, double(n.numerator)) < tol);
      CHECK(rel(v.value, double(n.value)) < tol);
    }
  }
}

}  // namespace

TEST_CASE_TEMPLATE("every metric and convention equals the naive computation", T, double, float) {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 2e-5;
  for (index_t d : {1, 3, 16}) {
    if (d == 1) continue;  // correlation is degenerate on one feature; covered by the special-point tests
    const auto b = test::loss_batch(d, 100 + std::uint64_t(d));
    test::for_each_metric([&](auto m) { check_against_naive<decltype(m), T>(b, tol); });
  }
  const auto b1 = test::loss_batch(1, 7);
  check_against_naive<MeanSquaredDifference, T>(b1, tol);
  check_against_naive<Manhattan, T>(b1, tol);
}

TEST_CASE_TEMPLATE("linear and pairwise paths agree on value and gradient", T, double, float) {
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  const auto b = test::loss_batch(24, 5);
  const auto x = test::cast<T>(b.x);
  const auto seeds = test::id_tensor(b.seeds), classes = test::id_tensor(b.classes);
  auto both = [&](auto metric, GroupLossOptions o, const Reference& ref) {
    Tensor<T> g_lin(x.shape()), g_pair(x.shape());
    const auto lin = group_invariance(metric, x, seeds, ref, g_lin, o.with_path(LossPath::linear));
    const auto pair = group_invariance(metric, x, seeds, ref, g_pair, o.with_path(LossPath::pairwise));
    CHECK(rel(lin.value, pair.value) < tol);
    CHECK(rel(lin.numerator, pair.numerator) < tol);
    CHECK(rel(lin.denominator, pair.denominator) < tol);
    double diff = 0, norm = 0;
    for (index_t i = 0; i < x.numel(); ++i) {
      diff = std::max(diff, std::abs(double(g_lin[i]) - double(g_pair[i])));
      norm = std::max(norm, std::abs(double(g_pair[i])));
    }
    CHECK(diff <= tol * norm * 10);
  };
  for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
    auto o = GroupLossOptions{}.with_convention(conv);
    both(MeanSquaredDifference{}, o, all_pairs());
    both(SquaredEuclidean{}, o, all_pairs());
    both(MeanSquaredDifference{}, o, same_class(classes));
    both(SquaredEuclidean{}, GroupLossOptions{o}.with_gradient_scale(0.37), same_class(classes));
  }
}

TEST_CASE_TEMPLATE("gram and pairwise paths agree for cosine, correlation and Euclidean, zero and near rows", T, double,
                   float) {
  const double tol = std::is_same_v<T, double> ? 1e-10 : 2e-4;
  auto b = test::loss_batch(40, 9);
  for (index_t k = 0; k < 40; ++k) {
    b.x(2, k) = 0.0;                                // a zero row (a dead ReLU layer): d = 1, no gradient
    b.x(6, k) = 0.25;                               // a constant row: zero for correlation
    b.x(11, k) = b.x(0, k) * (1 + 1e-5 * double(k % 3));  // nearly parallel to row 0 (same seed 9)
  }
  const auto x = test::cast<T>(b.x);
  const auto seeds = test::id_tensor(b.seeds), classes = test::id_tensor(b.classes);
  auto both = [&](auto metric, const GroupLossOptions& o, const Reference& ref) {
    Tensor<T> g1(x.shape()), g2(x.shape());
    const auto a = group_invariance(metric, x, seeds, ref, g1, GroupLossOptions{o}.with_path(LossPath::gram));
    const auto p = group_invariance(metric, x, seeds, ref, g2, GroupLossOptions{o}.with_path(LossPath::pairwise));
    CAPTURE(decltype(metric)::name);
    CHECK(rel(a.numerator, p.numerator) < tol);
    CHECK(rel(a.denominator, p.denominator) < tol);
    double diff = 0, norm = 0;
    for (index_t i = 0; i < x.numel(); ++i) {
      diff = std::max(diff, std::abs(double(g1[i]) - double(g2[i])));
      norm = std::max(norm, std::abs(double(g2[i])));
    }
    CHECK(diff <= tol * norm * 10);
    if constexpr (!std::is_same_v<decltype(metric), Euclidean>)
      for (index_t k = 0; k < 40; ++k) CHECK(g1(2, k) == T(0));  // the zero row gets no gradient
  };
  for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
    const auto o = GroupLossOptions{}.with_convention(conv);
    both(CosineDistance{}, o, all_pairs());
    both(CorrelationDistance{}, o, all_pairs());
    both(CosineDistance{}, GroupLossOptions{o}.accumulating().with_gradient_scale(0.5), same_class(classes));
    both(CorrelationDistance{}, o, same_class(classes));
  }
  for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
    both(Euclidean{}, GroupLossOptions{}.with_convention(conv), all_pairs());
    both(Euclidean{}, GroupLossOptions{}.with_convention(conv).accumulating(), same_class(classes));
  }
  CHECK_THROWS_WITH_AS(
      augmentation_invariance(Manhattan{}, x, seeds, no_gradient, GroupLossOptions{}.with_path(LossPath::gram)),
      doctest::Contains("LossPath::gram needs cosine, correlation or Euclidean distance; manhattan"), Error);
}
