#pragma once
/// \file run_setup.hpp
/// What a RunConfig means, for every tool that reads one: its augmentation, its objective's
/// preset options, and whether its objective trains the classifier (an invariance-only model's
/// accuracy is a probe's). invar-train trains with these; invar-report rebuilds the same
/// augmentation and reads the same objective.

#include <string>
#include <vector>

#include "common/model_zoo.hpp"
#include "common/run_config.hpp"
#include "invar/cpu.hpp"
#include "invar/core/error.hpp"
#include "invar/data/augment/schemes.hpp"
#include "invar/objective/presets.hpp"

namespace invar::apps {

/// The run's augmentation; "none" has none, so callers that must augment (the invariance score)
/// ask for `fallback_light`.
inline data::Augmentation make_augmentation(const RunConfig& c, bool fallback_light = false) {
  check(c.draw == "uniform" || c.draw == "normal", "--draw: expected uniform or normal, got '", c.draw, "'");
  const auto draw = c.draw == "uniform" ? data::augment::Draw::uniform : data::augment::Draw::truncated_normal;
  if (c.augmentation == "light" || (fallback_light && c.augmentation == "none"))
    return data::augment::light(data::augment::LightOptions{}.with_draw(draw));
  if (c.augmentation == "heavier") return data::augment::heavier(data::augment::HeavierOptions{}.with_draw(draw));
  throw Error("--augmentation: expected none, light or heavier, got '" + c.augmentation + "'");
}

/// The preset options of the run's objective (--alpha, --beta, --weights, ...).
inline objective::PresetOptions preset_options(const RunConfig& c) {
  objective::PresetOptions o;
  if (c.alpha >= 0) o.with_alpha(c.alpha);
  if (c.beta >= 0) o.with_beta(c.beta);
  if (c.weights == "uniform" || c.weights == "linear" || c.weights == "exponential") {
    o.with_profile(objective::parse_weight_profile(c.weights), c.ratio);
  } else {  // given shares, one per tap
    std::vector<double> shares;
    for (const auto& w : apps::split_list(c.weights, "--weights")) {
      std::size_t used = 0;
      double v = -1;
      try {
        v = std::stod(w, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      check(used == w.size(), "--weights: '", w, "' is neither a profile (uniform, linear, exponential) nor a number");
      shares.push_back(v);
    }
    o.with_shares(shares);
  }
  check(c.convention == "pooled" || c.convention == "paper", "--convention: expected pooled or paper, got '",
        c.convention, "'");
  o.with_convention(c.convention == "paper" ? PairConvention::paper : PairConvention::pooled);
  if (c.reference == "all") o.with_reference(objective::AugmentationReference::all_pairs);
  else if (c.reference == "same-class") o.with_reference(objective::AugmentationReference::same_class);
  else check(c.reference == "preset", "--reference: expected preset, all or same-class, got '", c.reference, "'");
  o.with_schedule(objective::parse_schedule_kind(c.schedule), c.ramp_epochs > 0 ? c.ramp_epochs : std::max(1L, c.epochs / 2));
  if (c.variance >= 0) o.variance = c.variance;
  if (c.covariance >= 0) o.covariance = c.covariance;
  if (c.pc1 >= 0) o.pc1 = c.pc1;
  o.penalty_options.variance.with_target(c.variance_target);
  o.penalty_options.pc1_share.with_threshold(c.pc1_threshold);
  check(c.penalty_features == "automatic" || c.penalty_features == "flat" || c.penalty_features == "channel-mean",
        "--penalty-features: expected automatic, flat or channel-mean, got '", c.penalty_features, "'");
  const auto features = c.penalty_features == "flat"           ? PenaltyFeatures::flat
                        : c.penalty_features == "channel-mean" ? PenaltyFeatures::channel_mean
                                                               : PenaltyFeatures::automatic;
  o.penalty_options.variance.with_features(features);
  o.penalty_options.covariance.with_features(features);
  o.penalty_options.pc1_share.with_features(features);
  return o;
}

/// Whether the run's objective gives cross-entropy a weight in some epoch (its classifier was
/// trained). Built from the preset, so a weight schedule is accounted for.
/// `taps`: the run's invariance taps (apps::invariance_taps), which given per-layer shares need.
inline bool trains_classifier(const RunConfig& c, const std::vector<std::string>& taps) {
  auto objective =
      objective::make_objective<float>(objective::parse_preset(c.objective), taps, preset_options(c), MeanSquaredDifference{});
  for (long e = 0; e < c.epochs; ++e) {
    objective.set_epoch(e, c.epochs);
    if (objective.weights().cross_entropy > 0) return true;
  }
  return false;
}

}  // namespace invar::apps
