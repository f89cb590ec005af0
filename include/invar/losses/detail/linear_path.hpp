#pragma once
/// \file linear_path.hpp
/// The O(B D) path for squared-difference metrics d(a, b) = w ||a - b||^2.
///
/// For a group S of n rows with mean mu and scatter W = sum_{i in S} ||x_i - mu||^2:
///   sum over ordered pairs (self-pairs included) of d = 2 n w W,  over distinct pairs = n w W,
///   and the gradient of either with respect to x_i is 2 f n w (x_i - mu), f = 2 or 1.
/// W comes from one pass of per-group sums and per-row norms of the shifted rows s_i = x_i - x_0,
/// in double: W = sum ||s_i||^2 - ||sum s_i||^2 / n. The shift makes the batch's common offset
/// vanish before anything is squared (float32 features near 1e3 that differ by 1e-2 keep their
/// digits); double keeps the remaining cancellation to ~1e-16 of the batch's spread.
/// Several losses at one x (group_invariances: L_DA and L_C at a tap) share the pass: their
/// distinct groupings (seeds, classes, the batch) are summed once, each from a finer one where it
/// nests (seeds inside classes inside the batch: K x D work, not another read of x), and one
/// combination writes the sum of their gradients.
/// Memory traffic: x is read twice (sums, gradient) and dL/dx written once, whatever the number
/// of losses; extra memory is K x D doubles per grouping, never a B x B matrix. On a device the
/// call makes three transfers: one upload of ids and orders, one download of the per-group norms,
/// one upload of the coefficients; everything of size D stays on the device.
/// Across ranks (Shard): each rank sums its own rows into the K x D sums of the global groups,
/// with the same shift (global row 0, broadcast), and one all-reduce per sum array makes them
/// the whole batch's (O(K D) per rank, never the rows); the value is then computed alike on
/// every rank and each rank writes the gradient of its own rows.

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/losses/detail/device_buffers.hpp"
#include "invar/losses/detail/non_finite.hpp"
#include "invar/losses/detail/pair_weights.hpp"
#include "invar/losses/detail/shard.hpp"

namespace invar::detail {

/// The reference group of each group when every group lies inside one reference group and every
/// row with a reference group has a group; nothing otherwise.
inline std::optional<std::vector<index_t>> nested_parent(const Grouping& groups, const Grouping& reference) {
  std::vector<index_t> parent(static_cast<std::size_t>(groups.groups()), -2);
  for (index_t i = 0; i < groups.rows(); ++i) {
    const index_t k = groups.of(i), r = reference.of(i);
    if (k < 0) {
      if (r >= 0) return std::nullopt;  // a reference row outside every group
      continue;
    }
    index_t& p = parent[std::size_t(k)];
    if (p == -2) p = r;
    else if (p != r) return std::nullopt;  // a group split across reference groups
  }
  for (index_t p : parent)
    if (p < 0) return std::nullopt;  // a group outside the reference set
  return parent;
}

/// One loss of a linear-path call: its groupings, pair weights and options (convention, epsilon,
/// gradient scale; the call's accumulate flag is its own).
struct LinearTerm {
  const char* loss;
  const Grouping* groups;
  const Grouping* reference;
  const PairWeights* weights;
  const GroupLossOptions* options;
};

/// The distinct groupings of a set of terms, finest first, and how each is summed: from x
/// (source < 0) or from the sums of a finer grouping (source >= 0) through `parent`.
struct GroupingPlan {
  struct Entry {
    const Grouping* grouping;
    int source = -1;                 ///< index of the finer grouping it is summed from, or -1
    std::vector<index_t> parent;     ///< the source's group -> this grouping's group
  };
  std::vector<Entry> entries;
  std::vector<int> groups_of, reference_of;  ///< per term: its groups' and its reference's entry
};

inline bool same_grouping(const Grouping& a, const Grouping& b) { return &a == &b || a.dense() == b.dense(); }

inline GroupingPlan plan_groupings(std::span<const LinearTerm> terms) {
  GroupingPlan plan;
  std::vector<const Grouping*> distinct;
  auto index_of = [&](const Grouping* g) {
    for (std::size_t e = 0; e < distinct.size(); ++e)
      if (same_grouping(*distinct[e], *g)) return int(e);
    distinct.push_back(g);
    return int(distinct.size() - 1);
  };
  for (const LinearTerm& t : terms) {
    plan.groups_of.push_back(index_of(t.groups));
    plan.reference_of.push_back(index_of(t.reference));
  }
  // Finest first (a grouping nests only in one with as many groups or fewer), stable.
  std::vector<int> rank(distinct.size());
  for (std::size_t e = 0; e < rank.size(); ++e) rank[e] = int(e);
  std::stable_sort(rank.begin(), rank.end(),
                   [&](int a, int b) { return distinct[std::size_t(a)]->groups() > distinct[std::size_t(b)]->groups(); });
  std::vector<int> position(distinct.size());
  for (std::size_t p = 0; p < rank.size(); ++p) {
    const Grouping* g = distinct[std::size_t(rank[p])];
    position[std::size_t(rank[p])] = int(p);
    GroupingPlan::Entry e{g, -1, {}};
    // The coarsest finer grouping it nests in: the fewest source rows to add.
    for (int q = int(p) - 1; q >= 0 && e.source < 0; --q)
      if (auto parent = nested_parent(*plan.entries[std::size_t(q)].grouping, *g)) {
        e.source = q;
        e.parent = std::move(*parent);
      }
    plan.entries.push_back(std::move(e));
  }
  for (int& e : plan.groups_of) e = position[std::size_t(e)];
  for (int& e : plan.reference_of) e = position[std::size_t(e)];
  return plan;
}

/// Every term's value; `grad` (null: none) receives sum_t gradient_scale_t dL_t/dx, written, or
/// added where `accumulate`.
template <class M, class T, Device D>
std::vector<LossValue> linear_path(std::span<const LinearTerm> terms, TensorView<const T, D> x, T* grad,
                                   bool accumulate, const Shard& shard) {
  GroupingPlan plan = plan_groupings(terms);
  if (plan.entries.size() > std::size_t(CenteredTerms::capacity)) {
    // More distinct groupings than one combination takes: one term at a time (each has two).
    std::vector<LossValue> values;
    for (std::size_t t = 0; t < terms.size(); ++t)
      values.push_back(linear_path<M>(terms.subspan(t, 1), x, grad, accumulate || t > 0, shard)[0]);
    return values;
  }
  using Kernels = ops::detail::backend<D>;  // loss-internal kernels: arguments built here from validated groupings
  const index_t rows = x.dim(0), cols = x.dim(1);
  const double wd = M::template squared_difference_weight<double>(cols);
  const bool across = shard.distributed();
  const std::size_t count = plan.entries.size();

  // This rank's rows of each grouping (all rows in one process: the groupings' own arrays).
  std::vector<LocalRows> local(count);
  std::vector<const std::vector<index_t>*> order_h(count), offsets_h(count), dense_h(count);
  for (std::size_t e = 0; e < count; ++e) {
    const Grouping& g = *plan.entries[e].grouping;
    if (across) local[e] = local_rows(g, shard.begin, rows);
    order_h[e] = across ? &local[e].order : &g.order();
    offsets_h[e] = across ? &local[e].offsets : &g.offsets();
    dense_h[e] = across ? &local[e].dense : &g.dense();
  }

  // Everything the kernels need from the host, in one transfer: each grouping's ids, and its
  // order and offsets where it is summed from x, or its parents where from a finer grouping.
  Upload<D> up;
  std::vector<std::size_t> ids_s(count), order_s(count), offsets_s(count), parent_s(count);
  for (std::size_t e = 0; e < count; ++e) {
    ids_s[e] = up.add(*dense_h[e]);
    if (plan.entries[e].source < 0) {
      order_s[e] = up.add(*order_h[e]);
      offsets_s[e] = up.add(*offsets_h[e]);
    } else {
      parent_s[e] = up.add(plan.entries[e].parent);
    }
  }
  up.send();

  // The shift: global row 0 (on every rank the same row, from the rank that holds it).
  const T* shift = x.data();
  Tensor<T, D> shared_shift;
  if (across) {
    std::vector<T> row(static_cast<std::size_t>(cols));
    if (shard.comm->rank() == shard.first_owner) D::copy_to_host(row.data(), x.data(), row.size() * sizeof(T));
    distributed::broadcast(*shard.comm, std::span<T>(row), shard.first_owner);
    shared_shift = Tensor<T, D>::uninitialized(Shape{cols});
    D::copy_from_host(shared_shift.data(), row.data(), row.size() * sizeof(T));
    shift = shared_shift.data();
  }

  // Grouping e's sums are rows first[e] .. first[e] + K_e of one K x D buffer, its norms
  // [sq | group_sq] at 2 first[e] of one stats array (one transfer back).
  std::vector<index_t> first(count + 1, 0);
  for (std::size_t e = 0; e < count; ++e) first[e + 1] = first[e] + plan.entries[e].grouping->groups();
  const Scratch<double, D> sums(0, Shape{first[count], cols}), stats(2, Shape{2 * first[count]});
  auto sums_of = [&](std::size_t e) { return sums.data() + first[e] * cols; };
  auto sq_of = [&](std::size_t e) { return stats.data() + 2 * first[e]; };
  auto group_sq_of = [&](std::size_t e) { return sq_of(e) + plan.entries[e].grouping->groups(); };
  auto groups_of = [&](std::size_t e) { return plan.entries[e].grouping->groups(); };

  for (std::size_t e = 0; e < count; ++e)
    if (plan.entries[e].source < 0)
      Kernels::group_sums(rows, cols, x.data(), shift, up.template get<index_t>(order_s[e]),
                          up.template get<index_t>(offsets_s[e]), groups_of(e), sums_of(e), sq_of(e), group_sq_of(e));
  if (across) {
    // The whole batch's sums (rank order); the squared norms of the sums are not additive: recomputed.
    for (std::size_t e = 0; e < count; ++e) {
      if (plan.entries[e].source >= 0) continue;
      const index_t k = groups_of(e);
      allreduce_sum(*shard.comm, TensorView<double, D>(sums_of(e), Shape{k, cols}));
      allreduce_sum(*shard.comm, TensorView<double, D>(group_sq_of(e), Shape{k}));
      ops::row_squared_norms(TensorView<const double, D>(sums_of(e), Shape{k, cols}),
                             TensorView<double, D>(sq_of(e), Shape{k}));
    }
  }
  // A grouping that every group of a finer one lies inside (seeds inside classes, classes inside
  // the batch) is the sum of that one's sums: K x D work instead of another read of x.
  for (std::size_t e = 0; e < count; ++e) {
    const int src = plan.entries[e].source;
    if (src < 0) continue;
    const index_t k = groups_of(e), ks = groups_of(std::size_t(src));
    const TensorView<double, D> s(sums_of(e), Shape{k, cols});
    ops::fill(s, 0);
    ops::fill(TensorView<double, D>(group_sq_of(e), Shape{k}), 0);
    const index_t* parent = up.template get<index_t>(parent_s[e]);
    Kernels::scatter_add_rows(ks, cols, sums_of(std::size_t(src)), parent, 1.0, s.data());
    Kernels::scatter_add_rows(ks, 1, group_sq_of(std::size_t(src)), parent, 1.0, group_sq_of(e));
    ops::row_squared_norms(TensorView<const double, D>(s.data(), s.shape()), TensorView<double, D>(sq_of(e), Shape{k}));
  }

  // Per-group scatter W_k = sum ||s_i||^2 - ||sum s_i||^2 / n_k (>= 0 up to rounding).
  const auto st = to_host(TensorView<const double, D>(stats.data(), stats.view().shape()));
  std::vector<std::vector<double>> scatter(count);
  for (std::size_t e = 0; e < count; ++e) {
    const Grouping& g = *plan.entries[e].grouping;
    const double* sq = st.data() + 2 * first[e];
    const double* gsq = sq + g.groups();
    scatter[e].resize(static_cast<std::size_t>(g.groups()));
    for (std::size_t k = 0; k < scatter[e].size(); ++k) {
      double w = gsq[k] - sq[k] / double(g.sizes()[k]);
      if (w < 0) w = 0;  // rounding; NaN is kept (std::max would turn it into 0)
      scatter[e][k] = w;
    }
  }

  std::vector<LossValue> values(terms.size());
  for (std::size_t t = 0; t < terms.size(); ++t) {
    const LinearTerm& term = terms[t];
    const double f = term.options->convention == PairConvention::paper ? 2.0 : 1.0;
    const auto& wa = scatter[std::size_t(plan.groups_of[t])];
    const auto& wb = scatter[std::size_t(plan.reference_of[t])];
    LossValue& v = values[t];
    for (index_t k = 0; k < term.groups->groups(); ++k)
      v.numerator += term.weights->a[std::size_t(k)] * f * double(term.groups->size(k)) * wd * wa[std::size_t(k)];
    for (index_t r = 0; r < term.reference->groups(); ++r)
      v.denominator +=
          term.weights->b[std::size_t(r)] * f * double(term.reference->size(r)) * wd * wb[std::size_t(r)];
    if (!std::isfinite(v.numerator) || !std::isfinite(v.denominator)) throw_non_finite(term.loss, x, shard);
    finish_value(term.loss, v, *term.options);
  }
  if (!grad) return values;

  // dL/dx_i = sum over the groupings e of c_e[i] (s_i - mu_e): each group's pair coefficient
  // times the derivative of its pair sum, 2 f n w (s_i - mu), summed over the terms (in order)
  // whose numerator or denominator uses grouping e.
  std::vector<std::vector<double>> coefficient(count, std::vector<double>(static_cast<std::size_t>(rows), 0.0));
  for (std::size_t t = 0; t < terms.size(); ++t) {
    const LinearTerm& term = terms[t];
    const double f = term.options->convention == PairConvention::paper ? 2.0 : 1.0;
    const PairCoefficients c = pair_coefficients(*term.weights, values[t], *term.options);
    auto add = [&](std::size_t e, const Grouping& g, const std::vector<double>& per_group) {
      const auto& dense = *dense_h[e];
      auto& out = coefficient[e];
      for (index_t i = 0; i < rows; ++i)
        if (const index_t k = dense[std::size_t(i)]; k >= 0)
          out[std::size_t(i)] += per_group[std::size_t(k)] * 2 * f * double(g.size(k)) * wd;
    };
    add(std::size_t(plan.groups_of[t]), *term.groups, c.a);
    add(std::size_t(plan.reference_of[t]), *term.reference, c.b);
  }
  std::vector<std::vector<double>> inverse_sizes(count);
  for (std::size_t e = 0; e < count; ++e)
    for (index_t size : plan.entries[e].grouping->sizes()) inverse_sizes[e].push_back(1.0 / double(size));
  Upload<D> coefficients;  // the second and last transfer to the device
  std::vector<std::size_t> coefficient_s(count), inverse_s(count);
  for (std::size_t e = 0; e < count; ++e) {
    coefficient_s[e] = coefficients.add(coefficient[e]);
    inverse_s[e] = coefficients.add(inverse_sizes[e]);
  }
  coefficients.send();
  CenteredTerms combination;
  combination.count = int(count);
  for (std::size_t e = 0; e < count; ++e)
    combination.term[e] = CenteredTerm{up.template get<index_t>(ids_s[e]), coefficients.template get<double>(coefficient_s[e]),
                                       sums_of(e), coefficients.template get<double>(inverse_s[e])};
  // Rows in the finest grouping's order (always summed from x: it has an order): each group's
  // means are formed once.
  Kernels::group_centered_combination(rows, cols, x.data(), shift, up.template get<index_t>(order_s[0]), combination,
                                      T(accumulate ? 1 : 0), grad);
  return values;
}

/// One loss on the linear path.
template <class M, class T, Device D>
LossValue linear_path(const char* loss, TensorView<const T, D> x, const Grouping& groups, const Grouping& reference,
                      const PairWeights& weights, T* grad, const GroupLossOptions& o, const Shard& shard) {
  const LinearTerm term{loss, &groups, &reference, &weights, &o};
  return linear_path<M>(std::span<const LinearTerm>(&term, 1), x, grad, o.accumulate, shard)[0];
}

}  // namespace invar::detail
