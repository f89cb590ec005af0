#pragma once
/// \file schemes.hpp
/// The augmentation schemes of the paper (method.md, "Augmentation schemes"; docs/data.md),
/// for images in [0, 1] without mean/std normalisation:
///
///   light():    affine(translate_x, translate_y in [-0.1, 0.1] of the size) -> horizontal_flip(p = 0.5)
///   heavier():  affine(rotation [-22.5, 22.5] deg, shear [-0.15, 0.15] rad, scale_x and scale_y
///               in [0.85, 1.15], translate_x, translate_y in [-0.1, 0.1] of the size)
///               -> horizontal_flip(p = 0.5) (HeavierOptions::horizontal_flip, on by default)
///               -> brightness(delta in [-0.25, 0.25], clip) -> contrast(gamma in [0.5, 1.5], clip)
///
/// Affine: one combined transform about the image centre, bilinear, nearest border fill.
/// Draws: Draw::truncated_normal by default (the authors' code, which trained the published
/// models: sigma = range / 4, truncated to the range); Draw::uniform is the thesis' description.

#include "invar/data/augment/augmentation.hpp"
#include "invar/data/augment/params.hpp"
#include "invar/data/augment/transforms.hpp"

namespace invar::data::augment {

/// Options of light(), chainable: `LightOptions{}.with_draw(Draw::uniform)`.
struct LightOptions {
  Draw draw = Draw::truncated_normal;  ///< how the translations are drawn (default: the authors' truncated normal)
  /// Translation range, fraction of the width (x) and height (y).
  Range translate = Range::symmetric(0.1);
  double flip_probability = 0.5;       ///< probability of a horizontal flip, in [0, 1]
  /// Round translations to whole pixels (the shift is then exact; off by default, as the authors).
  bool whole_pixel_translation = false;

  /// Sets #draw.
  LightOptions& with_draw(Draw d) { draw = d; return *this; }
  /// Sets #translate (both axes).
  LightOptions& with_translate(Range r) { translate = r; return *this; }
  /// Sets #flip_probability.
  LightOptions& with_flip_probability(double p) { flip_probability = p; return *this; }
  /// Sets #whole_pixel_translation.
  LightOptions& with_whole_pixel_translation(bool on = true) { whole_pixel_translation = on; return *this; }
};

/// The light scheme: translation up to +-10 % of the size per axis, then a horizontal flip with p = 0.5.
inline Augmentation light(const LightOptions& o = {}) {
  return Augmentation{}
      .affine(AffineRanges{}.with_translation(o.translate, o.translate).with_whole_pixel_translation(o.whole_pixel_translation),
              o.draw)
      .horizontal_flip(o.flip_probability);
}

/// Options of heavier(), chainable: `HeavierOptions{}.with_draw(Draw::uniform).with_horizontal_flip(false)`.
/// The ranges are fields, so a variant of the scheme is one assignment away.
struct HeavierOptions {
  Draw draw = Draw::truncated_normal;  ///< how every parameter is drawn (default: the authors' truncated normal)
  /// The thesis' table has the flip; the authors' current config (daug_schemes/cifar/heavier.yml)
  /// has horizontal_flip: False, apparently by accident. false reproduces that config.
  bool horizontal_flip = true;
  /// The affine step's ranges: rotation +-22.5 degrees, shear +-0.15 rad, scales [0.85, 1.15],
  /// translations +-0.1 of the size.
  AffineRanges affine = AffineRanges{}
                            .with_rotation(Range::symmetric(deg_to_rad(22.5)))
                            .with_shear(Range::symmetric(0.15))
                            .with_scale(Range(0.85, 1.15), Range(0.85, 1.15))
                            .with_translation(Range::symmetric(0.1), Range::symmetric(0.1));
  Range brightness = Range::symmetric(0.25);  ///< delta
  Range contrast = Range(0.5, 1.5);           ///< gamma

  /// Sets #draw.
  HeavierOptions& with_draw(Draw d) { draw = d; return *this; }
  /// Sets #horizontal_flip.
  HeavierOptions& with_horizontal_flip(bool on) { horizontal_flip = on; return *this; }
  /// Sets AffineRanges::whole_pixel_translation of #affine.
  HeavierOptions& with_whole_pixel_translation(bool on = true) { affine.whole_pixel_translation = on; return *this; }
};

/// The heavier scheme: affine -> (flip) -> brightness -> contrast.
inline Augmentation heavier(const HeavierOptions& o = {}) {
  Augmentation a;
  a.affine(o.affine, o.draw);
  if (o.horizontal_flip) a.horizontal_flip(0.5);
  a.brightness(o.brightness, o.draw).contrast(o.contrast, o.draw);
  return a;
}

}  // namespace invar::data::augment
