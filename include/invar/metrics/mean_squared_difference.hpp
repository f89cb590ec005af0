#pragma once
/// \file mean_squared_difference.hpp
/// The paper's metric: d(a, b) = ||a - b||^2 / D, the mean over the D features of the squared
/// difference. Dividing by D makes layers of different widths comparable in the objective (Eq. 1).
///
/// Gradient: dd/da = 2 (a - b) / D, dd/db = -dd/da. Smooth everywhere.
/// Properties: symmetric, translation invariant, homogeneous of degree 2.
/// D == 0: value 0, no gradient (there are no coordinates).

#include "invar/core/config.hpp"

namespace invar {

/// The paper's metric, ||a - b||^2 / D (see the file comment).
struct MeanSquaredDifference {
  static constexpr const char* name = "mean_squared_difference";  ///< identifier for messages, logs and checkpoints
  static constexpr bool symmetric = true;  ///< d(a, b) == d(b, a), bit-exactly
  static constexpr bool translation_invariant = true;  ///< d(a + t, b + t) == d(a, b) for every vector t
  static constexpr int homogeneity = 2;  ///< d(c a, c b) = c^2 d(a, b) for c > 0

  /// s(D) in d = s(D) ||a - b||^2; 0 for D == 0 so that the empty row has distance 0.
  template <class T>
  static constexpr INVAR_HOST_DEVICE T squared_difference_weight(index_t d) {
    return d > 0 ? T(1) / static_cast<T>(d) : T(0);
  }

  /// d(a, b) = ||a - b||^2 / D; 0 for D == 0.
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const {
    T s = 0;
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) {
      const T diff = a[k] - b[k];
      s += diff * diff;
    }
    // Multiplying by the weight (rather than dividing by D) keeps value() bit-compatible with the
    // losses' O(B * D) path, which also scales sums of squares by squared_difference_weight.
    return s * squared_difference_weight<T>(d);
  }

  /// Adds w * 2 (a - b) / D to ga and its negative to gb; nullptr sides are skipped.
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    const T c = T(2) * w * squared_difference_weight<T>(d);
    if (ga)
      for (index_t k = 0; k < d; ++k) ga[k] += c * (a[k] - b[k]);
    if (gb)
      for (index_t k = 0; k < d; ++k) gb[k] -= c * (a[k] - b[k]);
  }
};

}  // namespace invar
