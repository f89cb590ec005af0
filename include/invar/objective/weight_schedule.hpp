#pragma once
/// \file weight_schedule.hpp
/// How the totals of Eq. 1 change over training: sum of alpha (augmentation invariance), sum of
/// beta (class-wise invariance) and the cross-entropy weight, per epoch (0-based, of `epochs`).
///
///  - constant:        alpha, beta fixed; cross-entropy 1 - (alpha + beta) unless given.
///  - beta ramp (the paper: class-wise invariance matters once features are robust): beta goes
///    linearly from beta_0 at epoch 0 to beta_1 at epoch `ramp_epochs`, then stays; alpha =
///    total - beta; cross-entropy 1 - total unless given.
///  - step curriculum (the authors' loss01_decay): alpha and beta times a factor 10 from epoch 0,
///    1 from 3 % of training, 0.1 from 25 %, 0.01 from 50 %, 0 from 75 %, where the fraction of
///    training is epoch / epochs; cross-entropy 1 - (alpha + beta), recomputed each epoch. With a
///    total of 0.1: invariance 1 and cross-entropy 0, then 0.1 / 0.9, 0.01 / 0.99, 0.001 / 0.999,
///    0 / 1 (method.md).
/// The per-layer split of each total is layer_weights().

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

namespace invar::objective {

/// The totals in force during one epoch.
struct TermWeights {
  double alpha = 0;          ///< sum of the augmentation-invariance weights
  double beta = 0;           ///< sum of the class-wise invariance weights
  double cross_entropy = 0;  ///< weight of the cross-entropy term
};

/// The totals alpha, beta and cross-entropy per epoch, by one of three rules (see the file comment).
/// Built through the named constructors, which throw invar::Error for invalid weights.
class WeightSchedule {
 public:
  /// The rule: constant, beta_ramp or step_curriculum (the named constructor of the same name).
  enum class Kind { constant, beta_ramp, step_curriculum };

  /// Fixed totals alpha and beta; cross-entropy `cross_entropy`, or 1 - (alpha + beta) when not given.
  /// All weights must be finite and >= 0, and alpha + beta <= 1 unless cross_entropy is given.
  static WeightSchedule constant(double alpha, double beta, std::optional<double> cross_entropy = std::nullopt) {
    WeightSchedule s(Kind::constant);
    s.alpha_ = alpha;
    s.beta_ = beta;
    s.ce_ = cross_entropy;
    s.validate();
    return s;
  }
  /// beta linear from beta_0 (epoch 0) to beta_1 (epoch `ramp_epochs`, then constant; 0: beta_1
  /// from the start), alpha = total - beta; cross-entropy `cross_entropy`, or 1 - total. Needs
  /// ramp_epochs >= 0, 0 <= beta_0, beta_1 <= total, and total <= 1 unless cross_entropy is given.
  static WeightSchedule beta_ramp(double total, double beta_0, double beta_1, index_t ramp_epochs,
                                  std::optional<double> cross_entropy = std::nullopt) {
    WeightSchedule s(Kind::beta_ramp);
    s.total_ = total;
    s.beta_0_ = beta_0;
    s.beta_1_ = beta_1;
    s.ramp_ = ramp_epochs;
    s.ce_ = cross_entropy;
    check(ramp_epochs >= 0, "WeightSchedule::beta_ramp: ramp_epochs must be >= 0, got ", ramp_epochs);
    check(beta_0 >= 0 && beta_1 >= 0 && beta_0 <= total && beta_1 <= total, "WeightSchedule::beta_ramp: need 0 <= beta_0, beta_1 <= total (",
          beta_0, ", ", beta_1, ", total ", total, ")");
    s.validate();
    return s;
  }
  /// The authors' step curriculum: alpha and beta times curriculum_factor() of the fraction of
  /// training, cross-entropy max(0, 1 - (alpha + beta)) each epoch. alpha, beta finite and >= 0.
  static WeightSchedule step_curriculum(double alpha, double beta) {
    WeightSchedule s(Kind::step_curriculum);
    s.alpha_ = alpha;
    s.beta_ = beta;
    s.validate();
    return s;
  }

  /// The totals during `epoch` (0-based) of a run of `epochs`. Throws invar::Error unless
  /// epochs >= 1 and epoch >= 0.
  [[nodiscard]] TermWeights at(index_t epoch, index_t epochs) const {
    check(epochs >= 1 && epoch >= 0, "WeightSchedule: need epochs >= 1 and epoch >= 0, got epoch ", epoch, " of ",
          epochs);
    TermWeights w;
    switch (kind_) {
      case Kind::constant:
        w.alpha = alpha_;
        w.beta = beta_;
        break;
      case Kind::beta_ramp: {
        const double t = ramp_ == 0 ? 1.0 : std::min(1.0, double(epoch) / double(ramp_));
        w.beta = beta_0_ + (beta_1_ - beta_0_) * t;
        w.alpha = total_ - w.beta;
        w.cross_entropy = ce_.value_or(1.0 - total_);
        return w;
      }
      case Kind::step_curriculum: {
        const double f = curriculum_factor(double(epoch) / double(epochs));
        w.alpha = f * alpha_;
        w.beta = f * beta_;
        w.cross_entropy = std::max(0.0, 1.0 - (w.alpha + w.beta));
        return w;
      }
    }
    w.cross_entropy = ce_.value_or(1.0 - (w.alpha + w.beta));
    return w;
  }

  /// The step curriculum's factor at a fraction of training.
  [[nodiscard]] static double curriculum_factor(double fraction) {
    if (fraction < 0.03) return 10.0;
    if (fraction < 0.25) return 1.0;
    if (fraction < 0.50) return 0.1;
    if (fraction < 0.75) return 0.01;
    return 0.0;
  }

  /// Which rule this schedule follows.
  [[nodiscard]] Kind kind() const { return kind_; }
  /// The rule's name for logs: "constant", "beta ramp" or "step curriculum".
  [[nodiscard]] std::string describe() const {
    switch (kind_) {
      case Kind::constant: return "constant";
      case Kind::beta_ramp: return "beta ramp";
      case Kind::step_curriculum: return "step curriculum";
    }
    return "?";
  }

 private:
  explicit WeightSchedule(Kind k) : kind_(k) {}
  void validate() const {
    auto ok = [](double v) { return std::isfinite(v) && v >= 0; };
    check(ok(alpha_) && ok(beta_) && ok(total_) && ok(beta_0_) && ok(beta_1_), "WeightSchedule (", describe(),
          "): weights must be finite and >= 0");
    check(!ce_ || ok(*ce_), "WeightSchedule (", describe(), "): the cross-entropy weight must be finite and >= 0");
    const double inv = kind_ == Kind::beta_ramp ? total_ : alpha_ + beta_;
    check(ce_ || inv <= 1.0 + 1e-12 || kind_ == Kind::step_curriculum, "WeightSchedule (", describe(),
          "): invariance weights sum to ", inv, " > 1, so the automatic cross-entropy weight 1 - sum would be negative;"
          " give the cross-entropy weight explicitly");
  }

  Kind kind_;
  double alpha_ = 0, beta_ = 0, total_ = 0, beta_0_ = 0, beta_1_ = 0;
  index_t ramp_ = 0;
  std::optional<double> ce_;
};

}  // namespace invar::objective
