#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "support/error_message.hpp"
#include "invar/cpu.hpp"
#include "invar/data/label_subset.hpp"

using invar::index_t;
using invar::no_group;
using invar::Tensor;
using invar::data::count_per_class;
using invar::data::keep_labels_per_class;

namespace {

Tensor<index_t> labels_of(const std::vector<index_t>& values) {
  Tensor<index_t> t(invar::Shape{static_cast<index_t>(values.size())});
  for (std::size_t i = 0; i < values.size(); ++i) t[static_cast<index_t>(i)] = values[i];
  return t;
}

/// 4 classes with 30, 25, 40 and 12 images, interleaved (plus a few already unlabelled).
Tensor<index_t> example_labels() {
  std::vector<index_t> v;
  const std::vector<index_t> sizes = {30, 25, 40, 12};
  std::vector<index_t> left = sizes;
  for (bool any = true; any;) {
    any = false;
    for (std::size_t c = 0; c < left.size(); ++c)
      if (left[c] > 0) {
        v.push_back(static_cast<index_t>(c));
        --left[c];
        any = true;
      }
    if (v.size() % 7 == 0) v.push_back(no_group);
  }
  return labels_of(v);
}

std::vector<index_t> as_vector(const Tensor<index_t>& t) { return std::vector<index_t>(t.begin(), t.end()); }

}  // namespace

TEST_SUITE("data") {

TEST_CASE("count_per_class counts each label and skips no_group") {
  CHECK(count_per_class(labels_of({2, 0, 2, no_group, 2, 0})) == std::vector<index_t>{2, 0, 3});
  CHECK(count_per_class(labels_of({})).empty());
  CHECK(count_per_class(labels_of({no_group, no_group})).empty());
  CHECK_ERROR_CONTAINS(count_per_class(labels_of({0, 1, -2, 1})), "label -2 of image 2 is negative");
  Tensor<index_t> matrix(invar::Shape{2, 2});
  CHECK_ERROR_CONTAINS(count_per_class(matrix), "labels must be a vector");
}

TEST_CASE("keep_labels_per_class keeps exactly per_class unchanged labels per class") {
  const Tensor<index_t> labels = example_labels();
  const std::vector<index_t> counts = count_per_class(labels);
  REQUIRE(counts == std::vector<index_t>{30, 25, 40, 12});
  REQUIRE(std::count(labels.begin(), labels.end(), no_group) > 0);
  for (index_t per_class : {0, 1, 5, 12}) {
    CAPTURE(per_class);
    const Tensor<index_t> kept = keep_labels_per_class(labels, per_class, 42);
    REQUIRE(kept.shape() == labels.shape());
    std::vector<index_t> labelled(4, 0);
    for (index_t i = 0; i < labels.numel(); ++i) {
      if (kept[i] == no_group) continue;
      CHECK(kept[i] == labels[i]);  // a kept label is the original one
      ++labelled[static_cast<std::size_t>(kept[i])];
    }
    CHECK(labelled == std::vector<index_t>(4, per_class));
    CHECK(count_per_class(kept).size() == (per_class == 0 ? 0u : 4u));
  }
  // per_class equal to a class's size keeps all of it; the unlabelled inputs stay unlabelled.
  const Tensor<index_t> all = keep_labels_per_class(labels, 12, 7);
  for (index_t i = 0; i < labels.numel(); ++i) {
    if (labels[i] == 3) CHECK(all[i] == 3);
    if (labels[i] == no_group) CHECK(all[i] == no_group);
  }
}

TEST_CASE("keep_labels_per_class is deterministic for a seed and varies with it") {
  const Tensor<index_t> labels = example_labels();
  const auto a = as_vector(keep_labels_per_class(labels, 5, 1));
  const auto b = as_vector(keep_labels_per_class(labels, 5, 1));
  const auto c = as_vector(keep_labels_per_class(labels, 5, 2));
  CHECK(a == b);
  CHECK(a != c);
  // Seeds 1..20 choose 20 different subsets (a collision is astronomically unlikely).
  std::vector<std::vector<index_t>> seen;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto s = as_vector(keep_labels_per_class(labels, 5, seed));
    for (const auto& other : seen) CHECK(s != other);
    seen.push_back(s);
  }
  // Nested: with the same seed, the images kept for 3 per class are among those kept for 5.
  const auto small = as_vector(keep_labels_per_class(labels, 3, 1));
  for (std::size_t i = 0; i < small.size(); ++i)
    if (small[i] != no_group) CHECK(a[i] == small[i]);
  // A class's choice does not depend on the other classes: drop class 2 entirely.
  Tensor<index_t> without2 = labels;
  for (index_t& y : without2)
    if (y == 2) y = no_group;
  const auto d = as_vector(keep_labels_per_class(without2, 5, 1));
  for (std::size_t i = 0; i < a.size(); ++i)
    if (labels[static_cast<index_t>(i)] != 2) CHECK(d[i] == a[i]);
}

TEST_CASE("keep_labels_per_class portable choice for a fixed seed") {
  // Rng is portable, so this choice is the same everywhere; it changes only if the algorithm does.
  const Tensor<index_t> labels = labels_of({0, 1, 0, 1, 0, 1, 0, 1, 0, 1});
  const auto kept = as_vector(keep_labels_per_class(labels, 2, 123));
  index_t zeros = 0, ones = 0;
  for (index_t y : kept) {
    zeros += y == 0;
    ones += y == 1;
  }
  CHECK(zeros == 2);
  CHECK(ones == 2);
  CHECK(kept == std::vector<index_t>{no_group, 1, no_group, no_group, 0, no_group, no_group, no_group, 0, 1});
}

TEST_CASE("keep_labels_per_class errors") {
  const Tensor<index_t> labels = example_labels();
  CHECK_ERROR_CONTAINS(keep_labels_per_class(labels, -1, 0), "per_class must be >= 0, got -1");
  CHECK_ERROR_CONTAINS(keep_labels_per_class(labels, 13, 0), "class 3 has only 12 images; cannot keep 13 per class");
  CHECK_ERROR_CONTAINS(keep_labels_per_class(labels_of({0, 1, -5}), 1, 0), "label -5 of image 2 is negative");
  // Absent label values are not classes: 0 and 2 present, 1 absent.
  CHECK(as_vector(keep_labels_per_class(labels_of({0, 2}), 1, 0)) == std::vector<index_t>{0, 2});
  CHECK(keep_labels_per_class(labels_of({}), 3, 0).numel() == 0);
}

}  // TEST_SUITE("data")
