#pragma once
/// \file group_invariance.hpp
/// The group-wise invariance losses of the paper (Eq. 2 and 3): one call takes features X
/// (B rows, any layer flattened), one group id per row and a reference set for the denominator,
/// and returns the value, its numerator and denominator, and writes dL/dX.
///
///   L = numerator / (denominator + epsilon)
///   numerator   = pairs of rows that share a group         (weighted by the convention)
///   denominator = pairs of rows that share a reference group (all pairs, or same class)
///
/// Named entry points:
///   augmentation_invariance(metric, x, seed_ids, grad, opts)                    L_DA, all-pairs denominator
///   augmentation_invariance(metric, x, seed_ids, same_class(class_ids), grad, opts)
///                                           L_DA with the authors' training denominator (same-class pairs)
///   class_invariance(metric, x, class_ids, grad, opts)                          L_C, all-pairs denominator
///   group_invariance(metric, x, group_ids, reference, grad, opts)               the general form
/// Pass `invar::no_gradient` for `grad` to get the value only. Ids live on the host; x and grad
/// on any device. Squared-difference metrics take the O(B D) linear path, metrics that declare a
/// Gram kind (cosine, correlation and Euclidean, or yours: invar::gram_path_traits) the Gram path
/// (GEMMs), others the pairwise path. docs/losses.md has the formulas, scales,
/// edge cases and numerics.

#include <span>
#include <type_traits>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/losses/detail/gram_path.hpp"
#include "invar/losses/detail/linear_path.hpp"
#include "invar/losses/detail/pair_weights.hpp"
#include "invar/losses/detail/pairwise_path.hpp"
#include "invar/losses/detail/shard.hpp"
#include "invar/losses/group_loss_options.hpp"
#include "invar/losses/grouping.hpp"
#include "invar/losses/no_gradient.hpp"
#include "invar/metrics/metric.hpp"

namespace invar {

/// The reference set of the denominator: all pairs of the batch, or the pairs that share an id.
struct Reference {
  TensorView<const index_t> ids{};  ///< one id per row (no_group: in no reference group); unused for all pairs
  bool all = true;  ///< true: every pair of the batch (ids ignored); false: pairs that share an id
};

/// Every pair of the batch (the paper's denominator; unlabelled rows included).
inline Reference all_pairs() { return {}; }

/// The pairs that share an id, e.g. a class (the authors' training denominator of L_DA).
template <Viewable I>
Reference same_group(I&& ids) {
  return Reference{TensorView<const index_t>(to_view(ids)), false};
}
/// same_group() by class id: the reference set of same-class pairs.
template <Viewable I>
Reference same_class(I&& class_ids) {
  return same_group(class_ids);
}

namespace detail {

/// The length of one row of a tensor of `shape` (the product of the extents after the first).
inline index_t row_length(const Shape& shape) {
  index_t n = 1;
  for (int d = 1; d < shape.rank(); ++d) n *= shape[d];
  return n;
}

/// The rank-local checks of a call: shapes, ids and grad of this rank's rows.
template <class T, Device D>
void check_call(const char* loss, TensorView<const T, D> x_in, TensorView<const index_t> ids, const Reference& ref,
                const T* grad, const Shape* grad_shape, const GroupLossOptions& o, bool one_of_ranks) {
  o.validate();
  check(x_in.rank() >= 2, loss, ": x must hold one row per sample, shape [B, D, ...], got ", x_in.shape());
  const index_t rows = x_in.dim(0);
  check(rows > 0 || one_of_ranks, loss, ": x has no rows (B = 0); the loss is undefined for an empty batch");
  check(x_in.numel() > 0 || rows == 0, loss, ": x has rows of length 0, shape ", x_in.shape());
  check(ids.rank() == 1 && ids.dim(0) == rows, loss, ": need one group id per row of x (", rows, "), got ids of shape ",
        ids.shape());
  if (!ref.all)
    check(ref.ids.rank() == 1 && ref.ids.dim(0) == rows, loss, ": need one reference id per row of x (", rows,
          "), got shape ", ref.ids.shape());
  if (grad_shape) {
    check(*grad_shape == x_in.shape(), loss, ": grad has shape ", *grad_shape, ", x has ", x_in.shape());
    check(rows == 0 || static_cast<const void*>(grad) != static_cast<const void*>(x_in.data()), loss,
          ": grad must not alias x (the gradient pass reads x while writing grad)");
  }
}

/// The gram or pairwise path across ranks: every rank gathers the whole batch, computes the
/// value and the whole gradient (the same bits on every rank), and keeps its own rows' gradient.
template <class Path, class T, Device D>
LossValue on_gathered_rows(const Shard& shard, TensorView<const T, D> x, T* grad, const GroupLossOptions& o,
                           Path&& path) {
  const index_t cols = x.dim(1);
  const Tensor<T, D> all = gather_rows(shard, x, cols);
  if (!grad) return path(all.view(), static_cast<T*>(nullptr), o);
  auto all_grad = Tensor<T, D>::uninitialized(all.shape());
  const LossValue v = path(all.view(), all_grad.data(), GroupLossOptions{o}.accumulating(false));
  const TensorView<const T, D> mine = all_grad.view().slice_rows(shard.begin, shard.begin + shard.rows);
  TensorView<T, D> out(grad, x.shape());
  if (shard.rows == 0) return v;
  if (o.accumulate) ops::axpby(1.0, mine, 1.0, out);
  else ops::copy(mine, out);
  return v;
}

template <class M, class T, Device D>
LossValue group_invariance_impl(const char* loss, const M& metric, TensorView<const T, D> x_in,
                                TensorView<const index_t> ids, const Reference& ref, T* grad, const Shape* grad_shape,
                                const GroupLossOptions& o) {
  static_assert(Metric<M, T>, "invar: the metric does not satisfy invar::Metric for this feature type; "
                              "static_assert(invar::assert_metric<M, T>()) says what is missing");
  Shard shard;
  shard.comm = o.communicator;
  std::vector<index_t> all_ids, all_ref_ids;  // the whole batch's ids, across ranks
  TensorView<const index_t> group_ids = ids, reference_ids = ref.ids;
  if (shard.distributed()) {
    const auto& comm = *shard.comm;
    // Local problems become the same error on every rank (no rank is left waiting in a collective).
    distributed::agreed(comm, [&] { check_call(loss, x_in, ids, ref, grad, grad_shape, o, true); });
    const index_t mine[2] = {x_in.dim(0), row_length(x_in.shape())};
    const auto sizes = distributed::allgather(comm, std::span<const index_t>(mine, 2));
    index_t cols = -1;
    shard.first_owner = -1;
    for (int r = 0; r < comm.size(); ++r) {
      const index_t rows_r = sizes.values[2 * std::size_t(r)], cols_r = sizes.values[2 * std::size_t(r) + 1];
      shard.rows_of_rank.push_back(rows_r);
      if (r < comm.rank()) shard.begin += rows_r;
      shard.total += rows_r;
      check(cols < 0 || cols == cols_r, loss, ": the ranks' rows differ in length (", cols, " and ", cols_r,
            " features); every rank must pass the same layer");
      cols = cols_r;
      if (rows_r > 0 && shard.first_owner < 0) shard.first_owner = r;
    }
    shard.rows = x_in.dim(0);
    check(shard.total > 0, loss, ": x has no rows on any of the ", comm.size(),
          " ranks; the loss is undefined for an empty batch");
    all_ids = distributed::allgather(comm, std::span<const index_t>(ids.data(), std::size_t(ids.numel()))).values;
    group_ids = TensorView<const index_t>(all_ids.data(), Shape{shard.total});
    if (!ref.all) {
      all_ref_ids =
          distributed::allgather(comm, std::span<const index_t>(ref.ids.data(), std::size_t(ref.ids.numel()))).values;
      reference_ids = TensorView<const index_t>(all_ref_ids.data(), Shape{shard.total});
    }
  } else {
    check_call(loss, x_in, ids, ref, grad, grad_shape, o, false);
    shard.rows = shard.total = x_in.dim(0);
  }
  // From here on every check sees the whole batch (the same on every rank).
  const TensorView<const T, D> x(x_in.data(), Shape{x_in.dim(0), row_length(x_in.shape())});
  const index_t rows = shard.total;
  const Grouping groups(group_ids, "groups");
  const Grouping reference = ref.all ? Grouping::all(rows) : Grouping(reference_ids, "reference");
  check(groups.distinct_pairs() == 0 || reference.distinct_pairs() > 0, loss,
        ": the reference set has no pair of distinct rows (every reference group has one row), so the "
        "denominator is 0 while groups have pairs");
  const PairWeights weights = pair_weights(groups, reference, o.convention);

  constexpr bool linear_ok = SquaredDifferenceMetric<M, T>;
  constexpr bool gram_ok = gram_metric<M>;
  const bool linear = o.path == LossPath::linear || (o.path == LossPath::automatic && linear_ok);
  const bool gram = o.path == LossPath::gram || (o.path == LossPath::automatic && gram_ok);
  if constexpr (linear_ok) {
    if (linear) return linear_path<M>(loss, x, groups, reference, weights, grad, o, shard);
  } else {
    check(!linear, loss, ": LossPath::linear needs a squared-difference metric; ", M::name, " is not one");
  }
  auto run = [&](auto&& path) {
    if (!shard.distributed()) return path(x, grad, o);
    return on_gathered_rows(shard, x, grad, o, path);
  };
  if constexpr (gram_ok) {
    if (gram)
      return run([&](TensorView<const T, D> xs, T* g, const GroupLossOptions& os) {
        return gram_path<M>(loss, xs, groups, reference, weights, g, os);
      });
  } else {
    check(!gram, loss, ": LossPath::gram needs cosine, correlation or Euclidean distance; ", M::name,
          " is none of them (it declares no invar::GramKind: see invar::gram_path_traits)");
  }
  return run([&](TensorView<const T, D> xs, T* g, const GroupLossOptions& os) {
    return pairwise_path(loss, metric, xs, groups, reference, weights, g, os);
  });
}

template <class M, Viewable X, class Grad>
LossValue dispatch(const char* loss, const M& metric, X&& x, TensorView<const index_t> ids, const Reference& ref,
                   Grad&& grad, const GroupLossOptions& o) {
  auto xv = to_view(x);
  using T = typename decltype(xv)::value_type;
  using D = typename decltype(xv)::device_type;
  const TensorView<const T, D> xc = xv;
  if constexpr (std::is_same_v<std::remove_cvref_t<Grad>, NoGradient>) {
    return group_invariance_impl<M, T, D>(loss, metric, xc, ids, ref, nullptr, nullptr, o);
  } else {
    auto g = to_view(grad);
    static_assert(std::is_same_v<decltype(g), TensorView<T, D>>,
                  "invar: grad must be a mutable tensor of x's scalar type on x's device");
    const Shape s = g.shape();
    return group_invariance_impl<M, T, D>(loss, metric, xc, ids, ref, g.data(), &s, o);
  }
}

}  // namespace detail

/// The general form: groups in the numerator, `reference` pairs in the denominator.
template <class M, Viewable X, Viewable I, class Grad>
LossValue group_invariance(const M& metric, X&& x, I&& group_ids, const Reference& reference, Grad&& grad,
                           const GroupLossOptions& o = {}) {
  return detail::dispatch("group_invariance", metric, x, TensorView<const index_t>(to_view(group_ids)), reference,
                          grad, o);
}

/// L_DA (Eq. 2): rows augmented from the same seed image should be alike; all-pairs denominator.
template <class M, Viewable X, Viewable I, class Grad>
LossValue augmentation_invariance(const M& metric, X&& x, I&& seed_ids, Grad&& grad, const GroupLossOptions& o = {}) {
  return detail::dispatch("augmentation_invariance", metric, x, TensorView<const index_t>(to_view(seed_ids)),
                          all_pairs(), grad, o);
}

/// L_DA with another reference set, e.g. same_class(class_ids): the authors' training variant.
template <class M, Viewable X, Viewable I, class Grad>
LossValue augmentation_invariance(const M& metric, X&& x, I&& seed_ids, const Reference& reference, Grad&& grad,
                                  const GroupLossOptions& o = {}) {
  return detail::dispatch("augmentation_invariance", metric, x, TensorView<const index_t>(to_view(seed_ids)),
                          reference, grad, o);
}

/// L_C (Eq. 3): rows of the same class should be alike; all-pairs denominator. Rows whose class
/// is no_group (unlabelled) join no class but count in the denominator.
template <class M, Viewable X, Viewable I, class Grad>
LossValue class_invariance(const M& metric, X&& x, I&& class_ids, Grad&& grad, const GroupLossOptions& o = {}) {
  return detail::dispatch("class_invariance", metric, x, TensorView<const index_t>(to_view(class_ids)), all_pairs(),
                          grad, o);
}

}  // namespace invar
