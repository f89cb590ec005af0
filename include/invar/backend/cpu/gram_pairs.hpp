#pragma once
/// \file gram_pairs.hpp
/// The pair loops of the Gram path for cosine-type metrics (cosine and correlation distance).
///
/// Inputs: y, B unit rows (the rows divided by their norms, centred first for correlation; a
/// zero row stays 0 and is flagged in `zero`), and gram = y y^T (a GEMM). For a pair,
///   d_ij = 1 - gram_ij,  recomputed as ||y_i - y_j||^2 / 2 when below `exact_below`,
/// because 1 - gram_ij loses every digit for nearly parallel rows (1 - cos below the float
/// resolution) while the chord form stays exact, and is exactly 0 for equal rows. Pairs with a
/// zero row have d = 1 (CosineDistance's definition); self-pairs d = 0 (1 for a zero row).
///
/// gram_pair_sums:  sum_a = sum of wa[g] d_ij over the selected pairs in a common group g of a, sum_b likewise.
/// gram_pair_coefficients: the B x B matrix K with K_ij = coefficient of y_j in dL/dy_i,
///   K_ij = -(ca[g_a] [same a group] + cb[g_b] [same b group]) * m      (i != j, both rows nonzero, d_ij > 0)
///   K_ii = sum_j -K_ij (1 - d_ij)
/// where m = 2 for ordered pairs (i, j) and (j, i) both count, 1 for distinct pairs; then
/// dL/dx_i = (K y)_i / n_i  (the caller's GEMM), since dd_ij/dx_i = ((1 - d_ij) y_i - y_j) / n_i.
/// Rows are processed independently in a fixed order: results do not depend on the thread count.

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "invar/backend/backend.hpp"
#include "invar/backend/cpu/pairwise_groups.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

namespace detail {

template <class T>
double gram_distance(index_t i, index_t j, index_t cols, const T* y, const T* gram, index_t rows,
                     const unsigned char* zero, double exact_below) {
  if (zero[i] || zero[j]) return 1.0;
  if (i == j) return 0.0;
  double d = 1.0 - double(gram[i * rows + j]);
  if (d < exact_below) {
    const T* yi = y + i * cols;
    const T* yj = y + j * cols;
    double s = 0;
    INVAR_SIMD_REDUCTION(+, s)
    for (index_t k = 0; k < cols; ++k) {
      const double diff = double(yi[k]) - double(yj[k]);
      s += diff * diff;
    }
    d = s / 2;
  }
  return d > 2.0 ? 2.0 : d;
}

}  // namespace detail

template <class T>
void gram_pair_sums(index_t rows, index_t cols, const T* y, const T* gram, const unsigned char* zero,
                    double exact_below, PairSet set, const index_t* ids_a, const double* wa, const index_t* ids_b,
                    const double* wb, double* sum_a, double* sum_b) {
  auto row = [&](index_t i) {
    double sa = 0, sb = 0;
    const index_t j0 = set == PairSet::distinct ? i + 1 : i;  // symmetric: j >= i, off-diagonal twice
    for (index_t j = j0; j < rows; ++j) {
      const double ca = detail::pair_weight(ids_a, wa, i, j);
      const double cb = detail::pair_weight(ids_b, wb, i, j);
      if (ca == 0.0 && cb == 0.0) continue;
      const double d = detail::gram_distance(i, j, cols, y, gram, rows, zero, exact_below);
      const double mult = (set == PairSet::ordered_with_self && j != i) ? 2.0 : 1.0;
      sa += mult * ca * d;
      sb += mult * cb * d;
    }
    return std::pair{sa, sb};
  };
  detail::ordered_pair_totals(rows, rows, row, sum_a, sum_b);
}

template <class T>
void gram_pair_coefficients(index_t rows, index_t cols, const T* y, const T* gram, const unsigned char* zero,
                            double exact_below, PairSet set, const index_t* ids_a, const double* ca,
                            const index_t* ids_b, const double* cb, T* k_out) {
  const double mult = set == PairSet::ordered_with_self ? 2.0 : 1.0;
  parallel_for_each_dynamic(rows, rows, [&](index_t i) {
    T* ki = k_out + i * rows;
    double diag = 0;
    for (index_t j = 0; j < rows; ++j) {
      ki[j] = T(0);
      if (j == i || zero[i] || zero[j]) continue;
      const double c = detail::pair_weight(ids_a, ca, i, j) + detail::pair_weight(ids_b, cb, i, j);
      if (c == 0.0) continue;
      const double d = detail::gram_distance(i, j, cols, y, gram, rows, zero, exact_below);
      if (d == 0.0) continue;  // equal rows: the gradient of d is exactly 0 there
      ki[j] = static_cast<T>(-c * mult);
      diag += c * mult * (1.0 - d);
    }
    ki[i] = static_cast<T>(diag);
  });
}

}  // namespace invar::cpu

namespace invar::cpu {

namespace detail {
/// Euclidean distance of rows i and j from the Gram matrix of centred rows (norms r = ||y||^2):
/// d^2 = r_i + r_j - 2 G_ij, recomputed from the original rows x when d^2 < near * (r_i + r_j),
/// where the expansion has lost more than a couple of digits. x, not the centred y: centring
/// rounds each row, and for close rows that rounding is as large as their difference.
/// Returns d^2 and whether it was recomputed.
template <class T>
std::pair<double, bool> euclid_gram_distance2(index_t i, index_t j, index_t cols, const T* x, const T* gram,
                                              const T* r, index_t rows, double near) {
  if (i == j) return {0.0, true};
  const double ri = double(r[i]), rj = double(r[j]);
  const double d2 = ri + rj - 2.0 * double(gram[i * rows + j]);
  if (d2 >= near * (ri + rj)) return {d2, false};
  const T* xi = x + i * cols;
  const T* xj = x + j * cols;
  double s = 0;
  INVAR_SIMD_REDUCTION(+, s)
  for (index_t k = 0; k < cols; ++k) {
    const double diff = double(xi[k]) - double(xj[k]);
    s += diff * diff;
  }
  return {s, true};
}
}  // namespace detail

/// Sums of wa[g] d_ij (sum_a) and wb[g] d_ij (sum_b) over the selected pairs, Euclidean d.
template <class T>
void euclid_gram_pair_sums(index_t rows, index_t cols, const T* x, const T* gram, const T* r, double near,
                           PairSet set, const index_t* ids_a, const double* wa, const index_t* ids_b,
                           const double* wb, double* sum_a, double* sum_b) {
  auto row = [&](index_t i) {
    double sa = 0, sb = 0;
    for (index_t j = i + 1; j < rows; ++j) {  // d_ii = 0: self-pairs add nothing
      const double ca = detail::pair_weight(ids_a, wa, i, j);
      const double cb = detail::pair_weight(ids_b, wb, i, j);
      if (ca == 0.0 && cb == 0.0) continue;
      const double d2 = detail::euclid_gram_distance2(i, j, cols, x, gram, r, rows, near).first;
      const double d = std::sqrt(d2 < 0.0 ? 0.0 : d2);  // rounding below 0 clamped; NaN kept (a non-finite row)
      const double mult = set == PairSet::ordered_with_self ? 2.0 : 1.0;
      sa += mult * ca * d;
      sb += mult * cb * d;
    }
    return std::pair{sa, sb};
  };
  detail::ordered_pair_totals(rows, rows, row, sum_a, sum_b);
}

/// The gradient's pair coefficients, Euclidean d: for a far pair K_ij = -c / d_ij and
/// K_ii += c / d_ij (then dL/dx_i = (K y)_i, the caller's GEMM); a near pair's contribution
/// c (x_i - x_j) / d_ij is computed from the original rows and written into direct[i] (which
/// starts at 0), since in K y it would be a small difference of large terms.
/// c = (ca + cb) * (2 for ordered pairs).
template <class T>
void euclid_gram_coefficients(index_t rows, index_t cols, const T* x, const T* gram, const T* r, double near,
                              PairSet set, const index_t* ids_a, const double* ca, const index_t* ids_b,
                              const double* cb, T* k_out, T* direct) {
  const double mult = set == PairSet::ordered_with_self ? 2.0 : 1.0;
  parallel_for_each_dynamic(rows, rows, [&](index_t i) {
    T* ki = k_out + i * rows;
    T* di = direct + i * cols;
    for (index_t k = 0; k < cols; ++k) di[k] = T(0);
    const T* xi = x + i * cols;
    double diag = 0;
    for (index_t j = 0; j < rows; ++j) {
      ki[j] = T(0);
      if (j == i) continue;
      const double c = mult * (detail::pair_weight(ids_a, ca, i, j) + detail::pair_weight(ids_b, cb, i, j));
      if (c == 0.0) continue;
      const auto [d2, recomputed] = detail::euclid_gram_distance2(i, j, cols, x, gram, r, rows, near);
      if (!(d2 > 0.0)) continue;  // equal rows: the minimum-norm subgradient 0
      const double w = c / std::sqrt(d2);
      if (recomputed) {
        const T* xj = x + j * cols;
        const T wt = static_cast<T>(w);
        for (index_t k = 0; k < cols; ++k) di[k] += wt * (xi[k] - xj[k]);
      } else {
        ki[j] = static_cast<T>(-w);
        diag += w;
      }
    }
    ki[i] = static_cast<T>(diag);
  });
}

}  // namespace invar::cpu
