#pragma once
/// \file image_set.hpp
/// ImageSet: a labelled image data set in memory, as every loader returns it (idx.hpp for
/// MNIST / Fashion-MNIST, cifar.hpp for CIFAR-10 / CIFAR-100).

#include <string>
#include <vector>

#include "invar/core/config.hpp"
#include "invar/core/tensor.hpp"

namespace invar::data {

/// A labelled image data set: what the trainer, the K x M sampler and the analysis read.
struct ImageSet {
  /// N x C x H x W floats in [0, 1] (byte / 255, correctly rounded: 0 -> 0.0f, 255 -> 1.0f);
  /// C = 1 for MNIST-like data, 3 (red, green, blue) for CIFAR.
  Tensor<float> images;
  /// N labels, each in [0, class_names.size()) when the names are known.
  Tensor<index_t> labels;
  /// The name of each label value; empty when unknown (load_idx_pair without names).
  std::vector<std::string> class_names;
  /// N coarse labels (CIFAR-100's 20 superclasses), each in [0, coarse_class_names.size());
  /// empty (0 elements) for data sets without a second level of labels.
  Tensor<index_t> coarse_labels;
  /// The name of each coarse label value; empty unless coarse_labels is filled.
  std::vector<std::string> coarse_class_names;

  /// N, the number of images (counted by their labels).
  [[nodiscard]] index_t size() const { return labels.numel(); }
};

}  // namespace invar::data
