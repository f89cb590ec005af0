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

/// A layer of a network: a forward/backward pair behind a small virtual interface (the contract
/// is in this file's description). Models (nn::Sequential) are lists of layers.
template <class T, Device D = Cpu>
class Layer {
 public:
  virtual ~Layer() = default;
  /// y = layer(x). Returns a view valid until the next forward(); x must stay alive and unchanged
  /// until backward().
  virtual TensorView<const T, D> forward(TensorView<const T, D> x) = 0;
  /// Given dy = dL/dy of the last forward(), adds dL/dθ to every parameter's gradient and returns
  /// dL/dx (an empty view when input_gradient() is off), valid until the next backward().
  virtual TensorView<const T, D> backward(TensorView<const T, D> dy) = 0;
  /// The trainable tensors, with stable names (none by default).
  virtual std::vector<Parameter<T, D>*> parameters() { return {}; }
  /// Buffers that are state but not trained (batch norm's running statistics), for parameter files.
  virtual std::vector<std::pair<std::string, Tensor<T, D>*>> buffers() { return {}; }
  /// Training (true) or evaluation mode: batch norm uses batch or running statistics.
  virtual void set_training(bool training) { training_ = training; }
  /// Whether the layer is in training mode.
  [[nodiscard]] bool training() const { return training_; }
  /// The layer's name ("fc1"), the prefix of its parameters' names.
  [[nodiscard]] virtual std::string name() const = 0;

  /// Whether backward() must return dL/dx. A model turns it off for its first layer when nobody
  /// needs the input gradient (training): for an MLP on images that saves a third of the backward
  /// GEMM work. backward() then returns an empty view.
  void set_input_gradient(bool needed) { input_gradient_ = needed; }
  /// Whether backward() returns dL/dx (set_input_gradient).
  [[nodiscard]] bool input_gradient() const { return input_gradient_; }

 protected:
  bool training_ = true;        ///< training mode (set_training)
  bool input_gradient_ = true;  ///< whether backward() returns dL/dx (set_input_gradient)
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
