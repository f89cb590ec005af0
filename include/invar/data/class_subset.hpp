#pragma once
/// \file class_subset.hpp
/// keep_classes: the images of some classes only, relabelled 0 .. k-1 in the order given: the
/// paper's binary tasks (CIFAR-10 automobile vs dog: keep_classes(set, {1, 5})) and any other
/// subset, trained and analysed like a whole data set.
///
///   auto pair = data::keep_classes(cifar_train, {1, 5});  // labels 0 = automobile, 1 = dog
///
/// Images keep their order. Class names follow the new labels; coarse labels (CIFAR-100) are
/// kept as they are. Errors: no classes, a class given twice, a class outside the set's labels,
/// a class with no image.

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/data/image_set.hpp"

namespace invar::data {

/// A copy of the images of `classes` only, labelled by their position in `classes` (file
/// comment); throws invar::Error for the errors listed there.
inline ImageSet keep_classes(const ImageSet& set, const std::vector<index_t>& classes) {
  check(!classes.empty(), "keep_classes: no classes given");
  index_t max_label = -1;
  for (index_t i = 0; i < set.size(); ++i) max_label = std::max(max_label, set.labels[i]);
  const index_t known = set.class_names.empty() ? max_label + 1 : static_cast<index_t>(set.class_names.size());
  std::vector<index_t> relabel(static_cast<std::size_t>(std::max<index_t>(known, 0)), -1);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const index_t c = classes[k];
    check(c >= 0 && c < known, "keep_classes: class ", c, " is not a class of the set (0 .. ", known - 1, ")");
    check(relabel[std::size_t(c)] < 0, "keep_classes: class ", c, " is given twice");
    relabel[std::size_t(c)] = static_cast<index_t>(k);
  }
  std::vector<index_t> rows;
  std::vector<index_t> counts(classes.size(), 0);
  for (index_t i = 0; i < set.size(); ++i) {
    const index_t l = set.labels[i];
    if (l >= 0 && l < known && relabel[std::size_t(l)] >= 0) {
      rows.push_back(i);
      ++counts[std::size_t(relabel[std::size_t(l)])];
    }
  }
  for (std::size_t k = 0; k < classes.size(); ++k)
    check(counts[k] > 0, "keep_classes: class ", classes[k], " has no image in the set");

  ImageSet out;
  const auto& shape = set.images.shape();
  const index_t per = set.images.row_size(), n = static_cast<index_t>(rows.size());
  std::vector<index_t> extents;
  for (int axis = 0; axis < shape.rank(); ++axis) extents.push_back(axis == 0 ? n : shape[axis]);
  out.images = Tensor<float>::uninitialized(Shape(std::span<const index_t>(extents)));
  out.labels = Tensor<index_t>::uninitialized(Shape{n});
  const bool coarse = set.coarse_labels.numel() == set.size() && set.size() > 0;
  if (coarse) out.coarse_labels = Tensor<index_t>::uninitialized(Shape{n});
  for (index_t r = 0; r < n; ++r) {
    const index_t i = rows[std::size_t(r)];
    std::copy(set.images.data() + i * per, set.images.data() + (i + 1) * per, out.images.data() + r * per);
    out.labels[r] = relabel[std::size_t(set.labels[i])];
    if (coarse) out.coarse_labels[r] = set.coarse_labels[i];
  }
  for (const index_t c : classes)
    out.class_names.push_back(set.class_names.empty() ? std::to_string(c) : set.class_names[std::size_t(c)]);
  if (coarse) out.coarse_class_names = set.coarse_class_names;
  return out;
}

}  // namespace invar::data
