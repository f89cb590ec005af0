#pragma once
/// \file flatten.hpp
/// Flatten: B x C x H x W -> B x (C H W), a view (no copy); backward reshapes dy back.

#include "invar/nn/layer.hpp"

namespace invar::nn {

/// Flattens every axis after the first into one: a view of the input, no copy (see the file comment).
template <class T, Device D = Cpu>
class Flatten final : public Layer<T, D> {
 public:
  /// A layer named `name`; it has no parameters.
  explicit Flatten(std::string name) : name_(std::move(name)) {}

  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    check(x.rank() >= 1, "Flatten ", name_, ": input needs a batch axis, got ", x.shape());
    in_shape_ = x.shape();
    return x.as_matrix();
  }
  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.numel() == in_shape_.numel(), "Flatten ", name_, ": dy has ", dy.numel(), " elements, input had ",
          in_shape_.numel());
    return dy.reshape(in_shape_);
  }
  [[nodiscard]] std::string name() const override { return name_; }

 private:
  std::string name_;
  Shape in_shape_;
};

}  // namespace invar::nn
