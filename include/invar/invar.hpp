#pragma once
/// \file invar.hpp
/// The umbrella header: everything invar offers on the CPU that the target invar::invar covers
/// (core, backend, metrics, losses, nn, optim, objective, data, io, analysis, attacks), and the
/// checkpoints of train/ where the target invar::train is linked too. The report figures
/// (invar::report) and the trainer are included by name. Including single headers
/// (e.g. invar/metrics/euclidean.hpp) keeps compile times down where that matters.

#include "invar/core/config.hpp"
#include "invar/core/device.hpp"
#include "invar/core/eigen.hpp"
#include "invar/core/error.hpp"
#include "invar/core/shape.hpp"
#include "invar/core/tensor.hpp"
#include "invar/core/tensor_view.hpp"

#include "invar/backend/cpu/threads.hpp"
#include "invar/backend/ops.hpp"
#include "invar/cpu.hpp"

#include "invar/metrics/metrics.hpp"
#include "invar/analysis/pairwise_distances.hpp"

#include "invar/losses/group_invariance.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"

#include "invar/nn/layers/avg_pool2d.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/layers/conv2d.hpp"
#include "invar/nn/layers/flatten.hpp"
#include "invar/nn/layers/global_avg_pool.hpp"
#include "invar/nn/layers/linear.hpp"
#include "invar/nn/layers/max_pool2d.hpp"
#include "invar/nn/layers/relu.hpp"
#include "invar/nn/layers/residual_block.hpp"
#include "invar/nn/models/all_cnn.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/nn/models/wide_resnet.hpp"
#include "invar/nn/parameter_io.hpp"
#include "invar/nn/safetensors_export.hpp"
#include "invar/nn/sequential.hpp"

#include "invar/objective/objective.hpp"
#include "invar/objective/presets.hpp"
#include "invar/nn/model.hpp"
#include "invar/optim/adam.hpp"
#include "invar/optim/schedule.hpp"
#include "invar/optim/sgd.hpp"
#include "invar/optim/state_io.hpp"

#include "invar/data/augment/augmentation.hpp"
#include "invar/data/augment/schemes.hpp"
#include "invar/data/cifar.hpp"
#include "invar/data/idx.hpp"
#include "invar/data/image_set.hpp"
#include "invar/data/label_subset.hpp"
#include "invar/data/sampler.hpp"
#include "invar/io/archive.hpp"
#include "invar/io/npy.hpp"
#include "invar/io/safetensors.hpp"
#include "invar/analysis/cka.hpp"
#include "invar/analysis/classifier_accuracy.hpp"
#include "invar/analysis/dissimilarity.hpp"
#include "invar/analysis/features.hpp"
#include "invar/analysis/invariance_score.hpp"
#include "invar/analysis/lbfgs.hpp"
#include "invar/analysis/linear_probe.hpp"
#include "invar/analysis/mlp_probe.hpp"
#include "invar/analysis/pca.hpp"
#include "invar/analysis/probe.hpp"
#include "invar/analysis/standardize.hpp"
#include "invar/analysis/tsne.hpp"
#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/fgsm.hpp"
#include "invar/attacks/pgd.hpp"
#include "invar/attacks/projection.hpp"
#include "invar/attacks/robustness.hpp"
#include "invar/attacks/target.hpp"
#include "invar/data/class_subset.hpp"

// Components beyond invar::invar, only where their target is linked (it defines the macro).
#if defined(INVAR_COMPONENT_TRAIN)
#include "invar/train/checkpoint.hpp"
#endif
