#pragma once
/// \file variance_hinge.hpp
/// The variance hinge (VICReg's variance term, Bardes et al. 2022): every feature's standard
/// deviation over the batch is kept at or above a target, so no feature can die or shrink to a
/// constant while an invariance loss pulls rows together.
///
///   P = (1/F) sum_j relu(target - s_j),   s_j = sqrt(var_j + epsilon),
///   var_j = (1/(B-1)) sum_i (f_ij - mean_j)^2              (the unbiased batch variance)
///   dP/df_ij = -(1/F) [s_j < target] (f_ij - mean_j) / ((B-1) s_j)
///
/// f is the tap's B x F feature matrix (flat, or channel means of a B x C x H x W tap:
/// PenaltyFeatures). Cost O(B F). Defaults: target 1, epsilon 1e-4 (VICReg's). Needs B >= 2.
///
///   auto p = invar::variance_hinge(x, grad, invar::VarianceHingeOptions{}.with_target(1.0));
///   auto v = invar::variance_hinge(x, invar::no_gradient);  // value only

#include "invar/losses/anti_collapse/detail/penalty_features.hpp"
#include "invar/losses/anti_collapse/penalty_options.hpp"

namespace invar {

/// Options of variance_hinge (defaults: VICReg's).
struct VarianceHingeOptions : PenaltyOptionsBase<VarianceHingeOptions> {
  double target = 1.0;    ///< the standard deviation each feature is kept above (> 0)
  double epsilon = 1e-4;  ///< added to the variance inside the square root (> 0: the slope stays finite at var 0)

  /// Sets #target.
  VarianceHingeOptions& with_target(double t) { target = t; return *this; }
  /// Sets #epsilon.
  VarianceHingeOptions& with_epsilon(double e) { epsilon = e; return *this; }
  /// Throws invar::Error when an option is out of range.
  void validate() const {
    validate_common("variance_hinge");
    check(std::isfinite(target) && target > 0, "variance_hinge: target must be finite and > 0, got ", target);
    check(std::isfinite(epsilon) && epsilon > 0, "variance_hinge: epsilon must be finite and > 0, got ", epsilon);
  }
};

/// The variance hinge of x (B x D or B x C x H x W, any device); writes
/// gradient_scale * dP/dx into `grad` unless it is invar::no_gradient. PenaltyValue::statistic
/// is the mean standard deviation of the features.
template <Viewable X, class Grad>
PenaltyValue variance_hinge(X&& x_in, Grad&& grad_in, const VarianceHingeOptions& o = {}) {
  constexpr const char* name = "variance_hinge";
  o.validate();
  const auto args = detail::penalty_arguments(name, x_in, grad_in, o.features);
  using T = typename decltype(args.x)::value_type;
  using D = typename decltype(args.x)::device_type;
  const auto& [x, grad, f] = args;
  const T inv_n = T(1.0 / double(f.rows - 1));
  Tensor<T, D> sum_sq = Tensor<T, D>::uninitialized(Shape{f.cols});
  ops::reduce_cols(sum_sq, fn::Square{}, f.centered);
  Tensor<T, D> per_feature = Tensor<T, D>::uninitialized(Shape{f.cols});
  ops::map(per_feature, detail::penalty_fn::StdHinge<T>{T(o.target), inv_n, T(o.epsilon)}, sum_sq);
  PenaltyValue v;
  v.value = double(ops::sum(per_feature)) / double(f.cols);
  ops::map(per_feature, detail::penalty_fn::StdOf<T>{inv_n, T(o.epsilon)}, sum_sq);
  v.statistic = double(ops::sum(per_feature)) / double(f.cols);
  detail::check_penalty_finite(name, v.value + v.statistic, x);
  if (grad.data() == nullptr) return v;
  // g_ij = slope_j * f_ij with slope_j = -[s_j < target] / (F (B-1) s_j).
  const T slope_scale = T(1.0 / (double(f.cols) * double(f.rows - 1)));
  ops::map(per_feature, detail::penalty_fn::StdHingeSlope<T>{T(o.target), inv_n, T(o.epsilon), slope_scale}, sum_sq);
  Tensor<T, D> g = Tensor<T, D>::uninitialized(f.centered.shape());
  ops::broadcast_cols(g, f.centered, per_feature, fn::Multiply{});
  detail::fold_gradient(f, g, grad, o.gradient_scale, o.accumulate);
  return v;
}

}  // namespace invar
