#pragma once
// Central-difference gradient checks in double: perturb every element of a tensor by +-h,
// recompute a scalar loss, and compare with the analytic gradient by the relative error
// ||g - g_fd|| / ||g + g_fd|| (mlpack's measure).

#include <cmath>
#include <functional>

#include "invar/core/tensor.hpp"

namespace invar::test {

/// `loss()` must recompute the scalar from the current contents of `x` (a parameter value, an
/// input, ...). `analytic` is dL/dx computed beforehand.
inline double gradient_relative_error(Tensor<double>& x, const Tensor<double>& analytic,
                                      const std::function<double()>& loss, double h = 1e-6) {
  double diff = 0, sum = 0;
  for (index_t i = 0; i < x.numel(); ++i) {
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

}  // namespace invar::test
