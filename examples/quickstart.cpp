// Quick start: tensors, zero-copy Eigen interop, the op interface, the distance metrics and the
// data-augmentation invariance loss L_DA (paper Eq. 2).
//
// Builds a toy batch in the paper's K x M layout (K seed "images", M noisy augmentations of
// each), then asks invar's loss, for every built-in metric and for a metric defined below, how
// much closer augmentations of the same seed are than rows in general: L_DA in the pooled
// convention is (mean distance over pairs of the same seed) / (mean distance over all pairs),
// 0 = perfectly invariant, about 1 = no structure. Finally one gradient step on the features
// with dL_DA/dX makes them more invariant.
// Run: build/release/examples/quickstart [noise]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <tuple>

#include <invar/invar.hpp>

namespace {

// A metric of our own: the mean absolute difference (1/D) sum_k |a_k - b_k|, with the
// subgradient 0 where a_k == b_k. Any type with these members satisfies invar::Metric and works
// with every loss (docs/metrics.md; examples/custom_metric.cpp has a longer one).
struct MeanAbsoluteDifference {
  static constexpr const char* name = "mean_absolute_diff (ours)";
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = 1;

  template <class T>
  T value(const T* a, const T* b, invar::index_t d) const {
    T s = 0;
    for (invar::index_t k = 0; k < d; ++k) s += std::abs(a[k] - b[k]);
    return s / static_cast<T>(d);
  }
  template <class T>
  void accumulate_gradient(const T* a, const T* b, invar::index_t d, T w, T* ga, T* gb) const {
    for (invar::index_t k = 0; k < d; ++k) {
      const T g = w * static_cast<T>((a[k] > b[k]) - (a[k] < b[k])) / static_cast<T>(d);
      if (ga) ga[k] += g;
      if (gb) gb[k] -= g;
    }
  }
};
static_assert(invar::assert_metric<MeanAbsoluteDifference, double>());

// The pooled convention: means over distinct pairs, as the authors' code computes L_DA.
const invar::GroupLossOptions pooled = invar::GroupLossOptions{}.with_convention(invar::PairConvention::pooled);

template <class Metric>
void report(const invar::Tensor<double>& x, const invar::Tensor<invar::index_t>& seed) {
  const invar::LossValue l = invar::augmentation_invariance(Metric{}, x, seed, invar::no_gradient, pooled);
  std::printf("  %-26s %8.4f\n", Metric::name, l.value);
}

}  // namespace

int main(int argc, char** argv) {
  const double noise = argc > 1 ? std::atof(argv[1]) : 0.3;
  constexpr invar::index_t K = 16, M = 8, D = 64;  // the authors' batch: 16 seeds x 8 augmentations

  // Seeds as an Eigen matrix the user already owns; invar views it without a copy.
  invar::RowMatrix<double> seeds(K, D);
  std::mt19937_64 rng(42);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (invar::index_t i = 0; i < K; ++i)
    for (invar::index_t j = 0; j < D; ++j) seeds(i, j) = normal(rng);
  invar::TensorView<const double> seed_view = invar::view_of(seeds);
  std::printf("seeds: Eigen matrix viewed as %s tensor, same memory: %s\n", "[16, 64]",
              seed_view.data() == seeds.data() ? "yes" : "no");

  // The batch: row r is augmentation (r % M) of seed (r / M); gather copies the seed rows.
  invar::Tensor<invar::index_t> group(invar::Shape{K * M});
  for (invar::index_t r = 0; r < K * M; ++r) group[r] = r / M;
  invar::Tensor<double> batch(invar::Shape{K * M, D});
  invar::ops::gather_rows(seed_view, group, batch);
  invar::Tensor<double> jitter(batch.shape());
  for (auto& v : jitter) v = noise * normal(rng);
  invar::ops::axpby(1.0, jitter, 1.0, batch);  // batch += jitter

  // Per-group means through the op interface: a scatter-add of rows by group id.
  invar::Tensor<double> group_mean(invar::Shape{K, D});
  invar::ops::scatter_add_rows(batch, group, group_mean, 1.0 / M);
  const double drift = invar::ops::reduce_all([](double a, double b) { return (a - b) * (a - b); }, group_mean,
                                              invar::Tensor<double>::copy_of(seed_view)) /
                       double(K * D);
  std::printf("batch: %ld seeds x %ld augmentations = %ld rows of %ld features (noise %.2f)\n", long(K), long(M),
              long(K * M), long(D), noise);
  std::printf("mean squared drift of group means from their seeds: %.5f (expected ~ noise^2 / M = %.5f)\n\n", drift,
              noise * noise / M);

  std::printf("L_DA (pooled): within-seed / all-pairs mean distance (0 = perfectly invariant, 1 = no structure):\n");
  std::apply([&](auto... metric) { (report<decltype(metric)>(batch, group), ...); }, invar::all_metrics{});
  report<MeanAbsoluteDifference>(batch, group);

  // The loss's gradient: dL_DA/dX for the mean squared difference, then one step of gradient
  // descent on the features themselves (in training it flows back into the network instead).
  invar::Tensor<double> grad(batch.shape());
  const invar::MeanSquaredDifference msd;
  const double before = invar::augmentation_invariance(msd, batch, group, grad, pooled).value;
  const double step = 0.5 * before / invar::ops::dot(grad, grad);
  invar::ops::axpby(-step, grad, 1.0, batch);  // batch -= step * grad
  const double after = invar::augmentation_invariance(msd, batch, group, invar::no_gradient, pooled).value;
  std::printf("\none gradient step on the features: L_DA (mean squared difference) %.4f -> %.4f\n", before, after);
  std::printf("\nThreads: %d (set OMP_NUM_THREADS or invar::set_num_threads).\n", invar::num_threads());
  return after < before ? 0 : 1;
}
