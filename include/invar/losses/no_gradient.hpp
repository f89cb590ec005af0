#pragma once
/// \file no_gradient.hpp
/// `invar::no_gradient`: passed as the gradient argument of a loss, asks for its value only.

namespace invar {

/// Pass as `grad` to compute the value only.
struct NoGradient {};
/// The NoGradient value to pass: `loss(metric, x, ids, invar::no_gradient)`.
inline constexpr NoGradient no_gradient{};

}  // namespace invar
