#pragma once
/// \file optimizer.hpp
/// The Optimizer concept: what Sgd, Adam and any optimiser of yours provide, so that a trainer
/// can take one as a template parameter (or hold any of them in an AnyOptimizer).
///
/// The annotated contract (dlib-style requires/ensures):
/// \code
/// template <class T, Device D = Cpu>
/// class MyOptimizer {
///  public:
///   using value_type = T;     // float or double: the parameters' scalar type
///   using device_type = D;    // where the parameters and the optimiser's buffers live
///
///   explicit MyOptimizer(const MyOptions& options);
///     // requires: options.validate() passes; otherwise invar::Error naming the bad option
///
///   void step(std::span<Parameter<T, D>* const> params);
///     // requires: no pointer is null; names are non-empty and distinct; p->grad.shape() == p->value.shape();
///     //           state already held for a name (from earlier steps or load_state) has that parameter's shape
///     // ensures:  every p->value is updated from p->grad; p->grad is left as it was (the caller zeroes it);
///     //           state for a name seen for the first time is created here, with the parameter's shape;
///     //           the step counter grows by one.
///     //           On invar::Error nothing has changed (all checks run before any update).
///
///   double learning_rate() const;         // the rate the next step() uses
///   void set_learning_rate(double lr);    // requires: lr finite and >= 0 (a schedule may end at 0)
///
///   OptimizerState<T, D> state() const;
///     // ensures: copies of every buffer, named "<parameter name>/<buffer>" (e.g. "fc1.weight/momentum",
///     //          "fc1.weight/adam_m"), plus "step": the number of step() calls as a 1-element tensor.
///     //          Entries are in a fixed order (step first, then by parameter name).
///
///   void load_state(const OptimizerState<T, D>& entries);
///     // requires: entries came from state() of an optimiser of the same type and options
///     // ensures:  the next step() continues exactly as the saved optimiser would have (same bits);
///     //           invar::Error naming the entry if one is missing, unknown, duplicated, misshapen or
///     //           holds a bad count; then nothing has changed
/// };
/// \endcode
///
/// Why state is keyed by parameter name, not by position: a model rebuilt in another process (a
/// resumed run, another program) lists its parameters in whatever order its code does; names
/// ("mlp.fc1.weight") are stable. The buffer kinds come after the last '/', so parameter names may
/// themselves contain '/'. State is created lazily, on the first step that sees a parameter, so an
/// optimiser needs no registration step and never holds buffers for parameters it never updates.
/// A parameter missing from a loaded checkpoint is therefore not an error by itself: it starts
/// fresh at its first step, as a parameter first trained late would (see docs/optimisers.md).

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/core/parameter.hpp"

namespace invar::optim {

/// An optimiser's checkpointable state: named tensors on the parameters' device.
template <class T, Device D = Cpu>
using OptimizerState = std::vector<std::pair<std::string, Tensor<T, D>>>;

/// Checks the contract above at compile time (behaviour is the tests' business).
template <class O>
concept Optimizer =
    requires {
      typename O::value_type;
      typename O::device_type;
    } &&
    requires(O& o, const O& c, std::span<Parameter<typename O::value_type, typename O::device_type>* const> params,
             double lr, const OptimizerState<typename O::value_type, typename O::device_type>& entries) {
      o.step(params);
      { c.learning_rate() } -> std::same_as<double>;
      o.set_learning_rate(lr);
      { c.state() } -> std::same_as<OptimizerState<typename O::value_type, typename O::device_type>>;
      o.load_state(entries);
    };

namespace detail {

/// A learning rate an optimiser may run with: finite and >= 0. Zero is allowed because schedules
/// (CosineLr with min_lr = 0, a warm-up from 0) legitimately reach it; options insist on > 0 at
/// construction, where 0 is almost always a forgotten setting.
inline void check_learning_rate(const char* who, double lr) {
  check(std::isfinite(lr) && lr >= 0, who, ": learning rate must be finite and >= 0, got ", lr);
}

/// grad + weight_decay * w, the L2 term added through the gradient. PyTorch skips the add when
/// weight_decay == 0; so does this, so that an infinite weight never turns a clean gradient into
/// NaN through 0 * inf. Device-callable: the optimisers' element-wise functors use it.
template <class T>
INVAR_HOST_DEVICE inline T with_l2(T grad, T w, T weight_decay) {
  return weight_decay != T(0) ? grad + weight_decay * w : grad;
}

/// The largest count a T represents exactly (2^24 for float): counts are stored as T in state().
template <class T>
constexpr std::int64_t exact_count_limit = std::int64_t{1} << std::numeric_limits<T>::digits;

template <class T, Device D>
T read_scalar(const Tensor<T, D>& t) {
  T v{};
  D::copy_to_host(&v, t.data(), sizeof(T));
  return v;
}

template <class T, Device D>
Tensor<T, D> scalar_tensor(T v) {
  auto t = Tensor<T, D>::uninitialized(Shape{1});
  D::copy_from_host(t.data(), &v, sizeof(T));
  return t;
}

/// Validates a step() call before anything is touched, so that an error leaves no parameter half-updated.
template <class T, Device D>
void check_parameters(const char* who, std::span<Parameter<T, D>* const> params) {
  std::vector<std::string_view> names;
  names.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto* p = params[i];
    check(p != nullptr, who, ": params[", i, "] is null");
    check(!p->name.empty(), who, ": params[", i, "] has an empty name; optimiser state is keyed by parameter name");
    check(p->grad.shape() == p->value.shape(), who, ": parameter '", p->name, "' has grad shape ", p->grad.shape(),
          " but value shape ", p->value.shape());
    names.push_back(p->name);
  }
  std::sort(names.begin(), names.end());
  const auto dup = std::adjacent_find(names.begin(), names.end());
  check(dup == names.end(), who, ": parameter name '", dup == names.end() ? std::string_view{} : *dup,
        "' appears more than once in one step; names key the optimiser state and must be distinct");
}

/// Per-parameter buffers keyed by name, their (de)serialisation and its checks; shared by the
/// optimisers so that they all name, order and validate state the same way.
/// `kinds` are buffers shaped like the parameter ("momentum"; "adam_m", "adam_v"); `count_kind`,
/// if not empty, names a per-parameter step count ("adam_step"), stored as a 1-element tensor.
template <class T, Device D>
class StateTable {
 public:
  struct Slot {
    std::vector<Tensor<T, D>> buffers;  ///< one per kind, each shaped like the parameter
    std::int64_t count = 0;             ///< steps taken by this parameter (when count_kind is set)
  };

  StateTable(const char* owner, std::vector<std::string> kinds, std::string count_kind = {})
      : owner_(owner), kinds_(std::move(kinds)), count_kind_(std::move(count_kind)) {}

  [[nodiscard]] std::int64_t steps() const { return steps_; }
  void count_step() { ++steps_; }

  /// Errors (before any update) when held state does not fit a parameter of the same name.
  void check_shapes(std::span<Parameter<T, D>* const> params) const {
    if (kinds_.empty()) return;
    for (const auto* p : params) {
      const auto it = slots_.find(p->name);
      if (it == slots_.end()) continue;
      const auto& held = it->second.buffers.front();
      check(held.shape() == p->value.shape(), owner_, ": state entry '", p->name, "/", kinds_.front(),
            "' has shape ", held.shape(), " but parameter '", p->name, "' has shape ", p->value.shape(),
            " (state from another model?)");
    }
  }

  /// The slot of a parameter, created zero-filled on first use; `fresh` says it was just created.
  Slot& slot(const Parameter<T, D>& p, bool& fresh) {
    auto it = slots_.find(p.name);
    fresh = it == slots_.end();
    if (fresh) {
      Slot s;
      s.buffers.reserve(kinds_.size());
      for (std::size_t k = 0; k < kinds_.size(); ++k) s.buffers.emplace_back(p.value.shape());
      it = slots_.emplace(p.name, std::move(s)).first;
    }
    return it->second;
  }

  [[nodiscard]] OptimizerState<T, D> save() const {
    OptimizerState<T, D> out;
    out.emplace_back("step", scalar_tensor<T, D>(as_count("step", steps_)));
    for (const auto& [name, s] : slots_) {
      for (std::size_t k = 0; k < kinds_.size(); ++k) out.emplace_back(name + "/" + kinds_[k], s.buffers[k]);
      if (!count_kind_.empty()) {
        const std::string entry = name + "/" + count_kind_;
        out.emplace_back(entry, scalar_tensor<T, D>(as_count(entry, s.count)));
      }
    }
    return out;
  }

  /// Parses and checks everything first, then replaces the state (strong guarantee).
  void load(const OptimizerState<T, D>& entries) {
    const std::size_t n_kinds = kinds_.size() + (count_kind_.empty() ? 0 : 1);
    bool have_steps = false;
    std::int64_t steps = 0;
    std::map<std::string, std::vector<const Tensor<T, D>*>> found;  // parameter -> entry per kind
    for (const auto& [entry, tensor] : entries) {
      if (entry == "step") {
        check(!have_steps, owner_, ": state entry 'step' appears more than once");
        steps = read_count(entry, tensor);
        have_steps = true;
        continue;
      }
      const auto slash = entry.rfind('/');
      check(slash != std::string::npos && slash > 0, owner_, ": unknown state entry '", entry, "'; expected ",
            expected());
      const std::string param = entry.substr(0, slash);
      const std::string kind = entry.substr(slash + 1);
      std::size_t k = 0;
      while (k < kinds_.size() && kinds_[k] != kind) ++k;
      check(k < kinds_.size() || (!count_kind_.empty() && kind == count_kind_), owner_, ": unknown state entry '",
            entry, "'; expected ", expected(), " (state of another optimiser, or other options?)");
      auto& slots = found[param];
      slots.resize(n_kinds, nullptr);
      check(slots[k] == nullptr, owner_, ": state entry '", entry, "' appears more than once");
      slots[k] = &tensor;
    }
    check(have_steps, owner_, ": state entry 'step' is missing");

    std::map<std::string, Slot> slots;
    for (const auto& [param, ts] : found) {
      for (std::size_t k = 0; k < n_kinds; ++k)
        check(ts[k] != nullptr, owner_, ": state entry '", param, "/", kind_name(k), "' is missing (entries for '",
              param, "' exist, so all of ", expected(), " must)");
      Slot s;
      for (std::size_t k = 0; k < kinds_.size(); ++k) {
        check(ts[k]->shape() == ts[0]->shape(), owner_, ": state entry '", param, "/", kinds_[k], "' has shape ",
              ts[k]->shape(), " but '", param, "/", kinds_[0], "' has shape ", ts[0]->shape());
        s.buffers.push_back(*ts[k]);
      }
      if (!count_kind_.empty()) s.count = read_count(param + "/" + count_kind_, *ts[kinds_.size()]);
      slots.emplace(param, std::move(s));
    }
    slots_ = std::move(slots);
    steps_ = steps;
  }

 private:
  [[nodiscard]] const std::string& kind_name(std::size_t k) const {
    return k < kinds_.size() ? kinds_[k] : count_kind_;
  }

  [[nodiscard]] std::string expected() const {
    std::string s = "'step'";
    for (const auto& k : kinds_) s += ", '<parameter>/" + k + "'";
    if (!count_kind_.empty()) s += ", '<parameter>/" + count_kind_ + "'";
    return s;
  }

  [[nodiscard]] T as_count(const std::string& entry, std::int64_t n) const {
    check(n <= exact_count_limit<T>, owner_, ": the count in state entry '", entry, "' (", n, ") exceeds ",
          exact_count_limit<T>, ", the largest integer this scalar type stores exactly");
    return static_cast<T>(n);
  }

  [[nodiscard]] std::int64_t read_count(const std::string& entry, const Tensor<T, D>& t) const {
    check(t.numel() == 1, owner_, ": state entry '", entry, "' must hold one count, got shape ", t.shape());
    const T v = read_scalar(t);
    check(std::isfinite(v) && v >= 0 && v == std::floor(v) && v <= static_cast<T>(exact_count_limit<T>), owner_,
          ": state entry '", entry, "' must be a non-negative whole number, got ", v);
    return static_cast<std::int64_t>(v);
  }

  const char* owner_;
  std::vector<std::string> kinds_;
  std::string count_kind_;
  std::map<std::string, Slot> slots_;  // ordered: state() lists parameters in a fixed order
  std::int64_t steps_ = 0;
};

}  // namespace detail

/// Holds any Optimizer of scalar T on device D, chosen at run time (a trainer configured with
/// "sgd" or "adam"). Copies copy the optimiser and its state. It satisfies Optimizer itself.
template <class T, Device D = Cpu>
class AnyOptimizer {
 public:
  using value_type = T;   ///< the parameters' scalar type
  using device_type = D;  ///< where the parameters live

  /// Takes (moves in) any Optimizer of the same T and D; implicit, like std::function.
  template <Optimizer O>
    requires(!std::is_same_v<std::remove_cvref_t<O>, AnyOptimizer> &&
             std::is_same_v<typename O::value_type, T> && std::is_same_v<typename O::device_type, D>)
  AnyOptimizer(O optimizer)  // NOLINT: implicit, like std::function
      : self_(std::make_unique<Model<O>>(std::move(optimizer))) {}

  /// A deep copy: the optimiser and its state (buffers copied).
  AnyOptimizer(const AnyOptimizer& other) : self_(other.self_->clone()) {}
  /// Takes over other's optimiser; `other` is then empty and may only be assigned to or destroyed.
  AnyOptimizer(AnyOptimizer&&) noexcept = default;
  /// A deep copy, as the copy constructor.
  AnyOptimizer& operator=(const AnyOptimizer& other) {
    if (this != &other) self_ = other.self_->clone();
    return *this;
  }
  /// Takes over other's optimiser, as the move constructor.
  AnyOptimizer& operator=(AnyOptimizer&&) noexcept = default;

  /// The held optimiser's step() (contract in the file comment).
  void step(std::span<Parameter<T, D>* const> params) { self_->step(params); }
  /// The held optimiser's learning rate for the next step.
  [[nodiscard]] double learning_rate() const { return self_->learning_rate(); }
  /// Sets the held optimiser's learning rate (finite and >= 0, else invar::Error).
  void set_learning_rate(double lr) { self_->set_learning_rate(lr); }
  /// The held optimiser's state().
  [[nodiscard]] OptimizerState<T, D> state() const { return self_->state(); }
  /// The held optimiser's load_state(): entries must come from an optimiser of the same type and
  /// options.
  void load_state(const OptimizerState<T, D>& entries) { self_->load_state(entries); }

  /// The held optimiser, or nullptr when it is not an O.
  template <class O>
  [[nodiscard]] const O* target() const {
    const auto* m = dynamic_cast<const Model<O>*>(self_.get());
    return m ? &m->optimizer : nullptr;
  }

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual void step(std::span<Parameter<T, D>* const> params) = 0;
    [[nodiscard]] virtual double learning_rate() const = 0;
    virtual void set_learning_rate(double lr) = 0;
    [[nodiscard]] virtual OptimizerState<T, D> state() const = 0;
    virtual void load_state(const OptimizerState<T, D>& entries) = 0;
    [[nodiscard]] virtual std::unique_ptr<Concept> clone() const = 0;
  };
  template <class O>
  struct Model final : Concept {
    explicit Model(O o) : optimizer(std::move(o)) {}
    void step(std::span<Parameter<T, D>* const> params) override { optimizer.step(params); }
    [[nodiscard]] double learning_rate() const override { return optimizer.learning_rate(); }
    void set_learning_rate(double lr) override { optimizer.set_learning_rate(lr); }
    [[nodiscard]] OptimizerState<T, D> state() const override { return optimizer.state(); }
    void load_state(const OptimizerState<T, D>& entries) override { optimizer.load_state(entries); }
    [[nodiscard]] std::unique_ptr<Concept> clone() const override { return std::make_unique<Model>(optimizer); }
    O optimizer;
  };

  std::unique_ptr<Concept> self_;  // never null (except moved-from)
};

static_assert(Optimizer<AnyOptimizer<float>>);

}  // namespace invar::optim
