#pragma once
/// \file attack_loss.hpp
/// The loss an attack ascends, per image, and the accuracy it is judged by.
///
///   untargeted (labels are the true classes):  L_i = CE(z_i, y_i)        (push away from y)
///   targeted (labels are the target classes):  L_i = -CE(z_i, t_i)       (pull towards t)
///
/// with CE(z, y) = logsumexp(z) - z_y, in double per row. dL_i/dz_i = +-(softmax(z_i) - e_y):
/// per image, not averaged over the batch, so a step's size does not depend on the batch size.
/// Inputs are checked here for every attack: images N x ... in [0, 1] (attacks keep images in
/// the valid range, so they must start in it), one label per image in [0, K).

#include <algorithm>
#include <cmath>
#include <vector>

#include "invar/analysis/classifier_accuracy.hpp"
#include "invar/attacks/target.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::attacks {

namespace detail {

inline void check_attack_inputs(TensorView<const float> images, TensorView<const index_t> labels, const char* who) {
  check(images.rank() >= 2 && images.dim(0) > 0 && images.numel() > 0, who, ": images must be N x ... with N > 0, got ",
        images.shape());
  check(labels.rank() == 1 && labels.dim(0) == images.dim(0), who, ": need one label per image (", images.dim(0),
        "), got labels of shape ", labels.shape());
  const index_t per = images.row_size();
  for (index_t i = 0; i < images.numel(); ++i) {
    const float v = images.data()[i];
    check(v >= 0.0f && v <= 1.0f, who, ": pixel ", i % per, " of image ", i / per, " is ", v,
          "; attacks need images in [0, 1] (NaN is refused too)");
  }
}

/// L_i and, when `g` is not null, dL_i/dz_i into g (K floats). `targeted`: L = -CE.
inline double row_attack_loss(const float* z, index_t k, index_t label, bool targeted, float* g, const char* who) {
  check(label >= 0 && label < k, who, ": label ", label, " is not a class of the ", k, " logits");
  double m = -HUGE_VAL;
  for (index_t j = 0; j < k; ++j) {
    check(std::isfinite(z[j]), who, ": the logits are not finite (", z[j], ")");
    m = std::max(m, double(z[j]));
  }
  double s = 0;
  for (index_t j = 0; j < k; ++j) s += std::exp(double(z[j]) - m);
  const double ce = m + std::log(s) - double(z[label]);
  const double sign = targeted ? -1.0 : 1.0;
  if (g != nullptr)
    for (index_t j = 0; j < k; ++j)
      g[j] = static_cast<float>(sign * (std::exp(double(z[j]) - m) / s - (j == label ? 1.0 : 0.0)));
  return sign * ce;
}

/// Logits of `x` through the target, and per-row loss and (optionally) dL/dz.
template <AttackTarget Target>
TensorView<const float> attack_loss_batch(Target& target, TensorView<const float> x, TensorView<const index_t> labels,
                                          bool targeted, double* loss, Tensor<float>* dlogits, const char* who) {
  const TensorView<const float> z = target.logits(x);
  const index_t n = x.dim(0);
  check(z.rank() == 2 && z.dim(0) == n, who, ": the target's logits have shape ", z.shape(), " for ", n, " images");
  const index_t k = z.dim(1);
  if (dlogits != nullptr && dlogits->shape() != z.shape()) *dlogits = Tensor<float>::uninitialized(z.shape());
  for (index_t i = 0; i < n; ++i)
    loss[i] = row_attack_loss(z.data() + i * k, k, labels[i], targeted,
                              dlogits != nullptr ? dlogits->data() + i * k : nullptr, who);
  return z;
}

}  // namespace detail

/// L_i of every image (the quantity the attacks increase), `batch` images per forward.
template <AttackTarget Target>
std::vector<double> attack_loss(Target& target, TensorView<const float> images, TensorView<const index_t> labels,
                                bool targeted = false, index_t batch = 256) {
  detail::check_attack_inputs(images, labels, "attack_loss");
  check(batch >= 1, "attack_loss: batch must be >= 1, got ", batch);
  const index_t n = images.dim(0);
  std::vector<double> loss(static_cast<std::size_t>(n));
  for (index_t b0 = 0; b0 < n; b0 += batch) {
    const index_t b1 = std::min(n, b0 + batch);
    detail::attack_loss_batch(target, images.slice_rows(b0, b1), labels.slice_rows(b0, b1), targeted,
                              loss.data() + b0, nullptr, "attack_loss");
  }
  return loss;
}

/// The fraction of images whose argmax logit is their label (ties: the smaller class): the
/// counting of analysis::evaluate_logits (analysis/classifier_accuracy.hpp), with every image
/// labelled (a label outside the target's classes, unlabelled -1 included, is an invar::Error).
template <AttackTarget Target>
double accuracy(Target& target, TensorView<const float> images, TensorView<const index_t> labels, index_t batch = 256) {
  check(images.rank() >= 2 && images.dim(0) > 0, "accuracy: images must be N x ... with N > 0, got ", images.shape());
  check(labels.rank() == 1 && labels.dim(0) == images.dim(0), "accuracy: need one label per image (", images.dim(0),
        "), got labels of shape ", labels.shape());
  check(batch >= 1, "accuracy: batch must be >= 1, got ", batch);
  index_t first = 0;  // evaluate_logits asks for the batches in order
  const auto e = analysis::evaluate_logits(
      [&](TensorView<const float> x) {
        const TensorView<const float> z = target.logits(x);
        const index_t k = z.rank() == 2 ? z.dim(1) : 0;
        for (index_t i = 0; i < x.dim(0); ++i)
          check(labels[first + i] >= 0 && labels[first + i] < k, "accuracy: label ", labels[first + i], " of image ",
                first + i, " is not a class of the ", k, " logits");
        first += x.dim(0);
        return z;
      },
      images, labels, batch, "accuracy");
  return double(e.correct) / double(e.rows);
}

}  // namespace invar::attacks
