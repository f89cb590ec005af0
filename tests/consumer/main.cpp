// A user's program: it brings its own distance metric, checks that invar accepts it, and uses it
// through invar's pairwise_distances on an Eigen matrix that invar views without a copy.
// Exits non-zero on any mismatch (scripts/check-consumer.sh runs it).
#include <invar/invar.hpp>
#include <invar/train/trainer.hpp>

#include "own_model.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace user {

/// Chebyshev (L-infinity) distance d(a, b) = max_k |a_k - b_k|, a metric invar does not ship.
/// Subgradient: all of dd/da goes to the first coordinate attaining the maximum, sign(a_k - b_k).
struct Chebyshev {
  static constexpr const char* name = "chebyshev";
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = 1;

  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, invar::index_t d) const {
    T m = T(0);
    for (invar::index_t k = 0; k < d; ++k) {
      const T diff = a[k] > b[k] ? a[k] - b[k] : b[k] - a[k];
      if (diff > m) m = diff;
    }
    return m;
  }

  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, invar::index_t d, T w, T* ga, T* gb) const {
    invar::index_t arg = -1;
    T m = T(0);
    for (invar::index_t k = 0; k < d; ++k) {
      const T diff = a[k] > b[k] ? a[k] - b[k] : b[k] - a[k];
      if (diff > m) { m = diff; arg = k; }
    }
    if (arg < 0) return;  // a == b: the zero subgradient
    const T s = a[arg] > b[arg] ? T(1) : T(-1);
    if (ga) ga[arg] += w * s;
    if (gb) gb[arg] -= w * s;
  }
};

}  // namespace user

static_assert(invar::Metric<user::Chebyshev, float>);
static_assert(invar::Metric<user::Chebyshev, double>);
static_assert(invar::assert_metric<user::Chebyshev, double>());

namespace {

int failures = 0;

void expect_near(const char* what, double got, double want, double tol = 1e-12) {
  const bool ok = std::abs(got - want) <= tol * std::max(1.0, std::abs(want));
  std::printf("  %-36s got %-12.6g want %-12.6g %s\n", what, got, want, ok ? "ok" : "MISMATCH");
  if (!ok) ++failures;
}

void expect(const char* what, bool ok) {
  std::printf("  %-36s %s\n", what, ok ? "ok" : "FAILED");
  if (!ok) ++failures;
}

}  // namespace

int main() {
  std::printf("invar %d.%d.%d consumer: metric '%s'\n", INVAR_VERSION_MAJOR, INVAR_VERSION_MINOR,
              INVAR_VERSION_PATCH, user::Chebyshev::name);

  // Four feature rows of dimension 3 in a row-major Eigen matrix: the user's own storage.
  invar::RowMatrix<double> X(4, 3);
  X << 0.0, 0.0, 0.0,   //
      1.0, -2.0, 0.5,   //
      -3.0, 1.0, 4.0,   //
      0.25, 0.5, -0.75;

  // Zero-copy: the view points at the Eigen matrix's own memory.
  invar::TensorView<double> xv = invar::view_of(X);
  expect("view_of shares the Eigen buffer", xv.data() == X.data());
  expect("view_of shape is 4 x 3", xv.rank() == 2 && xv.dim(0) == 4 && xv.dim(1) == 3);

  invar::Tensor<double> D(invar::Shape{4, 4});
  const invar::TensorView<const double> x_in = xv;
  invar::pairwise_distances(user::Chebyshev{}, x_in, D.view());

  // Hand computation: d(row1, row2) = max(|1+3|, |-2-1|, |0.5-4|) = max(4, 3, 3.5) = 4;
  // d(row0, row2) = max(3, 1, 4) = 4; d(row1, row3) = max(0.75, 2.5, 1.25) = 2.5.
  expect_near("D(1,2) = max(4, 3, 3.5)", D(1, 2), 4.0);
  expect_near("D(0,2) = max(3, 1, 4)", D(0, 2), 4.0);
  expect_near("D(1,3) = max(0.75, 2.5, 1.25)", D(1, 3), 2.5);

  // Back to Eigen without a copy to check the whole matrix.
  auto Dm = invar::as_matrix(D);
  expect("as_matrix shares the tensor buffer", Dm.data() == D.data());
  expect("D is symmetric", (Dm - Dm.transpose()).cwiseAbs().maxCoeff() == 0.0);
  expect("D has a zero diagonal", Dm.diagonal().cwiseAbs().maxCoeff() == 0.0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const double want = (X.row(i) - X.row(j)).cwiseAbs().maxCoeff();
      if (std::abs(Dm(i, j) - want) > 1e-12) {
        std::printf("  D(%d,%d) = %g, want %g: MISMATCH\n", i, j, Dm(i, j), want);
        ++failures;
      }
    }

  // The gradient contract: ga += w dd/da, gb += w dd/db. For rows 1 and 2 the maximum is at k = 0
  // with a_0 - b_0 = 4 > 0, so ga = (w, 0, 0) and gb = (-w, 0, 0) added to what was there.
  double ga[3] = {1.0, 1.0, 1.0};
  double gb[3] = {0.0, 0.0, 0.0};
  user::Chebyshev{}.accumulate_gradient(X.row(1).data(), X.row(2).data(), 3, 0.5, ga, gb);
  expect_near("ga[0] = 1 + w", ga[0], 1.5);
  expect_near("ga[1] unchanged", ga[1], 1.0);
  expect_near("gb[0] = -w", gb[0], -0.5);
  user::Chebyshev{}.accumulate_gradient(X.row(1).data(), X.row(2).data(), 3, 0.5, ga, static_cast<double*>(nullptr));
  expect_near("ga[0] with gb = nullptr", ga[0], 2.0);

  // invar's trainer trains the user's own model (no invar layer in it) on a small two-class task:
  // class 0 brighter in the top half of a 1 x 6 x 6 image, class 1 in the bottom half.
  {
    invar::data::ImageSet set;
    const invar::index_t n = 64;
    set.images = invar::Tensor<float>(invar::Shape{n, 1, 6, 6});
    set.labels = invar::Tensor<invar::index_t>(invar::Shape{n});
    set.class_names = {"top", "bottom"};
    invar::Rng rng(1);
    for (invar::index_t i = 0; i < n; ++i) {
      set.labels[i] = i % 2;
      for (invar::index_t p = 0; p < 36; ++p)
        set.images[i * 36 + p] = float(0.3 * rng.uniform() + ((p < 18) == (i % 2 == 0) ? 0.5 : 0.1));
    }
    user::LinearSoftmax model(36, 2);
    invar::optim::Sgd<float> sgd(invar::optim::SgdOptions(0.5).with_momentum(0.9));
    invar::objective::Objective<float> objective;
    objective.with_schedule(invar::objective::WeightSchedule::constant(0.0, 0.0));  // cross-entropy only
    invar::data::KxMSampler sampler(set.labels, invar::data::KxMOptions{}.with_seeds_per_batch(16).with_augmentations(1));
    invar::train::Trainer trainer(model, sgd, objective, set, sampler,
                                  static_cast<const invar::data::Augmentation*>(nullptr),
                                  invar::train::TrainerOptions{}.with_epochs(5).with_seed(2).with_progress(false));
    const auto reports = trainer.fit(&set);
    std::printf("  trainer on the user's model: accuracy %.3f, objective %.4f -> %.4f\n", reports.back().test_accuracy,
                reports.front().train_objective, reports.back().train_objective);
    expect("the trainer trains a user's own model", reports.back().test_accuracy >= 0.9);
  }

  if (failures != 0) {
    std::printf("consumer: %d check(s) FAILED\n", failures);
    return EXIT_FAILURE;
  }
  std::printf("consumer: all checks passed\n");
  return EXIT_SUCCESS;
}
