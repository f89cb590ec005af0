#pragma once
/// \file conv2d.hpp
/// Checked 2-D convolution ops (NCHW, cross-correlation, zero padding; backend/conv2d_geometry.hpp):
///   ops::conv2d_forward(g, x, w, bias, y)             y = conv(x, w) + bias
///   ops::conv2d_backward(g, x, w, dy, dw, dbias, dx)  dw += ..., dbias += ..., dx = ...
/// An empty view (default-constructed) for bias, dbias or dx means "none". Every tensor's size is
/// checked against the geometry before the backend runs.

#include "invar/backend/ops.hpp"

namespace invar::ops {

namespace detail {
template <class V>
void check_conv_size(const char* op, const char* what, const V& v, index_t expected) {
  check(v.numel() == expected, op, ": ", what, " has shape ", v.shape(), " (", v.numel(), " elements), expected ",
        expected, " elements for this convolution geometry");
}
inline void check_geometry(const char* op, const Conv2dGeometry& g) {
  check(g.batch >= 0 && g.in_channels > 0 && g.out_channels > 0 && g.kernel > 0 && g.stride > 0 && g.padding >= 0 &&
            g.height + 2 * g.padding >= g.kernel && g.width + 2 * g.padding >= g.kernel,
        op, ": invalid geometry (batch ", g.batch, ", channels ", g.in_channels, " -> ", g.out_channels, ", input ",
        g.height, " x ", g.width, ", kernel ", g.kernel, ", stride ", g.stride, ", padding ", g.padding, ")");
}
}  // namespace detail

/// y = conv(x, w) + bias for the geometry g: x holds N C H W values, w Co C k k, bias Co or is
/// an empty view (no bias), y N Co Ho Wo (overwritten). Only element counts are checked, so any
/// shape with the right size is accepted; a bad geometry or size throws invar::Error.
template <Viewable X, Viewable W, Viewable B, Viewable Y>
void conv2d_forward(const Conv2dGeometry& g, X&& x_in, W&& w_in, B&& bias_in, Y&& y_in) {
  auto x = to_view(x_in);
  auto w = to_view(w_in);
  auto bias = to_view(bias_in);
  auto y = to_view(y_in);
  detail::static_check_same<decltype(y), decltype(x), decltype(w), decltype(bias)>();
  detail::check_geometry("conv2d_forward", g);
  detail::check_conv_size("conv2d_forward", "x", x, g.batch * g.in_image());
  detail::check_conv_size("conv2d_forward", "w", w, g.out_channels * g.patch_rows());
  if (bias.data()) detail::check_conv_size("conv2d_forward", "bias", bias, g.out_channels);
  detail::check_conv_size("conv2d_forward", "y", y, g.batch * g.out_image());
  detail::backend<detail::device_of<decltype(y)>>::conv2d_forward(g, x.data(), w.data(),
                                                                  bias.data() ? bias.data() : nullptr, y.data());
}

/// The gradients of conv2d_forward for the output gradient dy: adds into dw and dbias
/// (accumulating, as parameter gradients do) and overwrites dx. dw, dbias and dx may be empty
/// views (not needed: frozen parameters, attacks). Sizes are checked as in conv2d_forward.
template <Viewable X, Viewable W, Viewable DY, Viewable DW, Viewable DB, Viewable DX>
void conv2d_backward(const Conv2dGeometry& g, X&& x_in, W&& w_in, DY&& dy_in, DW&& dw_in, DB&& dbias_in,
                     DX&& dx_in) {
  auto x = to_view(x_in);
  auto w = to_view(w_in);
  auto dy = to_view(dy_in);
  auto dw = to_view(dw_in);
  auto dbias = to_view(dbias_in);
  auto dx = to_view(dx_in);
  detail::static_check_same<decltype(dw), decltype(x), decltype(w), decltype(dy)>();
  detail::static_check_same<decltype(dx), decltype(dbias)>();
  detail::check_geometry("conv2d_backward", g);
  detail::check_conv_size("conv2d_backward", "x", x, g.batch * g.in_image());
  detail::check_conv_size("conv2d_backward", "w", w, g.out_channels * g.patch_rows());
  detail::check_conv_size("conv2d_backward", "dy", dy, g.batch * g.out_image());
  if (dw.data()) detail::check_conv_size("conv2d_backward", "dw", dw, g.out_channels * g.patch_rows());
  if (dbias.data()) detail::check_conv_size("conv2d_backward", "dbias", dbias, g.out_channels);
  if (dx.data()) detail::check_conv_size("conv2d_backward", "dx", dx, g.batch * g.in_image());
  detail::backend<detail::device_of<decltype(dw)>>::conv2d_backward(g, x.data(), w.data(), dy.data(), dw.data(),
                                                                    dbias.data(), dx.data());
}

}  // namespace invar::ops
