#pragma once
/// \file conv2d_geometry.hpp
/// The shape of a 2-D convolution on NCHW tensors (square kernel, one stride, zero padding on
/// every side): what a backend needs to run it, whatever its algorithm.

#include "invar/core/config.hpp"

namespace invar {

struct Conv2dGeometry {
  index_t batch, in_channels, height, width;
  index_t out_channels, kernel, stride, padding;

  [[nodiscard]] index_t out_h() const { return (height + 2 * padding - kernel) / stride + 1; }
  [[nodiscard]] index_t out_w() const { return (width + 2 * padding - kernel) / stride + 1; }
  /// Output positions of one image, Ho Wo.
  [[nodiscard]] index_t positions() const { return out_h() * out_w(); }
  /// Rows of the patch matrix, C k k (the GEMM depth).
  [[nodiscard]] index_t patch_rows() const { return in_channels * kernel * kernel; }
  [[nodiscard]] index_t in_image() const { return in_channels * height * width; }
  [[nodiscard]] index_t out_image() const { return out_channels * positions(); }
  /// A 1x1 convolution with stride 1 and no padding: an image is its own patch matrix.
  [[nodiscard]] bool pointwise() const { return kernel == 1 && stride == 1 && padding == 0; }
};

}  // namespace invar
