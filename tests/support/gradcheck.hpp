#pragma once
// Central-difference gradient checks in double: perturb elements of a tensor by +-h, recompute
// a scalar loss, and compare with the analytic gradient by the relative error
// ||g - g_fd|| / ||g + g_fd|| (mlpack's measure).

#include <cmath>
#include <functional>
#include <random>

#include "invar/cpu.hpp"
#include "invar/core/tensor.hpp"

namespace invar::test {

/// <y, r>: a scalar loss whose gradient with respect to y is r (a random r exercises every output).
inline double project(TensorView<const double> y, const Tensor<double>& r) {
  double s = 0;
  for (index_t i = 0; i < y.numel(); ++i) s += y[i] * r[i];
  return s;
}

namespace detail {
/// The relative error over the coordinates that `next()` yields (count of them).
template <class Next>
double relative_error(Tensor<double>& x, const Tensor<double>& analytic, const std::function<double()>& loss,
                      index_t count, Next next, double h) {
  double diff = 0, sum = 0;
  for (index_t k = 0; k < count; ++k) {
    const index_t i = next(k);
    const double xi = x[i];
    x[i] = xi + h;
    const double fp = loss();
    x[i] = xi - h;
    const double fm = loss();
    x[i] = xi;
    const double fd = (fp - fm) / (2 * h);
    diff += (analytic[i] - fd) * (analytic[i] - fd);
    sum += (analytic[i] + fd) * (analytic[i] + fd);
  }
  return sum == 0 ? std::sqrt(diff) : std::sqrt(diff / sum);
}
}  // namespace detail

/// `loss()` must recompute the scalar from the current contents of `x` (a parameter value, an
/// input, ...). `analytic` is dL/dx computed beforehand. Every element of x is perturbed.
inline double gradient_relative_error(Tensor<double>& x, const Tensor<double>& analytic,
                                      const std::function<double()>& loss, double h = 1e-6) {
  return detail::relative_error(x, analytic, loss, x.numel(), [](index_t k) { return k; }, h);
}

/// The same measure over `count` coordinates drawn (seeded) from x: for whole models, whose
/// parameter tensors are too large to perturb every element; each layer has a full check.
inline double sampled_gradient_relative_error(Tensor<double>& x, const Tensor<double>& analytic,
                                              const std::function<double()>& loss, index_t count,
                                              std::uint64_t seed, double h = 1e-6) {
  std::mt19937_64 rng(seed);
  const auto n = static_cast<std::uint64_t>(x.numel());
  return detail::relative_error(
      x, analytic, loss, count, [&](index_t) { return static_cast<index_t>(rng() % n); }, h);
}

}  // namespace invar::test
