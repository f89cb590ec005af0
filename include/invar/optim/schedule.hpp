#pragma once
/// \file schedule.hpp
/// Learning-rate schedules: small immutable value types with `double at(double epoch) const`,
/// and LrSchedule, which holds any of them (a trainer's options hold one of these).
///
/// Epochs are counted from 0 and may be fractional, so that a trainer can update the rate every
/// step: `optimizer.set_learning_rate(schedule.at(epoch + double(batch) / batches_per_epoch))`.
/// A schedule is a pure function of the epoch; it keeps no "current step", so resuming from a
/// checkpoint needs nothing from it but the epoch.
///
/// | schedule | at(e) |
/// |---|---|
/// | ConstantLr(lr) | lr |
/// | StepLr(base, milestones, factor) | base * factor^(number of milestones <= e) |
/// | CosineLr(base, total, min_lr) | min_lr + (base - min_lr) (1 + cos(pi min(e, total) / total)) / 2 |
/// | LinearWarmup(W, start, inner) | inner.at(e) * (start + (1 - start) min(e / W, 1)) |
///
/// The paper's schedules: StepLr(0.01, {200, 250, 300}, 0.1) and, for the wide ResNet,
/// StepLr(0.1, {60, 120, 160}, 0.2).

#include <algorithm>
#include <cmath>
#include <concepts>
#include <memory>
#include <numbers>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "invar/core/error.hpp"

namespace invar::optim {

/// Anything that maps an epoch to a learning rate. `describe()` (for logs) is optional.
template <class S>
concept Schedule = requires(const S& s, double epoch) {
  { s.at(epoch) } -> std::convertible_to<double>;
};

namespace detail {

inline void check_epoch(const char* who, double epoch) {
  check(std::isfinite(epoch) && epoch >= 0, who, ": epoch must be finite and >= 0, got ", epoch);
}

inline void check_base(const char* who, const char* what, double lr) {
  check(std::isfinite(lr) && lr > 0, who, ": ", what, " must be finite and > 0, got ", lr);
}

template <class... Parts>
std::string describe(const Parts&... parts) {
  std::ostringstream out;
  out.precision(10);
  (out << ... << parts);
  return out.str();
}

struct ListOf {
  const std::vector<double>& values;
  friend std::ostream& operator<<(std::ostream& out, const ListOf& l) {
    out << '[';
    for (std::size_t i = 0; i < l.values.size(); ++i) out << (i ? ", " : "") << l.values[i];
    return out << ']';
  }
};

}  // namespace detail

/// The same rate at every epoch.
class ConstantLr {
 public:
  /// lr: finite, > 0 (else invar::Error).
  explicit ConstantLr(double lr) : lr_(lr) { detail::check_base("ConstantLr", "lr", lr); }

  /// lr, for any epoch (finite, >= 0, else invar::Error).
  [[nodiscard]] double at(double epoch) const {
    detail::check_epoch("ConstantLr::at", epoch);
    return lr_;
  }
  /// The rate.
  [[nodiscard]] double base() const { return lr_; }
  /// For logs: "constant(lr=...)".
  [[nodiscard]] std::string describe() const { return detail::describe("constant(lr=", lr_, ")"); }

 private:
  double lr_;
};

/// base, multiplied by `factor` at each milestone (torch.optim.lr_scheduler.MultiStepLR): at
/// epoch e the rate is base * factor^k with k the number of milestones <= e. So a milestone
/// takes effect at that epoch exactly: StepLr(0.01, {200}, 0.1).at(200) == 0.01 * 0.1.
class StepLr {
 public:
  /// milestones: finite, >= 0, strictly increasing (possibly none); factor: finite, > 0.
  StepLr(double base, std::vector<double> milestones, double factor = 0.1)
      : base_(base), milestones_(std::move(milestones)), factor_(factor) {
    detail::check_base("StepLr", "base", base);
    check(std::isfinite(factor) && factor > 0, "StepLr: factor must be finite and > 0, got ", factor);
    for (std::size_t i = 0; i < milestones_.size(); ++i) {
      check(std::isfinite(milestones_[i]) && milestones_[i] >= 0, "StepLr: milestones[", i,
            "] must be finite and >= 0, got ", milestones_[i]);
      check(i == 0 || milestones_[i - 1] < milestones_[i], "StepLr: milestones must be strictly increasing, got ",
            milestones_[i], " after ", i ? milestones_[i - 1] : 0.0, " in ", detail::ListOf{milestones_});
    }
  }

  /// base * factor^k, k = the number of milestones <= epoch (epoch finite, >= 0, else invar::Error).
  [[nodiscard]] double at(double epoch) const {
    detail::check_epoch("StepLr::at", epoch);
    // Multiplied once per milestone passed (as MultiStepLR does), not pow(factor, k): the two
    // can differ in the last bit, and this way the value at a milestone is base * factor exactly.
    double lr = base_;
    for (const double m : milestones_) {
      if (m > epoch) break;
      lr *= factor_;
    }
    return lr;
  }
  /// The rate before the first milestone.
  [[nodiscard]] double base() const { return base_; }
  /// The epochs at which the rate is multiplied by factor(), increasing.
  [[nodiscard]] const std::vector<double>& milestones() const { return milestones_; }
  /// The multiplier applied at each milestone.
  [[nodiscard]] double factor() const { return factor_; }
  /// For logs: "step(base=..., milestones=[...], factor=...)".
  [[nodiscard]] std::string describe() const {
    return detail::describe("step(base=", base_, ", milestones=", detail::ListOf{milestones_}, ", factor=", factor_,
                            ")");
  }

 private:
  double base_;
  std::vector<double> milestones_;
  double factor_;
};

/// Cosine annealing from base to min_lr over total_epochs, then min_lr
/// (torch.optim.lr_scheduler.CosineAnnealingLR's closed form, without restarts).
class CosineLr {
 public:
  /// total_epochs: finite, > 0; min_lr in [0, base].
  CosineLr(double base, double total_epochs, double min_lr = 0) : base_(base), total_(total_epochs), min_(min_lr) {
    detail::check_base("CosineLr", "base", base);
    check(std::isfinite(total_epochs) && total_epochs > 0, "CosineLr: total_epochs must be finite and > 0, got ",
          total_epochs);
    check(std::isfinite(min_lr) && min_lr >= 0 && min_lr <= base, "CosineLr: min_lr must be in [0, base = ", base,
          "], got ", min_lr);
  }

  /// The annealed rate at `epoch` (finite, >= 0, else invar::Error); min_lr from total_epochs on.
  [[nodiscard]] double at(double epoch) const {
    detail::check_epoch("CosineLr::at", epoch);
    const double progress = std::min(epoch, total_) / total_;
    return min_ + (base_ - min_) * (1 + std::cos(std::numbers::pi * progress)) / 2;
  }
  /// The rate at epoch 0.
  [[nodiscard]] double base() const { return base_; }
  /// The epoch at which the rate reaches min_lr().
  [[nodiscard]] double total_epochs() const { return total_; }
  /// The final rate.
  [[nodiscard]] double min_lr() const { return min_; }
  /// For logs: "cosine(base=..., total_epochs=..., min_lr=...)".
  [[nodiscard]] std::string describe() const {
    return detail::describe("cosine(base=", base_, ", total_epochs=", total_, ", min_lr=", min_, ")");
  }

 private:
  double base_, total_, min_;
};

/// Holds any Schedule by value (copies share the immutable schedule). Trainers take this.
class LrSchedule {
 public:
  /// Takes any Schedule by value; implicit, so a ConstantLr, StepLr... converts where an
  /// LrSchedule is expected.
  template <Schedule S>
    requires(!std::is_same_v<std::remove_cvref_t<S>, LrSchedule>)
  LrSchedule(S schedule)  // NOLINT: implicit, so that options can say `.with_schedule(StepLr{...})`
      : self_(std::make_shared<const Model<S>>(std::move(schedule))) {}

  /// The held schedule's rate at `epoch` (its own checks apply).
  [[nodiscard]] double at(double epoch) const { return self_->at(epoch); }
  /// The held schedule's describe() ("step(base=0.01, milestones=[200, 250, 300], factor=0.1)"),
  /// or "custom" for a schedule without one.
  [[nodiscard]] std::string describe() const { return self_->describe(); }

  /// The held schedule, or nullptr when it is not an S.
  template <class S>
  [[nodiscard]] const S* target() const {
    const auto* m = dynamic_cast<const Model<S>*>(self_.get());
    return m ? &m->schedule : nullptr;
  }

 private:
  struct Concept {
    virtual ~Concept() = default;
    [[nodiscard]] virtual double at(double epoch) const = 0;
    [[nodiscard]] virtual std::string describe() const = 0;
  };
  template <class S>
  struct Model final : Concept {
    explicit Model(S s) : schedule(std::move(s)) {}
    [[nodiscard]] double at(double epoch) const override { return static_cast<double>(schedule.at(epoch)); }
    [[nodiscard]] std::string describe() const override {
      if constexpr (requires { { schedule.describe() } -> std::convertible_to<std::string>; })
        return schedule.describe();
      else
        return "custom";
    }
    S schedule;
  };

  std::shared_ptr<const Concept> self_;
};

/// Scales another schedule linearly from start_factor to 1 over the first warmup_epochs
/// (torch.optim.lr_scheduler.LinearLR with end_factor 1, chained). The inner schedule sees the
/// same epoch (it is not shifted by the warm-up), so its milestones stay absolute epochs; from
/// warmup_epochs on the rate is exactly inner.at(epoch).
class LinearWarmup {
 public:
  /// warmup_epochs: finite, > 0; start_factor in [0, 1].
  LinearWarmup(double warmup_epochs, double start_factor, LrSchedule inner)
      : warmup_(warmup_epochs), start_(start_factor), inner_(std::move(inner)) {
    check(std::isfinite(warmup_epochs) && warmup_epochs > 0, "LinearWarmup: warmup_epochs must be finite and > 0, got ",
          warmup_epochs);
    check(start_factor >= 0 && start_factor <= 1, "LinearWarmup: start_factor must be in [0, 1], got ", start_factor);
  }

  /// inner().at(epoch), scaled by start_factor + (1 - start_factor) epoch / warmup_epochs before
  /// warmup_epochs (epoch finite, >= 0, else invar::Error).
  [[nodiscard]] double at(double epoch) const {
    detail::check_epoch("LinearWarmup::at", epoch);
    const double lr = inner_.at(epoch);
    if (epoch >= warmup_) return lr;
    return lr * (start_ + (1 - start_) * (epoch / warmup_));
  }
  /// The length of the warm-up, in epochs.
  [[nodiscard]] double warmup_epochs() const { return warmup_; }
  /// The fraction of inner's rate used at epoch 0.
  [[nodiscard]] double start_factor() const { return start_; }
  /// The schedule being warmed up.
  [[nodiscard]] const LrSchedule& inner() const { return inner_; }
  /// For logs: "linear_warmup(warmup_epochs=..., start_factor=..., inner=...)".
  [[nodiscard]] std::string describe() const {
    return detail::describe("linear_warmup(warmup_epochs=", warmup_, ", start_factor=", start_, ", inner=",
                            inner_.describe(), ")");
  }

 private:
  double warmup_, start_;
  LrSchedule inner_;
};

}  // namespace invar::optim
