#pragma once
/// \file pooling.hpp
/// Checked 2-D pooling ops on NCHW tensors; the output's spatial extent is read from y (or dy),
/// the window from `PoolWindow` (floor mode: out = (in + 2 pad - kernel) / stride + 1):
///   ops::max_pool2d(x, y, argmax, window)          y = max over each window, argmax its index in the plane
///   ops::max_pool2d_backward(dy, argmax, dx)       dx = dy routed to the argmax (overwrites dx)
///   ops::avg_pool2d(x, y, window, count_padding)   y = mean over each window
///   ops::avg_pool2d_backward(dy, dx, window, count_padding)

#include "invar/backend/ops.hpp"

namespace invar::ops {

/// A square pooling window: kernel, stride and zero padding on every side.
struct PoolWindow {
  index_t kernel = 2,  ///< side of the square window (> 0); default 2
      stride = 2,      ///< step between windows, rows and columns (> 0); default 2
      padding = 0;     ///< zero pixels on every side (0 <= 2 padding <= kernel); default 0
};

namespace detail {
template <class X, class Y>
void check_pool_shapes(const char* op, const X& x, const Y& y, const PoolWindow& w) {
  check(x.rank() == 4 && y.rank() == 4 && x.dim(0) == y.dim(0) && x.dim(1) == y.dim(1), op,
        ": x and y must be [B, C, H, W] with the same B and C, got ", x.shape(), " and ", y.shape());
  check(w.kernel > 0 && w.stride > 0 && w.padding >= 0 && 2 * w.padding <= w.kernel, op, ": invalid window (kernel ",
        w.kernel, ", stride ", w.stride, ", padding ", w.padding, ")");
  const index_t ho = (x.dim(2) + 2 * w.padding - w.kernel) / w.stride + 1;
  const index_t wo = (x.dim(3) + 2 * w.padding - w.kernel) / w.stride + 1;
  check(x.dim(2) + 2 * w.padding >= w.kernel && x.dim(3) + 2 * w.padding >= w.kernel &&
            y.dim(2) == ho && y.dim(3) == wo,
        op, ": output ", y.shape(), " does not fit input ", x.shape(), " with kernel ", w.kernel, ", stride ", w.stride,
        ", padding ", w.padding);
}
}  // namespace detail

/// y = the maximum of each window of x (both [B, C, H, W]; y's H, W must be the floor-mode output
/// size) and argmax = the chosen input's index within its H x W plane (index_t, y's shape; ties
/// go to the first, NaN propagates). Padding never wins. Shape mismatches throw invar::Error.
template <Viewable X, Viewable Y, Viewable A>
void max_pool2d(X&& x_in, Y&& y_in, A&& argmax_in, const PoolWindow& w) {
  auto x = to_view(x_in);
  auto y = to_view(y_in);
  auto argmax = to_view(argmax_in);
  detail::static_check_same<decltype(y), decltype(x)>();
  detail::static_check_same<decltype(argmax), decltype(x)>();
  static_assert(std::is_same_v<detail::scalar_of<decltype(argmax)>, index_t>, "max_pool2d: argmax holds index_t");
  detail::check_pool_shapes("max_pool2d", x, y, w);
  check(argmax.shape() == y.shape(), "max_pool2d: argmax has shape ", argmax.shape(), ", y has ", y.shape());
  detail::backend<detail::device_of<decltype(y)>>::max_pool2d(x.dim(0) * x.dim(1), x.dim(2), x.dim(3), w.kernel,
                                                              w.stride, w.padding, y.dim(2), y.dim(3), x.data(),
                                                              y.data(), argmax.data());
}

/// dx = dy routed to the positions argmax (from max_pool2d) names, summed where windows overlap;
/// dx is overwritten, so its unchosen positions are 0.
template <Viewable DY, Viewable A, Viewable DX>
void max_pool2d_backward(DY&& dy_in, A&& argmax_in, DX&& dx_in) {
  auto dy = to_view(dy_in);
  auto argmax = to_view(argmax_in);
  auto dx = to_view(dx_in);
  detail::static_check_same<decltype(dx), decltype(dy)>();
  check(dy.rank() == 4 && dx.rank() == 4 && dy.dim(0) == dx.dim(0) && dy.dim(1) == dx.dim(1),
        "max_pool2d_backward: dy and dx must be [B, C, H, W] with the same B and C, got ", dy.shape(), " and ",
        dx.shape());
  check(argmax.shape() == dy.shape(), "max_pool2d_backward: argmax has shape ", argmax.shape(), ", dy has ",
        dy.shape());
  detail::backend<detail::device_of<decltype(dx)>>::max_pool2d_backward(
      dx.dim(0) * dx.dim(1), dx.dim(2), dx.dim(3), dy.dim(2), dy.dim(3), dy.data(), argmax.data(), dx.data());
}

/// y = the mean of each window of x. count_padding: divide by kernel^2 (padding counts as zeros);
/// otherwise by the number of real pixels in the window. Shapes as in max_pool2d.
template <Viewable X, Viewable Y>
void avg_pool2d(X&& x_in, Y&& y_in, const PoolWindow& w, bool count_padding) {
  auto x = to_view(x_in);
  auto y = to_view(y_in);
  detail::static_check_same<decltype(y), decltype(x)>();
  detail::check_pool_shapes("avg_pool2d", x, y, w);
  detail::backend<detail::device_of<decltype(y)>>::avg_pool2d(x.dim(0) * x.dim(1), x.dim(2), x.dim(3), w.kernel,
                                                              w.stride, w.padding, y.dim(2), y.dim(3), count_padding,
                                                              x.data(), y.data());
}

/// dx = the gradient of avg_pool2d with the same window and count_padding, for dy; overwrites dx.
template <Viewable DY, Viewable DX>
void avg_pool2d_backward(DY&& dy_in, DX&& dx_in, const PoolWindow& w, bool count_padding) {
  auto dy = to_view(dy_in);
  auto dx = to_view(dx_in);
  detail::static_check_same<decltype(dx), decltype(dy)>();
  detail::check_pool_shapes("avg_pool2d_backward", dx, dy, w);
  detail::backend<detail::device_of<decltype(dx)>>::avg_pool2d_backward(
      dx.dim(0) * dx.dim(1), dx.dim(2), dx.dim(3), w.kernel, w.stride, w.padding, dy.dim(2), dy.dim(3), count_padding,
      dy.data(), dx.data());
}

}  // namespace invar::ops
