#pragma once
/// \file pairwise_path.hpp
/// The O(B^2 D) path: any metric, evaluated pair by pair through its value() and
/// accumulate_gradient(). Distances are recomputed in the gradient pass, so the extra memory is
/// O(B + K), not a B x B matrix.

#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/losses/detail/device_buffers.hpp"
#include "invar/losses/detail/non_finite.hpp"
#include "invar/losses/detail/pair_weights.hpp"

namespace invar::detail {

template <class M, class T, Device D>
LossValue pairwise_path(const char* loss, const M& metric, TensorView<const T, D> x, const Grouping& groups,
                        const Grouping& reference, const PairWeights& weights, T* grad, const GroupLossOptions& o) {
  const index_t rows = x.dim(0), cols = x.dim(1);
  const PairSet set = pair_set_of(o.convention);
  using Kernels = ops::detail::backend<D>;  // loss-internal kernels: arguments built here from validated groupings
  Upload<D> up;  // one transfer
  const std::size_t ids_a = up.add(groups.dense()), ids_b = up.add(reference.dense());
  const std::size_t wa = up.add(weights.a), wb = up.add(weights.b);
  up.send();
  LossValue v;
  Kernels::group_pair_sums(metric, rows, cols, x.data(), set, up.template get<index_t>(ids_a),
                           up.template get<double>(wa), up.template get<index_t>(ids_b), up.template get<double>(wb),
                           &v.numerator, &v.denominator);
  if (!std::isfinite(v.numerator) || !std::isfinite(v.denominator)) throw_non_finite(loss, x);
  finish_value(loss, v, o);
  if (!grad) return v;

  const PairCoefficients c = pair_coefficients(weights, v, o);
  Upload<D> coefficients;
  const std::size_t ca = coefficients.add(c.a), cb = coefficients.add(c.b);
  coefficients.send();
  Kernels::group_pair_gradient(metric, rows, cols, x.data(), set, up.template get<index_t>(ids_a),
                               coefficients.template get<double>(ca), up.template get<index_t>(ids_b),
                               coefficients.template get<double>(cb), T(o.accumulate ? 1 : 0), grad);
  return v;
}

}  // namespace invar::detail
