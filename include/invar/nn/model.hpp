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
///
/// Freezing: set_requires_grad(model, false) freezes every parameter (backward passes skip their
/// gradients, optimisers leave them unchanged); ParameterGradientsOff does it for a scope, as the
/// attacks do, and puts back what it changed.

#include <string>
#include <type_traits>
#include <utility>
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

namespace detail {
template <class P>
struct parameter_device;
template <class T, Device D>
struct parameter_device<Parameter<T, D>> {
  using type = D;
};
}  // namespace detail

/// The device a model computes on: that of its parameters (Cpu for a model of the host).
template <class M>
using model_device_t = typename detail::parameter_device<
    std::remove_pointer_t<typename decltype(std::declval<M&>().parameters())::value_type>>::type;

/// model.forward on a batch of host rows: directly where the model computes on the host, else
/// after one copy to the model's device into `staging` (reallocated only when the batch's shape
/// changes). Returns what forward returns. For the evaluations that read a host data set (feature
/// extraction, accuracy) with a model on any device.
template <class M, class T>
auto forward_host_batch(M& model, TensorView<const T> batch, Tensor<T, model_device_t<M>>& staging) {
  using D = model_device_t<M>;
  if constexpr (HostDevice<D>) {
    (void)staging;
    return model.forward(batch);
  } else {
    if (!(staging.shape() == batch.shape())) staging = Tensor<T, D>::uninitialized(batch.shape());
    if (batch.numel() > 0) D::copy_from_host(staging.data(), batch.data(), std::size_t(batch.numel()) * sizeof(T));
    return model.forward(TensorView<const T, D>(staging.view()));
  }
}

/// Zeroes the gradients of every parameter (the model's own zero_grad() when it has one).
template <class M>
void zero_grad(M& model) {
  if constexpr (requires { model.zero_grad(); }) {
    model.zero_grad();
  } else {
    for (auto* p : model.parameters()) p->zero_grad();
  }
}

/// Sets requires_grad of every parameter of `model`: false freezes them all (backward passes skip
/// their gradients, optimisers do not move them), true makes them all trainable again.
template <class M>
void set_requires_grad(M& model, bool trainable) {
  for (auto* p : model.parameters()) p->requires_grad = trainable;
}

/// Inference mode for a scope (forward-only passes: evaluation, feature extraction): a model that
/// has it (set_inference, as nn::Sequential) keeps only its taps and output during the scope
/// (docs/nn.md, "Memory"); at the end inference is turned back off, or left on (with every tap
/// kept) when it was on before. A no-op for models without it.
template <class M>
class InferenceScope {
 public:
  /// Turns inference on for `model` (held by reference; it must outlive the scope), every tap kept.
  explicit InferenceScope(M& model) : model_(model) {
    if constexpr (has_inference) {
      previous_ = model_.inference();
      model_.set_inference(true);
    }
  }
  /// The same, keeping only the activations of `kept_taps` where the model can choose (none:
  /// the output only, for a classifier's evaluation).
  InferenceScope(M& model, const std::vector<std::string>& kept_taps) : model_(model) {
    if constexpr (has_inference) {
      previous_ = model_.inference();
      if constexpr (requires { model_.set_inference(true, kept_taps); }) model_.set_inference(true, kept_taps);
      else model_.set_inference(true);
    }
  }
  InferenceScope(const InferenceScope&) = delete;
  InferenceScope& operator=(const InferenceScope&) = delete;
  /// Puts the previous mode back.
  ~InferenceScope() {
    if constexpr (has_inference) model_.set_inference(previous_);
  }

 private:
  static constexpr bool has_inference = requires(M& m) {
    m.set_inference(true);
    { m.inference() } -> std::convertible_to<bool>;
  };
  M& model_;
  bool previous_ = false;
};

/// Freezes every trainable parameter of a model for the guard's lifetime (input-gradient-only
/// backward passes: attacks, saliency), then makes trainable again exactly the parameters it
/// froze. Parameters that were frozen already are left alone, so two guards on one model, ended
/// in any order, leave every flag as it was before the first (while the first-made guard still
/// lives after the other ended, gradients are skipped; once the first-made ended, they may be
/// computed again, which costs time, never correctness). Movable, not copyable.
template <class M>
class ParameterGradientsOff {
  using ParameterType = std::remove_pointer_t<typename decltype(std::declval<M&>().parameters())::value_type>;

 public:
  /// Freezes every parameter of `model` that requires a gradient now; remembers which.
  explicit ParameterGradientsOff(M& model) {
    for (auto* p : model.parameters())
      if (p->requires_grad) {
        p->requires_grad = false;
        frozen_.push_back(p);
      }
  }
  /// Takes over what `other` froze (other then restores nothing).
  ParameterGradientsOff(ParameterGradientsOff&& other) noexcept : frozen_(std::exchange(other.frozen_, {})) {}
  ParameterGradientsOff(const ParameterGradientsOff&) = delete;
  ParameterGradientsOff& operator=(const ParameterGradientsOff&) = delete;
  ParameterGradientsOff& operator=(ParameterGradientsOff&&) = delete;
  /// Makes the parameters this guard froze trainable again.
  ~ParameterGradientsOff() {
    for (auto* p : frozen_) p->requires_grad = true;
  }

 private:
  std::vector<ParameterType*> frozen_;
};

}  // namespace invar::nn
