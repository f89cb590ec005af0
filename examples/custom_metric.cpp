// A user-defined distance metric, checked against invar's Metric concept and used with
// invar::pairwise_distances. The same type could be passed to the invariance losses.
//
// The metric: a pseudo-Huber distance, sum_k delta^2 (sqrt(1 + ((a_k - b_k) / delta)^2) - 1).
// It behaves like the squared difference / 2 for small differences and like delta * |a_k - b_k|
// for large ones, so a few outlying features cannot dominate the loss; unlike L1 it is smooth
// everywhere, so it needs no subgradient convention at a == b.
// Run: build/release/examples/custom_metric
#include <cmath>
#include <cstdio>

#include <invar/cpu.hpp>
#include <invar/core/config.hpp>
#include <invar/core/tensor.hpp>
#include <invar/metrics/metric.hpp>
#include <invar/analysis/pairwise_distances.hpp>

namespace my {

struct PseudoHuber {
  // The properties the losses and tests may rely on (see docs/metrics.md).
  static constexpr const char* name = "pseudo_huber";
  static constexpr bool symmetric = true;              // depends on a - b through its square
  static constexpr bool translation_invariant = true;  // depends on a - b only
  static constexpr int homogeneity = -1;               // delta sets a scale: not homogeneous

  double delta = 1.0;  // a metric may carry parameters; its members are const, so it has no state

  // d(a, b). INVAR_HOST_DEVICE lets a CUDA kernel call it too (std::sqrt is fine in device code).
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, invar::index_t d) const {
    const T dl = static_cast<T>(delta);
    T s = 0;
    for (invar::index_t k = 0; k < d; ++k) {
      const T r = (a[k] - b[k]) / dl;
      s += dl * dl * (std::sqrt(T(1) + r * r) - T(1));
    }
    return s;
  }

  // Adds w * dd/da to ga and w * dd/db to gb; either may be nullptr (that side is not needed).
  // dd/da_k = (a_k - b_k) / sqrt(1 + ((a_k - b_k) / delta)^2) = -dd/db_k.
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, invar::index_t d, T w, T* ga, T* gb) const {
    const T dl = static_cast<T>(delta);
    for (invar::index_t k = 0; k < d; ++k) {
      const T diff = a[k] - b[k];
      const T r = diff / dl;
      const T g = w * diff / std::sqrt(T(1) + r * r);
      if (ga) ga[k] += g;
      if (gb) gb[k] -= g;
    }
  }
};

}  // namespace my

// The concept check: a plain `Metric<...>` says yes or no; assert_metric names what is missing.
static_assert(invar::Metric<my::PseudoHuber, float> && invar::Metric<my::PseudoHuber, double>);
static_assert(invar::assert_metric<my::PseudoHuber, double>());

int main() {
  // Four feature rows of length 3; row 3 has one outlying feature.
  invar::Tensor<double> x(invar::Shape{4, 3});
  const double rows[4][3] = {{0.0, 0.0, 0.0}, {0.5, -0.5, 0.25}, {1.0, 1.0, 1.0}, {0.0, 0.0, 10.0}};
  for (invar::index_t i = 0; i < 4; ++i)
    for (invar::index_t k = 0; k < 3; ++k) x(i, k) = rows[i][k];

  invar::Tensor<double> dist(invar::Shape{4, 4});
  invar::pairwise_distances(my::PseudoHuber{.delta = 1.0}, x, dist);

  std::printf("%s distances (delta = 1):\n", my::PseudoHuber::name);
  for (invar::index_t i = 0; i < 4; ++i) {
    for (invar::index_t j = 0; j < 4; ++j) std::printf(" %8.4f", dist(i, j));
    std::printf("\n");
  }
  // The outlier costs about delta * 10 - delta^2 = 9.05, not 10^2 / 2 = 50 as with a squared difference.
  std::printf("d(row 0, row 3) = %.4f\n", dist(0, 3));
  return 0;
}
