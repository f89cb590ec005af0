// L_DA, the data-augmentation invariance loss (paper Eq. 2), with a distance metric of your own:
// the README's example (the lines between the readme markers are in README.md; ctest
// example_readme_in_sync checks that they match), compiled and run in CI.
//
// The metric: half the squared Euclidean distance. Any type with these members satisfies
// invar::Metric (docs/metrics.md) and works with every loss, on the CPU and in CUDA kernels (mark
// the members INVAR_HOST_DEVICE for that).
// Run: build/release/examples/user_metric_loss
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <invar/invar.hpp>

namespace {

// Toy features of 16 seed images x 8 augmentations (B = 128 rows of D = 64): each seed a random
// point, each augmentation that point plus a little noise. In training they come from a layer.
invar::Tensor<float> my_features() {
  invar::Tensor<float> x(invar::Shape{16 * 8, 64});
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> seed_point(64);
  for (invar::index_t r = 0; r < x.dim(0); ++r) {
    if (r % 8 == 0)
      for (auto& v : seed_point) v = normal(rng);
    for (invar::index_t k = 0; k < x.dim(1); ++k) x(r, k) = seed_point[std::size_t(k)] + 0.3f * normal(rng);
  }
  return x;
}

}  // namespace

// [readme-begin]
struct HalfSquared {  // d(a, b) = ||a - b||^2 / 2
  static constexpr const char* name = "half_squared";
  static constexpr bool symmetric = true;
  template <class T> T value(const T* a, const T* b, invar::index_t d) const {
    T s = 0;
    for (invar::index_t k = 0; k < d; ++k) s += (a[k] - b[k]) * (a[k] - b[k]) / 2;
    return s;
  }
  template <class T> void accumulate_gradient(const T* a, const T* b, invar::index_t d, T w, T* ga, T* gb) const {
    for (invar::index_t k = 0; k < d; ++k) {  // adds w * dd/da to ga, w * dd/db to gb
      if (ga) ga[k] += w * (a[k] - b[k]);
      if (gb) gb[k] -= w * (a[k] - b[k]);
    }
  }
};
// [readme-end]

int main() {
  // [readme-begin]
  invar::Tensor<float> x = my_features();                        // B x D: 16 seed images x 8 augmentations
  invar::Tensor<invar::index_t> seed(invar::Shape{x.dim(0)});
  for (invar::index_t r = 0; r < x.dim(0); ++r) seed[r] = r / 8;  // the seed image of each row
  invar::Tensor<float> grad(x.shape());                          // dL_DA/dx is written here
  auto l_da = invar::augmentation_invariance(HalfSquared{}, x, seed, grad);
  std::printf("L_DA = %.4f\n", l_da.value);  // then backpropagate grad through the layer that made x
  // [readme-end]

  // The same loss with a built-in metric of the same shape (the squared Euclidean distance):
  // twice our metric, so the ratio is the same.
  const auto builtin = invar::augmentation_invariance(invar::SquaredEuclidean{}, x, seed, invar::no_gradient);
  std::printf("L_DA with invar::SquaredEuclidean = %.4f\n", builtin.value);
  const double gap = std::abs(builtin.value - l_da.value);
  return gap <= 1e-6 * builtin.value ? 0 : 1;
}
