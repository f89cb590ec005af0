#pragma once
/// \file invariance_score.hpp
/// The authors' invariance score of a layer (method.md, "Evaluation the paper uses"):
///
///   S_i = 1 - N d(x_i, g_i) / sum_j d(x_i, x_j),      score = mean over i of S_i
///
/// where x_i are the features of N test images, g_i those of an augmentation of image i, and d a
/// metric. S_i is 1 when the augmentation does not move the features at all, 0 when it moves them
/// as far as an average other image is, negative beyond. Rows whose denominator is 0 (all N
/// features equal) are skipped and counted. When every row is skipped (the layer maps every image
/// to the same features: a dead or fully collapsed layer) the score is undefined: `mean` is NaN
/// and `skipped` is N, a result rather than an error, so that a report can say so. Exact: every
/// pair is computed with the metric (no expansion that cancels in float), accumulated in double,
/// parallel over rows with the same bits on any thread count. Features are read on the host.

#include <cmath>
#include <vector>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/metrics/metric.hpp"

namespace invar::analysis {

/// What invariance_score() returns: the score and its per-row terms S_i (file comment).
struct InvarianceScore {
  double mean = 0;             ///< mean of S_i over the rows with a non-zero denominator; NaN when there is none
  std::vector<double> per_row;  ///< S_i (NaN for skipped rows)
  index_t skipped = 0;          ///< rows whose features equal every other row's
};

namespace detail {
template <class M, class T>
InvarianceScore invariance_score_impl(const M& metric, TensorView<const T> features, TensorView<const T> augmented) {
  static_assert(assert_metric<M, T>());
  check(features.rank() >= 1 && features.shape() == augmented.shape(), "invariance_score: features ", features.shape(),
        " and augmented ", augmented.shape(), " must have the same shape");
  const index_t n = features.dim(0);
  check(n >= 2, "invariance_score: needs at least 2 images, got ", n);
  const index_t d = features.numel() / n;
  const T* x = features.data();
  const T* g = augmented.data();
  InvarianceScore s;
  s.per_row.assign(static_cast<std::size_t>(n), 0.0);
  cpu::parallel_for(n, n * d, [&](index_t r0, index_t r1) {
    for (index_t i = r0; i < r1; ++i) {
      double total = 0;
      for (index_t j = 0; j < n; ++j)
        if (j != i) total += double(metric.value(x + i * d, x + j * d, d));
      const double own = double(metric.value(x + i * d, g + i * d, d));
      // Non-finite features are flagged with +inf (an error below), equal ones with NaN (skipped).
      if (!std::isfinite(total) || !std::isfinite(own)) s.per_row[std::size_t(i)] = HUGE_VAL;
      else s.per_row[std::size_t(i)] = total > 0 ? 1.0 - double(n) * own / total : std::nan("");
    }
  });
  double sum = 0;
  index_t used = 0;
  for (index_t i = 0; i < n; ++i) {
    const double v = s.per_row[std::size_t(i)];
    check(!std::isinf(v), "invariance_score: the features of image ", i,
          " or of its augmentation are not finite (NaN or Inf)");
    if (std::isnan(v)) continue;
    sum += v;
    ++used;
  }
  s.skipped = n - used;
  s.mean = used > 0 ? sum / double(used) : std::nan("");  // every image has the same features
  return s;
}
}  // namespace detail

/// `features` and `augmented` (tensors or views): N x D (any layer flattened: rows are
/// images), row i of `augmented` an augmentation of image i.
template <class M, Viewable X, Viewable G>
InvarianceScore invariance_score(const M& metric, X&& features, G&& augmented) {
  using T = typename view_t<X>::value_type;
  return detail::invariance_score_impl<M, T>(metric, TensorView<const T>(to_view(features)),
                                             TensorView<const T>(to_view(augmented)));
}

}  // namespace invar::analysis
