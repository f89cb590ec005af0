#pragma once
/// \file crop.hpp
/// Random crop with zero padding, the common CIFAR recipe (pad 4, crop 32 x 32 back out of the
/// 40 x 40 padded image): the image is padded by `pad` pixels of value 0 on every side and the
/// output (same size as the input) is the window whose top-left corner is (offset_y, offset_x)
/// in the padded image, offsets in [0, 2 pad]. Offsets (pad, pad) give the input back.
///
///     out(c, y, x) = in(c, y + offset_y - pad, x + offset_x - pad), or fill (0) outside the input

#include <algorithm>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/data/augment/affine.hpp"

namespace invar::data::augment {

/// One crop: the padding and where the window starts in the padded image.
struct CropParams {
  index_t pad = 0;       ///< pixels of padding on every side (>= 0)
  index_t offset_y = 0;  ///< in [0, 2 pad]
  index_t offset_x = 0;  ///< in [0, 2 pad]
  float fill = 0.0f;     ///< the value of the padding
};

/// Crops as `p` says (in and out must not overlap).
inline void apply_crop(const CropParams& p, const float* in, float* out, index_t channels, index_t height,
                       index_t width) {
  detail::check_image_args("apply_crop", in, out, channels, height, width);
  check(p.pad >= 0, "apply_crop: pad must be >= 0, got ", p.pad);
  check(p.offset_y >= 0 && p.offset_y <= 2 * p.pad && p.offset_x >= 0 && p.offset_x <= 2 * p.pad,
        "apply_crop: offsets must lie in [0, 2 pad] = [0, ", 2 * p.pad, "], got (", p.offset_y, ", ", p.offset_x, ")");
  const index_t dy = p.offset_y - p.pad, dx = p.offset_x - p.pad;  // out(y, x) = in(y + dy, x + dx)
  // Columns of the output that read the input: x + dx in [0, width).
  const index_t x_begin = std::clamp<index_t>(-dx, 0, width), x_end = std::clamp<index_t>(width - dx, 0, width);
  for (index_t c = 0; c < channels; ++c) {
    for (index_t y = 0; y < height; ++y) {
      float* dst = out + (c * height + y) * width;
      const index_t sy = y + dy;
      if (sy < 0 || sy >= height || x_begin >= x_end) {
        std::fill(dst, dst + width, p.fill);
        continue;
      }
      const float* src = in + (c * height + sy) * width;
      std::fill(dst, dst + x_begin, p.fill);
      std::copy(src + x_begin + dx, src + x_end + dx, dst + x_begin);
      std::fill(dst + x_end, dst + width, p.fill);
    }
  }
}

}  // namespace invar::data::augment
