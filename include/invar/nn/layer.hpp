#pragma once
/// \file layer.hpp
/// The layer interface, the same for dense and convolutional layers: a forward/backward pair
/// written by hand (reverse mode), llm.c style, behind a small virtual interface so that models
/// are plain lists of layers (no deeply nested template types, fast builds).
///
/// An annotated layer:
/// \code
/// class MyLayer : public invar::nn::Layer<T, D> {
///  public:
///   // requires: x has the shape the layer was built for (rank >= 2, rows = samples).
///   // ensures:  returns y; the view stays valid until the next forward() of this layer.
///   //           The layer may keep a view of x for backward: x must stay alive and unchanged
///   //           until backward() (Sequential guarantees it: it owns every activation).
///   TensorView<const T, D> forward(TensorView<const T, D> x) override;
///
///   // requires: forward(x) was the last call; dy = dL/dy has y's shape.
///   // ensures:  adds dL/dθ to every parameter's grad (so gradients of several losses sum),
///   //           returns dL/dx (the attacks need it), valid until the next backward().
///   TensorView<const T, D> backward(TensorView<const T, D> dy) override;
///
///   std::vector<Parameter<T, D>*> parameters() override;   // trainable tensors, stable names
///   void set_training(bool training) override;              // batch norm: batch vs running statistics
///   std::string name() const override;                      // "fc1", used in parameter names
/// };
/// \endcode
/// Layers do their numeric work through invar::ops, so a CUDA device needs no layer changes.

#include <string>
#include <vector>

#include "invar/core/tensor.hpp"
#include "invar/core/parameter.hpp"

namespace invar::nn {

template <class T, Device D = Cpu>
class Layer {
 public:
  virtual ~Layer() = default;
  virtual TensorView<const T, D> forward(TensorView<const T, D> x) = 0;
  virtual TensorView<const T, D> backward(TensorView<const T, D> dy) = 0;
  virtual std::vector<Parameter<T, D>*> parameters() { return {}; }
  /// Buffers that are state but not trained (batch norm's running statistics), for parameter files.
  virtual std::vector<std::pair<std::string, Tensor<T, D>*>> buffers() { return {}; }
  virtual void set_training(bool training) { training_ = training; }
  [[nodiscard]] bool training() const { return training_; }
  [[nodiscard]] virtual std::string name() const = 0;

  /// Whether backward() must return dL/dx. A model turns it off for its first layer when nobody
  /// needs the input gradient (training): for an MLP on images that saves a third of the backward
  /// GEMM work. backward() then returns an empty view.
  void set_input_gradient(bool needed) { input_gradient_ = needed; }
  [[nodiscard]] bool input_gradient() const { return input_gradient_; }

 protected:
  bool training_ = true;
  bool input_gradient_ = true;
};

namespace detail {
/// Makes `t` hold `shape`, reallocating only when the shape changes (activations are reused
/// from batch to batch).
template <class T, Device D>
void ensure_shape(Tensor<T, D>& t, const Shape& shape) {
  if (!(t.shape() == shape)) t = Tensor<T, D>::uninitialized(shape);
}
}  // namespace detail

}  // namespace invar::nn
