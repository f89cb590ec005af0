#pragma once
/// \file cosine_distance.hpp
/// d(a, b) = 1 - cos(a, b) = 1 - a.b / (||a|| ||b||), in [0, 2]: compares directions, ignores lengths.
///
/// Gradient, with c = cos(a, b), na = ||a||, nb = ||b||:
///   dd/da = -(b / (na nb) - c a / na^2) = (c a/na - b/nb) / na,   dd/db likewise with a and b swapped.
/// Defined value at the singular points: if ||a|| == 0 or ||b|| == 0 (exactly, after the sum of
/// squares, so a row whose squares all underflow counts as zero) the value is 1 and the gradient
/// 0 on both sides. Zero rows are common (a layer after ReLU with all units dead); the limit does
/// not exist there, and 1 is the value for orthogonal rows: "no information about the direction".
/// A zero gradient leaves dead rows alone; eps-clamped norms (PyTorch: max(na nb, eps) in older
/// releases, max(na, eps) max(nb, eps) now) give zero rows a gradient of size ~1/eps instead.
/// Numerics: the value is computed as ||a/na - b/nb||^2 / 2, which equals 1 - cos for nonzero rows
/// but does not cancel when the rows are nearly parallel (1 - a.b/(na nb) loses all digits when
/// 1 - cos is below the float resolution, ~6e-8), is exactly 0 for equal rows, never negative,
/// never forms na * nb (which underflows in float for rows of norm ~1e-19 and below), and is
/// bit-exactly symmetric. It is clamped above at 2 (rounding); the gradient uses c = 1 - d.
/// Properties: symmetric, homogeneous of degree 0, NOT translation invariant.
/// D == 0: value 1 (zero rows), no gradient.

#include <cmath>

#include "invar/core/config.hpp"
#include "invar/metrics/metric.hpp"

namespace invar {

namespace detail {

/// ||x/nx - y/ny||^2 / 2 over the transformed elements fx(x_k), fy(y_k) (identity for cosine,
/// centring for correlation), nx, ny > 0: 1 - cos without cancellation. Clamped above at 2.
/// Written so that compilers contracting a*b - c*d into an FMA (GCC does at -O2 with -mfma) can
/// neither break exact zeros nor symmetry: the pair is put in a canonical order (smaller norm
/// first, then lower address), so d(a, b) and d(b, a) run the same instructions; and each term
/// is (x_k - y_k r) / nx with r = nx / ny, in which equal rows give r = 1 and x_k - y_k = 0
/// exactly, fused or not. Shared with CorrelationDistance.
template <class T, class FX, class FY>
INVAR_HOST_DEVICE T half_squared_chord(const T* x, FX fx, T nx, const T* y, FY fy, T ny, index_t d) {
  const bool swap = ny < nx || (ny == nx && y < x);
  const T* p = swap ? y : x;
  const T* q = swap ? x : y;
  const T np = swap ? ny : nx;
  const T nq = swap ? nx : ny;
  const T r = np / nq;
  const T ip = T(1) / np;
  T s = 0;
  if (swap) {
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) {
      const T diff = (fy(p[k]) - fx(q[k]) * r) * ip;
      s += diff * diff;
    }
  } else {
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) {
      const T diff = (fx(p[k]) - fy(q[k]) * r) * ip;
      s += diff * diff;
    }
  }
  const T v = s / T(2);
  return v > T(2) ? T(2) : v;
}

struct IdentityElement {
  template <class T>
  INVAR_HOST_DEVICE T operator()(T v) const { return v; }
};

}  // namespace detail

/// Cosine distance 1 - cos(a, b), in [0, 2]; value 1 and gradient 0 at zero rows (see the file comment).
struct CosineDistance {
  static constexpr const char* name = "cosine_distance";  ///< identifier for messages, logs and checkpoints
  static constexpr bool symmetric = true;  ///< d(a, b) == d(b, a), bit-exactly
  static constexpr bool translation_invariant = false;  ///< false: shifting both rows by a vector t changes d
  static constexpr int homogeneity = 0;  ///< d(c a, c b) = d(a, b) for c > 0 (scale free)
  /// The losses compute this distance on their Gram path (invar::gram_path_traits).
  static constexpr GramKind gram_kind = GramKind::cosine;

  /// d(a, b) = 1 - cos(a, b), in [0, 2]; 1 if either row is zero or D == 0.
  template <class T>
  INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const {
    const T aa = dot(a, a, d);
    const T bb = dot(b, b, d);
    if (aa == T(0) || bb == T(0)) return T(1);  // a zero row (or D == 0): see the file comment
    const detail::IdentityElement id;
    return detail::half_squared_chord(a, id, std::sqrt(aa), b, id, std::sqrt(bb), d);
  }

  /// Adds w dd/da to ga and w dd/db to gb; adds nothing if either row is zero or the rows are parallel. nullptr sides are skipped.
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    const T aa = dot(a, a, d);
    const T bb = dot(b, b, d);
    if (aa == T(0) || bb == T(0)) return;  // gradient 0 at zero rows
    const T na = std::sqrt(aa);
    const T nb = std::sqrt(bb);
    const detail::IdentityElement id;
    const T chord = detail::half_squared_chord(a, id, na, b, id, nb, d);
    if (chord == T(0)) return;  // same direction: the gradient (a/na - b/nb) / na is exactly 0
    const T c = T(1) - chord;
    const T inv_na = T(1) / na;
    const T inv_nb = T(1) / nb;
    // Normalise each element before scaling by 1/n again: a_k / na^2 as (a_k / na) / na never
    // forms na^2, which underflows for small rows.
    if (ga) {
      const T s = w * inv_na;
      for (index_t k = 0; k < d; ++k) ga[k] += s * (c * (a[k] * inv_na) - b[k] * inv_nb);
    }
    if (gb) {
      const T s = w * inv_nb;
      for (index_t k = 0; k < d; ++k) gb[k] += s * (c * (b[k] * inv_nb) - a[k] * inv_na);
    }
  }

 private:
  template <class T>
  static INVAR_HOST_DEVICE T dot(const T* x, const T* y, index_t d) {
    // Three separate vectorised reductions beat one fused scalar loop (a SIMD reduction clause
    // takes one accumulator here, and the fused loop would be latency bound).
    T s = 0;
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < d; ++k) s += x[k] * y[k];
    return s;
  }
};

}  // namespace invar
