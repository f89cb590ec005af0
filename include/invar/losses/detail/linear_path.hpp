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
/// K x D doubles per grouping, never a B x B matrix. On a device the call makes three transfers:
/// one upload of ids and orders, one download of the 2 (K_a + K_b) per-group norms, one upload
/// of the coefficients; everything of size D stays on the device.
/// Across ranks (Shard): each rank sums its own rows into the K x D sums of the global groups,
/// with the same shift (global row 0, broadcast), and one all-reduce per sum array makes them
/// the whole batch's (O(K D) per rank, never the rows); the value is then computed alike on
/// every rank and each rank writes the gradient of its own rows.

#include <optional>
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

template <class M, class T, Device D>
LossValue linear_path(const char* loss, TensorView<const T, D> x, const Grouping& groups, const Grouping& reference,
                      const PairWeights& weights, T* grad, const GroupLossOptions& o, const Shard& shard) {
  using Kernels = ops::detail::backend<D>;  // loss-internal kernels: arguments built here from validated groupings
  const index_t rows = x.dim(0), cols = x.dim(1);
  const double wd = M::template squared_difference_weight<double>(cols);
  const double f = o.convention == PairConvention::paper ? 2.0 : 1.0;
  const index_t ka = groups.groups(), kb = reference.groups();
  const bool across = shard.distributed();

  // This rank's rows of each grouping (all rows in one process: the groupings' own arrays).
  LocalRows local_a, local_b;
  if (across) {
    local_a = local_rows(groups, shard.begin, rows);
    local_b = local_rows(reference, shard.begin, rows);
  }
  const auto& order_a_h = across ? local_a.order : groups.order();
  const auto& offsets_a_h = across ? local_a.offsets : groups.offsets();
  const auto& dense_a_h = across ? local_a.dense : groups.dense();
  const auto& order_b_h = across ? local_b.order : reference.order();
  const auto& offsets_b_h = across ? local_b.offsets : reference.offsets();
  const auto& dense_b_h = across ? local_b.dense : reference.dense();

  // Everything the kernels need from the host, in one transfer.
  const auto parent = nested_parent(groups, reference);
  Upload<D> up;
  const std::size_t order_a = up.add(order_a_h), offsets_a = up.add(offsets_a_h);
  const std::size_t ids_a = up.add(dense_a_h), ids_b = up.add(dense_b_h);
  const std::size_t parent_s = parent ? up.add(*parent) : 0;
  const std::size_t order_b = parent ? 0 : up.add(order_b_h);
  const std::size_t offsets_b = parent ? 0 : up.add(offsets_b_h);
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

  const Scratch<double, D> sums_a(0, Shape{ka, cols}), sums_b(1, Shape{kb, cols});
  // [sq_a | group_sq_a | sq_b | group_sq_b] side by side, so that they come back in one transfer.
  const Scratch<double, D> stats(2, Shape{2 * (ka + kb)});
  double* const sq_a = stats.data();
  double* const gsq_a = sq_a + ka;
  double* const sq_b = gsq_a + ka;
  double* const gsq_b = sq_b + kb;
  Kernels::group_sums(rows, cols, x.data(), shift, up.template get<index_t>(order_a),
                      up.template get<index_t>(offsets_a), ka, sums_a.data(), sq_a, gsq_a);
  if (!parent)
    Kernels::group_sums(rows, cols, x.data(), shift, up.template get<index_t>(order_b),
                        up.template get<index_t>(offsets_b), kb, sums_b.data(), sq_b, gsq_b);
  if (across) {
    // The whole batch's sums (rank order); the squared norms of the sums are not additive: recomputed.
    allreduce_sum(*shard.comm, sums_a.view());
    allreduce_sum(*shard.comm, TensorView<double, D>(gsq_a, Shape{ka}));
    ops::row_squared_norms(sums_a.view(), TensorView<double, D>(sq_a, Shape{ka}));
    if (!parent) {
      allreduce_sum(*shard.comm, sums_b.view());
      allreduce_sum(*shard.comm, TensorView<double, D>(gsq_b, Shape{kb}));
      ops::row_squared_norms(sums_b.view(), TensorView<double, D>(sq_b, Shape{kb}));
    }
  }
  // When every group lies inside one reference group (seeds inside classes, or the all-pairs
  // reference), the reference sums are sums of group sums (K x D work); otherwise a second pass.
  if (parent) {
    const TensorView<double, D> sb = sums_b.view();
    ops::fill(sb, 0);
    ops::fill(TensorView<double, D>(gsq_b, Shape{kb}), 0);
    Kernels::scatter_add_rows(ka, cols, sums_a.data(), up.template get<index_t>(parent_s), 1.0, sb.data());
    Kernels::scatter_add_rows(ka, 1, gsq_a, up.template get<index_t>(parent_s), 1.0, gsq_b);
    ops::row_squared_norms(sb, TensorView<double, D>(sq_b, Shape{kb}));
  }

  // Per-group scatter W_k = sum ||s_i||^2 - ||sum s_i||^2 / n_k (>= 0 up to rounding).
  const auto st = to_host(TensorView<const double, D>(stats.data(), stats.view().shape()));
  auto scatter = [&](const Grouping& g, std::size_t sq_at, std::size_t gsq_at) {
    std::vector<double> w(static_cast<std::size_t>(g.groups()));
    for (std::size_t k = 0; k < w.size(); ++k) {
      w[k] = st[gsq_at + k] - st[sq_at + k] / double(g.sizes()[k]);
      if (w[k] < 0) w[k] = 0;  // rounding; NaN is kept (std::max would turn it into 0)
    }
    return w;
  };
  const auto wa = scatter(groups, 0, std::size_t(ka));
  const auto wb = scatter(reference, std::size_t(2 * ka), std::size_t(2 * ka + kb));

  LossValue v;
  for (index_t k = 0; k < ka; ++k)
    v.numerator += weights.a[std::size_t(k)] * f * double(groups.size(k)) * wd * wa[std::size_t(k)];
  for (index_t r = 0; r < kb; ++r)
    v.denominator += weights.b[std::size_t(r)] * f * double(reference.size(r)) * wd * wb[std::size_t(r)];
  if (!std::isfinite(v.numerator) || !std::isfinite(v.denominator)) throw_non_finite(loss, x, shard);
  finish_value(loss, v, o);
  if (!grad) return v;

  // dL/dx_i = ca_i (s_i - mu_a) + cb_i (s_i - mu_b): each group's pair coefficient times the
  // derivative of its pair sum, 2 f n w (s_i - mu).
  const PairCoefficients c = pair_coefficients(weights, v, o);
  std::vector<double> ca(static_cast<std::size_t>(rows), 0.0), cb(static_cast<std::size_t>(rows), 0.0);
  for (index_t i = 0; i < rows; ++i) {
    if (const index_t k = dense_a_h[std::size_t(i)]; k >= 0)
      ca[std::size_t(i)] = c.a[std::size_t(k)] * 2 * f * double(groups.size(k)) * wd;
    if (const index_t r = dense_b_h[std::size_t(i)]; r >= 0)
      cb[std::size_t(i)] = c.b[std::size_t(r)] * 2 * f * double(reference.size(r)) * wd;
  }
  auto inverse_sizes = [](const Grouping& g) {
    std::vector<double> inv(static_cast<std::size_t>(g.groups()));
    for (index_t k = 0; k < g.groups(); ++k) inv[std::size_t(k)] = 1.0 / double(g.size(k));
    return inv;
  };
  const auto inv_a = inverse_sizes(groups), inv_b = inverse_sizes(reference);
  Upload<D> coefficients;  // the second and last transfer to the device
  const std::size_t ca_s = coefficients.add(ca), cb_s = coefficients.add(cb);
  const std::size_t inv_a_s = coefficients.add(inv_a), inv_b_s = coefficients.add(inv_b);
  coefficients.send();
  Kernels::group_centered_combination(rows, cols, x.data(), shift, up.template get<index_t>(order_a),
                                      up.template get<index_t>(ids_a), coefficients.template get<double>(ca_s),
                                      sums_a.data(), coefficients.template get<double>(inv_a_s),
                                      up.template get<index_t>(ids_b), coefficients.template get<double>(cb_s),
                                      sums_b.data(), coefficients.template get<double>(inv_b_s),
                                      T(o.accumulate ? 1 : 0), grad);
  return v;
}

}  // namespace invar::detail
