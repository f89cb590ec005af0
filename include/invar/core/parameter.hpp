#pragma once
/// \file parameter.hpp
/// Parameter: a trainable tensor and its gradient, with a name that is stable across runs
/// ("mlp.fc1.weight"): optimisers key their state by it and parameter files store it.
/// It lives in core/ because layers (nn/) own parameters and optimisers (optim/) update them,
/// and neither may depend on the other.

#include <string>
#include <utility>

#include "invar/core/tensor.hpp"

namespace invar {

template <class T, Device D = Cpu>
struct Parameter {
  std::string name;
  Tensor<T, D> value;
  Tensor<T, D> grad;  ///< same shape as value; layers add to it in backward, zero_grad() clears it

  Parameter() = default;
  Parameter(std::string n, const Shape& shape) : name(std::move(n)), value(shape), grad(shape) {}

  void zero_grad() { grad.set_zero(); }
};

}  // namespace invar
