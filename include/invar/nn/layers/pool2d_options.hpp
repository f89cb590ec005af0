#pragma once
/// \file pool2d_options.hpp
/// Options shared by MaxPool2d and AvgPool2d: square window, stride (0: the kernel, disjoint
/// windows), padding on every side, and for average pooling whether padding cells count in
/// the divisor. Output extent (floor mode): (in + 2 padding - kernel) / stride + 1.

#include <string>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/core/shape.hpp"

namespace invar::nn {

/// Window of MaxPool2d and AvgPool2d, with chainable setters (checked when a layer is built).
struct Pool2dOptions {
  index_t kernel = 2;         ///< window side in pixels, > 0
  index_t stride = 0;         ///< 0 means stride = kernel (disjoint windows)
  index_t padding = 0;        ///< on every side, at most kernel / 2; never chosen by max pooling
  bool count_padding = true;  ///< AvgPool2d: divide by kernel^2 (PyTorch's count_include_pad) or by the real pixels
  /// Sets #kernel; returns *this for chaining.
  Pool2dOptions& with_kernel(index_t k) { kernel = k; return *this; }
  /// Sets #stride (0: the kernel); returns *this.
  Pool2dOptions& with_stride(index_t s) { stride = s; return *this; }
  /// Sets #padding; returns *this.
  Pool2dOptions& with_padding(index_t p) { padding = p; return *this; }
  /// Sets #count_padding; returns *this.
  Pool2dOptions& with_count_padding(bool c) { count_padding = c; return *this; }

  /// The stride in use: `stride`, or `kernel` when stride is 0.
  [[nodiscard]] index_t effective_stride() const { return stride > 0 ? stride : kernel; }
  /// Output extent of a spatial input extent (floor mode, as PyTorch's default ceil_mode=False).
  [[nodiscard]] index_t output_size(index_t in) const { return (in + 2 * padding - kernel) / effective_stride() + 1; }
};

namespace detail {
/// Throws invar::Error naming the layer (`kind name: ...`) unless the options are usable:
/// kernel > 0, stride >= 0, 0 <= padding <= kernel / 2 (so that every window holds a real pixel).
inline void check_pool2d_options(const char* kind, const std::string& name, const Pool2dOptions& o) {
  check(o.kernel > 0 && o.stride >= 0 && o.padding >= 0, kind, " ", name,
        ": need kernel > 0, stride >= 0 (0: the kernel) and padding >= 0, got kernel ", o.kernel, ", stride ", o.stride,
        ", padding ", o.padding);
  check(o.padding <= o.kernel / 2, kind, " ", name, ": padding ", o.padding, " exceeds kernel / 2 = ", o.kernel / 2,
        " (a window could hold only padding)");
}

/// Throws invar::Error naming the layer unless x is [B, C, H, W] with H, W >= 1 and
/// H + 2 padding, W + 2 padding >= kernel.
inline void check_pool2d_input(const char* kind, const std::string& name, const Pool2dOptions& o, const Shape& x) {
  check(x.rank() == 4, kind, " ", name, ": expected input [B, C, H, W], got ", x);
  check(x.dim(2) > 0 && x.dim(3) > 0 && x.dim(2) + 2 * o.padding >= o.kernel && x.dim(3) + 2 * o.padding >= o.kernel,
        kind, " ", name, ": input ", x, " is smaller than the kernel ", o.kernel, " with padding ", o.padding);
}
}  // namespace detail

}  // namespace invar::nn
