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
///   group_invariances(metric, x, terms, grad)      several at one x (L_DA and L_C at a tap), in one pass
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

/// One loss of a call: the named entry points make one, group_invariances() several.
struct LossCall {
  const char* loss;
  TensorView<const index_t> ids;
  Reference reference;
  GroupLossOptions options;
};

/// Whether a call takes the linear path (else the Gram or the pairwise path).
template <class M, class T>
bool takes_linear_path(const GroupLossOptions& o) {
  return o.path == LossPath::linear || (o.path == LossPath::automatic && SquaredDifferenceMetric<M, T>);
}

template <class M, class T, Device D>
std::vector<LossValue> group_invariance_impl(const M& metric, TensorView<const T, D> x_in, std::span<const LossCall> calls,
                                             T* grad, const Shape* grad_shape) {
  static_assert(Metric<M, T>, "invar: the metric does not satisfy invar::Metric for this feature type; "
                              "static_assert(invar::assert_metric<M, T>()) says what is missing");
  check(!calls.empty(), "group_invariances: no losses given");
  const GroupLossOptions& o0 = calls[0].options;
  for (std::size_t c = 1; c < calls.size(); ++c) {
    check(calls[c].options.communicator == o0.communicator, "group_invariances: loss ", c,
          " has another communicator than loss 0; the losses of one call share their batch");
    check(calls[c].options.accumulate == o0.accumulate, "group_invariances: loss ", c,
          (o0.accumulate ? " writes" : " adds to"), " the gradient while loss 0 ",
          (o0.accumulate ? "adds to it" : "writes it"), "; one call writes or adds the sum of their gradients");
  }
  bool all_linear = true;
  for (const LossCall& c : calls) all_linear = all_linear && takes_linear_path<M, T>(c.options);
  if (calls.size() > 1 && !all_linear) {
    // Only the linear path shares its passes: the others run one loss at a time, the first
    // writing (or adding, as asked) and the rest adding.
    std::vector<LossValue> values;
    for (std::size_t c = 0; c < calls.size(); ++c) {
      LossCall one = calls[c];
      one.options.accumulate = o0.accumulate || c > 0;
      values.push_back(group_invariance_impl<M, T, D>(metric, x_in, std::span<const LossCall>(&one, 1), grad,
                                                      grad_shape)[0]);
    }
    return values;
  }

  Shard shard;
  shard.comm = o0.communicator;
  // Per call: the whole batch's ids, across ranks (in one process: the call's own).
  std::vector<TensorView<const index_t>> group_ids, reference_ids;
  std::vector<std::vector<index_t>> gathered;
  gathered.reserve(2 * calls.size());
  for (const LossCall& c : calls) {
    group_ids.push_back(c.ids);
    reference_ids.push_back(c.reference.ids);
  }
  if (shard.distributed()) {
    const auto& comm = *shard.comm;
    // Local problems become the same error on every rank (no rank is left waiting in a collective).
    distributed::agreed(comm, [&] {
      for (const LossCall& c : calls) check_call(c.loss, x_in, c.ids, c.reference, grad, grad_shape, c.options, true);
    });
    const index_t mine[2] = {x_in.dim(0), row_length(x_in.shape())};
    const auto sizes = distributed::allgather(comm, std::span<const index_t>(mine, 2));
    index_t cols = -1;
    shard.first_owner = -1;
    for (int r = 0; r < comm.size(); ++r) {
      const index_t rows_r = sizes.values[2 * std::size_t(r)], cols_r = sizes.values[2 * std::size_t(r) + 1];
      shard.rows_of_rank.push_back(rows_r);
      if (r < comm.rank()) shard.begin += rows_r;
      shard.total += rows_r;
      check(cols < 0 || cols == cols_r, calls[0].loss, ": the ranks' rows differ in length (", cols, " and ", cols_r,
            " features); every rank must pass the same layer");
      cols = cols_r;
      if (rows_r > 0 && shard.first_owner < 0) shard.first_owner = r;
    }
    shard.rows = x_in.dim(0);
    check(shard.total > 0, calls[0].loss, ": x has no rows on any of the ", comm.size(),
          " ranks; the loss is undefined for an empty batch");
    auto all_of = [&](TensorView<const index_t> ids) {
      gathered.push_back(
          distributed::allgather(comm, std::span<const index_t>(ids.data(), std::size_t(ids.numel()))).values);
      return TensorView<const index_t>(gathered.back().data(), Shape{shard.total});
    };
    for (std::size_t c = 0; c < calls.size(); ++c) {
      group_ids[c] = all_of(calls[c].ids);
      if (!calls[c].reference.all) reference_ids[c] = all_of(calls[c].reference.ids);
    }
  } else {
    for (const LossCall& c : calls) check_call(c.loss, x_in, c.ids, c.reference, grad, grad_shape, c.options, false);
    shard.rows = shard.total = x_in.dim(0);
  }
  // From here on every check sees the whole batch (the same on every rank).
  const TensorView<const T, D> x(x_in.data(), Shape{x_in.dim(0), row_length(x_in.shape())});
  const index_t rows = shard.total;
  std::vector<Grouping> groups, reference;  // reserved: the linear terms point into them
  std::vector<PairWeights> weights;
  groups.reserve(calls.size());
  reference.reserve(calls.size());
  weights.reserve(calls.size());
  for (std::size_t c = 0; c < calls.size(); ++c) {
    groups.emplace_back(group_ids[c], "groups");
    reference.push_back(calls[c].reference.all ? Grouping::all(rows) : Grouping(reference_ids[c], "reference"));
    check(groups[c].distinct_pairs() == 0 || reference[c].distinct_pairs() > 0, calls[c].loss,
          ": the reference set has no pair of distinct rows (every reference group has one row), so the "
          "denominator is 0 while groups have pairs");
    weights.push_back(pair_weights(groups[c], reference[c], calls[c].options.convention));
  }

  const LossCall& call = calls[0];
  const GroupLossOptions& o = call.options;
  constexpr bool linear_ok = SquaredDifferenceMetric<M, T>;
  constexpr bool gram_ok = gram_metric<M>;
  if constexpr (linear_ok) {
    if (all_linear) {
      std::vector<LinearTerm> terms;
      for (std::size_t c = 0; c < calls.size(); ++c)
        terms.push_back({calls[c].loss, &groups[c], &reference[c], &weights[c], &calls[c].options});
      return linear_path<M>(std::span<const LinearTerm>(terms), x, grad, o.accumulate, shard);
    }
  } else {
    check(!all_linear, call.loss, ": LossPath::linear needs a squared-difference metric; ", M::name, " is not one");
  }
  const bool gram = o.path == LossPath::gram || (o.path == LossPath::automatic && gram_ok);
  auto run = [&](auto&& path) {
    if (!shard.distributed()) return std::vector<LossValue>{path(x, grad, o)};
    return std::vector<LossValue>{on_gathered_rows(shard, x, grad, o, path)};
  };
  if constexpr (gram_ok) {
    if (gram)
      return run([&](TensorView<const T, D> xs, T* g, const GroupLossOptions& os) {
        return gram_path<M>(call.loss, xs, groups[0], reference[0], weights[0], g, os);
      });
  } else {
    check(!gram, call.loss, ": LossPath::gram needs cosine, correlation or Euclidean distance; ", M::name,
          " is none of them (it declares no invar::GramKind: see invar::gram_path_traits)");
  }
  return run([&](TensorView<const T, D> xs, T* g, const GroupLossOptions& os) {
    return pairwise_path(call.loss, metric, xs, groups[0], reference[0], weights[0], g, os);
  });
}

/// x and grad as views of one device and scalar type (grad: NoGradient or a mutable tensor).
template <class M, Viewable X, class Grad>
std::vector<LossValue> dispatch(const M& metric, X&& x, std::span<const LossCall> calls, Grad&& grad) {
  auto xv = to_view(x);
  using T = typename decltype(xv)::value_type;
  using D = typename decltype(xv)::device_type;
  const TensorView<const T, D> xc = xv;
  if constexpr (std::is_same_v<std::remove_cvref_t<Grad>, NoGradient>) {
    return group_invariance_impl<M, T, D>(metric, xc, calls, nullptr, nullptr);
  } else {
    auto g = to_view(grad);
    static_assert(std::is_same_v<decltype(g), TensorView<T, D>>,
                  "invar: grad must be a mutable tensor of x's scalar type on x's device");
    const Shape s = g.shape();
    return group_invariance_impl<M, T, D>(metric, xc, calls, g.data(), &s);
  }
}

template <class M, Viewable X, class Grad>
LossValue dispatch(const char* loss, const M& metric, X&& x, TensorView<const index_t> ids, const Reference& ref,
                   Grad&& grad, const GroupLossOptions& o) {
  const LossCall call{loss, ids, ref, o};
  return dispatch(metric, x, std::span<const LossCall>(&call, 1), grad)[0];
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

/// One loss of group_invariances(): group ids, reference set and options (its gradient_scale
/// weighs its gradient in the sum; every loss of a call has the same accumulate flag and
/// communicator). `name` names it in error messages.
struct InvarianceTerm {
  TensorView<const index_t> ids{};       ///< one group id per row (no_group: in no group)
  Reference reference = all_pairs();     ///< the denominator's pairs
  GroupLossOptions options = {};         ///< convention, epsilon, gradient scale, path, ...
  const char* name = "group_invariances";  ///< names the loss in error messages
};

/// Several losses of one metric at the same features, e.g. L_DA and L_C at one layer: returns
/// each loss's value as if called alone, and `grad` receives sum_t gradient_scale_t dL_t/dx
/// (written, or added where the terms accumulate). On the linear path (squared-difference
/// metrics) the losses share one pass: their distinct groupings are summed once, each from a finer
/// one where it nests (seeds inside classes inside the batch), and one pass writes the gradient,
/// instead of a read and a write of x and grad per loss. Other paths run the losses one by one.
template <class M, Viewable X, class Grad>
std::vector<LossValue> group_invariances(const M& metric, X&& x, std::span<const InvarianceTerm> terms, Grad&& grad) {
  std::vector<detail::LossCall> calls;
  calls.reserve(terms.size());
  for (const InvarianceTerm& t : terms) calls.push_back({t.name, t.ids, t.reference, t.options});
  return detail::dispatch(metric, x, std::span<const detail::LossCall>(calls), grad);
}

/// L_C (Eq. 3): rows of the same class should be alike; all-pairs denominator. Rows whose class
/// is no_group (unlabelled) join no class but count in the denominator.
template <class M, Viewable X, Viewable I, class Grad>
LossValue class_invariance(const M& metric, X&& x, I&& class_ids, Grad&& grad, const GroupLossOptions& o = {}) {
  return detail::dispatch("class_invariance", metric, x, TensorView<const index_t>(to_view(class_ids)), all_pairs(),
                          grad, o);
}

}  // namespace invar
