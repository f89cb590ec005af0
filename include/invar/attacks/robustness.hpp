#pragma once
/// \file robustness.hpp
/// Accuracy against epsilon: the curves of the paper's robustness figures, for FGSM and PGD,
/// white-box (the target attacks itself) or black-box (adversarials made on a substitute,
/// accuracy measured on the target: pass both).
///
///   attacks::ModelTarget target(model);
///   auto fgsm = attacks::fgsm_curve(target, target, images, labels, {1e-3, 0.01, 0.03, 0.1, 0.3});
///   auto pgd = attacks::pgd_curve(substitute, target, images, labels, {0.003, 0.03, 0.3});  // transfer
///
/// Epsilon 0 gives the clean accuracy. `progress(attack, epsilon)` is called before each point.

#include <functional>
#include <string>
#include <vector>

#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/fgsm.hpp"
#include "invar/attacks/pgd.hpp"

namespace invar::attacks {

/// One point of a robustness curve.
struct CurvePoint {
  double epsilon = 0;   ///< the attack's budget (pixel units)
  double accuracy = 0;  ///< the target's accuracy on the adversarial images, in [0, 1]
};

/// Called before each point with the attack's name ("FGSM", "PGD (L-inf)", "PGD (L2)") and epsilon.
using CurveProgress = std::function<void(const char* attack, double epsilon)>;

/// FGSM made on `substitute`, accuracy of `target` (the same object for white-box).
template <AttackTarget Substitute, AttackTarget Target>
std::vector<CurvePoint> fgsm_curve(Substitute& substitute, Target& target, TensorView<const float> images,
                                   TensorView<const index_t> labels, const std::vector<double>& epsilons,
                                   const FgsmOptions& o = {}, const CurveProgress& progress = {}) {
  std::vector<CurvePoint> curve;
  for (const double eps : epsilons) {
    if (progress) progress("FGSM", eps);
    const Tensor<float> adversarial = fgsm(substitute, images, labels, eps, o);
    curve.push_back({eps, accuracy(target, adversarial.view(), labels, o.batch)});
  }
  return curve;
}

/// PGD (options o, epsilon from the list) made on `substitute`, accuracy of `target`.
template <AttackTarget Substitute, AttackTarget Target>
std::vector<CurvePoint> pgd_curve(Substitute& substitute, Target& target, TensorView<const float> images,
                                  TensorView<const index_t> labels, const std::vector<double>& epsilons,
                                  PgdOptions o = {}, const CurveProgress& progress = {}) {
  std::vector<CurvePoint> curve;
  for (const double eps : epsilons) {
    if (progress) progress(o.norm == Norm::linf ? "PGD (L-inf)" : "PGD (L2)", eps);
    const Tensor<float> adversarial = pgd(substitute, images, labels, o.with_epsilon(eps));
    curve.push_back({eps, accuracy(target, adversarial.view(), labels, o.batch)});
  }
  return curve;
}

}  // namespace invar::attacks
