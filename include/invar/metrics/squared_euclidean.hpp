#pragma once
/// \file squared_euclidean.hpp
/// d(a, b) = ||a - b||^2 = sum_k (a_k - b_k)^2, the metric the earlier work found most successful.
/// Unlike MeanSquaredDifference its scale grows with the layer width D.
///
/// Gradient: dd/da = 2 (a - b), dd/db = -dd/da. Smooth everywhere.
/// Properties: symmetric, translation invariant, homogeneous of degree 2.
/// D == 0: value 0, no gradient.

#include "invar/core/config.hpp"

namespace invar {

/// Squared Euclidean distance ||a - b||^2 (see the file comment).
struct SquaredEuclidean {
  static constexpr const char* name = "squared_euclidean";  ///< identifier for messages, logs and checkpoints
  static constexpr bool symmetric = true;  ///< d(a, b) == d(b, a), bit-exactly
  static constexpr bool translation_invariant = true;  ///< d(a + t, b + t) == d(a, b) for every vector t
  static constexpr int homogeneity = 2;  ///< d(c a, c b) = c^2 d(a, b) for c > 0

  /// s(D) in d = s(D) ||a - b||^2.
  template <class T>
  static constexpr INVAR_HOST_DEVICE T squared_difference_weight(index_t /*d*/) {
    return T(1);
  }

  /// d(a, b) = ||a - b||^2; 0 for D == 0.
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const {
    T s = 0;
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) {
      const T diff = a[k] - b[k];
      s += diff * diff;
    }
    return s;
  }

  /// Adds w * 2 (a - b) to ga and its negative to gb; nullptr sides are skipped.
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    const T c = T(2) * w;
    if (ga)
      for (index_t k = 0; k < d; ++k) ga[k] += c * (a[k] - b[k]);
    if (gb)
      for (index_t k = 0; k < d; ++k) gb[k] -= c * (a[k] - b[k]);
  }
};

}  // namespace invar
