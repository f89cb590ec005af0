#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "support/error_message.hpp"
#include "invar/cpu.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/core/random.hpp"
#include "invar/data/sampler.hpp"
#include "invar/losses/grouping.hpp"

using invar::index_t;
using invar::Rng;
using invar::Shape;
using invar::Tensor;
using invar::data::assemble_batch;
using invar::data::BatchRows;
using invar::data::ClassBalancedOptions;
using invar::data::ClassBalancedSampler;
using invar::data::EpochLength;
using invar::data::KxMOptions;
using invar::data::KxMSampler;

namespace {

Tensor<index_t> sampler_labels(const std::vector<index_t>& values) {
  Tensor<index_t> t(Shape{static_cast<index_t>(values.size())});
  std::copy(values.begin(), values.end(), t.begin());
  return t;
}

/// Image i has class i % classes.
Tensor<index_t> cyclic_labels(index_t n, index_t classes) {
  std::vector<index_t> v(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i % classes;
  return sampler_labels(v);
}

/// Classes of the given sizes, images interleaved (class of image i not a function of i's block).
Tensor<index_t> imbalanced_labels(const std::vector<index_t>& sizes) {
  std::vector<index_t> v;
  for (std::size_t c = 0; c < sizes.size(); ++c) v.insert(v.end(), static_cast<std::size_t>(sizes[c]), static_cast<index_t>(c));
  Rng rng(99);
  invar::data::detail::shuffle(v.data(), static_cast<index_t>(v.size()), rng);
  return sampler_labels(v);
}

std::vector<index_t> to_vector(const Tensor<index_t>& t) { return {t.begin(), t.end()}; }

bool same_rows(const BatchRows& a, const BatchRows& b) {
  return to_vector(a.image) == to_vector(b.image) && to_vector(a.seed) == to_vector(b.seed) &&
         to_vector(a.label) == to_vector(b.label) && to_vector(a.augmentation) == to_vector(b.augmentation);
}

/// The structure every K x M batch has: seed ids 0..K-1 with M rows each, the M rows of a seed
/// share image and label, carry augmentation ids 0..M-1 once each, and the K images differ.
/// Returns the seed images, indexed by seed id.
std::vector<index_t> check_seed_groups(const BatchRows& rows, index_t k, index_t m, const Tensor<index_t>& labels) {
  REQUIRE(rows.size() == k * m);
  REQUIRE(rows.seed.numel() == k * m);
  REQUIRE(rows.label.numel() == k * m);
  REQUIRE(rows.augmentation.numel() == k * m);
  std::vector<index_t> image_of(static_cast<std::size_t>(k), -1);
  std::vector<std::set<index_t>> augs(static_cast<std::size_t>(k));
  std::vector<index_t> count(static_cast<std::size_t>(k), 0);
  for (index_t r = 0; r < rows.size(); ++r) {
    const index_t s = rows.seed[r];
    REQUIRE(s >= 0);
    REQUIRE(s < k);
    const auto su = static_cast<std::size_t>(s);
    if (image_of[su] < 0) image_of[su] = rows.image[r];
    CHECK(rows.image[r] == image_of[su]);
    CHECK(rows.label[r] == labels[rows.image[r]]);
    CHECK(rows.augmentation[r] >= 0);
    CHECK(rows.augmentation[r] < m);
    augs[su].insert(rows.augmentation[r]);
    ++count[su];
  }
  for (index_t s = 0; s < k; ++s) {
    CHECK(count[static_cast<std::size_t>(s)] == m);
    CHECK(static_cast<index_t>(augs[static_cast<std::size_t>(s)].size()) == m);
  }
  CHECK(std::set<index_t>(image_of.begin(), image_of.end()).size() == static_cast<std::size_t>(k));
  return image_of;
}

/// Test augmentation: adds one value drawn from rng to every pixel.
struct AddDrawn {
  void apply(const float* in, float* out, index_t channels, index_t height, index_t width, Rng& rng) const {
    const auto v = static_cast<float>(rng.uniform());
    for (index_t i = 0; i < channels * height * width; ++i) out[i] = in[i] + v;
  }
};

/// Throws for one image.
struct ThrowsOn {
  index_t bad;
  void apply(const float* in, float* out, index_t channels, index_t height, index_t width, Rng&) const {
    if (in[0] == static_cast<float>(bad * 1000)) throw invar::Error("ThrowsOn: image " + std::to_string(bad));
    std::copy(in, in + channels * height * width, out);
  }
};

/// N x C x H x W images, pixel p of image i = i * 1000 + p % 1000.
Tensor<float> numbered_images(index_t n, index_t c, index_t h, index_t w) {
  Tensor<float> t(Shape{n, c, h, w});
  const index_t size = c * h * w;
  for (index_t i = 0; i < n; ++i)
    for (index_t p = 0; p < size; ++p) t[i * size + p] = static_cast<float>(i * 1000 + p % 1000);
  return t;
}

}  // namespace

TEST_SUITE("data") {

TEST_CASE("KxMSampler: every seed has M rows of one image and label with augmentations 0..M-1") {
  const Tensor<index_t> labels = cyclic_labels(100, 7);
  const KxMSampler sampler(labels, KxMOptions{}.with_seeds_per_batch(4).with_augmentations(3).with_seed(5));
  CHECK(sampler.images() == 100);
  CHECK(sampler.batch_size() == 12);
  CHECK(sampler.steps_per_epoch() == 100 / 12);
  for (index_t epoch = 0; epoch < 3; ++epoch)
    for (index_t step = 0; step < sampler.steps_per_epoch(); ++step)
      check_seed_groups(sampler.batch(epoch, step), 4, 3, labels);
}

TEST_CASE("KxMSampler: seeds follow the documented keyed permutation and row shuffle") {
  // The documented algorithm, written out here: a change of keying would break resume across versions.
  const index_t n = 23, k = 3, m = 2;
  const std::uint64_t seed = 11;
  const Tensor<index_t> labels = cyclic_labels(n, 4);
  const KxMSampler sampler(labels, KxMOptions{}.with_seeds_per_batch(k).with_augmentations(m).with_seed(seed));
  for (index_t epoch : {0, 4}) {
    Rng rng = Rng::keyed(seed, {invar::data::detail::tag_kxm_epoch, static_cast<std::uint64_t>(epoch)});
    std::vector<index_t> perm(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = i;
    for (index_t i = n - 1; i > 0; --i)
      std::swap(perm[static_cast<std::size_t>(i)], perm[rng.below(static_cast<std::uint64_t>(i + 1))]);
    CHECK(sampler.epoch_permutation(epoch) == perm);
    for (index_t step = 0; step < sampler.steps_per_epoch(); ++step) {
      Rng rows_rng = Rng::keyed(seed, {invar::data::detail::tag_kxm_rows, static_cast<std::uint64_t>(epoch),
                                       static_cast<std::uint64_t>(step)});
      std::vector<index_t> order(static_cast<std::size_t>(k * m));
      for (index_t r = 0; r < k * m; ++r) order[static_cast<std::size_t>(r)] = r;
      for (index_t i = k * m - 1; i > 0; --i)
        std::swap(order[static_cast<std::size_t>(i)], order[rows_rng.below(static_cast<std::uint64_t>(i + 1))]);
      const BatchRows rows = sampler.batch(epoch, step);
      for (index_t r = 0; r < k * m; ++r) {
        const index_t u = order[static_cast<std::size_t>(r)];
        CHECK(rows.seed[r] == u / m);
        CHECK(rows.augmentation[r] == u % m);
        CHECK(rows.image[r] == perm[static_cast<std::size_t>(step * k + u / m)]);
      }
    }
  }
}

TEST_CASE("KxMSampler: every_image makes every image a seed exactly once per epoch") {
  SUBCASE("K divides N") {
    const Tensor<index_t> labels = cyclic_labels(60, 5);
    const KxMSampler sampler(labels, KxMOptions{}.with_seeds_per_batch(6).with_augmentations(2).with_epoch_length(
                                         EpochLength::every_image));
    CHECK(sampler.steps_per_epoch() == 10);
    for (index_t epoch = 0; epoch < 2; ++epoch) {
      std::vector<int> seen(60, 0);
      for (index_t step = 0; step < 10; ++step)
        for (index_t image : check_seed_groups(sampler.batch(epoch, step), 6, 2, labels)) ++seen[static_cast<std::size_t>(image)];
      CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    }
  }
  SUBCASE("K does not divide N: the partial batch is dropped, or kept on request") {
    const Tensor<index_t> labels = cyclic_labels(62, 5);
    const auto opts = KxMOptions{}.with_seeds_per_batch(6).with_augmentations(2).with_epoch_length(EpochLength::every_image);
    const KxMSampler dropping(labels, opts);
    CHECK(dropping.steps_per_epoch() == 10);
    std::set<index_t> seeds;
    for (index_t step = 0; step < 10; ++step)
      for (index_t image : check_seed_groups(dropping.batch(0, step), 6, 2, labels)) CHECK(seeds.insert(image).second);
    CHECK(seeds.size() == 60);

    const KxMSampler keeping(labels, KxMOptions(opts).keeping_partial_batch());
    CHECK(keeping.steps_per_epoch() == 11);
    CHECK(keeping.seeds_in_batch(9) == 6);
    CHECK(keeping.seeds_in_batch(10) == 2);
    std::vector<int> seen(62, 0);
    for (index_t step = 0; step < 11; ++step) {
      const index_t k = keeping.seeds_in_batch(step);
      for (index_t image : check_seed_groups(keeping.batch(1, step), k, 2, labels)) ++seen[static_cast<std::size_t>(image)];
    }
    CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
  }
  SUBCASE("plain batches (M = 1) see every image once, for either epoch length") {
    const Tensor<index_t> labels = cyclic_labels(50, 3);
    for (EpochLength length : {EpochLength::paper, EpochLength::every_image}) {
      CAPTURE(invar::data::to_string(length));
      const KxMSampler sampler(labels, KxMOptions{}.with_seeds_per_batch(5).with_augmentations(1).with_epoch_length(length));
      CHECK(sampler.steps_per_epoch() == 10);
      std::vector<int> seen(50, 0);
      for (index_t step = 0; step < 10; ++step) {
        const BatchRows rows = sampler.batch(2, step);
        check_seed_groups(rows, 5, 1, labels);
        for (index_t r = 0; r < rows.size(); ++r) {
          CHECK(rows.augmentation[r] == 0);
          ++seen[static_cast<std::size_t>(rows.image[r])];
        }
      }
      CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    }
  }
}

TEST_CASE("KxMSampler: the paper epoch length sees N over M distinct images without repeats") {
  const Tensor<index_t> labels = cyclic_labels(96, 10);
  const KxMSampler sampler(labels, KxMOptions{}.with_seeds_per_batch(4).with_augmentations(3));
  CHECK(sampler.options().epoch_length == EpochLength::paper);
  CHECK(sampler.steps_per_epoch() == 8);
  for (index_t epoch = 0; epoch < 3; ++epoch) {
    std::set<index_t> seeds;
    index_t rows = 0;
    for (index_t step = 0; step < 8; ++step) {
      const BatchRows b = sampler.batch(epoch, step);
      rows += b.size();
      for (index_t image : check_seed_groups(b, 4, 3, labels)) CHECK(seeds.insert(image).second);
    }
    CHECK(seeds.size() == 96 / 3);
    CHECK(rows == 96);
  }
}

TEST_CASE("KxMSampler: a batch is a pure function of seed, epoch and step") {
  const Tensor<index_t> labels = cyclic_labels(200, 10);
  const auto opts = KxMOptions{}.with_seeds_per_batch(8).with_augmentations(4).with_seed(3);
  const KxMSampler a(labels, opts);
  // Visit batches in a scrambled order (epochs interleaved), then again in order, then fresh.
  std::map<std::pair<index_t, index_t>, BatchRows> first;
  for (index_t step : {5, 0, 3}) {
    for (index_t epoch : {2, 0, 7}) first.emplace(std::pair{epoch, step}, a.batch(epoch, step));
  }
  const KxMSampler fresh(labels, opts);
  const KxMSampler copy = a;
  for (const auto& [key, rows] : first) {
    CHECK(same_rows(rows, a.batch(key.first, key.second)));
    CHECK(same_rows(rows, fresh.batch(key.first, key.second)));
    CHECK(same_rows(rows, copy.batch(key.first, key.second)));
  }
  CHECK(a.epoch_permutation(0) != a.epoch_permutation(1));
  CHECK(to_vector(a.batch(0, 0).image) != to_vector(a.batch(1, 0).image));
  const KxMSampler other_seed(labels, KxMOptions(opts).with_seed(4));
  CHECK(other_seed.epoch_permutation(0) != a.epoch_permutation(0));
}

TEST_CASE("Samplers: batch may be called from several threads at once") {
  // The one-epoch cache is shared: threads asking for different epochs must not disturb each other.
  const Tensor<index_t> labels = imbalanced_labels({30, 40, 50});
  const KxMSampler kxm(labels, KxMOptions{}.with_seeds_per_batch(4).with_augmentations(2));
  const ClassBalancedSampler balanced(
      labels, ClassBalancedOptions{}.with_classes_per_batch(2).with_seeds_per_class(2).with_augmentations(2));
  // Expected rows, computed serially by fresh samplers.
  const KxMSampler kxm_ref(labels, kxm.options());
  const ClassBalancedSampler balanced_ref(labels, balanced.options());
  const index_t steps = std::min(kxm.steps_per_epoch(), balanced.steps_per_epoch());
  std::map<std::pair<index_t, index_t>, std::pair<BatchRows, BatchRows>> expected;
  for (index_t epoch = 0; epoch < 5; ++epoch)
    for (index_t step = 0; step < steps; ++step)
      expected.emplace(std::pair{epoch, step}, std::pair{kxm_ref.batch(epoch, step), balanced_ref.batch(epoch, step)});
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (index_t i = 0; i < 40; ++i) {
        const index_t epoch = (i + t) % 5, step = (i * 7 + t) % steps;
        const auto& [kxm_rows, balanced_rows] = expected.at({epoch, step});
        mismatches[static_cast<std::size_t>(t)] += !same_rows(kxm.batch(epoch, step), kxm_rows);
        mismatches[static_cast<std::size_t>(t)] += !same_rows(balanced.batch(epoch, step), balanced_rows);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(mismatches == std::vector<int>(4, 0));
}

TEST_CASE("KxMSampler: rows are shuffled, not the M copies of a seed side by side") {
  const index_t k = 8, m = 4;
  const Tensor<index_t> labels = cyclic_labels(320, 10);
  const KxMSampler sampler(labels, KxMOptions{}.with_seeds_per_batch(k).with_augmentations(m).with_seed(1));
  // For a uniformly shuffled batch, rows r and r+1 share a seed with probability (M-1)/(B-1):
  // M - 1 = 3 adjacent same-seed pairs per batch on average; unshuffled, K (M-1) = 24.
  double adjacent = 0;
  int batches = 0, all_adjacent = 0;
  std::vector<int> first_row_seed(static_cast<std::size_t>(k), 0);
  for (index_t epoch = 0; epoch < 40; ++epoch)
    for (index_t step = 0; step < sampler.steps_per_epoch(); ++step) {
      const BatchRows rows = sampler.batch(epoch, step);
      int pairs = 0;
      for (index_t r = 0; r + 1 < rows.size(); ++r) pairs += rows.seed[r] == rows.seed[r + 1];
      adjacent += pairs;
      all_adjacent += pairs == k * (m - 1);
      ++first_row_seed[static_cast<std::size_t>(rows.seed[0])];
      ++batches;
    }
  CHECK(batches == 400);
  CHECK(adjacent / batches == doctest::Approx(3.0).epsilon(0.15));
  CHECK(all_adjacent == 0);
  for (int c : first_row_seed) CHECK((c > 20 && c < 85));  // 50 expected each
}

TEST_CASE("KxMSampler: no_group labels pass through to the rows") {
  std::vector<index_t> v(40);
  for (index_t i = 0; i < 40; ++i) v[static_cast<std::size_t>(i)] = i % 2 == 0 ? i % 5 : invar::no_group;
  const Tensor<index_t> labels = sampler_labels(v);
  const KxMSampler sampler(labels, KxMOptions{}.with_seeds_per_batch(5).with_augmentations(2));
  bool saw_unlabelled = false, saw_labelled = false;
  for (index_t step = 0; step < sampler.steps_per_epoch(); ++step) {
    const BatchRows rows = sampler.batch(0, step);
    check_seed_groups(rows, 5, 2, labels);
    for (index_t r = 0; r < rows.size(); ++r) {
      if (rows.image[r] % 2 == 1) {
        CHECK(rows.label[r] == invar::no_group);
        saw_unlabelled = true;
      } else {
        CHECK(rows.label[r] == rows.image[r] % 5);
        saw_labelled = true;
      }
    }
  }
  CHECK(saw_unlabelled);
  CHECK(saw_labelled);
}

TEST_CASE("ClassBalancedSampler: exactly P classes with Q seeds and Q*M rows each") {
  const Tensor<index_t> labels = imbalanced_labels({10, 15, 20, 25, 30, 20});
  const index_t p = 3, q = 2, m = 4;
  const ClassBalancedSampler sampler(
      labels, ClassBalancedOptions{}.with_classes_per_batch(p).with_seeds_per_class(q).with_augmentations(m).with_seed(2));
  CHECK(sampler.classes() == 6);
  CHECK(sampler.class_ids() == std::vector<index_t>{0, 1, 2, 3, 4, 5});
  CHECK(sampler.seeds_per_batch() == 6);
  CHECK(sampler.batch_size() == 24);
  CHECK(sampler.steps_per_epoch() == 120 / 24);
  for (index_t epoch = 0; epoch < 4; ++epoch)
    for (index_t step = 0; step < sampler.steps_per_epoch(); ++step) {
      const BatchRows rows = sampler.batch(epoch, step);
      const std::vector<index_t> seed_images = check_seed_groups(rows, p * q, m, labels);
      std::map<index_t, index_t> rows_per_class;
      for (index_t r = 0; r < rows.size(); ++r) ++rows_per_class[rows.label[r]];
      CHECK(rows_per_class.size() == static_cast<std::size_t>(p));
      for (const auto& [cls, count] : rows_per_class) CHECK(count == q * m);
      // Seeds j Q .. j Q + Q - 1 belong to the j-th class drawn.
      const std::vector<index_t> classes = sampler.batch_classes(epoch, step);
      REQUIRE(classes.size() == static_cast<std::size_t>(p));
      CHECK(std::set<index_t>(classes.begin(), classes.end()).size() == static_cast<std::size_t>(p));
      for (index_t s = 0; s < p * q; ++s)
        CHECK(labels[seed_images[static_cast<std::size_t>(s)]] == classes[static_cast<std::size_t>(s / q)]);
    }
}

TEST_CASE("ClassBalancedSampler: a class deals chunks of Q from a permutation and reshuffles when it runs out") {
  // Class 0 has 4 images (2 chunks of Q = 2 per round), class 1 has 5 (2 chunks, 1 image skipped
  // per round), class 2 has 30. Many steps make classes 0 and 1 cycle many times in an epoch.
  const Tensor<index_t> labels = imbalanced_labels({4, 5, 30});
  const index_t q = 2;
  const ClassBalancedSampler sampler(labels, ClassBalancedOptions{}
                                                 .with_classes_per_batch(2)
                                                 .with_seeds_per_class(q)
                                                 .with_augmentations(1)
                                                 .with_steps_per_epoch(60)
                                                 .with_seed(8));
  CHECK(sampler.steps_per_epoch() == 60);
  for (index_t epoch = 0; epoch < 2; ++epoch) {
    std::map<index_t, std::vector<std::vector<index_t>>> chunks;  // class -> chunks in step order
    for (index_t step = 0; step < 60; ++step) {
      const BatchRows rows = sampler.batch(epoch, step);
      const std::vector<index_t> images = check_seed_groups(rows, 2 * q, 1, labels);
      const std::vector<index_t> classes = sampler.batch_classes(epoch, step);
      for (std::size_t j = 0; j < classes.size(); ++j)
        chunks[classes[j]].push_back({images[j * 2], images[j * 2 + 1]});
    }
    for (index_t cls : {0, 1}) {
      const auto& list = chunks[cls];
      CHECK(list.size() > 10);  // chosen in about 2/3 of the steps
      // A round is 2 chunks: 4 distinct images of the class (class 1: 4 of its 5).
      for (std::size_t r = 0; r + 1 < list.size(); r += 2) {
        std::set<index_t> round(list[r].begin(), list[r].end());
        round.insert(list[r + 1].begin(), list[r + 1].end());
        CHECK(round.size() == 4);
      }
    }
    // Class 2 (15 chunks per round) has not run out in 60 steps: no image repeats.
    std::set<index_t> seen;
    const auto& big = chunks[2];
    for (std::size_t i = 0; i < std::min<std::size_t>(big.size(), 15); ++i)
      for (index_t image : big[i]) CHECK(seen.insert(image).second);
  }
}

TEST_CASE("ClassBalancedSampler: a batch is a pure function of seed, epoch and step") {
  const Tensor<index_t> labels = imbalanced_labels({12, 20, 8, 16, 24});
  const auto opts = ClassBalancedOptions{}.with_classes_per_batch(3).with_seeds_per_class(2).with_augmentations(2).with_seed(6);
  const ClassBalancedSampler a(labels, opts);
  const index_t steps = a.steps_per_epoch();
  REQUIRE(steps == 80 / 12);
  std::vector<BatchRows> later;  // epoch 3, steps in reverse order
  for (index_t step = steps - 1; step >= 0; --step) later.push_back(a.batch(3, step));
  const BatchRows e0 = a.batch(0, 2);
  const ClassBalancedSampler fresh(labels, opts);
  for (index_t step = 0; step < steps; ++step) {
    CHECK(same_rows(fresh.batch(3, step), later[static_cast<std::size_t>(steps - 1 - step)]));
    CHECK(same_rows(a.batch(3, step), later[static_cast<std::size_t>(steps - 1 - step)]));
  }
  CHECK(same_rows(a.batch(0, 2), e0));
  bool epochs_differ = false;
  for (index_t step = 0; step < steps; ++step)
    epochs_differ |= to_vector(a.batch(0, step).image) != to_vector(a.batch(1, step).image);
  CHECK(epochs_differ);
}

TEST_CASE("ClassBalancedSampler: training_labels with no_group ride along, balance follows sampling_labels") {
  const Tensor<index_t> sampling = cyclic_labels(90, 5);
  std::vector<index_t> partial(90);
  for (index_t i = 0; i < 90; ++i) partial[static_cast<std::size_t>(i)] = i < 30 ? i % 5 : invar::no_group;
  const Tensor<index_t> training = sampler_labels(partial);
  const index_t p = 3, q = 2, m = 3;
  const ClassBalancedSampler sampler(
      sampling, training, ClassBalancedOptions{}.with_classes_per_batch(p).with_seeds_per_class(q).with_augmentations(m));
  CHECK(sampler.classes() == 5);
  bool saw_unlabelled = false;
  for (index_t epoch = 0; epoch < 3; ++epoch)
    for (index_t step = 0; step < sampler.steps_per_epoch(); ++step) {
      const BatchRows rows = sampler.batch(epoch, step);
      check_seed_groups(rows, p * q, m, training);  // rows carry the training labels
      std::map<index_t, index_t> per_true_class;
      for (index_t r = 0; r < rows.size(); ++r) {
        ++per_true_class[sampling[rows.image[r]]];
        saw_unlabelled |= rows.label[r] == invar::no_group;
      }
      CHECK(per_true_class.size() == static_cast<std::size_t>(p));
      for (const auto& [cls, count] : per_true_class) CHECK(count == q * m);
    }
  CHECK(saw_unlabelled);
}

TEST_CASE("assemble_batch: plain copies of the rows' images") {
  const Tensor<float> images = numbered_images(10, 2, 3, 4);
  const KxMSampler sampler(cyclic_labels(10, 2), KxMOptions{}.with_seeds_per_batch(3).with_augmentations(2).with_epoch_length(
                                                       EpochLength::every_image));
  const BatchRows rows = sampler.batch(0, 1);
  Tensor<float> out(Shape{1});  // wrong shape: reallocated
  assemble_batch(images, rows, nullptr, 0, 0, 1, out);
  REQUIRE(out.shape() == Shape{6, 2, 3, 4});
  for (index_t r = 0; r < 6; ++r)
    CHECK(std::memcmp(out.data() + r * 24, images.data() + rows.image[r] * 24, 24 * sizeof(float)) == 0);
  const AddDrawn* none = nullptr;  // a null augmentation of any type copies too
  Tensor<float> out2;
  assemble_batch(images, rows, none, 0, 0, 1, out2);
  CHECK(std::memcmp(out.data(), out2.data(), out.bytes()) == 0);
}

TEST_CASE("assemble_batch: row r is augmented with Rng keyed by seed, epoch, step, image and augmentation id") {
  const Tensor<float> images = numbered_images(20, 3, 32, 32);
  const KxMSampler sampler(cyclic_labels(20, 4), KxMOptions{}.with_seeds_per_batch(8).with_augmentations(4).with_epoch_length(
                                                       EpochLength::every_image));
  const AddDrawn aug;
  const std::uint64_t seed = 42;
  const index_t epoch = 3, step = 0, size = 3 * 32 * 32;
  const BatchRows rows = sampler.batch(epoch, step);
  Tensor<float> one, two;
  {
    const invar::ThreadScope threads(1);
    assemble_batch(images, rows, &aug, seed, epoch, step, one);
  }
  {
    const invar::ThreadScope threads(2);
    assemble_batch(images, rows, &aug, seed, epoch, step, two);
  }
  REQUIRE(one.shape() == Shape{32, 3, 32, 32});
  CHECK(std::memcmp(one.data(), two.data(), one.bytes()) == 0);
  std::set<float> offsets;
  for (index_t r = 0; r < rows.size(); ++r) {
    Rng rng = Rng::keyed(seed, {static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(step),
                                static_cast<std::uint64_t>(rows.image[r]), static_cast<std::uint64_t>(rows.augmentation[r])});
    const auto v = static_cast<float>(rng.uniform());
    offsets.insert(v);
    for (index_t p : {index_t{0}, index_t{1}, size - 1})
      CHECK(one[r * size + p] == images[rows.image[r] * size + p] + v);
  }
  CHECK(offsets.size() == 32);  // every row its own stream
  // Another step or seed gives other augmentations of the same rows.
  Tensor<float> other;
  assemble_batch(images, rows, &aug, seed + 1, epoch, step, other);
  CHECK(std::memcmp(one.data(), other.data(), one.bytes()) != 0);
}

TEST_CASE("assemble_batch: an exception from the augmentation propagates, on any thread count") {
  const Tensor<float> images = numbered_images(12, 3, 32, 32);
  const KxMSampler sampler(cyclic_labels(12, 3), KxMOptions{}.with_seeds_per_batch(12).with_augmentations(2).with_epoch_length(
                                                      EpochLength::every_image));
  const BatchRows rows = sampler.batch(0, 0);
  const ThrowsOn aug{7};
  Tensor<float> out;
  for (int threads : {1, 2}) {
    const invar::ThreadScope scope(threads);
    CHECK_ERROR_CONTAINS(assemble_batch(images, rows, &aug, 0, 0, 0, out), "ThrowsOn: image 7");
  }
}

TEST_CASE("Samplers and assemble_batch: errors name the problem") {
  const Tensor<index_t> labels = cyclic_labels(20, 4);
  SUBCASE("KxMSampler") {
    CHECK_ERROR_CONTAINS(KxMSampler(labels, KxMOptions{}.with_seeds_per_batch(0)), "seeds_per_batch (K) must be > 0, got 0");
    CHECK_ERROR_CONTAINS(KxMSampler(labels, KxMOptions{}.with_seeds_per_batch(-2)), "seeds_per_batch (K) must be > 0, got -2");
    CHECK_ERROR_CONTAINS(KxMSampler(labels, KxMOptions{}.with_seeds_per_batch(2).with_augmentations(0)),
                         "augmentations (M) must be > 0");
    CHECK_ERROR_CONTAINS(KxMSampler(labels, KxMOptions{}.with_seeds_per_batch(21).with_augmentations(1)),
                         "seeds_per_batch K = 21 is larger than the data set (N = 20 images)");
    CHECK_ERROR_CONTAINS(KxMSampler(Tensor<index_t>(Shape{0}), KxMOptions{}), "labels is empty");
    CHECK_ERROR_CONTAINS(KxMSampler(Tensor<index_t>(Shape{4, 5}), KxMOptions{}),
                         "labels must be a vector with one label per image, got shape [4, 5]");
    CHECK_ERROR_CONTAINS(KxMSampler(sampler_labels({0, 1, -3, 2}), KxMOptions{}.with_seeds_per_batch(1).with_augmentations(1)),
                         "labels[2] = -3 is negative");
    CHECK_ERROR_CONTAINS(KxMSampler(labels, KxMOptions{}.with_seeds_per_batch(4).with_augmentations(8)),
                         "N / (K M) = 20 / 32 = 0 steps");
    CHECK_ERROR_CONTAINS(KxMSampler(labels, KxMOptions{}.with_seeds_per_batch(4).with_augmentations(2).keeping_partial_batch()),
                         "keep_partial_batch applies to EpochLength::every_image only");
    const KxMSampler ok(labels, KxMOptions{}.with_seeds_per_batch(4).with_augmentations(2));
    CHECK(ok.steps_per_epoch() == 2);
    CHECK_ERROR_CONTAINS(ok.batch(0, 2), "step 2 is out of range: an epoch has 2 steps (0..1)");
    CHECK_ERROR_CONTAINS(ok.batch(0, -1), "step -1 is out of range");
    CHECK_ERROR_CONTAINS(ok.batch(-1, 0), "epoch must be >= 0, got -1");
  }
  SUBCASE("ClassBalancedSampler") {
    const auto opts = ClassBalancedOptions{}.with_classes_per_batch(2).with_seeds_per_class(2).with_augmentations(1);
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(labels, ClassBalancedOptions(opts).with_classes_per_batch(5)),
                         "classes_per_batch P = 5 is larger than the number of classes (4)");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(sampler_labels({0, 0, 0, 1, 2, 2}), opts),
                         "class 1 has 1 image; seeds_per_class Q = 2 needs at least Q distinct images");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(labels, ClassBalancedOptions(opts).with_classes_per_batch(0)),
                         "classes_per_batch (P) must be > 0, got 0");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(labels, ClassBalancedOptions(opts).with_seeds_per_class(-1)),
                         "seeds_per_class (Q) must be > 0, got -1");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(labels, ClassBalancedOptions(opts).with_augmentations(0)),
                         "augmentations (M) must be > 0");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(labels, ClassBalancedOptions(opts).with_steps_per_epoch(-3)),
                         "steps_per_epoch must be >= 0");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(labels, ClassBalancedOptions(opts).with_augmentations(8)),
                         "N / (P Q M) = 20 / 32 = 0 steps");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(labels, cyclic_labels(19, 4), opts),
                         "training_labels has 19 entries and sampling_labels 20");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(sampler_labels({0, 0, invar::no_group, 1, 1}), opts),
                         "sampling_labels[2] = -1 is not a class");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(Tensor<index_t>(Shape{0}), opts), "sampling_labels is empty");
    CHECK_ERROR_CONTAINS(ClassBalancedSampler(labels, sampler_labels(std::vector<index_t>(20, -4)), opts),
                         "training_labels[0] = -4 is negative");
    const ClassBalancedSampler ok(labels, opts);
    CHECK_ERROR_CONTAINS(ok.batch(0, ok.steps_per_epoch()), "is out of range: an epoch has 5 steps");
    CHECK_ERROR_CONTAINS(ok.batch_classes(-1, 0), "epoch must be >= 0");
  }
  SUBCASE("assemble_batch") {
    const Tensor<float> images = numbered_images(20, 1, 2, 2);
    const KxMSampler sampler(labels, KxMOptions{}.with_seeds_per_batch(2).with_augmentations(2));
    BatchRows rows = sampler.batch(0, 0);
    Tensor<float> out;
    CHECK_ERROR_CONTAINS(assemble_batch(Tensor<float>(Shape{20, 4}), rows, nullptr, 0, 0, 0, out),
                         "images must be N x C x H x W, got shape [20, 4]");
    CHECK_ERROR_CONTAINS(assemble_batch(numbered_images(3, 1, 2, 2), rows, nullptr, 0, 0, 0, out),
                         "out of range for 3 images");
    BatchRows short_rows = rows;
    short_rows.seed = Tensor<index_t>(Shape{3});
    CHECK_ERROR_CONTAINS(assemble_batch(images, short_rows, nullptr, 0, 0, 0, out),
                         "the rows' tensors must be vectors of one size");
    rows.augmentation[1] = -1;
    CHECK_ERROR_CONTAINS(assemble_batch(images, rows, nullptr, 0, 0, 0, out), "row 1 has augmentation id -1");
    rows.augmentation[1] = 0;
    CHECK_ERROR_CONTAINS(assemble_batch(images, rows, nullptr, 0, -1, 0, out), "epoch and step must be >= 0");
    Tensor<float> same = images;
    CHECK_ERROR_CONTAINS(assemble_batch(same, rows, nullptr, 0, 0, 0, same), "out shares memory with images");
  }
}

}  // TEST_SUITE
