#pragma once
/// \file fgsm.hpp
/// The fast gradient sign method (Goodfellow et al. 2015): one step of size epsilon along the
/// sign of the input gradient of the attack loss (attack_loss.hpp), then clipped to [0, 1]:
///
///   x_adv = clip(x + epsilon * sign(dL/dx), 0, 1)        (sign(0) = 0)
///
///   attacks::ModelTarget target(model);
///   auto adversarial = attacks::fgsm(target, test.images, test.labels, 0.03);
///   double robust = attacks::accuracy(target, adversarial, test.labels);
///
/// targeted = true: labels are target classes and the step lowers their cross-entropy.

#include <algorithm>
#include <cmath>
#include <vector>

#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/projection.hpp"

namespace invar::attacks {

/// Options of fgsm().
struct FgsmOptions {
  bool targeted = false;  ///< labels are target classes; the step lowers their cross-entropy
  index_t batch = 256;  ///< images per forward/backward
  /// Sets #targeted.
  FgsmOptions& with_targeted(bool t = true) { targeted = t; return *this; }
  /// Sets #batch.
  FgsmOptions& with_batch(index_t b) { batch = b; return *this; }
};

/// Adversarial versions (N x ..., in [0, 1]) of `images` against `target`: one FGSM step of size
/// `epsilon` (L-infinity, pixel units). Throws invar::Error when epsilon is negative or not
/// finite, batch < 1, images are outside [0, 1], labels are not one per image in [0, K), or the
/// logits are not finite.
template <AttackTarget Target>
Tensor<float> fgsm(Target& target, TensorView<const float> images, TensorView<const index_t> labels, double epsilon,
                   const FgsmOptions& o = {}) {
  detail::check_attack_inputs(images, labels, "fgsm");
  check(std::isfinite(epsilon) && epsilon >= 0, "fgsm: epsilon must be finite and >= 0, got ", epsilon);
  check(o.batch >= 1, "fgsm: batch must be >= 1, got ", o.batch);
  const index_t n = images.dim(0), per = images.row_size();
  Tensor<float> out = Tensor<float>::copy_of(images);
  std::vector<double> loss(static_cast<std::size_t>(std::min(n, o.batch)));
  Tensor<float> dlogits;
  for (index_t b0 = 0; b0 < n; b0 += o.batch) {
    const index_t b1 = std::min(n, b0 + o.batch);
    const auto x = images.slice_rows(b0, b1);
    detail::attack_loss_batch(target, x, labels.slice_rows(b0, b1), o.targeted, loss.data(), &dlogits, "fgsm");
    if (epsilon == 0) continue;  // labels checked; nothing moves
    const TensorView<const float> g = target.input_gradient(dlogits.view());
    check(g.numel() == x.numel(), "fgsm: the target's input gradient has shape ", g.shape(), " for images ",
          x.shape());
    float* y = out.data() + b0 * per;
    for (index_t i = 0; i < x.numel(); ++i) {
      const float gi = g.data()[i];
      const double step = gi > 0 ? epsilon : gi < 0 ? -epsilon : 0.0;
      y[i] = static_cast<float>(double(x.data()[i]) + step);
    }
    detail::project_linf(x.data(), y, x.numel(), epsilon);
  }
  return out;
}

}  // namespace invar::attacks
