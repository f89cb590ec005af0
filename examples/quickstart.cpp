// Quick start: tensors, zero-copy Eigen interop, the op interface and the distance metrics.
//
// Builds a toy batch in the paper's K x M layout (K seed "images", M noisy augmentations of
// each), then measures for every metric how much closer augmentations of the same seed are
// than rows in general: the ratio (mean within-group distance) / (mean distance over all
// pairs) that the data-augmentation invariance loss (paper Eq. 2) minimises.
// Run: build/release/examples/quickstart [noise]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <tuple>

#include <invar/invar.hpp>

namespace {

// Within-group / all-pairs mean distance from a full distance matrix (distinct pairs i != j).
double invariance_ratio(const invar::Tensor<double>& dist, const invar::Tensor<invar::index_t>& group) {
  double within = 0, all = 0;
  long n_within = 0, n_all = 0;
  for (invar::index_t i = 0; i < dist.dim(0); ++i)
    for (invar::index_t j = 0; j < dist.dim(1); ++j) {
      if (i == j) continue;
      all += dist(i, j);
      ++n_all;
      if (group[i] == group[j]) {
        within += dist(i, j);
        ++n_within;
      }
    }
  return (within / double(n_within)) / (all / double(n_all));
}

template <class Metric>
void report(const invar::Tensor<double>& x, const invar::Tensor<invar::index_t>& group) {
  invar::Tensor<double> dist(invar::Shape{x.dim(0), x.dim(0)});
  invar::pairwise_distances(Metric{}, x.view(), dist.view());
  std::printf("  %-24s %8.4f\n", Metric::name, invariance_ratio(dist, group));
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

  std::printf("within-group / all-pairs mean distance (0 = perfectly invariant, 1 = no structure):\n");
  std::apply([&](auto... metric) { (report<decltype(metric)>(batch, group), ...); }, invar::all_metrics{});
  std::printf("\nThreads: %d (set OMP_NUM_THREADS or invar::set_num_threads).\n", invar::num_threads());
  return 0;
}
