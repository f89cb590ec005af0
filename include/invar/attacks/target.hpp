#pragma once
/// \file target.hpp
/// What an attack attacks: a classifier of images that gives its logits and, after that, the
/// gradient of a loss on the logits with respect to the input images.
///
///   concept AttackTarget: t.logits(x) -> N x K logits (float); t.input_gradient(dlogits) -> dL/dx
///
/// Two targets come with invar:
/// - ModelTarget(model): a network with its own classifier (the output layer gives the logits);
/// - ProbedTarget(model, tap, probe): a network's frozen features at `tap` read out by a linear
///   probe (analysis/linear_probe.hpp): how an invariance-only model, which has no trained
///   classifier, is attacked (the paper attacks its backbone plus its probe), differentiated
///   through the probe's standardisation and weights into the network.
/// Both take models on any device: images, logits and gradients stay host arrays, and each batch
/// and its results cross to the model's device by one copy each.
/// Both put the model in eval mode (batch norm uses its running statistics, so an image's
/// logits do not depend on the rest of its batch, up to the rounding of the matrix products)
/// and turn its input gradient on. While a target lives, the model's parameters are frozen
/// (nn::ParameterGradientsOff): attacks never step, so the backward passes compute dL/dx only,
/// not the weight gradients (about half a convolution's backward work); the target's end makes
/// them trainable again. Models without parameters() are used as they are.

#include <algorithm>
#include <concepts>
#include <functional>
#include <string>
#include <type_traits>

#include "invar/analysis/linear_probe.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/nn/model.hpp"

namespace invar::attacks {

namespace detail {
/// A ParameterGradientsOff for models that list their parameters; nothing for the others.
template <class Model>
struct FrozenWhileAttacked {
  explicit FrozenWhileAttacked(Model&) {}
};
template <class Model>
  requires requires(Model& m) { m.parameters(); }
struct FrozenWhileAttacked<Model> : nn::ParameterGradientsOff<Model> {
  explicit FrozenWhileAttacked(Model& m) : nn::ParameterGradientsOff<Model>(m) {}
};
/// The device a target's model computes on (Cpu for a model that does not list its parameters).
template <class Model>
struct target_device {
  using type = Cpu;
};
template <class Model>
  requires requires(Model& m) { m.parameters(); }
struct target_device<Model> {
  using type = nn::model_device_t<Model>;
};

/// `v` in host memory: itself on the host, else copied into `buffer` (one transfer).
template <Device D>
TensorView<const float> on_host(TensorView<const float, D> v, Tensor<float>& buffer) {
  if constexpr (HostDevice<D>) {
    return TensorView<const float>(v.data(), v.shape());
  } else {
    if (!(buffer.shape() == v.shape())) buffer = Tensor<float>::uninitialized(v.shape());
    if (v.numel() > 0) D::copy_to_host(buffer.data(), v.data(), std::size_t(v.numel()) * sizeof(float));
    return buffer.view();
  }
}

/// Host rows `v` on device D: themselves on the host, else copied into `buffer` (one transfer).
template <Device D>
TensorView<const float, D> on_device(TensorView<const float> v, Tensor<float, D>& buffer) {
  if constexpr (HostDevice<D>) {
    return TensorView<const float, D>(v.data(), v.shape());
  } else {
    if (!(buffer.shape() == v.shape())) buffer = Tensor<float, D>::uninitialized(v.shape());
    if (v.numel() > 0) D::copy_from_host(buffer.data(), v.data(), std::size_t(v.numel()) * sizeof(float));
    return buffer.view();
  }
}
}  // namespace detail

/// A target an attack can run on: logits(x) gives N x K logits of N images, then
/// input_gradient(dlogits) gives dL/dx for those images (see the file comment).
template <class T>
concept AttackTarget = requires(T& t, TensorView<const float> x, TensorView<const float> dlogits) {
  { t.logits(x) } -> std::convertible_to<TensorView<const float>>;
  { t.input_gradient(dlogits) } -> std::convertible_to<TensorView<const float>>;
};

/// Any attack target behind one type (a ModelTarget of one run, a ProbedTarget of another, in
/// one list): holds a reference to the target, which must outlive it.
class AnyTarget {
 public:
  /// Wraps `target` (held by reference).
  template <AttackTarget T>
    requires(!std::same_as<std::remove_cvref_t<T>, AnyTarget>)
  explicit AnyTarget(T& target)
      : logits_([&target](TensorView<const float> x) { return TensorView<const float>(target.logits(x)); }),
        gradient_([&target](TensorView<const float> g) { return TensorView<const float>(target.input_gradient(g)); }) {}
  /// The wrapped target's logits(x).
  TensorView<const float> logits(TensorView<const float> x) { return logits_(x); }
  /// The wrapped target's input_gradient(dlogits).
  TensorView<const float> input_gradient(TensorView<const float> dlogits) { return gradient_(dlogits); }

 private:
  std::function<TensorView<const float>(TensorView<const float>)> logits_, gradient_;
};

/// A network whose output is its logits (any model with forward, backward, set_training and
/// set_input_gradient, e.g. nn::Sequential), on any device: images, logits and gradients are
/// host arrays, and a model on another device gets each batch by one copy and returns its
/// logits and input gradient by one copy each (the forward and backward run on the device).
template <class Model>
class ModelTarget {
  using D = typename detail::target_device<Model>::type;

 public:
  /// Holds `model` by reference (it must outlive the target); puts it in eval mode, turns its
  /// input gradient on and freezes its parameters while the target lives.
  explicit ModelTarget(Model& model) : model_(model), frozen_(model) {
    model_.set_training(false);
    model_.set_input_gradient(true);
  }
  /// N x K logits of N images: the model's output (a view valid until the next forward). Throws
  /// invar::Error unless the output has one row per image.
  TensorView<const float> logits(TensorView<const float> x) {
    const TensorView<const float, D> z = model_.forward(detail::on_device<D>(x, images_));
    check(z.rank() == 2 && z.dim(0) == x.dim(0), "ModelTarget: the model's output has shape ", z.shape(),
          " for ", x.dim(0), " images (expected one row of logits per image)");
    return detail::on_host(z, logits_);
  }
  /// dL/dx of the images of the last logits() call, given dL/dlogits (the model's backward).
  TensorView<const float> input_gradient(TensorView<const float> dlogits) {
    const TensorView<const float, D> g = model_.backward(detail::on_device<D>(dlogits, dlogits_));
    return detail::on_host(g, gradient_);
  }

 private:
  Model& model_;
  detail::FrozenWhileAttacked<Model> frozen_;
  // Staging for a model on another device (unused on the host).
  Tensor<float, D> images_, dlogits_;
  Tensor<float> logits_, gradient_;
};

/// A network's features at `tap` read out by a linear probe fitted on them (raw, unstandardised
/// features: the probe standardises them itself).
template <class Model>
class ProbedTarget {
 public:
  /// The probe is held by reference: it must outlive the target (a temporary is refused).
  ProbedTarget(Model&, std::string, analysis::LinearProbe&&) = delete;
  /// Reads `tap` of `model` (both by reference) through `probe`; puts the model in eval mode,
  /// turns its input gradient on and freezes its parameters while the target lives. Throws invar::Error when the probe is not fitted, the model has
  /// no such tap (when it can tell), or the probe's classes are not exactly 0 .. K-1.
  ProbedTarget(Model& model, std::string tap, const analysis::LinearProbe& probe)
      : model_(model), tap_(std::move(tap)), probe_(probe), frozen_(model) {
    check(probe_.classes() > 0, "ProbedTarget: the probe is not fitted");
    if constexpr (requires { model_.has_tap(tap_); })
      check(model_.has_tap(tap_), "ProbedTarget: the model has no tap named '", tap_, "'");
    model_.set_training(false);
    model_.set_input_gradient(true);
    // The probe's labels are its logit columns' classes; an attack's labels index the columns,
    // so the probe must have seen every class 0 .. K-1 (a probe fitted on a subset would
    // silently shift them).
    for (index_t k = 0; k < probe_.classes(); ++k)
      check(probe_.class_labels()[std::size_t(k)] == k, "ProbedTarget: the probe's classes must be 0 .. K-1 (its class ",
            k, " is label ", probe_.class_labels()[std::size_t(k)], ")");
  }

  /// N x K probe logits of N images (a view of a buffer of this target, valid until the next
  /// call). Throws invar::Error when the tap's width is not the probe's feature count.
  TensorView<const float> logits(TensorView<const float> x) {
    model_.forward(detail::on_device<D>(x, images_));
    const TensorView<const float, D> f_model = model_.tap(tap_);
    const TensorView<const float> f = detail::on_host(f_model, features_);
    check(f.rank() >= 1 && f.dim(0) == x.dim(0) && f.row_size() == probe_.features(), "ProbedTarget: tap '", tap_,
          "' has shape ", f.shape(), "; the probe expects ", probe_.features(), " features per image");
    const Tensor<double> z = probe_.logits(TensorView<const float>(f.data(), Shape{f.dim(0), f.row_size()}));
    logits_ = Tensor<float>::uninitialized(z.shape());
    for (index_t i = 0; i < z.numel(); ++i) logits_.data()[i] = static_cast<float>(z.data()[i]);
    return logits_.view();
  }

  /// dL/dx through the probe: dL/df_j = sum_k dL/dz_k W_jk / scale_j, written into the tap's
  /// gradient (so a second call after the same logits() gives the same result), then backward
  /// from the taps.
  TensorView<const float> input_gradient(TensorView<const float> dlogits) {
    const index_t n = dlogits.dim(0), c = probe_.classes(), d = probe_.features();
    check(dlogits.rank() == 2 && dlogits.dim(1) == c, "ProbedTarget: dlogits has shape ", dlogits.shape(),
          ", expected N x ", c);
    const double* w = probe_.weights().data();
    const auto& scale = probe_.standardizer().scale();
    const TensorView<float, D> tap_grad = model_.tap_grad(tap_);
    check(tap_grad.numel() == n * d, "ProbedTarget: call logits() on this batch before input_gradient()");
    // dL/df on the host, then into the tap's gradient on the model's device.
    if (!(feature_grad_.shape() == tap_grad.shape())) feature_grad_ = Tensor<float>::uninitialized(tap_grad.shape());
    float* g = feature_grad_.data();
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < d; ++j) {
        double s = 0;
        for (index_t k = 0; k < c; ++k) s += double(dlogits.data()[i * c + k]) * w[j * c + k];
        g[i * d + j] = static_cast<float>(s / scale[std::size_t(j)]);
      }
    if constexpr (HostDevice<D>) std::copy(g, g + n * d, tap_grad.data());
    else if (n * d > 0) D::copy_from_host(tap_grad.data(), g, std::size_t(n * d) * sizeof(float));
    return detail::on_host(TensorView<const float, D>(model_.backward_from_taps()), gradient_);
  }

 private:
  using D = typename detail::target_device<Model>::type;
  Model& model_;
  std::string tap_;
  const analysis::LinearProbe& probe_;
  detail::FrozenWhileAttacked<Model> frozen_;
  Tensor<float> logits_;
  // Staging for a model on another device (unused on the host).
  Tensor<float, D> images_;
  Tensor<float> features_, feature_grad_, gradient_;
};

}  // namespace invar::attacks
