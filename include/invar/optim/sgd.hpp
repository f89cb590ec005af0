#pragma once
/// \file sgd.hpp
/// Stochastic gradient descent with momentum, Nesterov momentum, dampening and L2 weight decay:
/// exactly torch.optim.SGD. Per parameter w with gradient grad, each step:
///
///     g   = grad + weight_decay * w                   (only when weight_decay != 0)
///     buf = g                                          on the parameter's first step (no dampening)
///     buf = momentum * buf + (1 - dampening) * g       afterwards          } only when momentum != 0
///     g   = nesterov ? g + momentum * buf : buf                            }
///     w   = w - learning_rate * g
///
/// Note the first step: the buffer starts as g itself, not as (1 - dampening) * g and not as 0.
/// The paper trains with plain momentum SGD and no weight decay, so weight decay is off unless asked.
/// State: "<parameter>/momentum" (when momentum != 0) and "step". docs/optimisers.md has the details.

#include <cmath>
#include <span>

#include "invar/backend/ops.hpp"
#include "invar/optim/optimizer.hpp"

namespace invar::optim {

/// SGD's hyperparameters, with chainable setters: `SgdOptions(0.01).with_momentum(0.9).with_nesterov()`.
/// The learning rate has no default (as in PyTorch): it is the one setting every run must choose.
struct SgdOptions {
  double learning_rate;        ///< required, > 0
  double momentum = 0;         ///< >= 0; 0 turns momentum off (no buffer is kept)
  bool nesterov = false;       ///< Nesterov momentum; needs momentum > 0 and dampening == 0
  double weight_decay = 0;     ///< >= 0; L2 penalty (weight_decay/2) ||w||^2 added through the gradient
  double dampening = 0;        ///< >= 0; scales the new gradient in the buffer by (1 - dampening)

  /// Plain SGD with learning rate `lr` (checked by validate(), when an Sgd is built).
  explicit SgdOptions(double lr) : learning_rate(lr) {}

  /// Sets learning_rate; returns *this for chaining.
  SgdOptions& with_learning_rate(double lr) { learning_rate = lr; return *this; }
  /// Sets momentum; returns *this.
  SgdOptions& with_momentum(double m) { momentum = m; return *this; }
  /// Sets nesterov; returns *this.
  SgdOptions& with_nesterov(bool n = true) { nesterov = n; return *this; }
  /// Sets weight_decay; returns *this.
  SgdOptions& with_weight_decay(double wd) { weight_decay = wd; return *this; }
  /// Sets dampening; returns *this.
  SgdOptions& with_dampening(double d) { dampening = d; return *this; }

  /// Checked when an Sgd is built, not in the setters: with_nesterov() may come before with_momentum().
  void validate() const {
    check(std::isfinite(learning_rate) && learning_rate > 0, "SgdOptions: learning_rate must be finite and > 0, got ",
          learning_rate);
    check(std::isfinite(momentum) && momentum >= 0, "SgdOptions: momentum must be finite and >= 0, got ", momentum);
    check(std::isfinite(weight_decay) && weight_decay >= 0, "SgdOptions: weight_decay must be finite and >= 0, got ",
          weight_decay);
    check(std::isfinite(dampening) && dampening >= 0, "SgdOptions: dampening must be finite and >= 0, got ",
          dampening);
    check(!nesterov || (momentum > 0 && dampening == 0),
          "SgdOptions: nesterov needs momentum > 0 and dampening == 0, got momentum ", momentum, " and dampening ",
          dampening);
  }
};

namespace detail {

// The element-wise kernels, as device-callable functors so that a CUDA backend runs them unchanged.

/// w - lr * (grad + wd * w): no momentum.
template <class T>
struct SgdPlainUpdate {
  T lr, weight_decay;
  INVAR_HOST_DEVICE T operator()(T w, T grad) const { return w - lr * with_l2(grad, w, weight_decay); }
};

/// The momentum buffer: g on the first step, momentum * buf + (1 - dampening) * g afterwards.
template <class T>
struct SgdMomentumBuffer {
  T momentum, one_minus_dampening, weight_decay;
  bool first;
  INVAR_HOST_DEVICE T operator()(T buf, T grad, T w) const {
    const T g = with_l2(grad, w, weight_decay);
    return first ? g : momentum * buf + one_minus_dampening * g;
  }
};

/// w - lr * (nesterov ? g + momentum * buf : buf), with buf already updated.
template <class T>
struct SgdMomentumUpdate {
  T lr, momentum, weight_decay;
  bool nesterov;
  INVAR_HOST_DEVICE T operator()(T w, T grad, T buf) const {
    const T d = nesterov ? with_l2(grad, w, weight_decay) + momentum * buf : buf;
    return w - lr * d;
  }
};

}  // namespace detail

/// SGD with optional (Nesterov) momentum, dampening and weight decay (see the file comment) for
/// parameters of scalar T (float or double) on device D; an Optimizer. Buffers live on D.
template <class T, Device D = Cpu>
class Sgd {
  static_assert(std::is_floating_point_v<T>, "invar::optim::Sgd: T must be float or double");

 public:
  using value_type = T;            ///< the parameters' scalar type
  using device_type = D;           ///< where parameters and momentum buffers live
  using options_type = SgdOptions; ///< the options this optimiser is built from

  /// Checks `options` (invar::Error naming a bad one). With momentum, each parameter's buffer is
  /// created at its first step.
  explicit Sgd(const SgdOptions& options)
      : options_(validated(options)),
        table_("Sgd", options.momentum != 0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{}) {}

  /// One update of every parameter from its gradient (which is read, never changed or zeroed).
  void step(std::span<Parameter<T, D>* const> params) {
    detail::check_parameters("Sgd::step", params);
    table_.check_shapes(params);
    const T lr = static_cast<T>(options_.learning_rate);
    const T wd = static_cast<T>(options_.weight_decay);
    for (auto* p : params) {
      if (!p->requires_grad) continue;  // frozen: value, state and step count unchanged
      if (options_.momentum == 0) {
        ops::map(p->value, detail::SgdPlainUpdate<T>{lr, wd}, p->value, p->grad);
        continue;
      }
      bool first = false;
      auto& buf = table_.slot(*p, first).buffers[0];
      const T momentum = static_cast<T>(options_.momentum);
      ops::map(buf, detail::SgdMomentumBuffer<T>{momentum, static_cast<T>(1 - options_.dampening), wd, first}, buf,
               p->grad, p->value);
      ops::map(p->value, detail::SgdMomentumUpdate<T>{lr, momentum, wd, options_.nesterov}, p->value, p->grad, buf);
    }
    table_.count_step();
  }

  /// The learning rate the next step() uses.
  [[nodiscard]] double learning_rate() const { return options_.learning_rate; }
  /// Sets the learning rate for the following steps (a schedule calls this each epoch); lr must be
  /// finite and >= 0, else invar::Error. The momentum buffers are kept.
  void set_learning_rate(double lr) {
    detail::check_learning_rate("Sgd::set_learning_rate", lr);
    options_.learning_rate = lr;
  }

  /// The options in use (learning_rate as last set by set_learning_rate).
  [[nodiscard]] const SgdOptions& options() const { return options_; }
  /// Number of step() calls so far (restored by load_state).
  [[nodiscard]] std::int64_t steps() const { return table_.steps(); }

  /// "step", then "<parameter>/momentum" for every parameter seen (momentum != 0 only).
  [[nodiscard]] OptimizerState<T, D> state() const { return table_.save(); }
  /// Replaces the state with entries from state() of an Sgd with the same momentum setting (on or
  /// off). All entries are checked first: a missing, unknown, duplicated or misshapen entry, or a
  /// bad count, throws invar::Error naming it and changes nothing.
  void load_state(const OptimizerState<T, D>& entries) { table_.load(entries); }

 private:
  static SgdOptions validated(const SgdOptions& o) {
    o.validate();
    return o;
  }

  SgdOptions options_;
  detail::StateTable<T, D> table_;
};

static_assert(Optimizer<Sgd<float>> && Optimizer<Sgd<double>>);

}  // namespace invar::optim
