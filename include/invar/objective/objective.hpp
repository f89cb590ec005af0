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
/// Anti-collapse penalties (losses/anti_collapse/: variance hinge, covariance, PC1 share) join
/// the sum with constant weights, each spread evenly over its taps (Penalty, penalize()):
///
///   obj.penalize(Penalty::variance, {"hidden1", "hidden2"}, 1.0);   // 0.5 at each tap
///
/// Cross-entropy sees only labelled rows (labels = no_group for the others). Rows carry their seed
/// group (L_DA) and class (L_C). The reference set of L_DA's denominator is all pairs, or the
/// pairs that share a class (the authors' training code): with_augmentation_reference().

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "invar/distributed/communicator.hpp"
#include "invar/losses/anti_collapse.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/objective/layer_weights.hpp"
#include "invar/objective/weight_schedule.hpp"

namespace invar::objective {

/// The kind of an invariance term: augmentation (L_DA, Eq. 2, weighted by alpha) or class_wise
/// (L_C, Eq. 3, weighted by beta).
enum class Invariance { augmentation, class_wise };
/// The denominator of L_DA: every pair of the batch, or the pairs that share a class.
enum class AugmentationReference { all_pairs, same_class };

/// An anti-collapse penalty (losses/anti_collapse/).
enum class Penalty {
  variance,    ///< variance_hinge: each feature's batch standard deviation kept above a target
  covariance,  ///< covariance_penalty: squared off-diagonal covariances
  pc1_share,   ///< pc1_share_penalty: the share of variance on the first principal component above a threshold
};

/// "variance", "covariance", "pc1".
[[nodiscard]] inline const char* to_string(Penalty p) {
  switch (p) {
    case Penalty::variance: return "variance";
    case Penalty::covariance: return "covariance";
    case Penalty::pc1_share: return "pc1";
  }
  return "?";
}

/// The options of every penalty kind, for Objective::penalize (each kind reads its own).
struct PenaltyOptions {
  VarianceHingeOptions variance;      ///< used by Penalty::variance
  CovariancePenaltyOptions covariance;  ///< used by Penalty::covariance
  Pc1SharePenaltyOptions pc1_share;   ///< used by Penalty::pc1_share
};

/// Eq. 1 over a model's taps: invariance terms with per-tap shares, a WeightSchedule for the
/// totals, and cross-entropy on the logits (usage in the file comment). Copyable.
template <class T, Device D = Cpu>
class Objective {
 public:
  /// One term's evaluation: the loss at a tap, its weight, and the value.
  struct TermValue {
    std::string tap;   ///< the tap the term reads
    Invariance kind;   ///< L_DA or L_C
    double weight;     ///< the term's weight this epoch (share times its kind's total)
    LossValue loss;    ///< the unweighted loss, with numerator and denominator
  };
  /// What evaluate() returns: the weighted total and every part of it.
  struct Value {
    double total = 0;  ///< the weighted sum (what training descends)
    TermWeights weights;  ///< the schedule's totals in force (cross_entropy is w_ce)
    CrossEntropyValue cross_entropy;  ///< unweighted; loss 0 and labelled 0 when no row is labelled
    std::vector<TermValue> terms;  ///< one per term, in order of addition
    std::vector<PenaltyValue> penalties;  ///< one per penalty term (penalty(i) says which), in order of addition
  };

  /// An invariance term at one tap with a share of its kind's total. `options` sets the convention,
  /// epsilon and path; its gradient scale and accumulate flag are overridden (weight, accumulate).
  /// Throws invar::Error for a negative or non-finite share.
  template <class M>
  Objective& add(Invariance kind, const std::string& tap, double share, const M& metric,
                 const GroupLossOptions& options = {}) {
    static_assert(assert_metric<M, T>());
    check(std::isfinite(share) && share >= 0, "Objective: the share of tap '", tap, "' must be finite and >= 0, got ",
          share);
    Term t{tap, kind, share, options, {}, {}};
    // Terms of one stateless squared-difference metric at a tap share the linear path's pass
    // (group_invariances): one set of sums, one write of the tap's gradient.
    if constexpr (std::is_empty_v<M> && SquaredDifferenceMetric<M, T>) t.fuse_key = std::type_index(typeid(M));
    // The lambda holds copies only (no `this`): objectives are copied and moved freely.
    t.loss = [metric](TensorView<const T, D> x, TensorView<const index_t> seeds, TensorView<const index_t> labels,
                      TensorView<T, D> grad, std::span<const Part> parts, bool gradients, bool accumulate,
                      AugmentationReference reference, const distributed::Communicator* comm) {
      std::vector<InvarianceTerm> terms;
      for (const Part& p : parts) {
        InvarianceTerm term;
        term.options = GroupLossOptions{p.options}.with_gradient_scale(p.weight).accumulating(accumulate);
        if (comm != nullptr) term.options.communicator = comm;
        if (p.kind == Invariance::class_wise) {
          term.ids = labels;
          term.name = "class_invariance";
        } else {
          term.ids = seeds;
          term.reference = reference == AugmentationReference::same_class ? same_class(labels) : all_pairs();
          term.name = "augmentation_invariance";
        }
        terms.push_back(term);
      }
      const std::span<const InvarianceTerm> all(terms);
      return gradients ? group_invariances(metric, x, all, grad) : group_invariances(metric, x, all, no_gradient);
    };
    terms_.push_back(std::move(t));
    return *this;
  }

  /// An anti-collapse penalty at every tap of `taps`, `weight` spread evenly over them (a
  /// constant weight: the schedule does not scale it). The options' gradient scale and
  /// accumulate flag are overridden. Throws invar::Error for no taps or a negative or
  /// non-finite weight.
  Objective& penalize(Penalty kind, const std::vector<std::string>& taps, double weight,
                      const PenaltyOptions& options = {}) {
    check(!taps.empty(), "Objective: no taps given for the ", to_string(kind), " penalty");
    check(std::isfinite(weight) && weight >= 0, "Objective: the weight of the ", to_string(kind),
          " penalty must be finite and >= 0, got ", weight);
    for (const auto& tap : taps) {
      PenaltyTerm p{tap, kind, weight / double(taps.size()), {}};
      p.penalty = [kind, options](TensorView<const T, D> x, TensorView<T, D> grad, double w, bool gradients,
                                  bool accumulate) {
        switch (kind) {
          case Penalty::variance: {
            const auto o = VarianceHingeOptions{options.variance}.with_gradient_scale(w).accumulating(accumulate);
            return gradients ? variance_hinge(x, grad, o) : variance_hinge(x, no_gradient, o);
          }
          case Penalty::covariance: {
            const auto o = CovariancePenaltyOptions{options.covariance}.with_gradient_scale(w).accumulating(accumulate);
            return gradients ? covariance_penalty(x, grad, o) : covariance_penalty(x, no_gradient, o);
          }
          case Penalty::pc1_share: {
            const auto o = Pc1SharePenaltyOptions{options.pc1_share}.with_gradient_scale(w).accumulating(accumulate);
            return gradients ? pc1_share_penalty(x, grad, o) : pc1_share_penalty(x, no_gradient, o);
          }
        }
        return PenaltyValue{};
      };
      penalties_.push_back(std::move(p));
    }
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

  /// Sets the schedule of the totals (default: constant 0, 0, so cross-entropy 1) and applies it
  /// to the current epoch at once.
  Objective& with_schedule(const WeightSchedule& s) {
    schedule_ = s;
    set_epoch(epoch_, epochs_);
    return *this;
  }
  /// Sets the denominator of the L_DA terms (default: all_pairs); same_class uses the labels given to evaluate().
  Objective& with_augmentation_reference(AugmentationReference r) {
    reference_ = r;
    return *this;
  }

  /// Evaluates the objective on a batch that `comm`'s ranks hold together, each its own rows
  /// (docs/distributed.md): every term and the cross-entropy are those of the whole batch, the
  /// same value on every rank, and each rank's taps and logits get the gradient of its rows.
  /// Every rank calls evaluate() with its rows. The anti-collapse penalties are not computed
  /// across ranks: evaluate() refuses them. `comm` must outlive the objective's use.
  Objective& across(const distributed::Communicator& comm) {
    comm_ = &comm;
    return *this;
  }
  /// The communicator set by across(), or null.
  [[nodiscard]] const distributed::Communicator* communicator() const { return comm_; }

  /// Applies the schedule for `epoch` (0-based) of `epochs`. Throws invar::Error unless
  /// epochs >= 1 and epoch >= 0.
  void set_epoch(index_t epoch, index_t epochs) {
    epoch_ = epoch;
    epochs_ = epochs;
    weights_ = schedule_.at(epoch, epochs);
  }
  /// The totals alpha, beta and w_ce in force (set by set_epoch() and with_schedule()).
  [[nodiscard]] const TermWeights& weights() const { return weights_; }
  /// The weight of term i in the current epoch: its share times its kind's total;
  /// std::out_of_range for i >= size().
  [[nodiscard]] double term_weight(std::size_t i) const {
    const Term& t = terms_.at(i);
    return t.share * (t.kind == Invariance::augmentation ? weights_.alpha : weights_.beta);
  }
  /// Number of invariance terms (cross-entropy not counted).
  [[nodiscard]] std::size_t size() const { return terms_.size(); }
  /// The kind of term i; std::out_of_range for i >= size().
  [[nodiscard]] Invariance term_kind(std::size_t i) const { return terms_.at(i).kind; }
  /// The denominator of the L_DA terms.
  [[nodiscard]] AugmentationReference augmentation_reference() const { return reference_; }
  /// Number of penalty terms (one per tap of each penalize() call).
  [[nodiscard]] std::size_t penalty_count() const { return penalties_.size(); }
  /// The kind of penalty term i; std::out_of_range for i >= penalty_count().
  [[nodiscard]] Penalty penalty(std::size_t i) const { return penalties_.at(i).kind; }
  /// The tap of penalty term i; std::out_of_range for i >= penalty_count().
  [[nodiscard]] const std::string& penalty_tap(std::size_t i) const { return penalties_.at(i).tap; }
  /// The (constant) weight of penalty term i; std::out_of_range for i >= penalty_count().
  [[nodiscard]] double penalty_weight(std::size_t i) const { return penalties_.at(i).weight; }
  /// The taps the terms use, in order of addition (duplicates kept).
  [[nodiscard]] std::vector<std::string> taps() const {
    std::vector<std::string> out;
    for (const auto& t : terms_) out.push_back(t.tap);
    return out;
  }

  /// Evaluates every term on the model's last forward. With `dlogits`, also the gradients: each
  /// invariance term adds weight * dL/d(tap) into model.tap_grad(tap) (the first at a tap since
  /// the forward writes it, where the model offers tap_grad_to_write), and dlogits receives
  /// w_ce * dCE/dlogits (zero when w_ce = 0). Terms of weight 0 are evaluated (for logging) but
  /// add no gradient. The terms of one stateless squared-difference metric at a tap (L_DA and L_C
  /// with mean squared difference, say) are evaluated together by group_invariances: one pass over
  /// the tap for their sums and one for their summed gradient.
  template <class Model, Viewable S, Viewable L>
  Value evaluate(Model& model, S&& seeds_in, L&& labels_in, Tensor<T, D>* dlogits = nullptr) {
    const TensorView<const index_t> seeds(to_view(seeds_in)), labels(to_view(labels_in));
    Value v;
    v.weights = weights_;
    const bool gradients = dlogits != nullptr;
    // Terms at one tap with the same fuse key run as one call (their group_invariances pass);
    // values are reported, and added to the total, in the order of addition.
    v.terms.resize(terms_.size());
    std::vector<bool> done(terms_.size(), false);
    for (std::size_t i = 0; i < terms_.size(); ++i) {
      if (done[i]) continue;
      const Term& t = terms_[i];
      std::vector<std::size_t> members{i};
      if (t.fuse_key)
        for (std::size_t j = i + 1; j < terms_.size(); ++j)
          if (!done[j] && terms_[j].tap == t.tap && terms_[j].fuse_key == t.fuse_key) members.push_back(j);
      std::vector<Part> parts;
      bool any_weight = false;
      for (std::size_t m : members) {
        done[m] = true;
        parts.push_back({terms_[m].kind, terms_[m].options, term_weight(m)});
        any_weight = any_weight || parts.back().weight > 0;
      }
      const auto x = model.tap(t.tap);
      const bool grad_here = gradients && any_weight;
      const TapGradient g = grad_here ? tap_gradient(model, t.tap) : TapGradient{};
      const std::vector<LossValue> values = written_or_cleared(g, [&] {
        return t.loss(x, seeds, labels, g.grad, std::span<const Part>(parts), grad_here, !g.overwrite, reference_,
                      comm_);
      });
      for (std::size_t k = 0; k < members.size(); ++k)
        v.terms[members[k]] = {terms_[members[k]].tap, terms_[members[k]].kind, parts[k].weight, values[k]};
    }
    for (const TermValue& tv : v.terms) v.total += tv.weight * tv.loss.value;
    check(penalties_.empty() || !distributed::is_distributed(comm_),
          "Objective: the anti-collapse penalties (", penalties_.empty() ? "" : to_string(penalties_[0].kind),
          " at '", penalties_.empty() ? "" : penalties_[0].tap,
          "') use batch statistics that are not computed across ranks; train them in one process");
    for (const PenaltyTerm& p : penalties_) {
      const auto x = model.tap(p.tap);
      const bool grad_here = gradients && p.weight > 0;
      const TapGradient g = grad_here ? tap_gradient(model, p.tap) : TapGradient{};
      const PenaltyValue pv =
          written_or_cleared(g, [&] { return p.penalty(x, g.grad, p.weight, grad_here, !g.overwrite); });
      v.penalties.push_back(pv);
      v.total += p.weight * pv.value;
    }
    const auto logits = model.output();
    if (gradients) {
      detail_ensure_shape(*dlogits, logits.shape());
      v.cross_entropy = softmax_cross_entropy(logits, labels, *dlogits,
                                              ce_options().with_gradient_scale(weights_.cross_entropy));
    } else {
      v.cross_entropy = softmax_cross_entropy(logits, labels, no_gradient, ce_options());
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
  // One term of a loss call: its kind, options and weight this epoch.
  struct Part {
    Invariance kind;
    GroupLossOptions options;
    double weight;
  };
  // (x, seeds, labels, gradient buffer, the terms, gradients?, accumulate?, reference, ranks): one
  // value per term; the gradient buffer gets the sum of the terms' weighted gradients.
  using LossFn = std::function<std::vector<LossValue>(
      TensorView<const T, D>, TensorView<const index_t>, TensorView<const index_t>, TensorView<T, D>,
      std::span<const Part>, bool, bool, AugmentationReference, const distributed::Communicator*)>;
  struct Term {
    std::string tap;
    Invariance kind;
    double share;
    GroupLossOptions options;
    std::optional<std::type_index> fuse_key;  // the metric's type where terms of it can share a call
    LossFn loss;  // evaluates terms of this term's metric
  };
  // (x, gradient buffer, weight, gradients?, accumulate?)
  using PenaltyFn = std::function<PenaltyValue(TensorView<const T, D>, TensorView<T, D>, double, bool, bool)>;
  // A tap's gradient buffer and whether the next loss writes it (the first since the forward) or
  // adds to it.
  struct TapGradient {
    TensorView<T, D> grad;
    bool overwrite = false;
  };
  // Models that hand out a tap's buffer unzeroed (nn::Sequential::tap_grad_to_write) let the
  // first loss at a tap write its gradient; others give tap_grad(), zeroed, to add to.
  template <class Model>
  static TapGradient tap_gradient(Model& model, const std::string& tap) {
    if constexpr (requires { model.tap_grad_to_write(tap); }) {
      const auto t = model.tap_grad_to_write(tap);
      return {t.grad, t.overwrite};
    } else {
      return {model.tap_grad(tap), false};
    }
  }
  // Runs a loss that writes (overwrite) or adds into g. If it throws, a buffer it was to write
  // is zeroed: a buffer handed out unzeroed never keeps a stale step's values.
  template <class F>
  static auto written_or_cleared(const TapGradient& g, F&& loss) {
    try {
      return loss();
    } catch (...) {
      if (g.overwrite) ops::fill(g.grad, T(0));
      throw;
    }
  }
  struct PenaltyTerm {
    std::string tap;
    Penalty kind;
    double weight;
    PenaltyFn penalty;
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
  [[nodiscard]] CrossEntropyOptions ce_options() const {
    CrossEntropyOptions o;
    o.communicator = comm_;
    return o;
  }
  static void detail_ensure_shape(Tensor<T, D>& t, const Shape& s) {
    if (!(t.shape() == s)) t = Tensor<T, D>(s);
  }

  std::vector<Term> terms_;
  std::vector<PenaltyTerm> penalties_;
  WeightSchedule schedule_ = WeightSchedule::constant(0.0, 0.0);
  TermWeights weights_ = schedule_.at(0, 1);
  index_t epoch_ = 0, epochs_ = 1;
  AugmentationReference reference_ = AugmentationReference::all_pairs;
  const distributed::Communicator* comm_ = nullptr;
};

}  // namespace invar::objective
