#pragma once
/// \file functors.hpp
/// Small device-callable functors for the common cases of invar::ops::map and the reductions.
/// They are INVAR_HOST_DEVICE, so the same functor runs in a CPU loop and in a CUDA kernel; a
/// lambda works on the CPU only.

#include "invar/core/config.hpp"

namespace invar {

/// Small device-callable functors for the common cases.
namespace fn {
/// f(x) = x: a plain sum in the reductions (ops::sum, row_sums), a copy in map.
struct Identity {
  /// Returns x unchanged.
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x) const { return x; }
};
/// f(x) = x^2: sums of squares in the reductions (ops::row_squared_norms).
struct Square {
  /// Returns x * x.
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x) const { return x * x; }
};
/// f(x, y) = x y: elementwise products, or a dot product in reduce_all (ops::dot).
struct Multiply {
  /// Returns x * y.
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x, T y) const { return x * y; }
};
/// f(x, y) = x + y.
struct Add {
  /// Returns x + y.
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x, T y) const { return x + y; }
};
/// f(x, y) = x - y.
struct Subtract {
  /// Returns x - y.
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x, T y) const { return x - y; }
};
/// alpha * x + beta * y
template <class T>
struct Axpby {
  T alpha,   ///< scale of x
      beta;  ///< scale of y
  /// Returns alpha * x + beta * y.
  INVAR_HOST_DEVICE T operator()(T x, T y) const { return alpha * x + beta * y; }
};
/// f() = value, with no input: fills an output through map (ops::fill).
template <class T>
struct Constant {
  T value;  ///< the value every element gets
  /// Returns value.
  INVAR_HOST_DEVICE T operator()() const { return value; }
};
}  // namespace fn

}  // namespace invar
