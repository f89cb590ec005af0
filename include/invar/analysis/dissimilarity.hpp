#pragma once
/// \file dissimilarity.hpp
/// Representational dissimilarity matrices (RDMs) of N x D features and their block averages,
/// as in the paper's Figure 2 (100 test images per class, sorted by class; animate vs inanimate
/// CIFAR-10 classes). In double precision.
///
///   rdm(x, RdmMetric::correlation)               R_ij = 1 - pearson(x_i, x_j)   (across the D features
///                                                of a row; in [0, 2]; needs D >= 2)
///   rdm(x, RdmMetric::squared_euclidean_per_dim) R_ij = ||x_i - x_j||^2 / D
///
/// Both are N x N, exactly symmetric, with an exact 0 diagonal. Computed with invar::ops::gemm
/// (deterministic on any thread count): correlation as 1 - z_i . z_j on rows centred and scaled to
/// unit norm; the squared distance as ||a||^2 + ||b||^2 - 2 a.b on column-centred rows, clamped at 0.
///
/// Undefined entries (collapsed features). The Pearson correlation of a constant row (all D values
/// equal, compared exactly: an image whose features are all dead is one) has no defined value, so
/// with RdmMetric::correlation every R_ij with i or j such a row (i != j) is NaN, and the rest of
/// the matrix is computed as usual: collapsed features give an RDM with undefined rows instead of
/// no RDM. The diagonal stays 0 (an image is not dissimilar to itself). constant_rows(x) lists
/// those rows. The squared distance is defined for every pair.
///
/// select_per_class(labels, n): the indices of the first n rows (in index order) of every class
/// (the labels >= 0), classes in increasing order: deterministic, no randomness.
///
/// block_contrast(rdm, labels, group_a, group_b): the mean dissimilarity within group A, within
/// group B and between A and B, a group being a set of class labels; the diagonal (i == j) is
/// excluded, rows whose label is in neither group are ignored. class_contrast(rdm, labels): the
/// mean within-class and between-class dissimilarity (diagonal excluded, labels < 0 ignored).
/// Both average the defined entries only: a NaN entry (an undefined pair, above) is skipped and
/// counted in `undefined_pairs`; a mean with no defined pair is NaN (undefined), not an error.
/// An infinite entry is an error. cifar10_animate / cifar10_inanimate are the paper's groups.

#include <algorithm>
#include <array>
#include <cmath>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

/// The dissimilarity of two rows in rdm() (definitions in the file comment).
enum class RdmMetric {
  correlation,               ///< 1 - Pearson r between the two rows
  squared_euclidean_per_dim  ///< ||a - b||^2 / D
};

/// CIFAR-10 animate classes: bird 2, cat 3, deer 4, dog 5, frog 6, horse 7.
inline constexpr std::array<index_t, 6> cifar10_animate{2, 3, 4, 5, 6, 7};
/// CIFAR-10 inanimate classes: airplane 0, automobile 1, ship 8, truck 9.
inline constexpr std::array<index_t, 4> cifar10_inanimate{0, 1, 8, 9};

namespace detail {

template <class T>
Tensor<double> rdm_impl(TensorView<const T> x, RdmMetric metric) {
  check(x.rank() >= 2, "rdm: features must be N x D (rows x features), got shape ", x.shape());
  const index_t n = x.dim(0), d = x.row_size();
  check(n >= 1 && d >= 1, "rdm: need at least one row and one feature, got shape ", x.shape());
  check(metric != RdmMetric::correlation || d >= 2, "rdm: the correlation metric needs D >= 2 features, got shape ",
        x.shape());
  auto z = Tensor<double>::uninitialized(Shape{n, d});
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) {
      const double v = double(x.data()[i * d + j]);
      check(std::isfinite(v), "rdm: feature ", j, " of row ", i, " is not finite (", v, ")");
      z.data()[i * d + j] = v;
    }
  std::vector<char> constant(std::size_t(n), 0);  // correlation: rows whose Pearson r is undefined
  if (metric == RdmMetric::correlation) {
    for (index_t i = 0; i < n; ++i) {
      double* r = z.data() + i * d;
      // Exactly equal values, not a small centred sum: the mean of equal values can be off by an
      // ulp, and rounding noise scaled to unit norm would give a correlation of noise.
      const auto [lo, hi] = std::minmax_element(r, r + d);
      if (*lo == *hi) {
        constant[std::size_t(i)] = 1;
        std::fill(r, r + d, 0.0);
        continue;
      }
      double mean = 0;
      for (index_t j = 0; j < d; ++j) mean += r[j];
      mean /= double(d);
      double ss = 0;
      for (index_t j = 0; j < d; ++j) {
        r[j] -= mean;
        ss += r[j] * r[j];
      }
      const double inv = 1.0 / std::sqrt(ss);
      for (index_t j = 0; j < d; ++j) r[j] *= inv;
    }
  } else {
    std::vector<double> mean(std::size_t(d), 0.0);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < d; ++j) mean[std::size_t(j)] += z.data()[i * d + j];
    for (auto& m : mean) m /= double(n);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < d; ++j) z.data()[i * d + j] -= mean[std::size_t(j)];
  }
  Tensor<double> g(Shape{n, n});
  ops::gemm(z, z, g, ops::GemmOptions{}.transpose_b());
  Tensor<double> out(Shape{n, n});
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < i; ++j) {
      const double gij = g.data()[i * n + j];
      const bool undefined = constant[std::size_t(i)] != 0 || constant[std::size_t(j)] != 0;
      const double v = metric == RdmMetric::correlation
                           ? (undefined ? std::numeric_limits<double>::quiet_NaN() : std::clamp(1.0 - gij, 0.0, 2.0))
                           : std::max(0.0, g.data()[i * n + i] + g.data()[j * n + j] - 2 * gij) / double(d);
      out.data()[i * n + j] = v;
      out.data()[j * n + i] = v;
    }
  return out;  // diagonal: exact zeros from the zero-filled constructor
}

inline void rdm_check_shapes(TensorView<const double> r, TensorView<const index_t> labels, const char* who) {
  check(r.rank() == 2 && r.dim(0) == r.dim(1), who, ": the RDM must be N x N, got shape ", r.shape());
  check(labels.rank() == 1 && labels.dim(0) == r.dim(0), who, ": need one label per row of the RDM ", r.shape(),
        ", got labels of shape ", labels.shape());
}

template <class Group>
bool rdm_in_group(const Group& g, index_t label) {
  return std::find(std::begin(g), std::end(g), label) != std::end(g);
}

}  // namespace detail

/// The N x N RDM of N x D features (tensor or view, float or double; rank > 2: rows x flattened rest).
/// With the correlation metric, the pairs of a constant row are NaN (undefined; file comment).
template <Viewable X>
Tensor<double> rdm(X&& features, RdmMetric metric = RdmMetric::correlation) {
  using T = typename view_t<X>::value_type;
  return detail::rdm_impl<T>(TensorView<const T>(to_view(features)), metric);
}

/// The rows of N x D features (tensor or view, float or double) whose D values are all equal,
/// compared exactly, increasing: with RdmMetric::correlation, the rows whose pairs rdm() leaves
/// undefined (NaN).
template <Viewable X>
std::vector<index_t> constant_rows(X&& features) {
  using T = typename view_t<X>::value_type;
  const TensorView<const T> x(to_view(features));
  check(x.rank() >= 2, "constant_rows: features must be N x D (rows x features), got shape ", x.shape());
  const index_t n = x.dim(0), d = x.row_size();
  std::vector<index_t> rows;
  for (index_t i = 0; i < n; ++i) {
    const T* r = x.data() + i * d;
    if (d > 0 && std::all_of(r, r + d, [&](T v) { return v == r[0]; })) rows.push_back(i);
  }
  return rows;
}

/// The indices of the first n_per_class rows of every class (labels >= 0; classes increasing),
/// grouped by class: [class c0's first n..., class c1's first n..., ...]. A class with fewer than
/// n_per_class rows is an error.
inline Tensor<index_t> select_per_class(TensorView<const index_t> labels, index_t n_per_class) {
  check(labels.rank() == 1, "select_per_class: labels must be a vector, got shape ", labels.shape());
  check(n_per_class >= 1, "select_per_class: n_per_class must be >= 1, got ", n_per_class);
  std::vector<index_t> classes;
  for (index_t i = 0; i < labels.dim(0); ++i)
    if (labels[i] >= 0) classes.push_back(labels[i]);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  check(!classes.empty(), "select_per_class: no labelled rows (every label is < 0)");
  Tensor<index_t> out(Shape{index_t(classes.size()) * n_per_class});
  index_t at = 0;
  for (const index_t c : classes) {
    index_t taken = 0;
    for (index_t i = 0; i < labels.dim(0) && taken < n_per_class; ++i)
      if (labels[i] == c) {
        out[at++] = i;
        ++taken;
      }
    check(taken == n_per_class, "select_per_class: class ", c, " has only ", taken, " rows, ", n_per_class,
          " requested");
  }
  return out;
}

/// What block_contrast() returns: mean dissimilarities of two groups of classes.
struct BlockContrast {
  double within_a = 0;   ///< mean R_ij, i != j, both labels in group A (NaN: no defined pair)
  double within_b = 0;   ///< mean R_ij, i != j, both labels in group B (NaN: no defined pair)
  double between = 0;    ///< mean R_ij, one label in A and the other in B (NaN: no defined pair)
  index_t rows_a = 0;    ///< rows labelled in group A
  index_t rows_b = 0;    ///< rows labelled in group B
  index_t undefined_pairs = 0;  ///< ordered pairs (i, j) of the three blocks whose R_ij is NaN, skipped
};

/// Mean dissimilarities within and between two disjoint groups of classes (file comment).
/// group_a, group_b: any range of class labels (std::vector, std::array, initializer list...).
template <class GroupA, class GroupB>
BlockContrast block_contrast(TensorView<const double> r, TensorView<const index_t> labels, const GroupA& group_a,
                             const GroupB& group_b) {
  detail::rdm_check_shapes(r, labels, "block_contrast");
  check(std::begin(group_a) != std::end(group_a) && std::begin(group_b) != std::end(group_b),
        "block_contrast: both groups need at least one class");
  for (const auto c : group_a)
    check(!detail::rdm_in_group(group_b, index_t(c)), "block_contrast: class ", c, " is in both groups");
  const index_t n = r.dim(0);
  std::vector<int> side(std::size_t(n), 0);  // 1: A, 2: B, 0: neither
  BlockContrast b;
  for (index_t i = 0; i < n; ++i) {
    if (detail::rdm_in_group(group_a, labels[i])) side[std::size_t(i)] = 1, ++b.rows_a;
    else if (detail::rdm_in_group(group_b, labels[i])) side[std::size_t(i)] = 2, ++b.rows_b;
  }
  check(b.rows_a >= 2 && b.rows_b >= 2, "block_contrast: each group needs at least 2 rows, got ", b.rows_a,
        " in group A and ", b.rows_b, " in group B");
  double sa = 0, sb = 0, sab = 0;
  index_t ca = 0, cb = 0, cab = 0;  // defined pairs of each block
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      if (i == j) continue;
      const int si = side[std::size_t(i)], sj = side[std::size_t(j)];
      if (si == 0 || sj == 0) continue;
      const double v = r.data()[i * n + j];
      check(!std::isinf(v), "block_contrast: R(", i, ", ", j, ") is not finite (", v, ")");
      if (std::isnan(v)) {
        ++b.undefined_pairs;
        continue;
      }
      if (si == 1 && sj == 1) sa += v, ++ca;
      else if (si == 2 && sj == 2) sb += v, ++cb;
      else sab += v, ++cab;
    }
  const double undefined = std::numeric_limits<double>::quiet_NaN();
  b.within_a = ca > 0 ? sa / double(ca) : undefined;
  b.within_b = cb > 0 ? sb / double(cb) : undefined;
  b.between = cab > 0 ? sab / double(cab) : undefined;
  return b;
}
/// As above, for braced lists of classes: `block_contrast(r, labels, {2, 3}, {0, 1})`.
inline BlockContrast block_contrast(TensorView<const double> r, TensorView<const index_t> labels,
                                    std::initializer_list<index_t> group_a, std::initializer_list<index_t> group_b) {
  return block_contrast<std::initializer_list<index_t>, std::initializer_list<index_t>>(r, labels, group_a, group_b);
}

/// What class_contrast() returns.
struct ClassContrast {
  double within_class = 0;   ///< mean R_ij over i != j with the same label (NaN: no defined pair)
  double between_class = 0;  ///< mean R_ij over different labels (NaN: no defined pair)
  index_t undefined_pairs = 0;  ///< ordered pairs (i, j) of labelled rows whose R_ij is NaN, skipped
};

/// Mean within-class and between-class dissimilarity (diagonal excluded, rows labelled < 0
/// ignored, NaN entries skipped and counted). Labels that give no within-class or no
/// between-class pair are an error; pairs that are there but all undefined give NaN.
inline ClassContrast class_contrast(TensorView<const double> r, TensorView<const index_t> labels) {
  detail::rdm_check_shapes(r, labels, "class_contrast");
  const index_t n = r.dim(0);
  double sw = 0, sb = 0;
  index_t nw = 0, nb = 0, cw = 0, cb = 0;  // pairs, and defined pairs, within and between
  ClassContrast c;
  for (index_t i = 0; i < n; ++i) {
    if (labels[i] < 0) continue;
    for (index_t j = 0; j < n; ++j) {
      if (j == i || labels[j] < 0) continue;
      const double v = r.data()[i * n + j];
      check(!std::isinf(v), "class_contrast: R(", i, ", ", j, ") is not finite (", v, ")");
      const bool within = labels[i] == labels[j];
      ++(within ? nw : nb);
      if (std::isnan(v)) {
        ++c.undefined_pairs;
        continue;
      }
      if (within) sw += v, ++cw;
      else sb += v, ++cb;
    }
  }
  check(nw > 0 && nb > 0, "class_contrast: need two rows of one class and two different classes (", nw,
        " within-class and ", nb, " between-class pairs)");
  const double undefined = std::numeric_limits<double>::quiet_NaN();
  c.within_class = cw > 0 ? sw / double(cw) : undefined;
  c.between_class = cb > 0 ? sb / double(cb) : undefined;
  return c;
}

}  // namespace invar::analysis
