#pragma once
/// \file manhattan.hpp
/// d(a, b) = ||a - b||_1 = sum_k |a_k - b_k| (L1, city-block distance).
///
/// Gradient: dd/da_k = sign(a_k - b_k), dd/db_k = -dd/da_k.
/// Non-smooth points a_k == b_k (every coordinate of a self-pair, and saturated or dead
/// features that coincide): the subdifferential in that coordinate is [-1, 1]; invar uses
/// sign(0) = 0, the minimum-norm choice, so coordinates that already agree are left alone
/// (the same convention as PyTorch's abs backward).
/// Properties: symmetric, translation invariant, homogeneous of degree 1.
/// D == 0: value 0, no gradient.

#include "invar/core/config.hpp"

namespace invar {

/// Manhattan (L1) distance ||a - b||_1, with sign(0) = 0 as subgradient (see the file comment).
struct Manhattan {
  static constexpr const char* name = "manhattan";  ///< identifier for messages, logs and checkpoints
  static constexpr bool symmetric = true;  ///< d(a, b) == d(b, a), bit-exactly
  static constexpr bool translation_invariant = true;  ///< d(a + t, b + t) == d(a, b) for every vector t
  static constexpr int homogeneity = 1;  ///< d(c a, c b) = c d(a, b) for c > 0

  /// d(a, b) = sum_k |a_k - b_k|; 0 for D == 0.
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const {
    T s = 0;
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) {
      const T diff = a[k] - b[k];
      s += diff < T(0) ? -diff : diff;  // no std::abs: this must stay a plain host/device expression
    }
    return s;
  }

  /// Adds w sign(a_k - b_k) to ga[k] and its negative to gb[k], with sign(0) = 0; nullptr sides are skipped.
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    if (ga)
      for (index_t k = 0; k < d; ++k) ga[k] += w * sign(a[k] - b[k]);
    if (gb)
      for (index_t k = 0; k < d; ++k) gb[k] -= w * sign(a[k] - b[k]);
  }

 private:
  /// sign(x) in {-1, 0, 1}, with sign(0) = 0.
  template <class T>
  static INVAR_HOST_DEVICE T sign(T x) {
    return static_cast<T>((x > T(0)) - (x < T(0)));
  }
};

}  // namespace invar
