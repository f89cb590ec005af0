// Identities the loss must satisfy whatever its implementation.
#include <doctest/doctest.h>

#include <random>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"
#include "losses/loss_test_data.hpp"

using namespace invar;
using test::rel;

namespace {

template <class M>
void check_permutation_and_relabelling(const test::LossBatch& b) {
  const index_t rows = b.x.dim(0), d = b.x.dim(1);
  std::vector<index_t> perm(static_cast<std::size_t>(rows));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(11));
  Tensor<double> xp(b.x.shape());
  std::vector<index_t> sp(perm.size()), cp(perm.size());
  for (index_t i = 0; i < rows; ++i) {
    const index_t src = perm[std::size_t(i)];
    for (index_t k = 0; k < d; ++k) xp(i, k) = b.x(src, k);
    // relabel: seeds s -> 1000 - 3 s, classes c -> c + 40 (no_group stays)
    sp[std::size_t(i)] = 1000 - 3 * b.seeds[std::size_t(src)];
    const index_t c = b.classes[std::size_t(src)];
    cp[std::size_t(i)] = c == no_group ? no_group : c + 40;
  }
  for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
    const auto o = GroupLossOptions{}.with_convention(conv);
    CAPTURE(M::name);
    const auto v0 = augmentation_invariance(M{}, b.x, test::id_tensor(b.seeds), same_class(test::id_tensor(b.classes)),
                                            no_gradient, o);
    const auto v1 =
        augmentation_invariance(M{}, xp, test::id_tensor(sp), same_class(test::id_tensor(cp)), no_gradient, o);
    CHECK(rel(v0.value, v1.value) < 1e-12);
    const auto c0 = class_invariance(M{}, b.x, test::id_tensor(b.classes), no_gradient, o);
    const auto c1 = class_invariance(M{}, xp, test::id_tensor(cp), no_gradient, o);
    CHECK(rel(c0.value, c1.value) < 1e-12);
  }
}

template <class M>
void check_scale_and_translation(const test::LossBatch& b) {
  const auto seeds = test::id_tensor(b.seeds);
  for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
    CAPTURE(M::name);
    const auto o = GroupLossOptions{}.with_convention(conv).with_epsilon(0);
    Tensor<double> g(b.x.shape());
    const auto v = augmentation_invariance(M{}, b.x, seeds, g, o);
    double gnorm = 0;
    for (auto e : g) gnorm += e * e;
    gnorm = std::sqrt(gnorm);
    // A ratio of two degree-p homogeneous sums is scale-invariant, so <dL/dX, X> = 0 (Euler).
    if constexpr (M::homogeneity >= 0) {
      double inner = 0, xnorm = 0;
      for (index_t i = 0; i < g.numel(); ++i) {
        inner += g[i] * b.x[i];
        xnorm += b.x[i] * b.x[i];
      }
      CHECK(std::abs(inner) <= 1e-12 * gnorm * std::sqrt(xnorm));
      Tensor<double> scaled = b.x;
      for (auto& e : scaled) e *= 3.7;
      CHECK(rel(augmentation_invariance(M{}, scaled, seeds, no_gradient, o).value, v.value) < 1e-12);
    }
    // Translation invariance: moving every row by t does not change L, so each column of dL/dX sums to 0.
    if constexpr (M::translation_invariant) {
      for (index_t k = 0; k < g.dim(1); ++k) {
        double col = 0;
        for (index_t i = 0; i < g.dim(0); ++i) col += g(i, k);
        CHECK(std::abs(col) <= 1e-12 * gnorm);
      }
    }
  }
}

}  // namespace

TEST_CASE("permuting rows with their ids and relabelling groups leave the value unchanged") {
  const auto b = test::loss_batch(7, 21);
  test::for_each_metric([&](auto m) { check_permutation_and_relabelling<decltype(m)>(b); });
}

TEST_CASE("scale invariance (<dL/dX, X> = 0) and translation invariance (column sums of dL/dX = 0)") {
  const auto b = test::loss_batch(7, 22);
  test::for_each_metric([&](auto m) { check_scale_and_translation<decltype(m)>(b); });
}

TEST_CASE("the same gradient on 1 and 2 threads, bit for bit") {
  auto x = invar::test::random_tensor<float>(Shape{256, 3000}, 5);
  Tensor<index_t> seeds(Shape{256});
  for (index_t i = 0; i < 256; ++i) seeds[i] = (i * 7) % 32;
  auto run = [&](int threads, auto metric) {
    ThreadScope scope(threads);
    Tensor<float> g(x.shape());
    const auto v = augmentation_invariance(metric, x, seeds, g);
    return std::pair{v.value, g};
  };
  for (int rep = 0; rep < 2; ++rep) {
    const auto a = rep == 0 ? run(1, MeanSquaredDifference{}) : run(1, CosineDistance{});
    const auto b = rep == 0 ? run(2, MeanSquaredDifference{}) : run(2, CosineDistance{});
    CHECK(a.first == b.first);
    CHECK(std::memcmp(a.second.data(), b.second.data(), a.second.bytes()) == 0);
  }
}
