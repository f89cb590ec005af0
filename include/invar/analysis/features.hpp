#pragma once
/// \file features.hpp
/// extract_features: the activations of one tap of a trained model for a whole image set, as an
/// N x D matrix (the tap flattened), for the probes, the invariance score, PCA, .npy export...
///
///   auto f = analysis::extract_features(model, test.images, "conv7");      // N x D floats
///
/// The model is put in eval mode (set_training(false): batch norm uses its running statistics,
/// so a row's features do not depend on the other rows of its batch) and left there. Images go
/// through the model `batch` rows at a time (the last batch may be smaller); after each forward
/// the tap is copied out. Works with any model satisfying invar::nn::TrainableModel (every
/// nn::Sequential, or a model of your own), on any device: the images stay on the host and go to
/// the model's device a batch at a time.
///
/// Errors (invar::Error): batch < 1, empty images (no rows, or rows of no elements), an unknown
/// tap (checked before any forward when the model has has_tap(); otherwise the model's tap()
/// throws after the first forward), a tap whose rows are not one per image or whose width
/// changes between batches.

#include <algorithm>
#include <string>
#include <type_traits>

#include "invar/cpu.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/nn/model.hpp"

namespace invar::analysis {

/// N x D features of `tap` for N images (any rank, rows first, on the host), `batch` images per
/// forward, for a model on any device (each batch copied to it, each tap copied back: the
/// features are host rows); leaves the model in eval mode. Errors as in the file comment.
template <class Model>
  requires nn::TrainableModel<Model, float, nn::model_device_t<Model>>
Tensor<float> extract_features(Model& model, TensorView<const float> images, const std::string& tap,
                               index_t batch = 500) {
  using D = nn::model_device_t<Model>;
  check(batch >= 1, "extract_features: batch must be >= 1, got ", batch);
  check(images.rank() >= 1 && images.dim(0) >= 1 && images.numel() > 0,
        "extract_features: images are empty (shape ", images.shape(), ")");
  if constexpr (requires { { model.has_tap(tap) } -> std::convertible_to<bool>; }) {
    check(model.has_tap(tap), "extract_features: the model has no tap named '", tap, "'");
  }
  model.set_training(false);
  const nn::InferenceScope<Model> inference(model, {tap});  // forward only: hold the taps, not every activation
  const index_t n = images.dim(0);
  Tensor<float> out;
  Tensor<float, D> staging;  // a batch on the model's device (unused on the host)
  index_t width = -1;
  for (index_t b0 = 0; b0 < n; b0 += batch) {
    const index_t b1 = std::min(n, b0 + batch);
    nn::forward_host_batch(model, images.slice_rows(b0, b1), staging);
    const TensorView<const float, D> t = model.tap(tap);
    check(t.rank() >= 1 && t.dim(0) == b1 - b0, "extract_features: tap '", tap, "' has shape ", t.shape(),
          " for a batch of ", b1 - b0, " images (expected one row per image)");
    if (width < 0) {
      width = t.row_size();
      out = Tensor<float>::uninitialized(Shape{n, width});
    }
    check(t.row_size() == width, "extract_features: tap '", tap, "' has ", t.row_size(),
          " values per image in rows [", b0, ", ", b1, "), ", width, " before");
    if constexpr (HostDevice<D>) std::copy(t.data(), t.data() + t.numel(), out.data() + b0 * width);
    else if (t.numel() > 0) D::copy_to_host(out.data() + b0 * width, t.data(), std::size_t(t.numel()) * sizeof(float));
  }
  return out;
}

/// As above, for any tensor or view of float images (a `Tensor<float>`, an ImageSet's images...).
template <class Model, Viewable X>
  requires(nn::TrainableModel<Model, float, nn::model_device_t<Model>> &&
           !std::is_same_v<std::remove_cvref_t<X>, TensorView<const float>>)
Tensor<float> extract_features(Model& model, X&& images, const std::string& tap, index_t batch = 500) {
  return extract_features(model, TensorView<const float>(to_view(images)), tap, batch);
}

}  // namespace invar::analysis
