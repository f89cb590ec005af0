#pragma once
/// \file pairwise_groups.hpp
/// Sums of a metric over the pairs of rows that share a group, and their gradients, on the CPU:
/// the pairwise path of the invariance losses, for any metric (a user's included).
///
/// Pairs are either all ordered pairs (i, j) with self-pairs (the paper's convention) or the
/// distinct pairs i < j (pooled pairs). A pair counts in sum "a" with weight wa[g] when rows i
/// and j share the group g = ids_a[i] = ids_a[j] >= 0, and in sum "b" likewise.
/// O(B^2 D) time, O(B) extra memory: distances are recomputed in the gradient pass rather than
/// stored. Tasks take blocks of 4 rows, so that each partner row is read once per block; each
/// row's partial sums are computed by one thread, over its partners in order, and added in row
/// order, so the results do not depend on the thread count.

#include <algorithm>
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

/// Runs block_sums for every block of `block` rows (dynamically scheduled: triangular loops have
/// rows of unequal cost) and adds the per-row results in row order, so the totals do not depend
/// on the thread count: block_sums(i0, i1, a, b) writes rows i0 .. i1 - 1's sums to a[i - i0] and
/// b[i - i0] (the pairwise path: blocks of rows share each partner while it is in cache).
template <class BlockSums>
void ordered_block_totals(index_t rows, index_t block, index_t cost_per_block, BlockSums&& block_sums, double* sum_a,
                          double* sum_b) {
  std::vector<double> part_a(static_cast<std::size_t>(rows)), part_b(static_cast<std::size_t>(rows));
  const index_t blocks = (rows + block - 1) / block;
  parallel_for_each_dynamic(blocks, cost_per_block, [&](index_t b) {
    const index_t i0 = b * block, i1 = std::min(rows, i0 + block);
    block_sums(i0, i1, part_a.data() + i0, part_b.data() + i0);
  });
  double ta = 0, tb = 0;
  for (index_t i = 0; i < rows; ++i) {
    ta += part_a[static_cast<std::size_t>(i)];
    tb += part_b[static_cast<std::size_t>(i)];
  }
  *sum_a = ta;
  *sum_b = tb;
}

/// ordered_block_totals with one row per task: row_sums(i) returns row i's {a, b}.
template <class RowSums>
void ordered_pair_totals(index_t rows, index_t cost_per_row, RowSums&& row_sums, double* sum_a, double* sum_b) {
  ordered_block_totals(
      rows, 1, cost_per_row,
      [&](index_t i, index_t, double* a, double* b) {
        const auto [ra, rb] = row_sums(i);
        *a = ra;
        *b = rb;
      },
      sum_a, sum_b);
}

}  // namespace detail

template <class M, class T>
void group_pair_sums(const M& metric, index_t rows, index_t cols, const T* x, PairSet set, const index_t* ids_a,
                     const double* wa, const index_t* ids_b, const double* wb, double* sum_a, double* sum_b) {
  // Symmetric metrics visit j >= i only: d(x_i, x_j) = d(x_j, x_i) counts twice for ordered pairs.
  constexpr bool symmetric = M::symmetric;
  auto first_partner = [&](index_t i) -> index_t {
    return (set == PairSet::distinct) ? i + 1 : (symmetric ? i : 0);
  };
  // Blocks of rows share each partner x_j while it is in cache (as in group_pair_gradient); every
  // row's sums still run over j in order and are added in row order: the same bits as one row at
  // a time, for any block or thread count.
  constexpr index_t block = 4;
  detail::ordered_block_totals(
      rows, block, block * rows * cols,
      [&](index_t i0, index_t i1, double* row_a, double* row_b) {
        double sa[block] = {}, sb[block] = {};
        for (index_t j = first_partner(i0); j < rows; ++j)
          for (index_t i = i0; i < i1; ++i) {
            if (j < first_partner(i)) continue;
            const double ca = detail::pair_weight(ids_a, wa, i, j);
            const double cb = detail::pair_weight(ids_b, wb, i, j);
            if (ca == 0.0 && cb == 0.0) continue;
            const double d = double(metric.value(x + i * cols, x + j * cols, cols));
            const double mult = (set == PairSet::ordered_with_self && symmetric && j != i) ? 2.0 : 1.0;
            sa[i - i0] += mult * ca * d;
            sb[i - i0] += mult * cb * d;
          }
        std::copy(sa, sa + (i1 - i0), row_a);
        std::copy(sb, sb + (i1 - i0), row_b);
      },
      sum_a, sum_b);
}

namespace detail {
/// Adds pair (i, j)'s share of dd/dx_i to gi: the body of group_pair_gradient.
template <class M, class T>
void add_pair_gradient(const M& metric, index_t cols, const T* x, PairSet set, const index_t* ids_a, const double* ca,
                       const index_t* ids_b, const double* cb, index_t i, index_t j, T* gi) {
  const double c = pair_weight(ids_a, ca, i, j) + pair_weight(ids_b, cb, i, j);
  if (c == 0.0) return;
  const T* xi = x + i * cols;
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
}  // namespace detail

/// out_i = beta out_i + sum over the selected pairs p that contain row i of
/// (ca[g_a] [p in group a] + cb[g_b] [p in group b]) * dd(p)/dx_i.
template <class M, class T>
void group_pair_gradient(const M& metric, index_t rows, index_t cols, const T* x, PairSet set, const index_t* ids_a,
                         const double* ca, const index_t* ids_b, const double* cb, T beta, T* out) {
  // A task takes a block of rows and, for each partner j in order, updates every row of the
  // block: x_j is read from memory once per block instead of once per row (it stays in cache
  // while the block uses it). Each row still adds its pairs in the order j = 0, 1, ..., so the
  // result is the same bits as one row at a time, whatever the block or thread count.
  constexpr index_t block = 4;
  const index_t blocks = (rows + block - 1) / block;
  parallel_for_each_dynamic(blocks, block * rows * cols, [&](index_t b) {
    const index_t i0 = b * block, i1 = std::min(rows, i0 + block);
    for (index_t i = i0; i < i1; ++i) {
      T* gi = out + i * cols;
      for (index_t k = 0; k < cols; ++k) gi[k] = beta == T(0) ? T(0) : beta * gi[k];
    }
    for (index_t j = 0; j < rows; ++j)
      for (index_t i = i0; i < i1; ++i)
        detail::add_pair_gradient(metric, cols, x, set, ids_a, ca, ids_b, cb, i, j, out + i * cols);
  });
}

}  // namespace cpu
}  // namespace invar
