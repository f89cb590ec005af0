#pragma once
/// \file transforms.hpp
/// The standard random transforms (each a Transform, transform.hpp), with typed `sample`
/// methods that draw their parameters without applying them:
///
///   Identity              copies the image; draws nothing
///   RandomAffine          rotation, shear, scale x / y, translation x / y (affine.hpp), each
///                         drawn from its Range; translation ranges are FRACTIONS of the width /
///                         height, optionally rounded to whole pixels
///   RandomHorizontalFlip  flips with probability p (one uniform draw)
///   RandomCrop            zero padding `pad`, crop back to the input size (crop.hpp); offsets
///                         uniform integers in [0, 2 pad]
///   RandomBrightness      x + delta, clipped to [0, 1]
///   RandomContrast        gamma (x - mean_c) + mean_c, clipped to [0, 1]
///   FunctionTransform     your function (in, out, C, H, W, rng), with an Rng of its own
///
/// Draw order within RandomAffine (fixed): rotation, translate_y, translate_x, shear, scale_x,
/// scale_y (the order of the authors' get_random_transform); a degenerate range consumes no
/// randomness (params.hpp).

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <utility>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/data/augment/params.hpp"
#include "invar/data/augment/transform.hpp"

namespace invar::data::augment {

/// Copies the image.
class Identity final : public Transform {
 public:
  [[nodiscard]] TransformParams draw(Rng&, index_t, index_t, index_t) const override { return NoParams{}; }
  void apply(const TransformParams& params, const float* in, float* out, index_t channels, index_t height,
             index_t width) const override {
    (void)params_as<NoParams>(params, "Identity");
    detail::check_image_args("Identity", in, out, channels, height, width);
    std::copy(in, in + channels * height * width, out);
  }
  [[nodiscard]] std::string describe() const override { return "identity"; }
};

/// The ranges of RandomAffine; the defaults are the identity (every range a constant).
/// Chainable: `AffineRanges{}.with_rotation(Range::symmetric(deg_to_rad(22.5)))...`.
struct AffineRanges {
  Range rotation = Range::constant(0.0);     ///< radians
  Range shear = Range::constant(0.0);        ///< radians, |bounds| < 89 degrees
  Range scale_x = Range::constant(1.0);      ///< > 0
  Range scale_y = Range::constant(1.0);      ///< > 0
  Range translate_x = Range::constant(0.0);  ///< fraction of the width
  Range translate_y = Range::constant(0.0);  ///< fraction of the height
  /// Round translations to whole pixels (to the nearest integer, kept inside the range when the
  /// range contains one). With no rotation, shear or scale the image then moves exactly.
  bool whole_pixel_translation = false;

  /// Sets #rotation.
  AffineRanges& with_rotation(Range r) { rotation = r; return *this; }
  /// Sets #shear.
  AffineRanges& with_shear(Range r) { shear = r; return *this; }
  /// Sets #scale_x and #scale_y.
  AffineRanges& with_scale(Range x, Range y) { scale_x = x; scale_y = y; return *this; }
  /// Sets #translate_x and #translate_y (fractions of width and height).
  AffineRanges& with_translation(Range x, Range y) { translate_x = x; translate_y = y; return *this; }
  /// Sets #whole_pixel_translation.
  AffineRanges& with_whole_pixel_translation(bool on = true) { whole_pixel_translation = on; return *this; }

  /// Throws invar::Error for a bad range (non-finite, empty, scale <= 0, |shear| >= 89 degrees).
  void validate() const {
    rotation.validate("RandomAffine: rotation");
    shear.validate("RandomAffine: shear");
    scale_x.validate("RandomAffine: scale_x");
    scale_y.validate("RandomAffine: scale_y");
    translate_x.validate("RandomAffine: translate_x");
    translate_y.validate("RandomAffine: translate_y");
    check(scale_x.lo > 0.0 && scale_y.lo > 0.0, "RandomAffine: scale ranges must be > 0, got scale_x ", scale_x,
          ", scale_y ", scale_y);
    const double max_shear = deg_to_rad(89.0);
    check(std::abs(shear.lo) < max_shear && std::abs(shear.hi) < max_shear,
          "RandomAffine: shear range must lie within +-89 degrees (1.553 rad), got ", shear);
  }
};

/// One affine transform per image with parameters drawn from AffineRanges.
class RandomAffine final : public Transform {
 public:
  /// Draws every parameter from its range as `how` says; throws invar::Error for bad ranges
  /// (AffineRanges::validate).
  explicit RandomAffine(const AffineRanges& ranges, Draw how) : ranges_(ranges), how_(how) { ranges_.validate(); }

  /// Draws the parameters for an image of height x width (translations in pixels).
  [[nodiscard]] AffineParams sample(Rng& rng, index_t height, index_t width) const {
    check(height > 0 && width > 0, "RandomAffine: image sizes must be positive, got height ", height, ", width ",
          width);
    AffineParams p;
    p.rotation = augment::draw(ranges_.rotation, how_, rng);
    const double ty = augment::draw(ranges_.translate_y, how_, rng);
    const double tx = augment::draw(ranges_.translate_x, how_, rng);
    p.shear = augment::draw(ranges_.shear, how_, rng);
    p.scale_x = augment::draw(ranges_.scale_x, how_, rng);
    p.scale_y = augment::draw(ranges_.scale_y, how_, rng);
    p.translate_x = to_pixels(tx, ranges_.translate_x, width);
    p.translate_y = to_pixels(ty, ranges_.translate_y, height);
    return p;
  }

  [[nodiscard]] TransformParams draw(Rng& rng, index_t, index_t height, index_t width) const override {
    return sample(rng, height, width);
  }
  void apply(const TransformParams& params, const float* in, float* out, index_t channels, index_t height,
             index_t width) const override {
    apply_affine(params_as<AffineParams>(params, "RandomAffine"), in, out, channels, height, width);
  }
  [[nodiscard]] std::string describe() const override {
    std::ostringstream s;
    s << "affine(";
    const char* sep = "";
    auto part = [&](const char* name, const Range& r, double neutral, double factor, const char* unit) {
      if (r.degenerate() && r.lo == neutral) return;
      s << sep << name << " [" << r.lo * factor << ", " << r.hi * factor << "]" << unit;
      sep = ", ";
    };
    part("rotation", ranges_.rotation, 0.0, rad_to_deg(1.0), " deg");
    part("shear", ranges_.shear, 0.0, 1.0, " rad");
    part("scale_x", ranges_.scale_x, 1.0, 1.0, "");
    part("scale_y", ranges_.scale_y, 1.0, 1.0, "");
    part("translate_x", ranges_.translate_x, 0.0, 1.0, " x width");
    part("translate_y", ranges_.translate_y, 0.0, 1.0, " x height");
    if (ranges_.whole_pixel_translation) s << sep << "whole pixels", sep = ", ";
    s << sep << to_string(how_) << ", bilinear, border nearest)";
    return s.str();
  }

  /// The ranges the parameters are drawn from.
  [[nodiscard]] const AffineRanges& ranges() const { return ranges_; }
  /// How they are drawn.
  [[nodiscard]] Draw draw_kind() const { return how_; }

 private:
  double to_pixels(double fraction, const Range& r, index_t size) const {
    const double px = fraction * double(size);
    if (!ranges_.whole_pixel_translation) return px;
    double rounded = std::round(px);
    const double lo = std::ceil(r.lo * double(size)), hi = std::floor(r.hi * double(size));
    if (lo <= hi) rounded = std::clamp(rounded, lo, hi);
    return rounded == 0.0 ? 0.0 : rounded;  // no -0
  }

  AffineRanges ranges_;
  Draw how_;
};

/// Flips left-right with probability p.
class RandomHorizontalFlip final : public Transform {
 public:
  /// Flips with probability p; throws invar::Error unless 0 <= p <= 1.
  explicit RandomHorizontalFlip(double p = 0.5) : p_(p) {
    check(p >= 0.0 && p <= 1.0, "RandomHorizontalFlip: probability must lie in [0, 1], got ", p);
  }
  /// Draws whether to flip (one uniform draw, whatever p is).
  [[nodiscard]] FlipParams sample(Rng& rng) const { return FlipParams{draw_bernoulli(p_, rng)}; }
  [[nodiscard]] TransformParams draw(Rng& rng, index_t, index_t, index_t) const override { return sample(rng); }
  void apply(const TransformParams& params, const float* in, float* out, index_t channels, index_t height,
             index_t width) const override {
    apply_flip(params_as<FlipParams>(params, "RandomHorizontalFlip"), in, out, channels, height, width);
  }
  [[nodiscard]] std::string describe() const override {
    std::ostringstream s;
    s << "horizontal_flip(p = " << p_ << ")";
    return s.str();
  }
  /// p, the probability of a flip.
  [[nodiscard]] double probability() const { return p_; }

 private:
  double p_;
};

/// Pads by `pad` pixels of `fill` and crops a window of the input size at uniform integer
/// offsets in [0, 2 pad] (drawn y, then x).
class RandomCrop final : public Transform {
 public:
  /// Throws invar::Error when pad < 0 or fill is not finite.
  explicit RandomCrop(index_t pad, float fill = 0.0f) : pad_(pad), fill_(fill) {
    check(pad >= 0, "RandomCrop: pad must be >= 0, got ", pad);
    check(std::isfinite(fill), "RandomCrop: fill must be finite, got ", fill);
  }
  /// Draws the offsets (y, then x), each uniform in [0, 2 pad].
  [[nodiscard]] CropParams sample(Rng& rng) const {
    CropParams p;
    p.pad = pad_;
    p.fill = fill_;
    const auto n = static_cast<std::uint64_t>(2 * pad_ + 1);
    p.offset_y = static_cast<index_t>(rng.below(n));
    p.offset_x = static_cast<index_t>(rng.below(n));
    return p;
  }
  [[nodiscard]] TransformParams draw(Rng& rng, index_t, index_t, index_t) const override { return sample(rng); }
  void apply(const TransformParams& params, const float* in, float* out, index_t channels, index_t height,
             index_t width) const override {
    apply_crop(params_as<CropParams>(params, "RandomCrop"), in, out, channels, height, width);
  }
  [[nodiscard]] std::string describe() const override {
    std::ostringstream s;
    s << "random_crop(pad = " << pad_ << ", fill " << fill_ << ")";
    return s.str();
  }

 private:
  index_t pad_;
  float fill_;
};

/// x' = clip(x + delta, 0, 1), delta drawn from a Range.
class RandomBrightness final : public Transform {
 public:
  /// `delta` in intensity units ([0, 1] images); throws invar::Error for a bad range.
  RandomBrightness(Range delta, Draw how) : delta_(delta), how_(how) { delta.validate("RandomBrightness: delta"); }
  /// Draws delta.
  [[nodiscard]] BrightnessParams sample(Rng& rng) const { return BrightnessParams{augment::draw(delta_, how_, rng)}; }
  [[nodiscard]] TransformParams draw(Rng& rng, index_t, index_t, index_t) const override { return sample(rng); }
  void apply(const TransformParams& params, const float* in, float* out, index_t channels, index_t height,
             index_t width) const override {
    apply_brightness(params_as<BrightnessParams>(params, "RandomBrightness"), in, out, channels, height, width);
  }
  [[nodiscard]] std::string describe() const override {
    std::ostringstream s;
    s << "brightness(delta " << delta_ << ", " << to_string(how_) << ", clip [0, 1])";
    return s.str();
  }

 private:
  Range delta_;
  Draw how_;
};

/// x' = clip(gamma (x - mean_c) + mean_c, 0, 1), gamma drawn from a Range, mean per channel.
class RandomContrast final : public Transform {
 public:
  /// `gamma` scales the deviations from each channel's mean; throws invar::Error for a bad range.
  RandomContrast(Range gamma, Draw how) : gamma_(gamma), how_(how) { gamma.validate("RandomContrast: gamma"); }
  /// Draws gamma.
  [[nodiscard]] ContrastParams sample(Rng& rng) const { return ContrastParams{augment::draw(gamma_, how_, rng)}; }
  [[nodiscard]] TransformParams draw(Rng& rng, index_t, index_t, index_t) const override { return sample(rng); }
  void apply(const TransformParams& params, const float* in, float* out, index_t channels, index_t height,
             index_t width) const override {
    apply_contrast(params_as<ContrastParams>(params, "RandomContrast"), in, out, channels, height, width);
  }
  [[nodiscard]] std::string describe() const override {
    std::ostringstream s;
    s << "contrast(gamma " << gamma_ << ", " << to_string(how_) << ", per-channel mean, clip [0, 1])";
    return s.str();
  }

 private:
  Range gamma_;
  Draw how_;
};

/// A user function as a transform. draw takes one 64-bit number from the image's stream
/// (CustomParams::seed); apply calls fn(in, out, channels, height, width, Rng(seed)), so the
/// function may draw as much as it likes and still be reproducible and separable. fn must
/// write every element of out, must not keep pointers, and must be safe to call from several
/// threads at once (augment_batch runs images in parallel).
class FunctionTransform final : public Transform {
 public:
  /// The function: writes the transformed C x H x W image `in` to `out`, drawing from `rng`.
  using Fn = std::function<void(const float* in, float* out, index_t channels, index_t height, index_t width,
                                Rng& rng)>;
  /// `name` is what describe() returns and names errors; throws invar::Error when fn is empty.
  FunctionTransform(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {
    check(static_cast<bool>(fn_), "FunctionTransform '", name_, "': empty function");
  }
  [[nodiscard]] TransformParams draw(Rng& rng, index_t, index_t, index_t) const override {
    CustomParams p;
    p.seed = rng.next();
    return p;
  }
  void apply(const TransformParams& params, const float* in, float* out, index_t channels, index_t height,
             index_t width) const override {
    const auto& p = params_as<CustomParams>(params, name_.c_str());
    detail::check_image_args(name_.c_str(), in, out, channels, height, width);
    Rng rng(p.seed);
    fn_(in, out, channels, height, width, rng);
  }
  [[nodiscard]] std::string describe() const override { return name_; }

 private:
  std::string name_;
  Fn fn_;
};

}  // namespace invar::data::augment
