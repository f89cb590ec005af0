#pragma once
/// \file checkpoint.hpp
/// Checkpoints: everything a run needs to continue exactly where it stopped, in one parameter
/// file (io::Archive: versioned, CRC-checked, written atomically, so a crash mid-save leaves the
/// previous checkpoint intact):
///   model/...       parameters and buffers (batch norm's running statistics)
///   optimizer/...   momentum buffers, Adam moments, step counts, learning rate
///   train/...       epochs done, global step, the seed and the run's configuration (text)
/// Nothing else is needed for an exact resume: batches and augmentations are pure functions of
/// (seed, epoch, step) (data/kxm_sampler.hpp, data/assemble_batch.hpp).

#if !defined(INVAR_COMPONENT_TRAIN)
#error "invar: <invar/train/checkpoint.hpp> is part of the component invar::train: find_package(invar COMPONENTS train) and link the target invar::train"
#endif

#include <cmath>
#include <cstdint>
#include <string>

#include "invar/cpu.hpp"
#include "invar/io/archive.hpp"
#include "invar/nn/parameter_io.hpp"
#include "invar/optim/state_io.hpp"

namespace invar::train {

/// Where a run stands: the `train/...` part of a checkpoint.
struct TrainingState {
  index_t epochs_done = 0;  ///< completed epochs: a resumed run starts at this epoch
  index_t global_step = 0;  ///< optimiser steps taken
  std::uint64_t seed = 0;   ///< the run's seed (keys batches, augmentations, initialisation)
  std::string config;       ///< the run's configuration (e.g. JSON), compared on resume
  index_t ranks = 1;        ///< the ranks that trained it together (1: one process); a resume needs as many
};

namespace detail {
inline TrainingState read_training_state(const io::Archive& archive, const std::string& path, const char* who) {
  check(archive.contains("invar/content") && archive.text("invar/content") == "training checkpoint", who, " ", path,
        ": not a training checkpoint (a parameter file? use nn::load_parameters)");
  TrainingState s;
  s.epochs_done = archive.scalar<index_t>("train/epochs_done");
  s.global_step = archive.scalar<index_t>("train/global_step");
  const std::string seed = archive.text("train/seed");
  check(!seed.empty() && seed.find_first_not_of("0123456789") == std::string::npos, who, " ", path,
        ": bad seed entry '", seed, "'");
  s.seed = std::stoull(seed);
  check(s.epochs_done >= 0 && s.global_step >= 0, who, " ", path, ": epochs_done ", s.epochs_done, " and global_step ",
        s.global_step, " must be >= 0");
  s.config = archive.text("train/config");
  // Written since data-parallel training (files without it come from one process).
  s.ranks = archive.contains("train/ranks") ? archive.scalar<index_t>("train/ranks") : 1;
  check(s.ranks >= 1, who, " ", path, ": bad ranks entry ", s.ranks);
  return s;
}
/// Refuses a checkpoint that holds a non-finite number (a NaN weight, an Inf momentum): its CRC
/// guards against damage, not against a state no run should continue from. Names the entry.
inline void check_finite_entries(const io::Archive& archive, const std::string& path, const char* who) {
  for (const auto& name : archive.names()) {
    const auto type = archive.dtype(name);
    if (type != io::DType::float32 && type != io::DType::float64) continue;
    const auto values = archive.get<double>(name);
    for (index_t i = 0; i < values.numel(); ++i)
      check(std::isfinite(values[i]), who, " ", path, ": entry '", name, "' holds a non-finite value (", values[i],
            ") at element ", i, "; a checkpoint must hold a state a run can continue from");
  }
}
}  // namespace detail

/// Writes model parameters and buffers, the optimiser's state and `state` to `path` (atomically:
/// a failed save leaves the previous file intact). Throws invar::Error when epochs_done or
/// global_step is negative, or on an I/O error.
template <class Model, class Opt>
void save_checkpoint(const std::string& path, Model& model, const Opt& optimizer, const TrainingState& state) {
  check(state.epochs_done >= 0 && state.global_step >= 0, "save_checkpoint ", path,
        ": epochs_done and global_step must be >= 0, got ", state.epochs_done, " and ", state.global_step);
  check(state.ranks >= 1, "save_checkpoint ", path, ": ranks must be >= 1, got ", state.ranks);
  io::Archive archive;
  archive.put_text("invar/content", "training checkpoint");
  nn::store_parameters(archive, model, "model/");
  optim::store_state(archive, optimizer, "optimizer/");
  archive.put_scalar("train/epochs_done", state.epochs_done);
  archive.put_scalar("train/global_step", state.global_step);
  archive.put_text("train/seed", std::to_string(state.seed));  // text: a uint64 may not fit int64
  archive.put_text("train/config", state.config);
  if (state.ranks != 1) archive.put_scalar("train/ranks", state.ranks);
  archive.save(path);
}

/// Restores model and optimizer from a checkpoint and returns its training state. With
/// `expected_config`, refuses a checkpoint of another configuration (naming both). Refuses
/// negative counters and non-finite numbers (naming the entry); shapes that do not fit the model
/// or the optimiser are refused by the restore. Nothing is changed unless the whole file is good.
template <class Model, class Opt>
TrainingState load_checkpoint(const std::string& path, Model& model, Opt& optimizer,
                              const std::string* expected_config = nullptr) {
  const io::Archive archive = io::Archive::load(path);
  const TrainingState s = detail::read_training_state(archive, path, "load_checkpoint");
  detail::check_finite_entries(archive, path, "load_checkpoint");
  if (expected_config != nullptr)
    check(s.config == *expected_config, "load_checkpoint ", path,
          ": the checkpoint was written by another configuration.\n  checkpoint: ", s.config,
          "\n  this run:   ", *expected_config);
  // Parameters first: restore_parameters changes nothing unless every entry fits.
  nn::restore_parameters(archive, model, "model/");
  optim::restore_state(archive, optimizer, "optimizer/");
  return s;
}

/// Restores only the model of a checkpoint (to evaluate or analyse it: no optimiser needed) and
/// returns its training state. Nothing is changed unless every model entry fits.
template <class Model>
TrainingState load_checkpoint_model(const std::string& path, Model& model) {
  const io::Archive archive = io::Archive::load(path);
  const TrainingState s = detail::read_training_state(archive, path, "load_checkpoint_model");
  nn::restore_parameters(archive, model, "model/");
  return s;
}

}  // namespace invar::train
