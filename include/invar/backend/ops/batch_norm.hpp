#pragma once
/// \file batch_norm.hpp
/// Checked batch-norm ops over x of shape [B, C] or [B, C, H, W] (C channels, N = B H W values each):
///   ops::batch_norm_statistics(x, mean, var)                        per-channel mean, biased variance (double)
///   ops::batch_norm_finish(options, mean, var, running_mean, running_var, gamma, beta, inv_std, scale, shift, bad)
///                                                                    running statistics, inv_std, scale, shift
///   ops::batch_norm_forward(x, scale, shift, y[, relu])              y = x scale[c] + shift[c] (then max(y, 0))
///   ops::batch_norm_backward(dy, x, mean, inv_std, gamma, dgamma, dbeta, dx)
/// An empty view for gamma, beta, shift, dgamma, dbeta or dx means "none" (backend/backend.hpp has
/// the semantics). Everything stays on the tensors' device: the only value a layer reads back is
/// the one-byte `bad` flag of batch_norm_finish.

#include "invar/backend/ops.hpp"

namespace invar::ops {

namespace detail {
template <class X>
index_t bn_spatial(const char* op, const X& x) {
  check(x.rank() == 2 || x.rank() == 4, op, ": x must be [B, C] or [B, C, H, W], got ", x.shape());
  return x.rank() == 4 ? x.dim(2) * x.dim(3) : 1;
}
template <class V>
void check_per_channel(const char* op, const char* what, const V& v, index_t channels) {
  check(v.numel() == channels, op, ": ", what, " must hold one value per channel (", channels, "), got shape ",
        v.shape());
}
}  // namespace detail

/// What batch_norm_finish does with the statistics.
struct BatchNormFinish {
  bool training = true;   ///< batch statistics in, running statistics updated; else running statistics used
  double momentum = 0.1;  ///< running = (1 - momentum) running + momentum batch
  double unbias = 1.0;    ///< N / (N - 1): the running variance is unbiased
  double epsilon = 1e-5;  ///< inv_std = 1 / sqrt(var + epsilon)
};

/// Per-channel batch statistics of x ([B, C] or [B, C, H, W]): mean and biased variance over
/// the B H W values of each channel, computed in double whatever x's type. mean and var are
/// double views of C values on x's device; a bad shape throws invar::Error.
template <Viewable X, Viewable M, Viewable V>
void batch_norm_statistics(X&& x_in, M&& mean_in, V&& var_in) {
  auto x = to_view(x_in);
  auto mean = to_view(mean_in);
  auto var = to_view(var_in);
  detail::static_check_same<decltype(mean), decltype(x), decltype(var)>();
  static_assert(std::is_same_v<detail::scalar_of<decltype(mean)>, double>, "batch_norm_statistics: mean, var are double");
  const index_t s = detail::bn_spatial("batch_norm_statistics", x);
  detail::check_per_channel("batch_norm_statistics", "mean", mean, x.dim(1));
  detail::check_per_channel("batch_norm_statistics", "var", var, x.dim(1));
  detail::backend<detail::device_of<decltype(x)>>::batch_norm_statistics(x.dim(0), x.dim(1), s, x.data(),
                                                                         mean.data(), var.data());
}

/// Turns the statistics into the affine map batch_norm_forward applies, on the device. Training
/// (o.training): mean and var are the batch's; the running statistics (running_mean, running_var)
/// move towards them by o.momentum, the variance times o.unbias, unless a mean or variance is not
/// finite: then `bad` (one unsigned char) is set to 1 and the running statistics are left as they
/// were. Evaluation: mean and var are overwritten with the running statistics. Then
/// inv_std = 1 / sqrt(var + epsilon), scale = gamma inv_std, shift = beta - mean scale.
/// mean, var, inv_std are double; the others have the layer's scalar type; all hold C values.
/// gamma and beta may be empty views (1 and 0). Throws invar::Error on a size mismatch or invalid
/// options (epsilon < 0, momentum outside [0, 1], unbias <= 0).
template <Viewable M, Viewable V, Viewable RM, Viewable RV, Viewable G, Viewable B, Viewable IS, Viewable SC,
          Viewable SH, Viewable F>
void batch_norm_finish(const BatchNormFinish& o, M&& mean_in, V&& var_in, RM&& rm_in, RV&& rv_in, G&& gamma_in,
                       B&& beta_in, IS&& inv_std_in, SC&& scale_in, SH&& shift_in, F&& bad_in) {
  auto mean = to_view(mean_in);
  auto var = to_view(var_in);
  auto rm = to_view(rm_in);
  auto rv = to_view(rv_in);
  auto gamma = to_view(gamma_in);
  auto beta = to_view(beta_in);
  auto inv_std = to_view(inv_std_in);
  auto scale = to_view(scale_in);
  auto shift = to_view(shift_in);
  auto bad = to_view(bad_in);
  detail::static_check_same<decltype(mean), decltype(var), decltype(inv_std)>();
  detail::static_check_same<decltype(rm), decltype(rv), decltype(scale), decltype(shift), decltype(gamma),
                            decltype(beta)>();
  detail::static_check_same<decltype(bad), decltype(mean)>();
  static_assert(std::is_same_v<detail::scalar_of<decltype(bad)>, unsigned char>, "batch_norm_finish: bad is a byte");
  const index_t c = mean.numel();
  for (auto [what, n] : {std::pair{"var", var.numel()}, std::pair{"running_mean", rm.numel()},
                         std::pair{"running_var", rv.numel()}, std::pair{"inv_std", inv_std.numel()},
                         std::pair{"scale", scale.numel()}, std::pair{"shift", shift.numel()}})
    check(n == c, "batch_norm_finish: ", what, " has ", n, " values, mean has ", c);
  if (gamma.data()) detail::check_per_channel("batch_norm_finish", "gamma", gamma, c);
  if (beta.data()) detail::check_per_channel("batch_norm_finish", "beta", beta, c);
  check(bad.numel() == 1, "batch_norm_finish: bad must hold one byte, got shape ", bad.shape());
  check(o.epsilon >= 0 && o.momentum >= 0 && o.momentum <= 1 && o.unbias > 0, "batch_norm_finish: invalid options (",
        "epsilon ", o.epsilon, ", momentum ", o.momentum, ", unbias ", o.unbias, ")");
  detail::backend<detail::device_of<decltype(mean)>>::batch_norm_finish(
      c, o.training, o.momentum, o.unbias, o.epsilon, mean.data(), var.data(), rm.data(), rv.data(), gamma.data(),
      beta.data(), inv_std.data(), scale.data(), shift.data(), bad.data());
}

/// y[b, c, ...] = x[b, c, ...] scale[c] + shift[c], x [B, C] or [B, C, H, W], y of x's shape;
/// shift may be an empty view (no shift). With scale = gamma inv_std this is also the
/// evaluation-mode backward: dx = batch_norm_forward(dy, scale, none). `relu`: y = max(y, 0) in the
/// same pass (the ReLU after a batch norm, one read and write of the activations fewer).
template <Viewable X, Viewable SC, Viewable SH, Viewable Y>
void batch_norm_forward(X&& x_in, SC&& scale_in, SH&& shift_in, Y&& y_in, bool relu = false) {
  auto x = to_view(x_in);
  auto scale = to_view(scale_in);
  auto shift = to_view(shift_in);
  auto y = to_view(y_in);
  detail::static_check_same<decltype(y), decltype(x), decltype(scale), decltype(shift)>();
  const index_t s = detail::bn_spatial("batch_norm_forward", x);
  check(y.shape() == x.shape(), "batch_norm_forward: y has shape ", y.shape(), ", x has ", x.shape());
  detail::check_per_channel("batch_norm_forward", "scale", scale, x.dim(1));
  if (shift.data()) detail::check_per_channel("batch_norm_forward", "shift", shift, x.dim(1));
  detail::backend<detail::device_of<decltype(y)>>::batch_norm_forward(x.dim(0), x.dim(1), s, x.data(), scale.data(),
                                                                      shift.data(), y.data(), relu);
}

/// Training-mode backward through the batch statistics: adds sum dy xhat into dgamma and sum dy
/// into dbeta (per channel; either may be an empty view), and writes
/// dx = gamma inv_std / N (N dy - sum dy - xhat sum dy xhat) with xhat = (x - mean) inv_std and
/// N = B H W. gamma may be empty (1); dx may be empty (only the parameter sums, as evaluation mode
/// needs). mean and inv_std are the double per-channel values batch_norm_finish produced.
template <Viewable DY, Viewable X, Viewable M, Viewable IS, Viewable G, Viewable DG, Viewable DB, Viewable DX>
void batch_norm_backward(DY&& dy_in, X&& x_in, M&& mean_in, IS&& inv_std_in, G&& gamma_in, DG&& dgamma_in,
                         DB&& dbeta_in, DX&& dx_in) {
  auto dy = to_view(dy_in);
  auto x = to_view(x_in);
  auto mean = to_view(mean_in);
  auto inv_std = to_view(inv_std_in);
  auto gamma = to_view(gamma_in);
  auto dgamma = to_view(dgamma_in);
  auto dbeta = to_view(dbeta_in);
  auto dx = to_view(dx_in);
  detail::static_check_same<decltype(dx), decltype(dy), decltype(x), decltype(gamma)>();
  detail::static_check_same<decltype(dgamma), decltype(dbeta)>();
  const index_t s = detail::bn_spatial("batch_norm_backward", x);
  const index_t c = x.dim(1);
  check(dy.shape() == x.shape(), "batch_norm_backward: dy has shape ", dy.shape(), ", x has ", x.shape());
  if (dx.data()) check(dx.shape() == x.shape(), "batch_norm_backward: dx has shape ", dx.shape(), ", x has ", x.shape());
  detail::check_per_channel("batch_norm_backward", "mean", mean, c);
  detail::check_per_channel("batch_norm_backward", "inv_std", inv_std, c);
  if (gamma.data()) detail::check_per_channel("batch_norm_backward", "gamma", gamma, c);
  if (dgamma.data()) detail::check_per_channel("batch_norm_backward", "dgamma", dgamma, c);
  if (dbeta.data()) detail::check_per_channel("batch_norm_backward", "dbeta", dbeta, c);
  detail::backend<detail::device_of<decltype(x)>>::batch_norm_backward(x.dim(0), c, s, dy.data(), x.data(),
                                                                       mean.data(), inv_std.data(), gamma.data(),
                                                                       dgamma.data(), dbeta.data(), dx.data());
}

}  // namespace invar::ops
