#pragma once
/// \file correlation_distance.hpp
/// d(a, b) = 1 - r(a, b), r the Pearson correlation of the D features of a and of b: the cosine
/// distance of the centred rows a' = a - mean(a) 1, b' = b - mean(b) 1. In [0, 2]. The
/// dissimilarity of representational dissimilarity matrices (RDMs).
///
/// Gradient, with c = r(a, b), na = ||a'||, nb = ||b'||:
///   dd/da = (c a'/na - b'/nb) / na,   dd/db likewise with a and b swapped.
/// The chain rule through the centring multiplies by (I - 1 1^T / D); this vector already sums
/// to zero (a' and b' do), so the projection changes nothing and is skipped.
/// Defined value at the singular points: if either centred row is zero (a constant row, e.g. a
/// dead ReLU row or a saturated one; always when D == 1) the value is 1 and the gradient 0 on
/// both sides, as for CosineDistance (the correlation is undefined there).
/// Numerics: the rows are centred in two passes after subtracting their first element. The
/// shift changes nothing mathematically (r ignores per-row shifts) but makes a constant row
/// centre to exactly zero: mean(0.1f, 0.1f, 0.1f) is not 0.1f in floating point, and the
/// naive centred row would be rounding noise with a meaningless direction. It also removes
/// most of the cancellation when |mean| >> spread. The value is ||a'/na - b'/nb||^2 / 2, exactly
/// 0 for equal rows and free of the cancellation of 1 - r near r = 1 (see cosine_distance.hpp);
/// bit-exactly symmetric, clamped above at 2; the gradient uses c = 1 - d.
/// Properties: symmetric, homogeneous of degree 0, NOT translation invariant by a vector t;
/// invariant only under per-row scalar shifts (a + s 1, b + u 1), up to rounding.
/// D == 0: value 1, no gradient.

#include <cmath>

#include "invar/core/config.hpp"
#include "invar/metrics/metric.hpp"
#include "invar/metrics/cosine_distance.hpp"

namespace invar {

/// Correlation distance 1 - Pearson r(a, b), in [0, 2]; value 1 and gradient 0 at constant rows (see the file comment).
struct CorrelationDistance {
  static constexpr const char* name = "correlation_distance";  ///< identifier for messages, logs and checkpoints
  static constexpr bool symmetric = true;  ///< d(a, b) == d(b, a), bit-exactly
  static constexpr bool translation_invariant = false;  ///< false: shifting both rows by a vector t changes d
  static constexpr int homogeneity = 0;  ///< d(c a, c b) = d(a, b) for c > 0 (scale free)
  /// The losses compute this distance on their Gram path (invar::gram_path_traits).
  static constexpr GramKind gram_kind = GramKind::correlation;

  /// d(a, b) = 1 - r(a, b), in [0, 2]; 1 if either row is constant or D == 0.
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const {
    if (d <= 0) return T(1);
    const Centring<T> ca = centring(a, d);
    const Centring<T> cb = centring(b, d);
    const T aa = centred_dot(a, ca, a, ca, d);
    const T bb = centred_dot(b, cb, b, cb, d);
    if (aa == T(0) || bb == T(0)) return T(1);  // a constant row: see the file comment
    return detail::half_squared_chord(a, ca, std::sqrt(aa), b, cb, std::sqrt(bb), d);
  }

  /// Adds w dd/da to ga and w dd/db to gb (already projected onto zero-sum vectors); adds nothing at constant rows or when r == 1. nullptr sides are skipped.
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    if (d <= 0) return;
    const Centring<T> ca = centring(a, d);
    const Centring<T> cb = centring(b, d);
    const T aa = centred_dot(a, ca, a, ca, d);
    const T bb = centred_dot(b, cb, b, cb, d);
    if (aa == T(0) || bb == T(0)) return;  // gradient 0 at constant rows
    const T na = std::sqrt(aa);
    const T nb = std::sqrt(bb);
    const T chord = detail::half_squared_chord(a, ca, na, b, cb, nb, d);
    if (chord == T(0)) return;  // same direction: the gradient (a/na - b/nb) / na is exactly 0
    const T c = T(1) - chord;
    const T inv_na = T(1) / na;
    const T inv_nb = T(1) / nb;
    if (ga) {
      const T s = w * inv_na;
      for (index_t k = 0; k < d; ++k) ga[k] += s * (c * (ca(a[k]) * inv_na) - cb(b[k]) * inv_nb);
    }
    if (gb) {
      const T s = w * inv_nb;
      for (index_t k = 0; k < d; ++k) gb[k] += s * (c * (cb(b[k]) * inv_nb) - ca(a[k]) * inv_na);
    }
  }

 private:
  /// x'_k = (x_k - x_0) - mean_j(x_j - x_0): the same two roundings wherever it is recomputed.
  template <class T>
  struct Centring {
    T first;
    T mean;
    INVAR_HOST_DEVICE T operator()(T x) const { return (x - first) - mean; }
  };

  template <class T>
  static INVAR_HOST_DEVICE Centring<T> centring(const T* x, index_t d) {
    const T first = x[0];
    T s = 0;
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) s += x[k] - first;
    return {first, s / static_cast<T>(d)};
  }

  template <class T>
  static INVAR_HOST_DEVICE T centred_dot(const T* x, Centring<T> cx, const T* y, Centring<T> cy, index_t d) {
    T s = 0;
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) s += cx(x[k]) * cy(y[k]);
    return s;
  }
};

}  // namespace invar
