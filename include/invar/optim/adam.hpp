#pragma once
/// \file adam.hpp
/// Adam, AdamW and their AMSGrad variants: exactly torch.optim.Adam / torch.optim.AdamW.
/// Per parameter w with gradient grad, at the parameter's t-th step (t = 1, 2, ...):
///
///     w   = w * (1 - lr * weight_decay)                  AdamW (decoupled), when weight_decay != 0
///     g   = grad + weight_decay * w                      Adam (L2 through the gradient), when weight_decay != 0
///     m   = beta1 * m + (1 - beta1) * g                  (m, v start at 0)
///     v   = beta2 * v + (1 - beta2) * g * g
///     v^  = amsgrad ? (vmax = max(vmax, v)) : v          (vmax starts at 0)
///     w   = w - (lr / (1 - beta1^t)) * m / (sqrt(v^) / sqrt(1 - beta2^t) + eps)
///
/// The bias corrections use the parameter's own step count t (as PyTorch's per-parameter
/// state['step']), so a parameter first updated late starts its corrections at t = 1.
/// eps is added after the bias correction of sqrt(v), as in PyTorch (not inside the sqrt).
/// State: "<parameter>/adam_m", "<parameter>/adam_v", "<parameter>/adam_vmax" (amsgrad only),
/// "<parameter>/adam_step", and "step". docs/optimisers.md has the details.

#include <cmath>
#include <span>

#include "invar/backend/ops.hpp"
#include "invar/optim/optimizer.hpp"

namespace invar::optim {

/// Adam's hyperparameters (PyTorch's defaults), with chainable setters:
/// `AdamOptions(3e-4).with_weight_decay(0.01).with_decoupled()` is AdamW.
struct AdamOptions {
  double learning_rate = 1e-3;  ///< > 0
  double beta1 = 0.9;           ///< in [0, 1): decay of the first moment
  double beta2 = 0.999;         ///< in [0, 1): decay of the second moment
  double eps = 1e-8;            ///< >= 0: added to the bias-corrected sqrt(v)
  double weight_decay = 0;      ///< >= 0; how it acts depends on `decoupled`
  bool decoupled = false;       ///< false: Adam (L2 added to the gradient); true: AdamW (w *= 1 - lr * weight_decay)
  bool amsgrad = false;         ///< use the running maximum of v (Reddi et al. 2018)

  /// PyTorch's defaults (learning rate 1e-3).
  AdamOptions() = default;
  /// The defaults with learning rate `lr` (checked by validate(), when an Adam is built).
  explicit AdamOptions(double lr) : learning_rate(lr) {}

  /// AdamW with PyTorch's AdamW defaults (note its weight_decay default 0.01, where Adam's is 0).
  static AdamOptions adamw(double lr = 1e-3, double weight_decay = 1e-2) {
    return AdamOptions(lr).with_weight_decay(weight_decay).with_decoupled();
  }

  // The setters only store the value; validate() checks it, when an Adam is built.
  /// Sets learning_rate; returns *this for chaining.
  AdamOptions& with_learning_rate(double lr) { learning_rate = lr; return *this; }
  /// Sets beta1 and beta2 (PyTorch's `betas=(b1, b2)`); returns *this.
  AdamOptions& with_betas(double b1, double b2) { beta1 = b1; beta2 = b2; return *this; }
  /// Sets beta1; returns *this.
  AdamOptions& with_beta1(double b) { beta1 = b; return *this; }
  /// Sets beta2; returns *this.
  AdamOptions& with_beta2(double b) { beta2 = b; return *this; }
  /// Sets eps; returns *this.
  AdamOptions& with_eps(double e) { eps = e; return *this; }
  /// Sets weight_decay (L2 for Adam, decoupled decay for AdamW: see `decoupled`); returns *this.
  AdamOptions& with_weight_decay(double wd) { weight_decay = wd; return *this; }
  /// Sets decoupled (true: AdamW); returns *this.
  AdamOptions& with_decoupled(bool d = true) { decoupled = d; return *this; }
  /// Sets amsgrad; returns *this.
  AdamOptions& with_amsgrad(bool a = true) { amsgrad = a; return *this; }

  /// Throws invar::Error naming the first option outside its range (see the fields).
  void validate() const {
    check(std::isfinite(learning_rate) && learning_rate > 0, "AdamOptions: learning_rate must be finite and > 0, got ",
          learning_rate);
    check(beta1 >= 0 && beta1 < 1, "AdamOptions: beta1 must be in [0, 1), got ", beta1);
    check(beta2 >= 0 && beta2 < 1, "AdamOptions: beta2 must be in [0, 1), got ", beta2);
    check(std::isfinite(eps) && eps >= 0, "AdamOptions: eps must be finite and >= 0, got ", eps);
    check(std::isfinite(weight_decay) && weight_decay >= 0, "AdamOptions: weight_decay must be finite and >= 0, got ",
          weight_decay);
  }
};

namespace detail {

/// m = beta1 m + (1 - beta1) g, with g = grad + l2 * w (l2 = 0 for AdamW).
template <class T>
struct AdamFirstMoment {
  T beta1, one_minus_beta1, l2;
  INVAR_HOST_DEVICE T operator()(T m, T grad, T w) const {
    return beta1 * m + one_minus_beta1 * with_l2(grad, w, l2);
  }
};

/// v = beta2 v + (1 - beta2) g^2.
template <class T>
struct AdamSecondMoment {
  T beta2, one_minus_beta2, l2;
  INVAR_HOST_DEVICE T operator()(T v, T grad, T w) const {
    const T g = with_l2(grad, w, l2);
    return beta2 * v + one_minus_beta2 * (g * g);
  }
};

/// w * factor (AdamW's decay; a plain product, so an infinite weight stays infinite rather than NaN).
template <class T>
struct ScaleBy {
  T factor;
  INVAR_HOST_DEVICE T operator()(T w) const { return w * factor; }
};

struct Maximum {
  template <class T>
  INVAR_HOST_DEVICE T operator()(T a, T b) const { return a < b ? b : a; }
};

/// w - step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), step_size = lr / (1 - beta1^t).
template <class T>
struct AdamUpdate {
  T step_size, bias_correction2_sqrt, eps;
  INVAR_HOST_DEVICE T operator()(T w, T m, T v) const {
    return w - step_size * (m / (std::sqrt(v) / bias_correction2_sqrt + eps));
  }
};

}  // namespace detail

/// Adam / AdamW / AMSGrad (see the file comment) for parameters of scalar T (float or double) on
/// device D; an Optimizer. Its buffers live on D, next to the parameters.
template <class T, Device D = Cpu>
class Adam {
  static_assert(std::is_floating_point_v<T>, "invar::optim::Adam: T must be float or double");

 public:
  using value_type = T;             ///< the parameters' scalar type
  using device_type = D;            ///< where parameters and moment buffers live
  using options_type = AdamOptions; ///< the options this optimiser is built from

  /// Checks `options` (invar::Error naming a bad one). No buffers yet: each parameter's moments
  /// are created, zero, at its first step.
  explicit Adam(const AdamOptions& options = {})
      : options_(validated(options)),
        table_("Adam",
               options.amsgrad ? std::vector<std::string>{"adam_m", "adam_v", "adam_vmax"}
                               : std::vector<std::string>{"adam_m", "adam_v"},
               "adam_step") {}

  /// One update of every parameter from its gradient (which is read, never changed or zeroed).
  void step(std::span<Parameter<T, D>* const> params) {
    detail::check_parameters("Adam::step", params);
    table_.check_shapes(params);
    const auto& o = options_;
    const bool decay = o.weight_decay != 0;
    const T l2 = static_cast<T>(decay && !o.decoupled ? o.weight_decay : 0.0);
    for (auto* p : params) {
      if (!p->requires_grad) continue;  // frozen: value, state and step count unchanged
      bool fresh = false;  // unused: m, v and vmax start at 0 whether fresh or not
      auto& slot = table_.slot(*p, fresh);
      const std::int64_t t = ++slot.count;
      // The scalars in double, then rounded once to T (as PyTorch does on the Python side).
      const double bias_correction1 = 1 - std::pow(o.beta1, static_cast<double>(t));
      const double bias_correction2 = 1 - std::pow(o.beta2, static_cast<double>(t));
      if (decay && o.decoupled)
        ops::map(p->value, detail::ScaleBy<T>{static_cast<T>(1 - o.learning_rate * o.weight_decay)}, p->value);
      auto& m = slot.buffers[0];
      auto& v = slot.buffers[1];
      ops::map(m, detail::AdamFirstMoment<T>{static_cast<T>(o.beta1), static_cast<T>(1 - o.beta1), l2}, m, p->grad,
               p->value);
      ops::map(v, detail::AdamSecondMoment<T>{static_cast<T>(o.beta2), static_cast<T>(1 - o.beta2), l2}, v, p->grad,
               p->value);
      if (o.amsgrad) ops::map(slot.buffers[2], detail::Maximum{}, slot.buffers[2], v);
      const detail::AdamUpdate<T> update{static_cast<T>(o.learning_rate / bias_correction1),
                                         static_cast<T>(std::sqrt(bias_correction2)), static_cast<T>(o.eps)};
      ops::map(p->value, update, p->value, m, o.amsgrad ? slot.buffers[2] : v);
    }
    table_.count_step();
  }

  /// The learning rate the next step() uses.
  [[nodiscard]] double learning_rate() const { return options_.learning_rate; }
  /// Sets the learning rate for the following steps (a schedule calls this each epoch); lr must be
  /// finite and >= 0, else invar::Error. The moments are kept.
  void set_learning_rate(double lr) {
    detail::check_learning_rate("Adam::set_learning_rate", lr);
    options_.learning_rate = lr;
  }

  /// The options in use (learning_rate as last set by set_learning_rate).
  [[nodiscard]] const AdamOptions& options() const { return options_; }
  /// Number of step() calls so far (restored by load_state).
  [[nodiscard]] std::int64_t steps() const { return table_.steps(); }

  /// "step", then per parameter seen: adam_m, adam_v, adam_vmax (amsgrad only), adam_step.
  [[nodiscard]] OptimizerState<T, D> state() const { return table_.save(); }
  /// Replaces the state with entries from state() of an Adam with the same amsgrad setting. All
  /// entries are checked first: a missing, unknown, duplicated or misshapen entry, or a bad
  /// count, throws invar::Error naming it and changes nothing.
  void load_state(const OptimizerState<T, D>& entries) { table_.load(entries); }

 private:
  static AdamOptions validated(const AdamOptions& o) {
    o.validate();
    return o;
  }

  AdamOptions options_;
  detail::StateTable<T, D> table_;
};

static_assert(Optimizer<Adam<float>> && Optimizer<Adam<double>>);

}  // namespace invar::optim
