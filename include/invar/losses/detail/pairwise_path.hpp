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
  const DeviceArray<index_t, D> ids_a(groups.dense()), ids_b(reference.dense());
  const DeviceArray<double, D> wa(weights.a), wb(weights.b);
  LossValue v;
  Backend<D>::group_pair_sums(metric, rows, cols, x.data(), set, ids_a.data(), wa.data(), ids_b.data(), wb.data(),
                              &v.numerator, &v.denominator);
  if (!std::isfinite(v.numerator) || !std::isfinite(v.denominator)) throw_non_finite(loss, x);
  finish_value(v, o);
  if (!grad) return v;

  const PairCoefficients c = pair_coefficients(weights, v, o);
  const DeviceArray<double, D> ca_d(c.a), cb_d(c.b);
  Backend<D>::group_pair_gradient(metric, rows, cols, x.data(), set, ids_a.data(), ca_d.data(), ids_b.data(),
                                  cb_d.data(), T(o.accumulate ? 1 : 0), grad);
  return v;
}

}  // namespace invar::detail
