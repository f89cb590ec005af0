#pragma once
/// \file gram_path.hpp
/// The Gram paths for cosine, correlation and Euclidean distance: two GEMMs instead of B^2
/// per-pair loops. A metric takes one when gram_path_traits<M>::kind says which distance it is
/// (metrics/metric.hpp: a `gram_kind` member or a specialisation of the trait); the path then
/// computes that distance itself and never calls the metric. Cosine and correlation:
///
///   y_i = t(x_i) / ||t(x_i)||     (t: identity for cosine; for correlation, centring after
///                                   subtracting the row's first element, as the metric does)
///   G = y y^T                      (GEMM, B x B)
///   d_ij = 1 - G_ij, recomputed exactly as ||y_i - y_j||^2 / 2 for nearly parallel rows
///   K from the pair coefficients, dL/dx_i = (K y)_i / ||t(x_i)||   (GEMM, B x D)
/// For correlation the gradient with respect to x is the centred one; (K y)_i is already centred
/// because every y_j is. Extra memory: one B x D and two B x B buffers (Euclidean adding to
/// grad: two B x D), kept between calls on the host.
/// Values agree with the pairwise path to float rounding of the GEMM (tested); nearly parallel
/// and equal rows are exact (the chord form), so an all-equal batch has a zero denominator.

#include <cmath>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/losses/detail/device_buffers.hpp"
#include "invar/losses/detail/non_finite.hpp"
#include "invar/losses/detail/pair_weights.hpp"
#include "invar/metrics/correlation_distance.hpp"  // the built-in metrics with a Gram path (kept for includers)
#include "invar/metrics/cosine_distance.hpp"
#include "invar/metrics/euclidean.hpp"
#include "invar/metrics/metric.hpp"

namespace invar::detail {

/// Metrics with a Gram path (their trait names one).
template <class M>
inline constexpr bool gram_metric = has_gram_path<M>;

/// The Gram paths' scratch slots (device_buffers.hpp: on the host, buffers kept between calls,
/// so that a B x D buffer is not faulted in afresh by every call; the linear path uses 0 to 2).
namespace gram_scratch {
inline constexpr int rows = 3, gram = 4, coefficients = 5, gradient = 6;
}

/// Euclidean pairs with d^2 below this fraction of r_i + r_j are recomputed from the rows: there
/// r_i + r_j - 2 G_ij has lost more than a digit and a half to cancellation.
inline constexpr double euclid_near = 5e-2;

/// The Gram path of the Euclidean distance: y = x - column means (removes the batch's offset
/// before any product), r = ||y||^2, G = y y^T, d^2 = r_i + r_j - 2 G_ij (near pairs from the
/// rows of x); dL/dx_i = sum_j c_ij (x_i - x_j) / d_ij as K y (GEMM) for far pairs (K's rows sum
/// to 0, so K y = K x) plus the near pairs' terms computed from the rows of x.
template <class T, Device D>
LossValue euclidean_gram_path(const char* loss, TensorView<const T, D> x, const Grouping& groups,
                              const Grouping& reference, const PairWeights& weights, T* grad,
                              const GroupLossOptions& o) {
  using Kernels = ops::detail::backend<D>;  // loss-internal kernels: arguments built here from validated groupings
  const index_t rows = x.dim(0), cols = x.dim(1);
  Upload<D> up;  // one transfer of ids and weights
  const std::size_t ids_a = up.add(groups.dense()), ids_b = up.add(reference.dense());
  const std::size_t wa = up.add(weights.a), wb = up.add(weights.b);
  up.send();
  Tensor<T, D> mean(Shape{cols});
  ops::col_sums(x, mean);
  ops::scale(mean, 1.0 / double(rows));
  const Scratch<T, D> y_buffer(gram_scratch::rows, x.shape()), gram_buffer(gram_scratch::gram, Shape{rows, rows});
  const TensorView<T, D> y = y_buffer.view(), gram = gram_buffer.view();
  ops::broadcast_cols(y, x, mean, fn::Subtract{});
  Tensor<T, D> r(Shape{rows});
  ops::row_squared_norms(y, r);
  ops::gemm(y, y, gram, ops::GemmOptions{}.transpose_b());

  // A non-finite row (or an overflowing norm) makes its pair distances NaN or Inf, so the check
  // of the sums below catches it: no separate pass and no transfer.
  const PairSet set = pair_set_of(o.convention);
  LossValue v;
  Kernels::euclid_gram_pair_sums(rows, cols, x.data(), gram.data(), r.data(), euclid_near, set,
                                 up.template get<index_t>(ids_a), up.template get<double>(wa),
                                 up.template get<index_t>(ids_b), up.template get<double>(wb), &v.numerator,
                                 &v.denominator);
  if (!std::isfinite(v.numerator) || !std::isfinite(v.denominator)) throw_non_finite(loss, x);
  finish_value(loss, v, o);
  if (!grad) return v;

  const PairCoefficients c = pair_coefficients(weights, v, o);
  Upload<D> coefficients;
  const std::size_t ca = coefficients.add(c.a), cb = coefficients.add(c.b);
  coefficients.send();
  const Scratch<T, D> kc_buffer(gram_scratch::coefficients, Shape{rows, rows});
  const TensorView<T, D> kc = kc_buffer.view();
  // The gradient is assembled in grad itself unless it is added to what grad holds.
  const TensorView<T, D> out(grad, x.shape());
  const Scratch<T, D> added(gram_scratch::gradient, o.accumulate ? x.shape() : Shape{0, cols});
  const TensorView<T, D> g = o.accumulate ? added.view() : out;
  Kernels::euclid_gram_coefficients(rows, cols, x.data(), gram.data(), r.data(), euclid_near, set,
                                    up.template get<index_t>(ids_a), coefficients.template get<double>(ca),
                                    up.template get<index_t>(ids_b), coefficients.template get<double>(cb), kc.data(),
                                    g.data());
  ops::gemm(kc, y, g, ops::GemmOptions{}.with_beta(1));  // near-pair terms + K y
  if (o.accumulate) ops::axpby(1.0, g, 1.0, out);
  return v;
}

/// 1 - G_ij below this is recomputed from the rows: cos > 0.99, where 1 - G has lost two of its digits.
inline constexpr double gram_exact_below = 1e-2;

/// 1 / sqrt(v), 0 for a zero row, NaN for a non-finite norm (so that the pair sums, and the
/// loss's check of them, see it).
struct InverseNormOrZero {
  template <class T>
  INVAR_HOST_DEVICE T operator()(T v) const {
    if (v == T(0)) return T(0);
    if (!(v - v == T(0))) return v - v;  // Inf or NaN: NaN
    return static_cast<T>(1.0 / std::sqrt(static_cast<double>(v)));
  }
};
struct IsZero {
  template <class T>
  INVAR_HOST_DEVICE unsigned char operator()(T v) const {
    return v == T(0) ? 1 : 0;
  }
};

template <class M, class T, Device D>
LossValue cosine_gram_path(const char* loss, TensorView<const T, D> x, const Grouping& groups,
                           const Grouping& reference, const PairWeights& weights, T* grad, const GroupLossOptions& o) {
  using Kernels = ops::detail::backend<D>;  // loss-internal kernels: arguments built here from validated groupings
  const index_t rows = x.dim(0), cols = x.dim(1);
  static_assert(gram_path_traits<M>::kind == GramKind::cosine || gram_path_traits<M>::kind == GramKind::correlation);
  constexpr bool correlation = gram_path_traits<M>::kind == GramKind::correlation;
  std::vector<index_t> first_index;  // flat index of each row's first element (correlation)
  if constexpr (correlation) {
    first_index.resize(static_cast<std::size_t>(rows));
    for (index_t i = 0; i < rows; ++i) first_index[std::size_t(i)] = i * cols;
  }
  Upload<D> up;  // one transfer of ids, weights and row starts
  const std::size_t ids_a = up.add(groups.dense()), ids_b = up.add(reference.dense());
  const std::size_t wa = up.add(weights.a), wb = up.add(weights.b);
  const std::size_t first_s = up.add(first_index);
  up.send();

  const Scratch<T, D> y_buffer(gram_scratch::rows, x.shape());
  const TensorView<T, D> y = y_buffer.view();
  if constexpr (correlation) {
    // y = (x - x_i0) - mean_k(x_ik - x_i0): a constant row becomes exactly 0.
    auto first = Tensor<T, D>::uninitialized(Shape{rows, 1});
    Tensor<T, D> mean(Shape{rows});
    Kernels::gather_rows(rows, 1, x.data(), up.template get<index_t>(first_s), first.data());
    first.reshape(Shape{rows});
    ops::broadcast_rows(y, x, first, fn::Subtract{});
    ops::row_sums(y, mean);
    ops::scale(mean, 1.0 / double(cols));
    ops::broadcast_rows(y, y, mean, fn::Subtract{});
  } else {
    ops::copy(x, y);
  }
  Tensor<T, D> norm2(Shape{rows});
  ops::row_squared_norms(y, norm2);
  auto inv_n = Tensor<T, D>::uninitialized(Shape{rows});
  auto zero = Tensor<unsigned char, D>::uninitialized(Shape{rows});
  ops::map(inv_n, InverseNormOrZero{}, norm2);
  ops::map(zero, IsZero{}, norm2);
  ops::broadcast_rows(y, y, inv_n, fn::Multiply{});
  const Scratch<T, D> gram_buffer(gram_scratch::gram, Shape{rows, rows});
  const TensorView<T, D> gram = gram_buffer.view();
  ops::gemm(y, y, gram, ops::GemmOptions{}.transpose_b());

  const PairSet set = pair_set_of(o.convention);
  LossValue v;
  Kernels::gram_pair_sums(rows, cols, y.data(), gram.data(), zero.data(), gram_exact_below, set,
                          up.template get<index_t>(ids_a), up.template get<double>(wa),
                          up.template get<index_t>(ids_b), up.template get<double>(wb), &v.numerator, &v.denominator);
  if (!std::isfinite(v.numerator) || !std::isfinite(v.denominator)) throw_non_finite(loss, x);
  finish_value(loss, v, o);
  if (!grad) return v;

  const PairCoefficients c = pair_coefficients(weights, v, o);
  Upload<D> coefficients;
  const std::size_t ca = coefficients.add(c.a), cb = coefficients.add(c.b);
  coefficients.send();
  const Scratch<T, D> kc_buffer(gram_scratch::coefficients, Shape{rows, rows});
  const TensorView<T, D> kc = kc_buffer.view();
  Kernels::gram_pair_coefficients(rows, cols, y.data(), gram.data(), zero.data(), gram_exact_below, set,
                                  up.template get<index_t>(ids_a), coefficients.template get<double>(ca),
                                  up.template get<index_t>(ids_b), coefficients.template get<double>(cb), kc.data());
  // dL/dx_i = (K y)_i / n_i = ((K_ij / n_i) y)_i: row i of K scaled first (B x B, not B x D),
  // so that one GEMM writes (or adds) the gradient into grad.
  ops::broadcast_rows(kc, kc, inv_n, fn::Multiply{});
  ops::gemm(kc, y, TensorView<T, D>(grad, x.shape()), ops::GemmOptions{}.with_beta(o.accumulate ? 1.0 : 0.0));
  return v;
}

/// The Gram path of any metric that has one (gram_metric<M>), chosen by its kind.
template <class M, class T, Device D>
LossValue gram_path(const char* loss, TensorView<const T, D> x, const Grouping& groups, const Grouping& reference,
                    const PairWeights& weights, T* grad, const GroupLossOptions& o) {
  static_assert(gram_metric<M>, "gram_path: the metric declares no Gram path");
  if constexpr (gram_path_traits<M>::kind == GramKind::euclidean) {
    return euclidean_gram_path(loss, x, groups, reference, weights, grad, o);
  } else {
    return cosine_gram_path<M>(loss, x, groups, reference, weights, grad, o);
  }
}

}  // namespace invar::detail
