#pragma once
/// \file classifier_accuracy.hpp
/// The accuracy (and mean cross-entropy) of a classifier's own logits on a labelled set, batch by
/// batch: the one computation behind the trainer's test accuracy, invar-report's classifier
/// accuracy and attacks::accuracy.
///
/// \code
/// double acc = invar::analysis::classifier_accuracy(model, test.images, test.labels);   // eval mode
/// auto e = invar::analysis::evaluate_classifier(model, test.images, test.labels, 256);
/// e.accuracy(); e.cross_entropy; e.correct; e.labelled;
/// \endcode
///
/// Definition: a row is labelled when its label is >= 0 (invar::no_group, -1, marks an unlabelled
/// row: it is neither counted nor scored); it is correct when the argmax of its logits is its
/// label, the smaller class on ties (the first maximum). accuracy = correct / labelled, NaN when
/// no row is labelled; cross_entropy = mean over labelled rows of -log softmax(z)[y], computed in
/// double (losses/softmax_cross_entropy.hpp). A label >= the number of logits, or non-finite
/// logits, is an invar::Error.

#include <algorithm>
#include <cmath>
#include <limits>

#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/losses/no_gradient.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/model.hpp"

namespace invar::analysis {

/// What evaluate_classifier counts.
struct ClassifierEvaluation {
  index_t rows = 0;      ///< rows evaluated
  index_t labelled = 0;  ///< rows with a label >= 0
  index_t correct = 0;   ///< labelled rows whose argmax logit is the label (the smaller class on ties)
  double cross_entropy = std::numeric_limits<double>::quiet_NaN();  ///< mean over labelled rows; NaN if none
  /// correct / labelled; NaN when no row is labelled.
  [[nodiscard]] double accuracy() const {
    return labelled > 0 ? double(correct) / double(labelled) : std::numeric_limits<double>::quiet_NaN();
  }
};

/// Evaluates the logits that `logits_of(batch)` returns for consecutive batches of `batch` rows
/// of `images` (rows along dim 0, any device), called in order from the first row. `who` names
/// the caller in messages.
template <class LogitsOf, class T, Device D>
ClassifierEvaluation evaluate_logits(LogitsOf&& logits_of, TensorView<const T, D> images,
                                     TensorView<const index_t> labels, index_t batch = 500,
                                     const char* who = "evaluate_classifier") {
  check(images.rank() >= 1, who, ": images must hold one row per sample, got shape ", images.shape());
  const index_t n = images.dim(0);
  check(labels.rank() == 1 && labels.dim(0) == n, who, ": need one label per image (", n, "), got labels of shape ",
        labels.shape());
  check(batch >= 1, who, ": batch must be >= 1, got ", batch);
  ClassifierEvaluation e;
  e.rows = n;
  double loss_sum = 0;
  for (index_t b0 = 0; b0 < n; b0 += batch) {
    const index_t b1 = std::min(n, b0 + batch);
    const auto z = to_view(logits_of(images.slice_rows(b0, b1)));
    check(z.rank() == 2 && z.dim(0) == b1 - b0, who, ": the logits of images ", b0, " to ", b1 - 1, " have shape ",
          z.shape(), ", expected ", b1 - b0, " x classes");
    const auto v = softmax_cross_entropy(z, labels.slice_rows(b0, b1), no_gradient);
    e.correct += v.correct;
    e.labelled += v.labelled;
    loss_sum += v.loss * double(v.labelled);
  }
  if (e.labelled > 0) e.cross_entropy = loss_sum / double(e.labelled);
  return e;
}

/// Whether images on device D are host images for a model that computes on another device.
template <class Model, Device D>
constexpr bool host_images_for_device_model() {
  if constexpr (HostDevice<D> && requires(Model& m) { m.parameters(); }) return !HostDevice<nn::model_device_t<Model>>;
  else return false;
}

/// A model's own classifier on `images`: `batch` rows per forward, in eval mode (set_training(false)
/// is called when the model has it, and left so). The model needs forward(batch) and output()
/// (the N x C logits), like nn::Sequential and every nn::TrainableModel. Images on the model's
/// device, or host images for a model on another device (a batch copied over per forward).
template <class Model, Viewable X, Viewable Y>
ClassifierEvaluation evaluate_classifier(Model& model, X&& images, Y&& labels, index_t batch = 500) {
  auto x = to_view(images);
  using T = typename decltype(x)::value_type;
  using D = typename decltype(x)::device_type;
  if constexpr (requires { model.set_training(false); }) model.set_training(false);
  const nn::InferenceScope<Model> inference(model, {});  // forward only, the logits
  const TensorView<const index_t> y(to_view(labels));
  if constexpr (host_images_for_device_model<Model, D>()) {
    // Host images, a model on another device: each batch goes over, the logits stay there.
    Tensor<T, nn::model_device_t<Model>> staging;
    return evaluate_logits(
        [&](TensorView<const T, D> b) {
          nn::forward_host_batch(model, b, staging);
          return model.output();
        },
        TensorView<const T, D>(x), y, batch, "evaluate_classifier");
  } else {
    return evaluate_logits(
        [&](TensorView<const T, D> b) {
          model.forward(b);
          return model.output();
        },
        TensorView<const T, D>(x), y, batch, "evaluate_classifier");
  }
}

/// evaluate_classifier(...).accuracy(): the fraction of labelled rows predicted right (NaN if none).
template <class Model, Viewable X, Viewable Y>
double classifier_accuracy(Model& model, X&& images, Y&& labels, index_t batch = 500) {
  return evaluate_classifier(model, images, labels, batch).accuracy();
}

}  // namespace invar::analysis
