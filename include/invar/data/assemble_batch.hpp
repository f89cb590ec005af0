#pragma once
/// \file assemble_batch.hpp
/// assemble_batch: the pixels of a batch from its rows — row r is image rows.image[r] of the
/// data set, augmented with a random stream keyed by (seed, epoch, step, image, augmentation
/// id), so that a batch is the same for any thread count and can be regenerated exactly.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/error.hpp"
#include "invar/core/random.hpp"
#include "invar/core/tensor.hpp"
#include "invar/data/batch_rows.hpp"

namespace invar::data {

/// What assemble_batch needs of an augmentation: `apply` writes the augmented C x H x W image
/// `in` to `out` (same extents, distinct buffers), drawing its randomness from `rng` only.
template <class A>
concept BatchAugmentation =
    requires(const A& a, const float* in, float* out, index_t channels, index_t height, index_t width, Rng& rng) {
      a.apply(in, out, channels, height, width, rng);
    };

namespace detail {

/// Runs row(r) for r in [0, rows) with invar's thread policy; an exception thrown by a row
/// (an OpenMP region cannot let one escape) is rethrown after the loop: that of the lowest
/// row, whatever the thread count.
template <class Row>
void for_each_row_rethrowing(index_t rows, index_t cost_per_row, Row&& row) {
  std::mutex mutex;
  std::exception_ptr error;
  index_t error_row = rows;
  cpu::parallel_for(rows, cost_per_row, [&](index_t begin, index_t end) {
    for (index_t r = begin; r < end; ++r) {
      try {
        row(r);
      } catch (...) {
        const std::lock_guard lock(mutex);
        if (r < error_row) {
          error_row = r;
          error = std::current_exception();
        }
        return;  // the rest of this chunk is skipped; the batch is thrown away anyway
      }
    }
  });
  if (error) std::rethrow_exception(error);
}

}  // namespace detail

/// Fills `out` (B x C x H x W, reallocated when its shape differs) with the batch `rows`
/// describes: row r is `aug->apply(image, out_row, C, H, W, rng)` for the data-set image
/// images[rows.image[r]] with
///   `Rng rng = Rng::keyed(seed, {epoch, step, rows.image[r], rows.augmentation[r]})`,
/// or a plain copy when `aug` is null. `images` is N x C x H x W. Rows run in parallel
/// (invar::cpu::parallel_for); each row's stream depends only on its key, so the result is the
/// same for any thread count and in any call order: a batch is regenerated exactly from
/// (seed, epoch, step) and the sampler's rows. (Two rows with the same image and augmentation
/// id, which the samplers never produce, would get the same augmentation.)
/// `out` must not share memory with `images`. An exception thrown by `aug->apply` propagates
/// (that of the lowest row); `out` is then unspecified.
template <BatchAugmentation Aug>
void assemble_batch(TensorView<const float> images, const BatchRows& rows, const Aug* aug,
                    std::uint64_t seed, index_t epoch, index_t step, Tensor<float>& out) {
  const char* who = "assemble_batch";
  check(images.rank() == 4, who, ": images must be N x C x H x W, got shape ", images.shape());
  const index_t n = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
  const index_t b = rows.size();
  check(rows.image.rank() == 1 && rows.seed.rank() == 1 && rows.label.rank() == 1 &&
            rows.augmentation.rank() == 1 && rows.seed.numel() == b && rows.label.numel() == b &&
            rows.augmentation.numel() == b,
        who, ": the rows' tensors must be vectors of one size, got image ", rows.image.shape(), ", seed ",
        rows.seed.shape(), ", label ", rows.label.shape(), ", augmentation ", rows.augmentation.shape());
  check(epoch >= 0 && step >= 0, who, ": epoch and step must be >= 0, got epoch ", epoch, ", step ", step);
  for (index_t r = 0; r < b; ++r) {
    check(rows.image[r] >= 0 && rows.image[r] < n, who, ": row ", r, " shows image ", rows.image[r],
          ", out of range for ", n, " images ", images.shape());
    check(rows.augmentation[r] >= 0, who, ": row ", r, " has augmentation id ", rows.augmentation[r],
          "; ids are >= 0");
  }
  if (!out.empty() && !images.empty()) {
    const std::less<const float*> before;
    const float* out_begin = out.data();
    const float* in_begin = images.data();
    check(before(out_begin + out.numel() - 1, in_begin) || before(in_begin + images.numel() - 1, out_begin), who,
          ": out shares memory with images");
  }
  const Shape shape{b, c, h, w};
  if (out.shape() != shape) out = Tensor<float>::uninitialized(shape);

  const index_t size = c * h * w;
  const float* in = images.data();
  float* dst = out.data();
  if (aug == nullptr) {
    cpu::parallel_for(b, size, [&](index_t begin, index_t end) {
      for (index_t r = begin; r < end; ++r)
        std::copy(in + rows.image[r] * size, in + (rows.image[r] + 1) * size, dst + r * size);
    });
    return;
  }
  // An augmentation costs far more than a copy: weigh rows accordingly for the fork decision.
  detail::for_each_row_rethrowing(b, 16 * size, [&](index_t r) {
    const index_t image = rows.image[r];
    Rng rng = Rng::keyed(seed, {static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(step),
                                static_cast<std::uint64_t>(image), static_cast<std::uint64_t>(rows.augmentation[r])});
    aug->apply(in + image * size, dst + r * size, c, h, w, rng);
  });
}

namespace detail {
/// The type behind `assemble_batch(..., nullptr, ...)`: never applied.
struct PlainCopy {
  void apply(const float*, float*, index_t, index_t, index_t, Rng&) const {}
};
}  // namespace detail

/// assemble_batch without augmentation: row r is a copy of images[rows.image[r]].
inline void assemble_batch(TensorView<const float> images, const BatchRows& rows, std::nullptr_t,
                           std::uint64_t seed, index_t epoch, index_t step, Tensor<float>& out) {
  assemble_batch(images, rows, static_cast<const detail::PlainCopy*>(nullptr), seed, epoch, step, out);
}

}  // namespace invar::data
