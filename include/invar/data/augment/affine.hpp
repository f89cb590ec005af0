#pragma once
/// \file affine.hpp
/// One affine transform of a CHW image about its centre: rotation, shear, scale, translation,
/// bilinear sampling, "nearest" border fill (the edge pixel is repeated outwards, scipy's and
/// Keras' fill_mode='nearest').
///
/// Coordinates: x is the column (0 .. W-1, to the right), y the row (0 .. H-1, DOWNWARDS, row 0
/// is the top of the image as displayed); pixel centres sit at integers and the image centre
/// is c = ((W-1)/2, (H-1)/2). The forward map takes a point of the input to where it appears in
/// the output:
///
///     p_out = c + R(rotation) Sh(shear) S(scale_x, scale_y) (p_in - c) + (translate_x, translate_y)
///
///   S  = [[scale_x, 0], [0, scale_y]]                  scale > 1 enlarges the content
///   Sh = [[1, tan(shear)], [0, 1]]                     x' = x + tan(shear) y: rows below the
///                                                      centre move right for shear > 0
///   R  = [[cos a, sin a], [-sin a, cos a]]             a > 0 turns the content COUNTERCLOCKWISE
///                                                      as displayed (like PIL's and torchvision's
///                                                      rotate); a = 90 degrees: out(y, x) = in(x, W-1-y)
///   translate_x, translate_y in pixels: content moves right / down for positive values.
///
/// i.e. scale first, then shear, then rotate, then translate. Every output pixel takes its value
/// from p_in = M^-1 (p_out - c - t) + c; that inverse map (six numbers) is computed once per
/// image. A source position outside the image is clamped to the border (= nearest fill), then
/// sampled bilinearly with double-precision weights; a position within 1e-9 pixel of an
/// integer is snapped to it (this changes a value by at most ~1e-9 of a pixel step, far below
/// float resolution), so integer positions — the identity, whole-pixel translations, rotations
/// by multiples of 90 degrees of a square image — take the exact input pixel. The output of the
/// bilinear sum lies between the smallest and the largest of its four inputs (non-negative
/// weights, computed in double and rounded once), so an image in [0, 1] stays in [0, 1].
///
/// The authors' code (Keras' apply_affine_transform) builds its matrix for the inverse map, on
/// (row, col), about (h/2 + 0.5, w/2 + 0.5), with shear matrix [[1, -sin s], [0, cos s]] and
/// zoom as the inverse scale. For the symmetric ranges of the schemes these differences change
/// only which sign a draw means, not the distribution of the augmentations, except: their zoom
/// z in [0.85, 1.15] is our scale 1/z (in [0.87, 1.18]), their shear also shrinks by cos s
/// (<= 1.1 %), their translation acts in the rotated frame (R T Sh Z), and their centre
/// (h/2 + 0.5, w/2 + 0.5 in the Keras of that time; later Keras uses h/2 - 0.5 = the true
/// centre) is one pixel from the true centre (h-1)/2; docs/data.md.
/// Input images must be finite (a zero weight times inf would give NaN).

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

namespace invar::data::augment {

/// The parameters of one affine transform (see the file comment for the exact map).
struct AffineParams {
  double rotation = 0.0;     ///< radians, counterclockwise as displayed
  double shear = 0.0;        ///< radians, x' = x + tan(shear) y
  double scale_x = 1.0;      ///< > 0
  double scale_y = 1.0;      ///< > 0
  double translate_x = 0.0;  ///< pixels, positive = right
  double translate_y = 0.0;  ///< pixels, positive = down

  /// Whether every parameter has its neutral value (no rotation, shear or translation, scales 1).
  [[nodiscard]] bool is_identity() const {
    return rotation == 0.0 && shear == 0.0 && scale_x == 1.0 && scale_y == 1.0 && translate_x == 0.0 &&
           translate_y == 0.0;
  }

  /// Throws invar::Error for non-finite values, non-positive scales or |shear| >= 89 degrees.
  void validate() const {
    if (!(std::isfinite(rotation) && std::isfinite(shear) && std::isfinite(scale_x) && std::isfinite(scale_y) &&
          std::isfinite(translate_x) && std::isfinite(translate_y)))
      throw Error("AffineParams: every parameter must be finite, got " + describe());
    check(scale_x > 0.0 && scale_y > 0.0, "AffineParams: scales must be > 0, got scale_x ", scale_x, ", scale_y ",
          scale_y);
    check(std::abs(shear) < 1.5533430342749532, "AffineParams: |shear| must be below 89 degrees (1.553 rad), got ",
          shear, " rad");
  }

  /// The values with units, e.g. for error messages.
  [[nodiscard]] std::string describe() const {
    std::ostringstream s;
    s << "rotation " << rotation << " rad, shear " << shear << " rad, scale (" << scale_x << ", " << scale_y
      << "), translate (" << translate_x << ", " << translate_y << ") px";
    return s.str();
  }
};

/// The inverse map output pixel -> input position: src_x = a00 x + a01 y + b0,
/// src_y = a10 x + a11 y + b1 (x = column, y = row).
struct AffineMap {
  /// \var a00
  /// Weight of x in src_x (default: the identity map).
  /// \var a01
  /// Weight of y in src_x.
  /// \var a10
  /// Weight of x in src_y.
  /// \var a11
  /// Weight of y in src_y.
  /// \var b0
  /// Offset of src_x, in pixels.
  double a00 = 1.0, a01 = 0.0, a10 = 0.0, a11 = 1.0, b0 = 0.0, b1 = 0.0;  ///< offset of src_y, in pixels
};

/// The inverse map of `p` for an image of height x width (validates p).
inline AffineMap inverse_map(const AffineParams& p, index_t height, index_t width) {
  p.validate();
  const double ca = std::cos(p.rotation), sa = std::sin(p.rotation), ts = std::tan(p.shear);
  // M = R Sh S
  const double r00 = ca, r01 = sa, r10 = -sa, r11 = ca;
  const double h00 = r00, h01 = r00 * ts + r01, h10 = r10, h11 = r10 * ts + r11;  // R Sh
  const double m00 = h00 * p.scale_x, m01 = h01 * p.scale_y, m10 = h10 * p.scale_x, m11 = h11 * p.scale_y;
  const double det = m00 * m11 - m01 * m10;  // = scale_x scale_y > 0
  AffineMap m;
  m.a00 = m11 / det;
  m.a01 = -m01 / det;
  m.a10 = -m10 / det;
  m.a11 = m00 / det;
  const double cx = 0.5 * double(width - 1), cy = 0.5 * double(height - 1);
  const double qx = cx + p.translate_x, qy = cy + p.translate_y;  // p_in = A (p_out - q) + c
  m.b0 = cx - (m.a00 * qx + m.a01 * qy);
  m.b1 = cy - (m.a10 * qx + m.a11 * qy);
  return m;
}

namespace detail {

/// Clamps a source coordinate into [0, max] and snaps it to an integer within 1e-9.
inline double clamp_snap(double s, double max) {
  s = s < 0.0 ? 0.0 : (s > max ? max : s);
  const double r = std::floor(s + 0.5);
  return std::abs(s - r) < 1e-9 ? r : s;
}

inline void check_image_args(const char* what, const float* in, const float* out, index_t channels, index_t height,
                             index_t width) {
  check(channels > 0 && height > 0 && width > 0, what, ": image sizes must be positive, got channels ", channels,
        ", height ", height, ", width ", width);
  check(in != nullptr && out != nullptr, what, ": null image pointer");
  const index_t n = channels * height * width;
  const auto a = reinterpret_cast<std::uintptr_t>(in), b = reinterpret_cast<std::uintptr_t>(out);
  const auto bytes = static_cast<std::uintptr_t>(n) * sizeof(float);
  check(a + bytes <= b || b + bytes <= a, what, ": the input and output images overlap (in and out must not alias)");
}

}  // namespace detail

/// Warps a CHW image with an inverse map: out(c, y, x) = bilinear sample of in(c) at the map's
/// source position, clamped to the image (nearest border fill). in and out must not overlap.
/// One pass over the output; per pixel the source position is one multiply-add per axis.
inline void warp_bilinear(const AffineMap& m, const float* in, float* out, index_t channels, index_t height,
                          index_t width) {
  detail::check_image_args("warp_bilinear", in, out, channels, height, width);
  const index_t plane = height * width;
  const double xmax = double(width - 1), ymax = double(height - 1);
  for (index_t y = 0; y < height; ++y) {
    const double yd = double(y);
    const double rx = m.a01 * yd + m.b0, ry = m.a11 * yd + m.b1;
    for (index_t x = 0; x < width; ++x) {
      const double sx = detail::clamp_snap(m.a00 * double(x) + rx, xmax);
      const double sy = detail::clamp_snap(m.a10 * double(x) + ry, ymax);
      const auto x0 = static_cast<index_t>(sx), y0 = static_cast<index_t>(sy);  // sx, sy >= 0: floor
      const double fx = sx - double(x0), fy = sy - double(y0);
      const index_t o = y * width + x;
      const index_t i00 = y0 * width + x0;
      if (fx == 0.0 && fy == 0.0) {
        for (index_t c = 0; c < channels; ++c) out[c * plane + o] = in[c * plane + i00];
        continue;
      }
      const index_t dx = x0 < width - 1 ? 1 : 0, dy = y0 < height - 1 ? width : 0;
      const double w00 = (1.0 - fx) * (1.0 - fy), w01 = fx * (1.0 - fy), w10 = (1.0 - fx) * fy, w11 = fx * fy;
      for (index_t c = 0; c < channels; ++c) {
        const float* p = in + c * plane + i00;
        out[c * plane + o] = static_cast<float>(w00 * double(p[0]) + w01 * double(p[dx]) + w10 * double(p[dy]) +
                                                w11 * double(p[dy + dx]));
      }
    }
  }
}

/// Applies the affine transform `p` to a CHW image (in and out must not overlap).
inline void apply_affine(const AffineParams& p, const float* in, float* out, index_t channels, index_t height,
                         index_t width) {
  detail::check_image_args("apply_affine", in, out, channels, height, width);
  warp_bilinear(inverse_map(p, height, width), in, out, channels, height, width);
}

}  // namespace invar::data::augment
