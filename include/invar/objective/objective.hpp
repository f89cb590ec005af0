#pragma once
/// \file objective.hpp
/// The objective of Eq. 1 on a model with taps:
///
///   L = sum_l alpha_l L_DA(tap_l) + sum_l beta_l L_C(tap_l) + w_ce CE(logits)
///
/// Terms are added per tap with any metric (a template parameter, type-erased here so that one
/// objective mixes metrics) and a per-layer share; a WeightSchedule sets the totals of alpha, beta
/// and w_ce for each epoch, and each term's weight is its share of its kind's total:
///
///   auto obj = Objective<float>{}
///                  .augmentation(taps, MeanSquaredDifference{}, WeightProfile::exponential)
///                  .with_schedule(WeightSchedule::constant(0.1, 0.0));          // the authors' setting
///   obj.set_epoch(epoch, epochs);
///   model.forward(x);
///   auto v = obj.evaluate(model, seeds, labels, &dlogits);  // adds weight * dL/dtap into the taps
///   model.zero_grad();
///   obj.backward(model, dlogits);                            // CE and tap gradients, through the model
///   optimizer.step(params);
///
/// Cross-entropy sees only labelled rows (labels = no_group for the others). Rows carry their seed
/// group (L_DA) and class (L_C). The reference set of L_DA's denominator is all pairs, or the
/// pairs that share a class (the authors' training code): with_augmentation_reference().

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "invar/losses/group_invariance.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/objective/layer_weights.hpp"
#include "invar/objective/weight_schedule.hpp"

namespace invar::objective {

enum class Invariance { augmentation, class_wise };
/// The denominator of L_DA: every pair of the batch, or the pairs that share a class.
enum class AugmentationReference { all_pairs, same_class };

template <class T, Device D = Cpu>
class Objective {
 public:
  /// One term's evaluation: the loss at a tap, its weight, and the value.
  struct TermValue {
    std::string tap;
    Invariance kind;
    double weight;
    LossValue loss;
  };
  struct Value {
    double total = 0;  ///< the weighted sum (what training descends)
    TermWeights weights;
    CrossEntropyValue cross_entropy;  ///< unweighted; loss 0 and labelled 0 when no row is labelled
    std::vector<TermValue> terms;
  };

  /// An invariance term at one tap with a share of its kind's total.
  template <class M>
  Objective& add(Invariance kind, const std::string& tap, double share, const M& metric,
                 const GroupLossOptions& options = {}) {
    static_assert(assert_metric<M, T>());
    check(std::isfinite(share) && share >= 0, "Objective: the share of tap '", tap, "' must be finite and >= 0, got ",
          share);
    Term t{tap, kind, share, {}};
    // The lambda holds copies only (no `this`): objectives are copied and moved freely.
    t.loss = [metric, options, kind](TensorView<const T, D> x, TensorView<const index_t> seeds,
                                     TensorView<const index_t> labels, TensorView<T, D> grad, double weight,
                                     bool gradients, AugmentationReference reference) {
      const GroupLossOptions o = GroupLossOptions{options}.with_gradient_scale(weight).accumulating();
      if (kind == Invariance::class_wise) {
        return gradients ? class_invariance(metric, x, labels, grad, o) : class_invariance(metric, x, labels, no_gradient, o);
      }
      if (reference == AugmentationReference::same_class) {
        return gradients ? augmentation_invariance(metric, x, seeds, same_class(labels), grad, o)
                         : augmentation_invariance(metric, x, seeds, same_class(labels), no_gradient, o);
      }
      return gradients ? augmentation_invariance(metric, x, seeds, grad, o)
                       : augmentation_invariance(metric, x, seeds, no_gradient, o);
    };
    terms_.push_back(std::move(t));
    return *this;
  }

  /// L_DA at every tap of `taps`, with shares from a weight profile (summing to 1).
  template <class M>
  Objective& augmentation(const std::vector<std::string>& taps, const M& metric,
                          WeightProfile profile = WeightProfile::uniform, double ratio = 10.0,
                          const GroupLossOptions& options = {}) {
    return add_all(Invariance::augmentation, taps, metric, profile, ratio, options);
  }
  /// L_C at every tap of `taps`, likewise.
  template <class M>
  Objective& class_wise(const std::vector<std::string>& taps, const M& metric,
                        WeightProfile profile = WeightProfile::uniform, double ratio = 10.0,
                        const GroupLossOptions& options = {}) {
    return add_all(Invariance::class_wise, taps, metric, profile, ratio, options);
  }

  Objective& with_schedule(const WeightSchedule& s) {
    schedule_ = s;
    set_epoch(epoch_, epochs_);
    return *this;
  }
  Objective& with_augmentation_reference(AugmentationReference r) {
    reference_ = r;
    return *this;
  }

  /// Applies the schedule for `epoch` (0-based) of `epochs`.
  void set_epoch(index_t epoch, index_t epochs) {
    epoch_ = epoch;
    epochs_ = epochs;
    weights_ = schedule_.at(epoch, epochs);
  }
  [[nodiscard]] const TermWeights& weights() const { return weights_; }
  /// The weight of term i in the current epoch: its share times its kind's total.
  [[nodiscard]] double term_weight(std::size_t i) const {
    const Term& t = terms_.at(i);
    return t.share * (t.kind == Invariance::augmentation ? weights_.alpha : weights_.beta);
  }
  [[nodiscard]] std::size_t size() const { return terms_.size(); }
  [[nodiscard]] Invariance term_kind(std::size_t i) const { return terms_.at(i).kind; }
  [[nodiscard]] AugmentationReference augmentation_reference() const { return reference_; }
  /// The taps the terms use, in order of addition (duplicates kept).
  [[nodiscard]] std::vector<std::string> taps() const {
    std::vector<std::string> out;
    for (const auto& t : terms_) out.push_back(t.tap);
    return out;
  }

  /// Evaluates every term on the model's last forward. With `dlogits`, also the gradients: each
  /// invariance term adds weight * dL/d(tap) into model.tap_grad(tap), and dlogits receives
  /// w_ce * dCE/dlogits (zero when w_ce = 0). Terms of weight 0 are evaluated (for logging) but
  /// add no gradient.
  template <class Model, Viewable S, Viewable L>
  Value evaluate(Model& model, S&& seeds_in, L&& labels_in, Tensor<T, D>* dlogits = nullptr) {
    const TensorView<const index_t> seeds(to_view(seeds_in)), labels(to_view(labels_in));
    Value v;
    v.weights = weights_;
    const bool gradients = dlogits != nullptr;
    for (std::size_t i = 0; i < terms_.size(); ++i) {
      const Term& t = terms_[i];
      const double w = term_weight(i);
      const auto x = model.tap(t.tap);
      const bool grad_here = gradients && w > 0;
      TensorView<T, D> g = grad_here ? model.tap_grad(t.tap) : TensorView<T, D>();
      const LossValue lv = t.loss(x, seeds, labels, g, w, grad_here, reference_);
      v.terms.push_back({t.tap, t.kind, w, lv});
      v.total += w * lv.value;
    }
    const auto logits = model.output();
    if (gradients) {
      detail_ensure_shape(*dlogits, logits.shape());
      v.cross_entropy = softmax_cross_entropy(logits, labels, *dlogits,
                                              CrossEntropyOptions{}.with_gradient_scale(weights_.cross_entropy));
    } else {
      v.cross_entropy = softmax_cross_entropy(logits, labels, no_gradient);
    }
    v.total += weights_.cross_entropy * v.cross_entropy.loss;
    return v;
  }

  /// Backward through the model from the objective's gradients (after evaluate with dlogits):
  /// from the logits when the cross-entropy weighs, else from the taps alone.
  template <class Model>
  void backward(Model& model, const Tensor<T, D>& dlogits) {
    if (weights_.cross_entropy > 0) model.backward(dlogits);
    else model.backward_from_taps();
  }

 private:
  using LossFn = std::function<LossValue(TensorView<const T, D>, TensorView<const index_t>, TensorView<const index_t>,
                                         TensorView<T, D>, double, bool, AugmentationReference)>;
  struct Term {
    std::string tap;
    Invariance kind;
    double share;
    LossFn loss;
  };

  template <class M>
  Objective& add_all(Invariance kind, const std::vector<std::string>& taps, const M& metric, WeightProfile profile,
                     double ratio, const GroupLossOptions& options) {
    check(!taps.empty(), "Objective: no taps given for the ", kind == Invariance::augmentation ? "augmentation" : "class-wise",
          " invariance terms");
    const auto shares = layer_weights(profile, static_cast<index_t>(taps.size()), 1.0, ratio);
    for (std::size_t i = 0; i < taps.size(); ++i) add(kind, taps[i], shares[i], metric, options);
    return *this;
  }
  static void detail_ensure_shape(Tensor<T, D>& t, const Shape& s) {
    if (!(t.shape() == s)) t = Tensor<T, D>(s);
  }

  std::vector<Term> terms_;
  WeightSchedule schedule_ = WeightSchedule::constant(0.0, 0.0);
  TermWeights weights_ = schedule_.at(0, 1);
  index_t epoch_ = 0, epochs_ = 1;
  AugmentationReference reference_ = AugmentationReference::all_pairs;
};

}  // namespace invar::objective
