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

#include <type_traits>

#include "invar/backend/ops.hpp"
#include "invar/losses/detail/gram_path.hpp"
#include "invar/losses/detail/linear_path.hpp"
#include "invar/losses/detail/pair_weights.hpp"
#include "invar/losses/detail/pairwise_path.hpp"
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

template <class M, class T, Device D>
LossValue group_invariance_impl(const char* loss, const M& metric, TensorView<const T, D> x_in,
                                TensorView<const index_t> ids, const Reference& ref, T* grad, const Shape* grad_shape,
                                const GroupLossOptions& o) {
  static_assert(Metric<M, T>, "invar: the metric does not satisfy invar::Metric for this feature type; "
                              "static_assert(invar::assert_metric<M, T>()) says what is missing");
  o.validate();
  check(x_in.rank() >= 2, loss, ": x must hold one row per sample, shape [B, D, ...], got ", x_in.shape());
  const auto x = x_in.as_matrix();
  const index_t rows = x.dim(0);
  check(rows > 0, loss, ": x has no rows (B = 0); the loss is undefined for an empty batch");
  check(x.dim(1) > 0, loss, ": x has rows of length 0, shape ", x_in.shape());
  check(ids.rank() == 1 && ids.dim(0) == rows, loss, ": need one group id per row of x (", rows, "), got ids of shape ",
        ids.shape());
  if (grad_shape) {
    check(*grad_shape == x_in.shape(), loss, ": grad has shape ", *grad_shape, ", x has ", x_in.shape());
    check(static_cast<const void*>(grad) != static_cast<const void*>(x.data()), loss,
          ": grad must not alias x (the gradient pass reads x while writing grad)");
  }
  const Grouping groups(ids, "groups");
  Grouping reference;
  if (ref.all) {
    reference = Grouping::all(rows);
  } else {
    check(ref.ids.rank() == 1 && ref.ids.dim(0) == rows, loss, ": need one reference id per row of x (", rows,
          "), got shape ", ref.ids.shape());
    reference = Grouping(ref.ids, "reference");
  }
  check(groups.distinct_pairs() == 0 || reference.distinct_pairs() > 0, loss,
        ": the reference set has no pair of distinct rows (every reference group has one row), so the "
        "denominator is 0 while groups have pairs");
  const PairWeights weights = pair_weights(groups, reference, o.convention);

  constexpr bool linear_ok = SquaredDifferenceMetric<M, T>;
  constexpr bool gram_ok = gram_metric<M>;
  const bool linear = o.path == LossPath::linear || (o.path == LossPath::automatic && linear_ok);
  const bool gram = o.path == LossPath::gram || (o.path == LossPath::automatic && gram_ok);
  if constexpr (linear_ok) {
    if (linear) return linear_path<M>(loss, x, groups, reference, weights, grad, o);
  } else {
    check(!linear, loss, ": LossPath::linear needs a squared-difference metric; ", M::name, " is not one");
  }
  if constexpr (gram_ok) {
    if (gram) return gram_path<M>(loss, x, groups, reference, weights, grad, o);
  } else {
    check(!gram, loss, ": LossPath::gram needs cosine, correlation or Euclidean distance; ", M::name,
          " is none of them (it declares no invar::GramKind: see invar::gram_path_traits)");
  }
  return pairwise_path(loss, metric, x, groups, reference, weights, grad, o);
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
