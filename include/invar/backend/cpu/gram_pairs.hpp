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
  std::vector<double> part_a(static_cast<std::size_t>(rows)), part_b(static_cast<std::size_t>(rows));
  parallel_for_each_dynamic(rows, rows, [&](index_t i) {
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
    part_a[static_cast<std::size_t>(i)] = sa;
    part_b[static_cast<std::size_t>(i)] = sb;
  });
  double ta = 0, tb = 0;
  for (index_t i = 0; i < rows; ++i) {
    ta += part_a[static_cast<std::size_t>(i)];
    tb += part_b[static_cast<std::size_t>(i)];
  }
  *sum_a = ta;
  *sum_b = tb;
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
