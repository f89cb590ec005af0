#pragma once
/// \file model.hpp
/// What the objective, the trainer and the checkpoints need from a model: the TrainableModel
/// concept. nn::Sequential (and so every invar model) satisfies it; so can a model of your own,
/// with no invar layer in it:
///
///   struct MyModel {
///     TensorView<const float> forward(TensorView<const float> x);  // runs the model, keeps what backward needs
///     TensorView<const float> output() const;                       // the logits of the last forward
///     TensorView<const float> tap(const std::string& name) const;   // an activation the losses read
///     TensorView<float> tap_grad(const std::string& name);          // its gradient buffer, zero after forward
///     void backward(TensorView<const float> dlogits);               // adds dL/dθ, including the tap gradients
///     void backward_from_taps();                                    // the same without a loss on the output
///     std::vector<Parameter<float>*> parameters();              // trainable tensors, stable names
///     void set_training(bool);                                      // batch norm, dropout...
///   };
///
/// Optional: `buffers()` (non-trained state such as running statistics, saved in checkpoints),
/// `name()` (used in messages), `zero_grad()` (else the trainer zeroes parameters()).

#include <string>
#include <vector>

#include "invar/core/tensor.hpp"
#include "invar/core/parameter.hpp"

namespace invar::nn {

template <class M, class T, class D = Cpu>
concept TrainableModel = requires(M& m, const M& cm, TensorView<const T, D> x, const std::string& tap, bool flag) {
  { m.forward(x) } -> std::convertible_to<TensorView<const T, D>>;
  { cm.output() } -> std::convertible_to<TensorView<const T, D>>;
  { cm.tap(tap) } -> std::convertible_to<TensorView<const T, D>>;
  { m.tap_grad(tap) } -> std::convertible_to<TensorView<T, D>>;
  m.backward(x);
  m.backward_from_taps();
  { m.parameters() } -> std::convertible_to<std::vector<Parameter<T, D>*>>;
  m.set_training(flag);
};

/// Zeroes the gradients of every parameter (the model's own zero_grad() when it has one).
template <class M>
void zero_grad(M& model) {
  if constexpr (requires { model.zero_grad(); }) {
    model.zero_grad();
  } else {
    for (auto* p : model.parameters()) p->zero_grad();
  }
}

}  // namespace invar::nn
