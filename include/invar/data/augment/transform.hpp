#pragma once
/// \file transform.hpp
/// Transform: the interface every step of an Augmentation implements, and TransformParams,
/// what one step draws for one image.
///
/// A transform is immutable once built (an Augmentation shares it between copies and threads)
/// and works in two halves, so that parameters can be drawn, inspected and applied apart:
///   - draw(rng, C, H, W): draws this step's parameters for one C x H x W image from rng, always
///     in the same order (the same Rng state gives the same parameters);
///   - apply(params, in, out, C, H, W): writes the transformed image to out (every element),
///     using only params, never randomness; in and out never overlap.
/// Both are called once per image, never per pixel.
///
/// Your own transform: derive from Transform, return CustomParams from draw (a 64-bit seed and
/// up to 8 numbers; or NoParams) and read them back with params_as<CustomParams>(...) in apply.
/// Or, simpler, wrap a function with Augmentation::function (transforms.hpp, FunctionTransform):
/// it receives an Rng seeded by a number its draw took from the image's stream.

#include <array>
#include <cstdint>
#include <string>
#include <variant>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/data/augment/affine.hpp"
#include "invar/data/augment/crop.hpp"
#include "invar/data/augment/flip.hpp"
#include "invar/data/augment/photometric.hpp"

namespace invar::data::augment {

/// A step that draws nothing (the identity, or a deterministic transform of your own).
struct NoParams {};

/// What a user-defined transform draws: a seed for its own Rng and up to 8 numbers.
struct CustomParams {
  std::uint64_t seed = 0;          ///< seeds the transform's own Rng in apply
  std::array<double, 8> values{};  ///< free for the transform's own use (invar never reads them)
};

/// The parameters one step drew for one image.
using TransformParams =
    std::variant<NoParams, AffineParams, FlipParams, CropParams, BrightnessParams, ContrastParams, CustomParams>;

/// The parameters of type P in `params`; throws invar::Error naming `who` when they are another kind.
template <class P>
const P& params_as(const TransformParams& params, const char* who) {
  const P* p = std::get_if<P>(&params);
  if (p == nullptr) throw Error(invar::detail::concat(who, ": got parameters of another transform (variant index ", params.index(), ")"));
  return *p;
}

/// One step of an Augmentation (see the file comment).
class Transform {
 public:
  virtual ~Transform() = default;

  /// Draws this step's parameters for one channels x height x width image.
  [[nodiscard]] virtual TransformParams draw(Rng& rng, index_t channels, index_t height, index_t width) const = 0;

  /// Writes the transformed image to out (all channels x height x width elements); in and out
  /// do not overlap.
  virtual void apply(const TransformParams& params, const float* in, float* out, index_t channels, index_t height,
                     index_t width) const = 0;

  /// What the step does, with its ranges, e.g. "horizontal_flip(p = 0.5)".
  [[nodiscard]] virtual std::string describe() const = 0;
};

}  // namespace invar::data::augment
