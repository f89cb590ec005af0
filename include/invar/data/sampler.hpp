#pragma once
/// \file sampler.hpp
/// Batch samplers for the invariance losses and batch assembly (docs/data.md, "Samplers and
/// batches"), one concept per header:
/// - batch_rows.hpp              BatchRows: image, seed group, label and augmentation id per row
/// - kxm_sampler.hpp             KxMSampler: K seeds x M augmentations (M = 1: plain batches)
/// - class_balanced_sampler.hpp  ClassBalancedSampler: P classes x Q seeds x M augmentations
/// - assemble_batch.hpp          assemble_batch: the pixels of a batch, augmentation keyed per row

#include "invar/data/assemble_batch.hpp"
#include "invar/data/batch_rows.hpp"
#include "invar/data/class_balanced_sampler.hpp"
#include "invar/data/kxm_sampler.hpp"
