#pragma once
/// \file pairwise_groups.hpp
/// Sums of a metric over the pairs of rows that share a group, and their gradients, on the CPU:
/// the pairwise path of the invariance losses, for any metric (a user's included).
///
/// Pairs are either all ordered pairs (i, j) with self-pairs (the paper's convention) or the
/// distinct pairs i < j (pooled pairs). A pair counts in sum "a" with weight wa[g] when rows i
/// and j share the group g = ids_a[i] = ids_a[j] >= 0, and in sum "b" likewise.
/// O(B^2 D) time, O(B) extra memory: distances are recomputed in the gradient pass rather than
/// stored. Each row's partial sums are computed by one thread and added in row order, so the
/// results do not depend on the thread count.

#include <utility>
#include <vector>

#include "invar/backend/backend.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar {
namespace cpu {

namespace detail {
inline double pair_weight(const index_t* ids, const double* w, index_t i, index_t j) {
  if (!ids) return 0.0;
  const index_t g = ids[i];
  return (g >= 0 && g == ids[j]) ? w[g] : 0.0;
}

/// Runs row_sums(i) -> (a_i, b_i) for every row (dynamically scheduled: triangular loops have
/// rows of unequal cost) and adds the per-row results in row order, so the totals do not depend
/// on the thread count. Shared by the pairwise and Gram paths.
template <class RowSums>
void ordered_pair_totals(index_t rows, index_t cost_per_row, RowSums&& row_sums, double* sum_a, double* sum_b) {
  std::vector<double> part_a(static_cast<std::size_t>(rows)), part_b(static_cast<std::size_t>(rows));
  parallel_for_each_dynamic(rows, cost_per_row, [&](index_t i) {
    const auto [a, b] = row_sums(i);
    part_a[static_cast<std::size_t>(i)] = a;
    part_b[static_cast<std::size_t>(i)] = b;
  });
  double ta = 0, tb = 0;
  for (index_t i = 0; i < rows; ++i) {
    ta += part_a[static_cast<std::size_t>(i)];
    tb += part_b[static_cast<std::size_t>(i)];
  }
  *sum_a = ta;
  *sum_b = tb;
}

}  // namespace detail

template <class M, class T>
void group_pair_sums(const M& metric, index_t rows, index_t cols, const T* x, PairSet set, const index_t* ids_a,
                     const double* wa, const index_t* ids_b, const double* wb, double* sum_a, double* sum_b) {
  // Symmetric metrics visit j >= i only: d(x_i, x_j) = d(x_j, x_i) counts twice for ordered pairs.
  constexpr bool symmetric = M::symmetric;
  auto row = [&](index_t i) {
    double sa = 0, sb = 0;
    const T* xi = x + i * cols;
    const index_t j0 = (set == PairSet::distinct) ? i + 1 : (symmetric ? i : 0);
    for (index_t j = j0; j < rows; ++j) {
      const double ca = detail::pair_weight(ids_a, wa, i, j);
      const double cb = detail::pair_weight(ids_b, wb, i, j);
      if (ca == 0.0 && cb == 0.0) continue;
      const double d = double(metric.value(xi, x + j * cols, cols));
      const double mult = (set == PairSet::ordered_with_self && symmetric && j != i) ? 2.0 : 1.0;
      sa += mult * ca * d;
      sb += mult * cb * d;
    }
    return std::pair{sa, sb};
  };
  detail::ordered_pair_totals(rows, rows * cols, row, sum_a, sum_b);
}

/// out_i = beta out_i + sum over the selected pairs p that contain row i of
/// (ca[g_a] [p in group a] + cb[g_b] [p in group b]) * dd(p)/dx_i.
template <class M, class T>
void group_pair_gradient(const M& metric, index_t rows, index_t cols, const T* x, PairSet set, const index_t* ids_a,
                         const double* ca, const index_t* ids_b, const double* cb, T beta, T* out) {
  parallel_for_each_dynamic(rows, rows * cols, [&](index_t i) {
    T* gi = out + i * cols;
    for (index_t k = 0; k < cols; ++k) gi[k] = beta == T(0) ? T(0) : beta * gi[k];
    const T* xi = x + i * cols;
    for (index_t j = 0; j < rows; ++j) {
      const double c = detail::pair_weight(ids_a, ca, i, j) + detail::pair_weight(ids_b, cb, i, j);
      if (c == 0.0) continue;
      const T* xj = x + j * cols;
      const T w = static_cast<T>(c);
      if (set == PairSet::ordered_with_self) {
        if (j == i) {
          metric.accumulate_gradient(xi, xi, cols, w, gi, gi);  // d(x_i, x_i) depends on x_i twice
        } else if constexpr (M::symmetric) {
          metric.accumulate_gradient(xi, xj, cols, static_cast<T>(2 * c), gi, static_cast<T*>(nullptr));
        } else {
          metric.accumulate_gradient(xi, xj, cols, w, gi, static_cast<T*>(nullptr));  // pair (i, j)
          metric.accumulate_gradient(xj, xi, cols, w, static_cast<T*>(nullptr), gi);  // pair (j, i)
        }
      } else if (j > i) {
        metric.accumulate_gradient(xi, xj, cols, w, gi, static_cast<T*>(nullptr));  // pair {i < j}: i first
      } else if (j < i) {
        metric.accumulate_gradient(xj, xi, cols, w, static_cast<T*>(nullptr), gi);  // pair {j < i}: i second
      }
    }
  });
}

}  // namespace cpu
}  // namespace invar
