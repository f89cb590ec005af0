#pragma once
/// \file run_config.hpp
/// One training run of the command-line tools, as plain data: what invar-train trains and how.
/// Stored as config.json in the run's folder, so that other tools (invar-report) rebuild the same
/// model and data set from a checkpoint. `identity()` is the part that fixes the results (the
/// checkpoint refuses to resume under another identity); threads, folders and display options are
/// not in it.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace invar::apps {

struct RunConfig {
  // Data.
  std::string dataset = "fashion-mnist";  ///< fashion-mnist, cifar10 or cifar100
  std::string data_dir;                   ///< empty: the data set's default folder
  long train_images = 0;                  ///< first N training images; 0: all
  long test_images = 0;                   ///< first N test images; 0: all
  long labels_per_class = 0;              ///< labelled training images per class; 0: all labelled
  std::string classes;                    ///< keep only these classes (indices or names, comma-separated), relabelled 0..k-1; empty: all
  std::string augmentation = "light";     ///< none, light or heavier
  std::string draw = "normal";            ///< normal (truncated, sigma = range / 4; the authors' code) or uniform

  // Model.
  std::string model = "mlp";        ///< mlp, all-cnn or wrn
  std::string mlp_hidden = "512,256";
  double width = 1.0;               ///< All-CNN width multiplier
  std::string top_padding = "same"; ///< All-CNN's seventh conv: same or valid
  long depth = 16;                  ///< WRN depth (6 n + 4)
  long widen = 4;                   ///< WRN widening factor k
  std::string shortcut = "zero-pad";  ///< WRN: zero-pad (authors) or projection

  // Objective (Eq. 1).
  std::string objective = "baseline";  ///< baseline, invariance, mixed, authors or anticollapse
  double alpha = -1;                   ///< sum of alpha; < 0: the preset's
  double beta = -1;                    ///< sum of beta; < 0: the preset's
  std::string taps = "all";            ///< comma-separated taps, or all
  std::string weights = "exponential"; ///< per-layer profile (uniform, linear, exponential) or given shares "1,2,4"
  double ratio = 10;                   ///< r of the linear and exponential profiles
  std::string metric = "mse";
  std::string convention = "pooled";   ///< pooled (authors' code) or paper (Eq. 2/3 as printed)
  std::string reference = "preset";    ///< L_DA denominator: preset, all or same-class
  std::string schedule = "constant";   ///< constant, ramp or curriculum
  long ramp_epochs = 0;                ///< beta ramp length; 0: half the run

  // Anti-collapse penalties (losses/anti_collapse/); totals < 0: the preset's.
  double variance = -1;                ///< total weight of the variance hinge
  double covariance = -1;              ///< total weight of the covariance penalty
  double pc1 = -1;                     ///< total weight of the PC1-share penalty
  std::string penalty_taps = "same";   ///< same (the invariance taps), top, or comma-separated taps
  double variance_target = 1.0;        ///< the variance hinge's target standard deviation
  double pc1_threshold = 0.2;          ///< the PC1 share above which its penalty acts
  std::string penalty_features = "automatic";  ///< automatic (channel means of conv taps), flat or channel-mean

  // Batches.
  std::string sampler = "kxm";  ///< kxm or balanced
  long k = 16;                  ///< seed images per batch (kxm)
  long m = 8;                   ///< augmentations per seed
  long p = 8;                   ///< classes per batch (balanced)
  long q = 2;                   ///< seeds per class (balanced)
  std::string epoch_length = "paper";  ///< paper (N / (K M) steps) or every-image (N / K)

  // Optimisation.
  long epochs = 20;
  double lr = 0;                  ///< 0: the model's default
  double momentum = 0.9;
  double weight_decay = 0;
  std::string lr_schedule = "cosine";  ///< constant, cosine or step
  std::string lr_milestones;           ///< step: comma-separated epochs
  double lr_factor = 0.1;              ///< step: factor at each milestone
  std::uint64_t seed = 1;
  /// Under mpirun: batch norm statistics over every rank's rows (true) or each rank's own (docs/distributed.md).
  bool sync_batch_norm = false;

  // Evaluation.
  long score_images = 1000;  ///< held-out test images of the invariance score
  std::string probe = "auto";  ///< linear probe on frozen top features: auto (models without a trained classifier), always, never
  long probe_images = 10000;   ///< training images the probe is fitted on

  /// The configuration that fixes a run's results: everything but threads, folders (not
  /// members) and the evaluation-only options below.
  [[nodiscard]] nlohmann::json identity() const;
};

// config.json: every member by name; keys missing from a file keep their defaults.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RunConfig, dataset, data_dir, train_images, test_images,
                                                labels_per_class, classes, augmentation, draw, model, mlp_hidden, width,
                                                top_padding, depth, widen, shortcut, objective, alpha, beta, taps,
                                                weights, ratio, metric, convention, reference, schedule, ramp_epochs,
                                                variance, covariance, pc1, penalty_taps, variance_target,
                                                pc1_threshold, penalty_features,
                                                sampler, k, m, p, q, epoch_length, epochs, lr, momentum, weight_decay,
                                                lr_schedule, lr_milestones, lr_factor, seed, sync_batch_norm,
                                                score_images, probe, probe_images)

inline nlohmann::json RunConfig::identity() const {
  nlohmann::json j = *this;
  for (const char* key : {"data_dir", "score_images", "probe", "probe_images"}) j.erase(key);
  if (classes.empty()) j.erase("classes");  // so that checkpoints written before the option still resume
  if (!sync_batch_norm) j.erase("sync_batch_norm");  // likewise
  // Likewise the penalty options at their defaults (checkpoints written before them still resume).
  const RunConfig defaults;
  for (const char* key : {"variance", "covariance", "pc1", "penalty_taps", "variance_target", "pc1_threshold",
                          "penalty_features"})
    if (j[key] == nlohmann::json(defaults)[key]) j.erase(key);
  return j;
}

}  // namespace invar::apps
