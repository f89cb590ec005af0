#pragma once
/// \file flip.hpp
/// Horizontal flip of a CHW image: out(c, y, x) = in(c, y, W-1-x) (left and right swap, as
/// displayed). Flipping twice gives the input back exactly.

#include <algorithm>

#include "invar/core/config.hpp"
#include "invar/data/augment/affine.hpp"

namespace invar::data::augment {

/// Whether one image is flipped.
struct FlipParams {
  bool flip = false;  ///< true: mirror left-right; false: copy
};

/// Mirrors a CHW image left-right (in and out must not overlap).
inline void flip_horizontal(const float* in, float* out, index_t channels, index_t height, index_t width) {
  detail::check_image_args("flip_horizontal", in, out, channels, height, width);
  const index_t rows = channels * height;
  for (index_t r = 0; r < rows; ++r) {
    const float* src = in + r * width;
    float* dst = out + r * width;
    for (index_t x = 0; x < width; ++x) dst[x] = src[width - 1 - x];
  }
}

/// Flips when p.flip, copies otherwise (in and out must not overlap).
inline void apply_flip(const FlipParams& p, const float* in, float* out, index_t channels, index_t height,
                       index_t width) {
  if (p.flip) {
    flip_horizontal(in, out, channels, height, width);
  } else {
    detail::check_image_args("apply_flip", in, out, channels, height, width);
    std::copy(in, in + channels * height * width, out);
  }
}

}  // namespace invar::data::augment
