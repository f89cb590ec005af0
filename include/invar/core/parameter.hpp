#pragma once
/// \file parameter.hpp
/// Parameter: a trainable tensor and its gradient, with a name that is stable across runs
/// ("mlp.fc1.weight"): optimisers key their state by it and parameter files store it. A
/// parameter can be frozen (requires_grad = false): backward passes then skip its gradient.
/// It lives in core/ because layers (nn/) own parameters and optimisers (optim/) update them,
/// and neither may depend on the other.

#include <string>
#include <utility>

#include "invar/core/tensor.hpp"

namespace invar {

/// A trainable tensor, its gradient and its stable name (see the file comment).
template <class T, Device D = Cpu>
struct Parameter {
  std::string name;    ///< stable dotted name, e.g. "mlp.fc1.weight": the key of optimiser state and parameter files
  Tensor<T, D> value;  ///< the trainable values; optimisers update them in place
  Tensor<T, D> grad;  ///< same shape as value; layers add to it in backward, zero_grad() clears it
  /// Whether backward computes this parameter's gradient. false freezes it: layers skip its
  /// gradient (grad is left as it is, and the work is saved: a frozen backbone, the attacks'
  /// input-gradient-only passes) and optimisers leave its value unchanged.
  bool requires_grad = true;

  Parameter() = default;
  /// A parameter named `n` with value and grad of `shape`, both zero-filled.
  Parameter(std::string n, const Shape& shape) : name(std::move(n)), value(shape), grad(shape) {}

  /// Sets every gradient element to 0 (before the next accumulation of backward passes).
  void zero_grad() { grad.set_zero(); }
};

}  // namespace invar
