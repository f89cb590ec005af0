// keep_classes: the images of the given classes, in their order, relabelled 0 .. k-1 in the
// order the classes are given, with their class names; coarse labels kept; errors by name.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/data/class_subset.hpp"
#include "support/error_message.hpp"

using invar::index_t;
using invar::Shape;
using invar::Tensor;
using invar::data::ImageSet;
using invar::data::keep_classes;

namespace {

/// 7 images of 1 x 2 x 2 pixels; pixel p of image i is (10 i + p) / 100. Labels 5 1 3 1 5 0 5
/// over 6 named classes (class 2 and 4 have no image); coarse labels 0 1 1 0 2 2 0.
ImageSet subset_example(bool coarse) {
  ImageSet set;
  const std::vector<index_t> labels = {5, 1, 3, 1, 5, 0, 5};
  const index_t n = static_cast<index_t>(labels.size());
  set.images = Tensor<float>(Shape{n, 1, 2, 2});
  for (index_t i = 0; i < n; ++i)
    for (index_t p = 0; p < 4; ++p) set.images[i * 4 + p] = float(10 * i + p) / 100.0f;
  set.labels = Tensor<index_t>(Shape{n});
  for (index_t i = 0; i < n; ++i) set.labels[i] = labels[std::size_t(i)];
  set.class_names = {"zero", "one", "two", "three", "four", "five"};
  if (coarse) {
    const std::vector<index_t> c = {0, 1, 1, 0, 2, 2, 0};
    set.coarse_labels = Tensor<index_t>(Shape{n});
    for (index_t i = 0; i < n; ++i) set.coarse_labels[i] = c[std::size_t(i)];
    set.coarse_class_names = {"a", "b", "c"};
  }
  return set;
}

std::vector<index_t> subset_values(const Tensor<index_t>& t) { return {t.begin(), t.end()}; }

/// The pixels of image r of `out` are those of image `from` of the example.
void subset_check_image(const ImageSet& out, index_t r, index_t from) {
  CAPTURE(r);
  CAPTURE(from);
  for (index_t p = 0; p < 4; ++p) CHECK(out.images[r * 4 + p] == float(10 * from + p) / 100.0f);
}

}  // namespace

TEST_SUITE("data") {

TEST_CASE("keep_classes keeps the images of the given classes in order, relabelled in the order given") {
  const ImageSet set = subset_example(false);
  const ImageSet out = keep_classes(set, {5, 1});
  REQUIRE(out.images.shape() == Shape{5, 1, 2, 2});
  // Images 0 (5), 1 (1), 3 (1), 4 (5), 6 (5): their order in the set, not grouped by class.
  const std::vector<index_t> from = {0, 1, 3, 4, 6};
  for (index_t r = 0; r < 5; ++r) subset_check_image(out, r, from[std::size_t(r)]);
  CHECK(subset_values(out.labels) == std::vector<index_t>{0, 1, 1, 0, 0});
  CHECK(out.class_names == std::vector<std::string>{"five", "one"});
  CHECK(out.size() == 5);
  CHECK(out.coarse_labels.numel() == 0);
  CHECK(out.coarse_class_names.empty());

  // The other order swaps the labels, not the images.
  const ImageSet swapped = keep_classes(set, {1, 5});
  for (index_t r = 0; r < 5; ++r) subset_check_image(swapped, r, from[std::size_t(r)]);
  CHECK(subset_values(swapped.labels) == std::vector<index_t>{1, 0, 0, 1, 1});
  CHECK(swapped.class_names == std::vector<std::string>{"one", "five"});

  // One class; three classes.
  const ImageSet three = keep_classes(set, {3});
  REQUIRE(three.size() == 1);
  subset_check_image(three, 0, 2);
  CHECK(subset_values(three.labels) == std::vector<index_t>{0});
  CHECK(three.class_names == std::vector<std::string>{"three"});
  const ImageSet many = keep_classes(set, {0, 3, 1});
  CHECK(subset_values(many.labels) == std::vector<index_t>{2, 1, 2, 0});
  const std::vector<index_t> from_many = {1, 2, 3, 5};
  for (index_t r = 0; r < 4; ++r) subset_check_image(many, r, from_many[std::size_t(r)]);
  CHECK(many.class_names == std::vector<std::string>{"zero", "three", "one"});

  // The input is not changed.
  CHECK(subset_values(set.labels) == std::vector<index_t>{5, 1, 3, 1, 5, 0, 5});
}

TEST_CASE("keep_classes keeps the coarse labels and their names as they are") {
  const ImageSet out = keep_classes(subset_example(true), {5, 1});
  CHECK(subset_values(out.coarse_labels) == std::vector<index_t>{0, 1, 0, 2, 0});
  CHECK(out.coarse_class_names == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("keep_classes without class names names the classes by their old labels") {
  ImageSet set = subset_example(false);
  set.class_names.clear();
  const ImageSet out = keep_classes(set, {5, 0});
  CHECK(subset_values(out.labels) == std::vector<index_t>{0, 0, 1, 0});
  CHECK(out.class_names == std::vector<std::string>{"5", "0"});
  // Without names the classes are 0 .. the largest label.
  CHECK_ERROR_CONTAINS(keep_classes(set, {6}), "class 6 is not a class of the set (0 .. 5)");
}

TEST_CASE("keep_classes refuses an empty list, a repeated class, an unknown class and a class with no image") {
  const ImageSet set = subset_example(false);
  CHECK_ERROR_CONTAINS(keep_classes(set, {}), "keep_classes: no classes given");
  CHECK_ERROR_CONTAINS(keep_classes(set, {1, 5, 1}), "class 1 is given twice");
  CHECK_ERROR_CONTAINS(keep_classes(set, {1, 6}), "class 6 is not a class of the set (0 .. 5)");
  CHECK_ERROR_CONTAINS(keep_classes(set, {-1, 1}), "class -1 is not a class of the set");
  CHECK_ERROR_CONTAINS(keep_classes(set, {1, 4}), "class 4 has no image in the set");
  CHECK_ERROR_CONTAINS(keep_classes(set, {2}), "class 2 has no image in the set");
}

}  // TEST_SUITE("data")
