#pragma once
/// \file functors.hpp
/// Small device-callable functors for the common cases of invar::ops::map and the reductions.
/// They are INVAR_HOST_DEVICE, so the same functor runs in a CPU loop and in a CUDA kernel; a
/// lambda works on the CPU only.

#include "invar/core/config.hpp"

namespace invar {

/// Small device-callable functors for the common cases.
namespace fn {
struct Identity {
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x) const { return x; }
};
struct Square {
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x) const { return x * x; }
};
struct Multiply {
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x, T y) const { return x * y; }
};
struct Add {
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x, T y) const { return x + y; }
};
struct Subtract {
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x, T y) const { return x - y; }
};
/// alpha * x + beta * y
template <class T>
struct Axpby {
  T alpha, beta;
  INVAR_HOST_DEVICE T operator()(T x, T y) const { return alpha * x + beta * y; }
};
template <class T>
struct Constant {
  T value;
  INVAR_HOST_DEVICE T operator()() const { return value; }
};
}  // namespace fn

}  // namespace invar
