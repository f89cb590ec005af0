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
/// Memory traffic: x is read twice (sums, gradient) and dL/dx written once; extra memory is
/// K x D doubles per grouping, never a B x B matrix.

#include <optional>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/losses/detail/device_buffers.hpp"
#include "invar/losses/detail/non_finite.hpp"
#include "invar/losses/detail/pair_weights.hpp"

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

template <class M, class T, Device D>
LossValue linear_path(const char* loss, TensorView<const T, D> x, const Grouping& groups, const Grouping& reference,
                      const PairWeights& weights, T* grad, const GroupLossOptions& o) {
  const index_t rows = x.dim(0), cols = x.dim(1);
  const double wd = M::template squared_difference_weight<double>(cols);
  const double f = o.convention == PairConvention::paper ? 2.0 : 1.0;
  const index_t ka = groups.groups(), kb = reference.groups();

  const DeviceArray<index_t, D> ids_a(groups.dense()), ids_b(reference.dense());
  const auto sums_a = workspace<double, D>(0, Shape{ka, cols});
  const auto sums_b = workspace<double, D>(1, Shape{kb, cols});
  const auto sq_a = workspace<double, D>(2, Shape{ka});
  const auto sq_b = workspace<double, D>(3, Shape{kb});
  const auto row_sq = workspace<double, D>(4, Shape{rows});
  const T* shift = x.data();  // row 0
  auto sum_groups = [&](const Grouping& g, TensorView<double, D> sums, TensorView<double, D> sq) {
    const DeviceArray<index_t, D> order(g.order()), offsets(g.offsets());
    Backend<D>::group_sums(rows, cols, x.data(), shift, order.data(), offsets.data(), g.groups(), sums.data(),
                           sq.data(), row_sq.data());
  };
  sum_groups(groups, sums_a, sq_a);
  // When every group lies inside one reference group (seeds inside classes, or the all-pairs
  // reference), the reference sums are sums of group sums (K x D work); otherwise a second pass.
  if (const auto parent = nested_parent(groups, reference)) {
    ops::fill(sums_b, 0);
    const DeviceArray<index_t, D> parent_d(*parent);
    ops::scatter_add_rows(sums_a, TensorView<const index_t, D>(parent_d.data(), Shape{ka}), sums_b);
    ops::row_squared_norms(sums_b, sq_b);
  } else {
    sum_groups(reference, sums_b, sq_b);
  }

  // Per-group scatter W_k = sum ||s_i||^2 - ||sum s_i||^2 / n_k (>= 0 up to rounding).
  const auto sq = to_host(row_sq);
  auto scatter = [&](const Grouping& g, TensorView<double, D> norms) {
    const auto n2 = to_host(norms);
    std::vector<double> w(static_cast<std::size_t>(g.groups()), 0.0);
    for (index_t i = 0; i < g.rows(); ++i)
      if (g.of(i) >= 0) w[static_cast<std::size_t>(g.of(i))] += sq[static_cast<std::size_t>(i)];
    for (std::size_t k = 0; k < w.size(); ++k) {
      w[k] -= n2[k] / double(g.sizes()[k]);
      if (w[k] < 0) w[k] = 0;  // rounding; NaN is kept (std::max would turn it into 0)
    }
    return w;
  };
  const auto wa = scatter(groups, sq_a);
  const auto wb = scatter(reference, sq_b);

  LossValue v;
  for (index_t k = 0; k < ka; ++k)
    v.numerator += weights.a[std::size_t(k)] * f * double(groups.size(k)) * wd * wa[std::size_t(k)];
  for (index_t r = 0; r < kb; ++r)
    v.denominator += weights.b[std::size_t(r)] * f * double(reference.size(r)) * wd * wb[std::size_t(r)];
  if (!std::isfinite(v.numerator) || !std::isfinite(v.denominator)) throw_non_finite(loss, x);
  finish_value(v, o);
  if (!grad) return v;

  // dL/dx_i = ca_i (s_i - mu_a) + cb_i (s_i - mu_b): each group's pair coefficient times the
  // derivative of its pair sum, 2 f n w (s_i - mu).
  const PairCoefficients c = pair_coefficients(weights, v, o);
  std::vector<double> ca(static_cast<std::size_t>(rows), 0.0), cb(static_cast<std::size_t>(rows), 0.0);
  for (index_t i = 0; i < rows; ++i) {
    if (const index_t k = groups.of(i); k >= 0) ca[std::size_t(i)] = c.a[std::size_t(k)] * 2 * f * double(groups.size(k)) * wd;
    if (const index_t r = reference.of(i); r >= 0)
      cb[std::size_t(i)] = c.b[std::size_t(r)] * 2 * f * double(reference.size(r)) * wd;
  }
  auto inverse_sizes = [](const Grouping& g) {
    std::vector<double> inv(static_cast<std::size_t>(g.groups()));
    for (index_t k = 0; k < g.groups(); ++k) inv[std::size_t(k)] = 1.0 / double(g.size(k));
    return inv;
  };
  const auto inv_a = inverse_sizes(groups), inv_b = inverse_sizes(reference);
  const DeviceArray<double, D> ca_d(ca), cb_d(cb), inv_a_d(inv_a), inv_b_d(inv_b);
  const DeviceArray<index_t, D> order(groups.order());
  Backend<D>::group_centered_combination(rows, cols, x.data(), shift, order.data(), ids_a.data(), ca_d.data(),
                                         sums_a.data(), inv_a_d.data(), ids_b.data(), cb_d.data(), sums_b.data(),
                                         inv_b_d.data(), T(o.accumulate ? 1 : 0), grad);
  return v;
}

}  // namespace invar::detail
