#pragma once
/// \file penalty_features.hpp
/// The shared machinery of the anti-collapse penalties: the centred B x F matrix they work on
/// (flat features or channel means), the fold of its gradient back onto the tap, the argument
/// checks, and the device functors. Everything goes through invar::ops, so it runs on any device.

#include <cmath>
#include <type_traits>

#include "invar/backend/ops.hpp"
#include "invar/core/tensor.hpp"
#include "invar/losses/anti_collapse/penalty_options.hpp"
#include "invar/losses/detail/non_finite.hpp"
#include "invar/losses/no_gradient.hpp"

namespace invar::detail {

/// The centred features a penalty sees, and how to map their gradient back onto the tap.
template <class T, Device D>
struct CenteredFeatures {
  Tensor<T, D> centered;  ///< B x F, each column's batch mean removed
  index_t rows = 0;       ///< B
  index_t cols = 0;       ///< F
  index_t spatial = 1;    ///< H * W when the columns are channel means, else 1
  bool pooled = false;    ///< columns are channel means of a rank-4 tap
};

/// x as the penalty's B x F matrix, centred. Checks the shape (at least 2 rows, at least one
/// feature) and names the penalty in the error.
template <class T, Device D>
CenteredFeatures<T, D> centered_features(const char* penalty, TensorView<const T, D> x, PenaltyFeatures view) {
  check(x.rank() >= 2, penalty, ": x must hold one row per sample, shape [B, D, ...], got ", x.shape());
  check(x.dim(0) >= 2, penalty, ": needs at least 2 rows (a batch statistic of one row is undefined), got ",
        x.shape());
  check(x.numel() > 0, penalty, ": x has rows of length 0, shape ", x.shape());
  check(view != PenaltyFeatures::channel_mean || x.rank() == 4, penalty,
        ": channel_mean features need a B x C x H x W tap, got ", x.shape());
  CenteredFeatures<T, D> f;
  f.rows = x.dim(0);
  f.pooled = x.rank() == 4 && view != PenaltyFeatures::flat;
  if (f.pooled) {
    f.cols = x.dim(1);
    f.spatial = x.dim(2) * x.dim(3);
    // The channel means: x as (B C) x (H W) rows, one mean per row.
    f.centered = Tensor<T, D>::uninitialized(Shape{f.rows, f.cols});
    const auto per_channel = x.reshape(Shape{f.rows * f.cols, f.spatial});
    ops::row_sums(per_channel, f.centered.view().reshape(Shape{f.rows * f.cols}));
    ops::scale(f.centered, 1.0 / double(f.spatial));
  } else {
    f.cols = x.row_size();
    f.centered = Tensor<T, D>::uninitialized(Shape{f.rows, f.cols});
    ops::copy(x.as_matrix(), f.centered);
  }
  Tensor<T, D> means = Tensor<T, D>::uninitialized(Shape{f.cols});
  ops::col_sums(f.centered, means);
  ops::scale(means, 1.0 / double(f.rows));
  ops::broadcast_cols(f.centered, f.centered, means, fn::Subtract{});
  return f;
}

/// grad (+)= scale * d/dx, from g = dP/d(centred features) (B x F). The centring needs no
/// projection: every penalty's g has zero column means already (it is a product with the centred
/// matrix), so dP/d(uncentred features) = g. Channel means spread their gradient evenly over H x W.
template <class T, Device D>
void fold_gradient(const CenteredFeatures<T, D>& f, const Tensor<T, D>& g, TensorView<T, D> grad, double scale,
                   bool accumulate) {
  if (!accumulate) ops::fill(grad, T(0));
  if (!f.pooled) {
    ops::axpby(scale, g.view(), 1.0, grad.as_matrix());
    return;
  }
  Tensor<T, D> per_channel = Tensor<T, D>::uninitialized(Shape{f.rows * f.cols});
  ops::copy(g.view().reshape(Shape{f.rows * f.cols}), per_channel);
  ops::scale(per_channel, scale / double(f.spatial));
  const auto rows = grad.reshape(Shape{f.rows * f.cols, f.spatial});
  ops::broadcast_rows(rows, rows, per_channel, fn::Add{});
}

/// The gradient argument of a penalty: no_gradient, or a tensor/view of x's type, shape and device.
template <class T, Device D, class Grad>
TensorView<T, D> gradient_view(const char* penalty, const TensorView<const T, D>& x, Grad&& grad) {
  if constexpr (std::is_same_v<std::remove_cvref_t<Grad>, NoGradient>) {
    return {};
  } else {
    auto g = to_view(grad);
    static_assert(std::is_same_v<decltype(g), TensorView<T, D>>,
                  "invar: grad must be a mutable tensor of x's scalar type on x's device");
    check(g.shape() == x.shape(), penalty, ": grad has shape ", g.shape(), ", x has ", x.shape());
    check(static_cast<const void*>(g.data()) != static_cast<const void*>(x.data()), penalty,
          ": grad must not alias x");
    return g;
  }
}

/// A penalty call's arguments, checked: x as a view, the gradient view (empty for no_gradient)
/// and the centred features the penalty sees.
template <class T, Device D>
struct PenaltyArguments {
  TensorView<const T, D> x;
  TensorView<T, D> grad;
  CenteredFeatures<T, D> f;
};

/// Checks a penalty's x and grad and centres the features `view` selects (the start of every penalty).
template <Viewable X, class Grad>
auto penalty_arguments(const char* penalty, X&& x_in, Grad&& grad_in, PenaltyFeatures view) {
  auto xv = to_view(x_in);
  using T = typename decltype(xv)::value_type;
  using D = typename decltype(xv)::device_type;
  const TensorView<const T, D> x = xv;
  const TensorView<T, D> grad = gradient_view(penalty, x, grad_in);
  return PenaltyArguments<T, D>{x, grad, centered_features(penalty, x, view)};
}

/// A penalty's value must be finite; otherwise name the non-finite input (or the overflow).
template <class T, Device D>
void check_penalty_finite(const char* penalty, double value, TensorView<const T, D> x) {
  if (!std::isfinite(value)) throw_non_finite(penalty, x);
}

/// Device functors of the penalties.
namespace penalty_fn {
/// relu(target - sqrt(sum_sq * inv_n + eps)): the hinge of one feature's standard deviation.
template <class T>
struct StdHinge {
  T target, inv_n, eps;
  INVAR_HOST_DEVICE T operator()(T sum_sq) const {
    const T s = std::sqrt(sum_sq * inv_n + eps);
    return s < target ? target - s : T(0);
  }
};
/// sqrt(sum_sq * inv_n + eps): one feature's standard deviation.
template <class T>
struct StdOf {
  T inv_n, eps;
  INVAR_HOST_DEVICE T operator()(T sum_sq) const { return std::sqrt(sum_sq * inv_n + eps); }
};
/// d hinge / d x = coef * x_centred, coef = -scale / s when s < target, else 0 (s: the std).
template <class T>
struct StdHingeSlope {
  T target, inv_n, eps, scale;
  INVAR_HOST_DEVICE T operator()(T sum_sq) const {
    const T s = std::sqrt(sum_sq * inv_n + eps);
    return s < target ? -scale / s : T(0);
  }
};
}  // namespace penalty_fn

}  // namespace invar::detail
