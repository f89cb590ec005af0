#pragma once
/// \file covariance_penalty.hpp
/// The covariance (decorrelation) penalty of VICReg: the squared off-diagonal entries of the
/// batch covariance, so that features do not all carry the same direction.
///
///   C = f_c^T f_c / (B-1)                       (F x F; f_c: the centred B x F features)
///   P = (1/F) sum_{j != k} C_jk^2 = (||C||_F^2 - sum_j C_jj^2) / F
///   dP/df = (4 / (F (B-1))) (f_c C - f_c diag(C))
///
/// Two forms, equal up to rounding, chosen by cost (CovarianceForm::automatic):
/// - direct: C itself, O(B F^2) time and F^2 memory, when F <= B;
/// - Gram: never forms C. ||C||_F^2 = ||G||_F^2 / (B-1)^2 and f_c C = G f_c / (B-1) with the
///   B x B Gram matrix G = f_c f_c^T: O(B^2 F) time and B^2 memory, for wide taps (F > B).
/// The off-diagonal sum is a difference of two sums; in float it carries a relative error of
/// about 1e-6 of ||C||_F^2 (the diagonal included), which is far below what training feels.
///
///   auto p = invar::covariance_penalty(x, grad);   // x: B x D or B x C x H x W, any device

#include "invar/losses/anti_collapse/detail/penalty_features.hpp"
#include "invar/losses/anti_collapse/penalty_options.hpp"

namespace invar {

/// How covariance_penalty computes (see the file comment).
enum class CovarianceForm {
  automatic,  ///< direct when F <= B, else Gram
  direct,     ///< through the F x F covariance
  gram,       ///< through the B x B Gram matrix
};

/// Options of covariance_penalty.
struct CovariancePenaltyOptions : PenaltyOptionsBase<CovariancePenaltyOptions> {
  CovarianceForm form = CovarianceForm::automatic;  ///< direct or Gram (equal values; cost differs)

  /// Sets #form.
  CovariancePenaltyOptions& with_form(CovarianceForm f) { form = f; return *this; }
  /// Throws invar::Error when an option is out of range.
  void validate() const { validate_common("covariance_penalty"); }
};

/// The covariance penalty of x (B x D or B x C x H x W, any device); writes
/// gradient_scale * dP/dx into `grad` unless it is invar::no_gradient. PenaltyValue::statistic
/// equals the value.
template <Viewable X, class Grad>
PenaltyValue covariance_penalty(X&& x_in, Grad&& grad_in, const CovariancePenaltyOptions& o = {}) {
  constexpr const char* name = "covariance_penalty";
  o.validate();
  const auto args = detail::penalty_arguments(name, x_in, grad_in, o.features);
  using T = typename decltype(args.x)::value_type;
  using D = typename decltype(args.x)::device_type;
  const auto& [x, grad, f] = args;
  const index_t B = f.rows, F = f.cols;
  const double n = double(B - 1);
  const bool direct = o.form == CovarianceForm::direct || (o.form == CovarianceForm::automatic && F <= B);

  // The variances (the diagonal of C).
  Tensor<T, D> var = Tensor<T, D>::uninitialized(Shape{F});
  ops::reduce_cols(var, fn::Square{}, f.centered);
  ops::scale(var, 1.0 / n);
  const double diagonal = double(ops::dot(var, var));

  // ||C||_F^2 and the matrix (C or G) the gradient needs.
  Tensor<T, D> m = Tensor<T, D>::uninitialized(direct ? Shape{F, F} : Shape{B, B});
  double frobenius = 0;
  if (direct) {
    ops::gemm(f.centered, f.centered, m, ops::GemmOptions{}.transpose_a().with_alpha(1.0 / n));
    frobenius = double(ops::reduce_all(fn::Square{}, m));
  } else {
    ops::gemm(f.centered, f.centered, m, ops::GemmOptions{}.transpose_b());
    frobenius = double(ops::reduce_all(fn::Square{}, m)) / (n * n);
  }
  PenaltyValue v;
  v.value = (frobenius - diagonal) / double(F);
  v.statistic = v.value;
  detail::check_penalty_finite(name, v.value, x);
  if (grad.data() == nullptr) return v;

  // g = (4 / (F n)) (f_c C - f_c diag(C)), f_c C = f_c C (direct) or G f_c / n (Gram).
  Tensor<T, D> g = Tensor<T, D>::uninitialized(f.centered.shape());
  ops::broadcast_cols(g, f.centered, var, fn::Multiply{});
  if (direct) ops::gemm(f.centered, m, g, ops::GemmOptions{}.with_beta(-1.0));
  else ops::gemm(m, f.centered, g, ops::GemmOptions{}.with_alpha(1.0 / n).with_beta(-1.0));
  detail::fold_gradient(f, g, grad, o.gradient_scale * 4.0 / (double(F) * n), o.accumulate);
  return v;
}

}  // namespace invar
