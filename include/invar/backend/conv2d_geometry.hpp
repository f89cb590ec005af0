#pragma once
/// \file conv2d_geometry.hpp
/// The shape of a 2-D convolution on NCHW tensors (square kernel, one stride, zero padding on
/// every side): what a backend needs to run it, whatever its algorithm.

#include "invar/core/config.hpp"

namespace invar {

/// The geometry of one 2-D convolution (see the file comment): input N x C x H x W, weights
/// Co x C x k x k, output N x Co x Ho x Wo. A plain aggregate; nothing is checked here (the
/// checked entry point is invar::ops::conv2d_forward).
struct Conv2dGeometry {
  index_t batch,        ///< N: images in the batch
      in_channels,      ///< C: channels of an input image
      height,           ///< H: input rows
      width;            ///< W: input columns
  index_t out_channels, ///< Co: output channels (filters)
      kernel,           ///< k: side of the square kernel
      stride,           ///< step between windows, the same along rows and columns (>= 1)
      padding;          ///< zero pixels added on every side of the input

  /// Output rows, Ho = (H + 2 padding - k) / stride + 1 (rounded down).
  [[nodiscard]] index_t out_h() const { return (height + 2 * padding - kernel) / stride + 1; }
  /// Output columns, Wo = (W + 2 padding - k) / stride + 1 (rounded down).
  [[nodiscard]] index_t out_w() const { return (width + 2 * padding - kernel) / stride + 1; }
  /// Output positions of one image, Ho Wo.
  [[nodiscard]] index_t positions() const { return out_h() * out_w(); }
  /// Rows of the patch matrix, C k k (the GEMM depth).
  [[nodiscard]] index_t patch_rows() const { return in_channels * kernel * kernel; }
  /// Elements of one input image, C H W (the stride between images of x).
  [[nodiscard]] index_t in_image() const { return in_channels * height * width; }
  /// Elements of one output image, Co Ho Wo (the stride between images of y).
  [[nodiscard]] index_t out_image() const { return out_channels * positions(); }
  /// A 1x1 convolution with stride 1 and no padding: an image is its own patch matrix.
  [[nodiscard]] bool pointwise() const { return kernel == 1 && stride == 1 && padding == 0; }
};

}  // namespace invar
