#pragma once
/// \file presets.hpp
/// The paper's training configurations as ready objectives (method.md, "The objective"):
///
/// | preset          | sum alpha (L_DA) | sum beta (L_C) | cross-entropy | notes                          |
/// |-----------------|------------------|----------------|---------------|--------------------------------|
/// | baseline        | 0                | 0              | 1             | no invariance term             |
/// | invariance_only | 0.1              | 0.9            | 0             | the paper's invariance-only    |
/// | mixed           | 0.01             | 0.09           | 0.9           | invariance-only's 1:9 split at |
/// |                 |                  |                |               | the authors' total 0.1, + CE   |
/// | authors         | 0.1              | 0              | 0.9           | the authors' published setting |
/// | anticollapse    | 0.1              | 0.9            | 0             | invariance-only + anti-collapse|
///
/// anticollapse adds the three anti-collapse penalties (losses/anti_collapse/) at every
/// invariance tap, with constant totals spread evenly over the taps: variance hinge 3.0
/// (target 1), covariance 0.12 (VICReg's 25 : 1 ratio of the two) and PC1 share 1.0 (threshold
/// 0.2), chosen on Fashion-MNIST (docs/anti_collapse.md, "Choosing the weights"). Any preset takes penalties through PresetOptions (`variance`, `covariance`, `pc1`,
/// `penalty_taps`); docs/anti_collapse.md has the experiment behind these numbers.
///
/// The paper names "mixed" (invariance + cross-entropy) without its weights; invar keeps the
/// invariance-only split (alpha : beta = 1 : 9) at the total the authors published (0.1).
/// Each total is spread over the taps by a weight profile (default: exponential, r = 10, the
/// authors' nine weights .0027 ... .0270 for a total of 0.1 on All-CNN's nine layers).
/// The authors' preset also takes the authors' code's reference set for L_DA's denominator
/// (pairs that share a class); the others use every pair, as Eq. 2 is printed. Every choice can be
/// overridden through PresetOptions; the totals by `alpha` and `beta`.
///
///   auto obj = objective::make_objective<float>(objective::Preset::mixed, {"hidden1", "hidden2"});
///   auto obj = objective::make_objective<float>(objective::Preset::authors, taps,
///                  objective::PresetOptions{}.with_schedule(objective::ScheduleKind::step_curriculum),
///                  CosineDistance{});

#include <optional>
#include <string>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/metrics/mean_squared_difference.hpp"
#include "invar/objective/layer_weights.hpp"
#include "invar/objective/objective.hpp"
#include "invar/objective/weight_schedule.hpp"

namespace invar::objective {

/// The paper's training configurations (the table in the file comment).
enum class Preset { baseline, invariance_only, mixed, authors, anticollapse };

/// "baseline", "invariance", "mixed", "authors" or "anticollapse" (what parse_preset() reads).
[[nodiscard]] inline const char* to_string(Preset p) {
  switch (p) {
    case Preset::baseline: return "baseline";
    case Preset::invariance_only: return "invariance";
    case Preset::mixed: return "mixed";
    case Preset::authors: return "authors";
    case Preset::anticollapse: return "anticollapse";
  }
  return "?";
}

/// Parses "baseline", "invariance" (or "invariance-only", "invariance_only"), "mixed", "authors",
/// "anticollapse" (or "anti-collapse"); anything else throws invar::Error.
[[nodiscard]] inline Preset parse_preset(const std::string& s) {
  if (s == "baseline") return Preset::baseline;
  if (s == "invariance" || s == "invariance-only" || s == "invariance_only") return Preset::invariance_only;
  if (s == "mixed") return Preset::mixed;
  if (s == "authors") return Preset::authors;
  if (s == "anticollapse" || s == "anti-collapse") return Preset::anticollapse;
  throw Error("unknown objective preset '" + s + "' (expected baseline, invariance, mixed, authors or anticollapse)");
}

/// The totals of a preset: sum of alpha and sum of beta (cross-entropy 1 - both).
struct PresetTotals {
  double alpha = 0;  ///< sum of the L_DA weights over the taps
  double beta = 0;   ///< sum of the L_C weights over the taps
};

/// The preset's own totals (the table in the file comment), before PresetOptions overrides.
[[nodiscard]] inline PresetTotals preset_totals(Preset p) {
  switch (p) {
    case Preset::baseline: return {0.0, 0.0};
    case Preset::invariance_only: return {0.1, 0.9};
    case Preset::mixed: return {0.01, 0.09};
    case Preset::authors: return {0.1, 0.0};
    case Preset::anticollapse: return {0.1, 0.9};
  }
  return {};
}

/// The totals of a preset's anti-collapse penalties (0: none).
struct PenaltyTotals {
  double variance = 0;    ///< total weight of the variance hinge
  double covariance = 0;  ///< total weight of the covariance penalty
  double pc1 = 0;         ///< total weight of the PC1-share penalty
};

/// The penalty totals of a preset: anticollapse's (see the file comment), else none.
[[nodiscard]] inline PenaltyTotals preset_penalties(Preset p) {
  if (p == Preset::anticollapse) return {3.0, 0.12, 1.0};
  return {};
}

/// How the totals change over training (weight_schedule.hpp).
enum class ScheduleKind { constant, beta_ramp, step_curriculum };

/// "constant", "ramp" or "curriculum" (what parse_schedule_kind() reads).
[[nodiscard]] inline const char* to_string(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::beta_ramp: return "ramp";
    case ScheduleKind::step_curriculum: return "curriculum";
  }
  return "?";
}

/// Parses "constant", "ramp" (beta ramp; also "beta-ramp", "beta_ramp") or "curriculum" (the
/// authors' step curriculum; also "step-curriculum", "step_curriculum"); else throws invar::Error.
[[nodiscard]] inline ScheduleKind parse_schedule_kind(const std::string& s) {
  if (s == "constant") return ScheduleKind::constant;
  if (s == "ramp" || s == "beta-ramp" || s == "beta_ramp") return ScheduleKind::beta_ramp;
  if (s == "curriculum" || s == "step-curriculum" || s == "step_curriculum") return ScheduleKind::step_curriculum;
  throw Error("unknown weight schedule '" + s + "' (expected constant, ramp or curriculum)");
}

/// Everything a preset leaves open, with chainable setters.
struct PresetOptions {
  std::optional<double> alpha;  ///< overrides the preset's sum of alpha
  std::optional<double> beta;   ///< overrides the preset's sum of beta
  WeightProfile profile = WeightProfile::exponential;  ///< per-layer split of each total (default: the authors')
  double ratio = 10.0;  ///< r of the linear and exponential profiles
  /// Given per-layer shares, one per tap (normalised to sum 1); replace the profile when set.
  std::vector<double> shares;
  PairConvention convention = PairConvention::pooled;  ///< pair convention of every term (default: pooled, the authors' code)
  std::optional<AugmentationReference> reference;  ///< default: same_class for authors, else all_pairs
  ScheduleKind schedule = ScheduleKind::constant;  ///< how the totals change over training (default: fixed)
  /// beta ramp only: beta goes from 0 to its total over this many epochs, then stays.
  index_t ramp_epochs = 10;
  std::optional<double> variance;    ///< overrides the preset's variance-hinge total
  std::optional<double> covariance;  ///< overrides the preset's covariance-penalty total
  std::optional<double> pc1;         ///< overrides the preset's PC1-share-penalty total
  std::vector<std::string> penalty_taps;  ///< the penalties' taps; empty: the invariance taps
  PenaltyOptions penalty_options;    ///< targets, thresholds, feature views of the penalties

  /// Sets #alpha; returns *this for chaining.
  PresetOptions& with_alpha(double a) { alpha = a; return *this; }
  /// Sets #beta; returns *this.
  PresetOptions& with_beta(double b) { beta = b; return *this; }
  /// Sets #profile and its #ratio; returns *this.
  PresetOptions& with_profile(WeightProfile p, double r = 10.0) { profile = p; ratio = r; return *this; }
  /// Sets #shares (one per tap); returns *this.
  PresetOptions& with_shares(std::vector<double> s) { shares = std::move(s); return *this; }
  /// Sets #convention; returns *this.
  PresetOptions& with_convention(PairConvention c) { convention = c; return *this; }
  /// Sets #reference; returns *this.
  PresetOptions& with_reference(AugmentationReference r) { reference = r; return *this; }
  /// Sets #schedule and #ramp_epochs (used by the beta ramp only); returns *this.
  PresetOptions& with_schedule(ScheduleKind k, index_t ramp = 10) { schedule = k; ramp_epochs = ramp; return *this; }
  /// Sets the penalty totals (#variance, #covariance, #pc1).
  PresetOptions& with_penalties(double v, double c, double p) { variance = v; covariance = c; pc1 = p; return *this; }
  /// Sets #penalty_taps.
  PresetOptions& with_penalty_taps(std::vector<std::string> t) { penalty_taps = std::move(t); return *this; }
};

/// The preset's totals after the options' overrides.
[[nodiscard]] inline PresetTotals resolved_totals(Preset p, const PresetOptions& o) {
  PresetTotals t = preset_totals(p);
  if (o.alpha) t.alpha = *o.alpha;
  if (o.beta) t.beta = *o.beta;
  return t;
}

/// The preset's penalty totals after the options' overrides.
[[nodiscard]] inline PenaltyTotals resolved_penalties(Preset p, const PresetOptions& o) {
  PenaltyTotals t = preset_penalties(p);
  if (o.variance) t.variance = *o.variance;
  if (o.covariance) t.covariance = *o.covariance;
  if (o.pc1) t.pc1 = *o.pc1;
  return t;
}

/// The objective of a preset: L_DA at every tap when sum alpha > 0, L_C at every tap when sum
/// beta > 0 (each with the profile's per-layer split), with `metric`, and the schedule; then the
/// anti-collapse penalties whose totals are > 0, at `penalty_taps` (default: `taps`).
/// Throws invar::Error for negative or non-finite totals, alpha + beta > 1, invariance terms
/// without taps, or shares that do not match the taps (count, sign, zero sum).
template <class T, class M = MeanSquaredDifference, Device D = Cpu>
Objective<T, D> make_objective(Preset preset, const std::vector<std::string>& taps, const PresetOptions& o = {},
                               const M& metric = {}) {
  const PresetTotals t = resolved_totals(preset, o);
  check(std::isfinite(t.alpha) && std::isfinite(t.beta) && t.alpha >= 0 && t.beta >= 0,
        "make_objective: alpha and beta must be finite and >= 0, got ", t.alpha, " and ", t.beta);
  check(t.alpha + t.beta <= 1.0 + 1e-12, "make_objective: alpha + beta = ", t.alpha + t.beta,
        " > 1 leaves the cross-entropy a negative weight");
  check(t.alpha + t.beta == 0 || !taps.empty(), "make_objective: preset '", to_string(preset),
        "' has invariance terms but no taps were given");
  const auto options = GroupLossOptions{}.with_convention(o.convention);
  // The per-layer split: given shares (normalised), else the profile's.
  std::vector<double> shares = o.shares;
  if (shares.empty()) {
    if (!taps.empty()) shares = layer_weights(o.profile, static_cast<index_t>(taps.size()), 1.0, o.ratio);
  } else {
    check(shares.size() == taps.size(), "make_objective: ", shares.size(), " per-layer shares given for ", taps.size(),
          " taps");
    double sum = 0;
    for (double w : shares) {
      check(std::isfinite(w) && w >= 0, "make_objective: per-layer shares must be finite and >= 0, got ", w);
      sum += w;
    }
    check(sum > 0, "make_objective: the per-layer shares sum to 0");
    for (double& w : shares) w /= sum;
  }
  Objective<T, D> obj;
  // With the beta ramp, both kinds may carry weight at some epoch even if one total starts at 0.
  const bool ramp = o.schedule == ScheduleKind::beta_ramp;
  const auto add_kind = [&](Invariance kind) {
    for (std::size_t i = 0; i < taps.size(); ++i) obj.add(kind, taps[i], shares[i], metric, options);
  };
  if (t.alpha > 0 || (ramp && t.beta > 0)) add_kind(Invariance::augmentation);
  if (t.beta > 0) add_kind(Invariance::class_wise);
  switch (o.schedule) {
    case ScheduleKind::constant: obj.with_schedule(WeightSchedule::constant(t.alpha, t.beta)); break;
    case ScheduleKind::beta_ramp:
      obj.with_schedule(WeightSchedule::beta_ramp(t.alpha + t.beta, 0.0, t.beta, o.ramp_epochs));
      break;
    case ScheduleKind::step_curriculum: obj.with_schedule(WeightSchedule::step_curriculum(t.alpha, t.beta)); break;
  }
  const PenaltyTotals pen = resolved_penalties(preset, o);
  const auto& penalty_taps = o.penalty_taps.empty() ? taps : o.penalty_taps;
  for (auto [kind, total] : {std::pair{Penalty::variance, pen.variance}, std::pair{Penalty::covariance, pen.covariance},
                             std::pair{Penalty::pc1_share, pen.pc1}}) {
    check(std::isfinite(total) && total >= 0, "make_objective: the ", to_string(kind),
          " penalty's weight must be finite and >= 0, got ", total);
    if (total == 0) continue;
    check(!penalty_taps.empty(), "make_objective: a ", to_string(kind), " penalty but no taps were given");
    obj.penalize(kind, penalty_taps, total, o.penalty_options);
  }
  obj.with_augmentation_reference(o.reference.value_or(preset == Preset::authors ? AugmentationReference::same_class
                                                                                 : AugmentationReference::all_pairs));
  return obj;
}

}  // namespace invar::objective
