#pragma once
/// \file augmentation.hpp
/// Augmentation: a composable, seeded, per-image augmentation pipeline (a list of Transforms
/// applied in order), and augment_batch, which augments N images in parallel with one keyed
/// Rng stream per image. docs/data.md, "Augmentation".
///
///     using namespace invar::data::augment;
///     Augmentation aug = Augmentation{}
///         .affine(AffineRanges{}.with_rotation(Range::symmetric(deg_to_rad(10))), Draw::uniform)
///         .horizontal_flip(0.5)
///         .brightness(Range::symmetric(0.1), Draw::uniform)
///         .then(MyTransform{...});                      // any class derived from Transform
///     invar::Rng rng(7);
///     aug.apply(in, out, 3, 32, 32, rng);                // one CHW image
///     augment_batch(aug, images, out_images, seed, key); // image i: Rng::keyed(seed, {key, i})
///
/// Randomness: apply draws every step's parameters from rng in order (step 0 first; within a
/// step in the step's fixed order), so the same Rng state gives the same image; draw() + the
/// apply that takes parameters give exactly what apply(.., rng) gives from the same state.
/// The transforms are immutable and shared (std::shared_ptr<const Transform>): copying an
/// Augmentation is cheap, and one Augmentation may be used from many threads at once.
/// Between steps the image goes through one scratch buffer per thread (reused, so applying
/// allocates nothing once a thread has seen an image of that size).

#include <concepts>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"
#include "invar/data/augment/params.hpp"
#include "invar/data/augment/transform.hpp"
#include "invar/data/augment/transforms.hpp"

namespace invar::data::augment {

namespace detail {

/// A per-thread scratch image, handed out for the duration of one apply (a nested apply on the
/// same thread finds the cache empty and uses a buffer of its own).
class ScratchLease {
 public:
  explicit ScratchLease(index_t n) : buffer_(std::move(cache())) {
    if (buffer_.size() < static_cast<std::size_t>(n)) buffer_.resize(static_cast<std::size_t>(n));
  }
  ~ScratchLease() {
    if (cache().capacity() < buffer_.capacity()) cache() = std::move(buffer_);
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  float* data() { return buffer_.data(); }

 private:
  static std::vector<float>& cache() {
    static thread_local std::vector<float> buffer;
    return buffer;
  }
  std::vector<float> buffer_;
};

}  // namespace detail

/// The parameters an Augmentation drew for one image: one entry per step, in order.
using AugmentationParams = std::vector<TransformParams>;

/// A pipeline of Transforms applied in order to one image at a time (see the file comment).
class Augmentation {
 public:
  /// The empty pipeline: the identity.
  Augmentation() = default;

  // ---- building (fluent: every method returns *this) ----

  /// Appends a step.
  Augmentation& then(std::shared_ptr<const Transform> step) {
    check(step != nullptr, "Augmentation::then: null transform");
    steps_.push_back(std::move(step));
    return *this;
  }
  /// Appends a copy of any Transform (e.g. `then(RandomCrop(4))` or your own class).
  template <class T>
    requires std::derived_from<std::remove_cvref_t<T>, Transform>
  Augmentation& then(T&& step) {
    return then(std::shared_ptr<const Transform>(std::make_shared<const std::remove_cvref_t<T>>(std::forward<T>(step))));
  }
  /// Appends every step of another pipeline.
  Augmentation& then(const Augmentation& other) {
    const auto copy = other.steps_;  // other may be *this
    steps_.insert(steps_.end(), copy.begin(), copy.end());
    return *this;
  }

  /// Appends a step that copies the image (draws nothing).
  Augmentation& identity() { return then(Identity{}); }
  /// One affine transform (rotation, shear, scale, translation) drawn from `ranges`.
  Augmentation& affine(const AffineRanges& ranges, Draw how) { return then(RandomAffine(ranges, how)); }
  /// Translation only, by fractions of the width / height; whole pixels by default (exact moves,
  /// nearest border fill).
  Augmentation& translate(Range fraction_x, Range fraction_y, Draw how, bool whole_pixels = true) {
    return affine(AffineRanges{}.with_translation(fraction_x, fraction_y).with_whole_pixel_translation(whole_pixels),
                  how);
  }
  /// Left-right flip with probability p (RandomHorizontalFlip; 0 <= p <= 1).
  Augmentation& horizontal_flip(double p = 0.5) { return then(RandomHorizontalFlip(p)); }
  /// Zero padding by `pad`, crop back to the input size at uniform integer offsets.
  Augmentation& random_crop(index_t pad, float fill = 0.0f) { return then(RandomCrop(pad, fill)); }
  /// x + delta, clipped to [0, 1] (RandomBrightness).
  Augmentation& brightness(Range delta, Draw how) { return then(RandomBrightness(delta, how)); }
  /// gamma (x - channel mean) + channel mean, clipped to [0, 1] (RandomContrast).
  Augmentation& contrast(Range gamma, Draw how) { return then(RandomContrast(gamma, how)); }
  /// Your function as a step (see FunctionTransform).
  Augmentation& function(std::string name, FunctionTransform::Fn fn) {
    return then(FunctionTransform(std::move(name), std::move(fn)));
  }

  // ---- inspecting ----

  /// The number of steps.
  [[nodiscard]] std::size_t size() const { return steps_.size(); }
  /// Whether there are no steps (the identity).
  [[nodiscard]] bool empty() const { return steps_.empty(); }
  /// Step i (0 first); throws invar::Error when i >= size().
  [[nodiscard]] const Transform& step(std::size_t i) const {
    check(i < steps_.size(), "Augmentation::step: index ", i, " out of range (", steps_.size(), " steps)");
    return *steps_[i];
  }
  /// "identity" for the empty pipeline, else the steps' descriptions joined by " -> ".
  [[nodiscard]] std::string describe() const {
    if (steps_.empty()) return "identity";
    std::string s;
    for (std::size_t i = 0; i < steps_.size(); ++i) s += (i ? " -> " : "") + steps_[i]->describe();
    return s;
  }

  // ---- drawing and applying ----

  /// Draws every step's parameters for one channels x height x width image.
  [[nodiscard]] AugmentationParams draw(Rng& rng, index_t channels, index_t height, index_t width) const {
    check_sizes("Augmentation::draw", channels, height, width);
    AugmentationParams params;
    params.reserve(steps_.size());
    for (const auto& s : steps_) params.push_back(s->draw(rng, channels, height, width));
    return params;
  }

  /// Applies drawn parameters (from draw) to one CHW image; in and out must not overlap.
  void apply(const AugmentationParams& params, const float* in, float* out, index_t channels, index_t height,
             index_t width) const {
    check(params.size() == steps_.size(), "Augmentation::apply: got parameters for ", params.size(),
          " steps, the pipeline has ", steps_.size());
    run("Augmentation::apply", in, out, channels, height, width,
        [&](std::size_t k) -> const TransformParams& { return params[k]; });
  }

  /// Draws parameters from rng and applies them to one CHW image (in and out must not overlap).
  void apply(const float* in, float* out, index_t channels, index_t height, index_t width, invar::Rng& rng) const {
    TransformParams current;
    run("Augmentation::apply", in, out, channels, height, width, [&](std::size_t k) -> const TransformParams& {
      current = steps_[k]->draw(rng, channels, height, width);
      return current;
    });
  }

 private:
  static void check_sizes(const char* what, index_t channels, index_t height, index_t width) {
    check(channels > 0 && height > 0 && width > 0, what, ": image sizes must be positive, got channels ", channels,
          ", height ", height, ", width ", width);
  }

  /// Runs the steps, ping-ponging between out and a scratch image so that the last step writes
  /// out and no step sees its input and output overlap.
  template <class ParamsOf>
  void run(const char* what, const float* in, float* out, index_t channels, index_t height, index_t width,
           ParamsOf&& params_of) const {
    augment::detail::check_image_args(what, in, out, channels, height, width);
    const index_t n = channels * height * width;
    const std::size_t count = steps_.size();
    if (count == 0) {
      std::copy(in, in + n, out);
      return;
    }
    if (count == 1) {
      steps_[0]->apply(params_of(0), in, out, channels, height, width);
      return;
    }
    detail::ScratchLease scratch(n);
    const float* src = in;
    for (std::size_t k = 0; k < count; ++k) {
      float* dst = (count - 1 - k) % 2 == 0 ? out : scratch.data();
      steps_[k]->apply(params_of(k), src, dst, channels, height, width);
      src = dst;
    }
  }

  std::vector<std::shared_ptr<const Transform>> steps_;
};

/// Augments N CHW images (images: N x C x H x W) into out (a view of the same shape, not
/// overlapping images): image i uses Rng::keyed(seed, {key, i}), so the result depends only on
/// (aug, images, seed, key), never on the thread count or the order the images are processed.
/// Parallel over images (invar::cpu::parallel_for). An exception from a step is rethrown here
/// (that of the lowest image index, whatever the thread count); out is then partly written.
inline void augment_batch(const Augmentation& aug, TensorView<const float> images, TensorView<float> out,
                          std::uint64_t seed, index_t key) {
  check(images.rank() == 4, "augment_batch: images must be N x C x H x W, got shape ", images.shape());
  check(out.shape() == images.shape(), "augment_batch: out has shape ", out.shape(), ", images have ",
        images.shape());
  const index_t n = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
  if (n == 0) return;
  check(c > 0 && h > 0 && w > 0, "augment_batch: image sizes must be positive, got shape ", images.shape());
  const auto a = reinterpret_cast<std::uintptr_t>(images.data()), b = reinterpret_cast<std::uintptr_t>(out.data());
  const auto bytes = static_cast<std::uintptr_t>(images.numel()) * sizeof(float);
  check(a + bytes <= b || b + bytes <= a, "augment_batch: images and out overlap (out must be another buffer)");
  const index_t image_size = c * h * w;
  const float* src = images.data();
  float* dst = out.data();
  // An exception cannot leave an OpenMP region: keep the one of the lowest image (each chunk
  // stops at its first failure, so that is the same image whatever the thread count).
  std::exception_ptr error;
  index_t error_image = n;
  std::mutex error_mutex;
  cpu::parallel_for(n, image_size * 16, [&](index_t begin, index_t end) {
    index_t i = begin;
    try {
      for (; i < end; ++i) {
        Rng rng = Rng::keyed(seed, {static_cast<std::uint64_t>(key), static_cast<std::uint64_t>(i)});
        aug.apply(src + i * image_size, dst + i * image_size, c, h, w, rng);
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(error_mutex);
      if (i < error_image) {
        error_image = i;
        error = std::current_exception();
      }
    }
  });
  if (error) std::rethrow_exception(error);
}

/// As above, into a Tensor that is (re)allocated to the shape of `images` when it has another.
inline void augment_batch(const Augmentation& aug, TensorView<const float> images, Tensor<float>& out,
                          std::uint64_t seed, index_t key) {
  check(images.rank() == 4, "augment_batch: images must be N x C x H x W, got shape ", images.shape());
  check(out.data() == nullptr || out.data() != images.data(),
        "augment_batch: images and out overlap (out must be another buffer)");
  if (!(out.shape() == images.shape())) out = Tensor<float>::uninitialized(images.shape());
  augment_batch(aug, images, out.view(), seed, key);
}

}  // namespace invar::data::augment

namespace invar::data {
using augment::Augmentation;
using augment::augment_batch;
}  // namespace invar::data
