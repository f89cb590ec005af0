#pragma once
/// \file euclidean.hpp
/// d(a, b) = ||a - b||_2 = sqrt(sum_k (a_k - b_k)^2).
///
/// Gradient: dd/da = (a - b) / ||a - b||, dd/db = -dd/da.
/// Non-smooth point a == b (every self-pair in a group): the subdifferential is the unit ball and
/// invar returns its minimum-norm element, 0, for both sides. A zero gradient at a minimum is
/// what a descent method wants, and it never produces 0/0 = NaN. The same holds when the sum of
/// squares underflows to 0 (rows closer than ~1e-19 in float): value 0, gradient 0.
/// Properties: symmetric, translation invariant, homogeneous of degree 1.
/// D == 0: value 0, no gradient.

#include <cmath>

#include "invar/core/config.hpp"
#include "invar/metrics/metric.hpp"

namespace invar {

/// Euclidean distance ||a - b||_2 (see the file comment for the subgradient at a == b).
struct Euclidean {
  static constexpr const char* name = "euclidean";  ///< identifier for messages, logs and checkpoints
  static constexpr bool symmetric = true;  ///< d(a, b) == d(b, a), bit-exactly
  static constexpr bool translation_invariant = true;  ///< d(a + t, b + t) == d(a, b) for every vector t
  static constexpr int homogeneity = 1;  ///< d(c a, c b) = c d(a, b) for c > 0
  /// The losses compute this distance on their Gram path (invar::gram_path_traits).
  static constexpr GramKind gram_kind = GramKind::euclidean;

  /// d(a, b) = ||a - b||_2; 0 for D == 0.
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const {
    return std::sqrt(sum_of_squares(a, b, d));
  }

  /// Adds w (a - b) / ||a - b|| to ga and its negative to gb; adds nothing where a == b (subgradient 0). nullptr sides are skipped.
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    const T n = std::sqrt(sum_of_squares(a, b, d));
    if (n == T(0)) return;  // a == b: the minimum-norm subgradient 0 (adds nothing); NaN still propagates
    const T c = w / n;
    if (ga)
      for (index_t k = 0; k < d; ++k) ga[k] += c * (a[k] - b[k]);
    if (gb)
      for (index_t k = 0; k < d; ++k) gb[k] -= c * (a[k] - b[k]);
  }

 private:
  template <class T>
  static INVAR_HOST_DEVICE T sum_of_squares(const T* a, const T* b, index_t d) {
    T s = 0;
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) {
      const T diff = a[k] - b[k];
      s += diff * diff;
    }
    return s;
  }
};

}  // namespace invar
