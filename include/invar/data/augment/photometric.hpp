#pragma once
/// \file photometric.hpp
/// Brightness and contrast of a CHW image in [0, 1], as the authors' code (adjust_brightness,
/// adjust_contrast) defines them, each clipped to [0, 1]:
///
///     brightness:  x' = clip(x + delta, 0, 1)
///     contrast:    x' = clip(gamma (x - mean_c) + mean_c, 0, 1), mean_c = the mean of channel c
///                  of this image (before the adjustment)
///
/// Arithmetic in double, rounded to float once per pixel.

#include <algorithm>
#include <cmath>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/data/augment/affine.hpp"

namespace invar::data::augment {

/// One brightness change: x' = clip(x + delta, 0, 1).
struct BrightnessParams {
  double delta = 0.0;  ///< added to every pixel
};

/// One contrast change: x' = clip(gamma (x - mean_c) + mean_c, 0, 1).
struct ContrastParams {
  double gamma = 1.0;  ///< factor on the deviation from the channel mean
};

namespace detail {
/// clip(v, 0, 1) as float. Rounding to float first and clipping after gives the same value
/// (rounding is monotone, 0 and 1 are floats) and lets loops over it vectorise: a select before
/// the double -> float conversion does not, under the default -ftrapping-math.
inline float clip01(double v) {
  const float f = static_cast<float>(v);
  return std::min(std::max(f, 0.0f), 1.0f);
}
}  // namespace detail

/// x' = clip(x + delta, 0, 1) (in and out must not overlap).
inline void apply_brightness(const BrightnessParams& p, const float* in, float* out, index_t channels,
                             index_t height, index_t width) {
  detail::check_image_args("apply_brightness", in, out, channels, height, width);
  check(std::isfinite(p.delta), "apply_brightness: delta must be finite, got ", p.delta);
  const index_t n = channels * height * width;
  const double delta = p.delta;
  for (index_t i = 0; i < n; ++i) out[i] = detail::clip01(double(in[i]) + delta);
}

/// x' = clip(gamma (x - mean_c) + mean_c, 0, 1), mean per channel (in and out must not overlap).
inline void apply_contrast(const ContrastParams& p, const float* in, float* out, index_t channels, index_t height,
                           index_t width) {
  detail::check_image_args("apply_contrast", in, out, channels, height, width);
  check(std::isfinite(p.gamma), "apply_contrast: gamma must be finite, got ", p.gamma);
  const index_t plane = height * width;
  if (p.gamma == 1.0) {  // exactly the clip, whatever the rounding of (x - mean) + mean would give
    for (index_t i = 0; i < channels * plane; ++i) out[i] = detail::clip01(double(in[i]));
    return;
  }
  for (index_t c = 0; c < channels; ++c) {
    const float* src = in + c * plane;
    float* dst = out + c * plane;
    double sum = 0.0;
    INVAR_SIMD_REDUCTION(+, sum)
    for (index_t i = 0; i < plane; ++i) sum += double(src[i]);
    const double mean = sum / double(plane), gamma = p.gamma;
      for (index_t i = 0; i < plane; ++i) dst[i] = detail::clip01(gamma * (double(src[i]) - mean) + mean);
  }
}

}  // namespace invar::data::augment
