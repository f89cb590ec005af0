#pragma once
/// \file mlp_probe.hpp
/// MLP probe on frozen features: one hidden ReLU layer, then softmax, fitted in double precision
/// by full-batch L-BFGS (the solver of linear_probe.hpp; the shell shared with it, from the
/// labelled rows and their standardisation to predict and accuracy, is analysis/probe.hpp). It measures what a small non-linear
/// read-out can get from a layer, where the linear probe measures linear separability.
///
/// Model and objective, on standardised features x_i (the probe keeps the standardiser, fitted on
/// the labelled training rows), labels y_i mapped to 0..C-1 (the distinct labels >= 0), n the
/// labelled rows, H = MlpProbeOptions::hidden (default 256):
///
///   h_i = relu(W1^T x_i + b1)         (W1: D x H, b1: H)
///   z_i = W2^T h_i + b2               (W2: H x C, b2: C)
///   f = (1/n) sum_i [ logsumexp(z_i) - z_i[y_i] ]  +  (lambda / 2) (||W1||_F^2 + ||W2||_F^2)
///
/// lambda = MlpProbeOptions::l2 (default 1e-4); biases are not penalised. Rows labelled < 0 are
/// dropped (not fitted, not counted in accuracy).
///
/// Initialisation, from MlpProbeOptions::seed with invar::Rng: W1 then W2 Glorot-uniform
/// (U(-a, a), a = sqrt(6 / (fan_in + fan_out))), drawn in row-major order; biases 0. The same
/// seed and data give bit-identical weights (on any thread count: see linear_probe.hpp).
///
/// Solver and stopping rule: full-batch L-BFGS, memory 10, strong Wolfe line search, exactly as
/// in linear_probe.hpp: converged when ||g||_inf <= tolerance * max(1, ||g_0||_inf) (tolerance
/// default 1e-6, g_0 the gradient at the initial weights); otherwise it stops after
/// max_iterations steps (default 500) or when the line search fails. The objective is not convex
/// (and not smooth where a ReLU switches), so a stop at max_iterations is the usual case and
/// report().converged is then false: what matters for a probe is the accuracy, and the
/// iteration budget is part of the probe's definition.

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/linear_probe.hpp"  // not needed here; includers of this header have always had it
#include "invar/analysis/probe.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/random.hpp"

namespace invar::analysis {

/// The objective f of the file comment on standardised features, with its gradient. Parameters
/// theta = [W1 row-major (D x H), b1 (H), W2 row-major (H x C), b2 (C)]. Not thread-safe.
class MlpProbeObjective {
 public:
  /// x: n x D features (n >= 1), labels: n values in [0, classes), classes >= 1, hidden >= 1,
  /// l2 >= 0 (else invar::Error). Keeps a view of x: it must outlive the objective.
  MlpProbeObjective(TensorView<const double> x, TensorView<const index_t> labels, index_t classes, index_t hidden,
                    double l2)
      : x_(x), classes_(classes), hidden_(hidden), l2_(l2) {
    check(hidden >= 1, "MlpProbeObjective: hidden must be >= 1, got ", hidden);
    detail::check_objective_inputs(x, labels, classes, l2, "MlpProbeObjective");
    labels_.assign(labels.begin(), labels.end());
    const index_t n = x.dim(0);
    pre_ = Tensor<double>(Shape{n, hidden});
    act_ = Tensor<double>(Shape{n, hidden});
    z_ = Tensor<double>(Shape{n, classes});
  }

  /// The length of theta: D H + H + H C + C.
  [[nodiscard]] index_t parameters() const {
    return x_.dim(1) * hidden_ + hidden_ + hidden_ * classes_ + classes_;
  }

  /// The offsets of W1, b1, W2, b2 in theta.
  struct Layout {
    /// \var w1
    /// Offset of W1 (0).
    /// \var b1
    /// Offset of b1: D H.
    /// \var w2
    /// Offset of W2: D H + H.
    /// \var b2
    /// Offset of b2: D H + H + H C.
    index_t w1, b1, w2, b2, end;  ///< one past b2: the length of theta, parameters()
  };
  /// The offsets for this objective's D, H and C.
  [[nodiscard]] Layout layout() const {
    const index_t d = x_.dim(1), h = hidden_, c = classes_;
    return {0, d * h, d * h + h, d * h + h + h * c, d * h + h + h * c + c};
  }

  /// f(theta); the gradient into *grad (resized) unless grad is null.
  double operator()(const Eigen::VectorXd& theta, Eigen::VectorXd* grad) {
    const index_t n = x_.dim(0), d = x_.dim(1), h = hidden_, c = classes_;
    const Layout l = layout();
    check(theta.size() == l.end, "MlpProbeObjective: theta has ", theta.size(), " values, expected ", l.end);
    const double* p = theta.data();
    forward(TensorView<const double>(p + l.w1, Shape{d, h}), p + l.b1, TensorView<const double>(p + l.w2, Shape{h, c}),
            p + l.b2, x_, pre_, act_, z_);
    const double loss = detail::softmax_cross_entropy_rows(z_, labels_, grad != nullptr);
    const double penalty =
        0.5 * l2_ * (theta.segment(l.w1, d * h).squaredNorm() + theta.segment(l.w2, h * c).squaredNorm());
    if (!grad) return loss + penalty;
    grad->resize(theta.size());
    double* g = grad->data();
    // dW2 = act^T dz, db2 = column sums of dz, d(act) = dz W2^T, masked by relu' into pre_.
    ops::gemm(act_, z_, TensorView<double>(g + l.w2, Shape{h, c}), ops::GemmOptions{}.transpose_a());
    column_sums(z_, g + l.b2);
    ops::gemm(z_, TensorView<const double>(p + l.w2, Shape{h, c}), act_, ops::GemmOptions{}.transpose_b());
    for (index_t i = 0; i < n * h; ++i) pre_.data()[i] = pre_.data()[i] > 0 ? act_.data()[i] : 0.0;
    ops::gemm(x_, pre_, TensorView<double>(g + l.w1, Shape{d, h}), ops::GemmOptions{}.transpose_a());
    column_sums(pre_, g + l.b1);
    grad->segment(l.w1, d * h) += l2_ * theta.segment(l.w1, d * h);
    grad->segment(l.w2, h * c) += l2_ * theta.segment(l.w2, h * c);
    return loss + penalty;
  }
  /// As above, always with the gradient (the form minimize_lbfgs calls).
  double operator()(const Eigen::VectorXd& theta, Eigen::VectorXd& grad) { return (*this)(theta, &grad); }

  /// z = relu(x W1 + b1) W2 + b2 (pre and act: the n x H pre-activation and activation).
  static void forward(TensorView<const double> w1, const double* b1, TensorView<const double> w2, const double* b2,
                      TensorView<const double> x, Tensor<double>& pre, Tensor<double>& act, Tensor<double>& z) {
    const index_t n = x.dim(0), h = w1.dim(1), c = w2.dim(1);
    ops::gemm(x, w1, pre);
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < h; ++j) {
        double& v = pre.data()[i * h + j];
        v += b1[j];
        act.data()[i * h + j] = v > 0 ? v : 0.0;
      }
    ops::gemm(act, w2, z);
    for (index_t i = 0; i < n; ++i)
      for (index_t k = 0; k < c; ++k) z.data()[i * c + k] += b2[k];
  }

 private:
  static void column_sums(const Tensor<double>& m, double* out) {
    const index_t n = m.dim(0), k = m.dim(1);
    for (index_t j = 0; j < k; ++j) out[j] = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < k; ++j) out[j] += m.data()[i * k + j];
  }

  TensorView<const double> x_;
  std::vector<index_t> labels_;
  index_t classes_, hidden_;
  double l2_;
  Tensor<double> pre_, act_, z_;
};

/// Options of fit_mlp_probe(); checked by validate().
struct MlpProbeOptions {
  index_t hidden = 256;          ///< width of the hidden ReLU layer
  double l2 = 1e-4;              ///< lambda: (lambda / 2) (||W1||^2 + ||W2||^2) is added to the mean cross-entropy
  double tolerance = 1e-6;       ///< converged when ||g||_inf <= tolerance * max(1, ||g_0||_inf)
  index_t max_iterations = 500;  ///< L-BFGS steps at most
  index_t memory = 10;           ///< L-BFGS curvature pairs
  std::uint64_t seed = 0;        ///< initialisation
  /// Sets #hidden.
  MlpProbeOptions& with_hidden(index_t v) { hidden = v; return *this; }
  /// Sets #l2.
  MlpProbeOptions& with_l2(double v) { l2 = v; return *this; }
  /// Sets #tolerance.
  MlpProbeOptions& with_tolerance(double v) { tolerance = v; return *this; }
  /// Sets #max_iterations.
  MlpProbeOptions& with_max_iterations(index_t v) { max_iterations = v; return *this; }
  /// Sets #memory.
  MlpProbeOptions& with_memory(index_t v) { memory = v; return *this; }
  /// Sets #seed.
  MlpProbeOptions& with_seed(std::uint64_t v) { seed = v; return *this; }
  /// The solver's options (memory, tolerance, max_iterations).
  [[nodiscard]] LbfgsOptions solver() const {
    return LbfgsOptions{}.with_memory(memory).with_tolerance(tolerance).with_max_iterations(max_iterations);
  }
  /// Throws invar::Error when hidden < 1, l2 is negative or not finite, or the solver's options
  /// are invalid (LbfgsOptions::validate).
  void validate() const {
    check(hidden >= 1, "MlpProbeOptions: hidden must be >= 1, got ", hidden);
    check(std::isfinite(l2) && l2 >= 0, "MlpProbeOptions: l2 must be finite and >= 0, got ", l2);
    solver().validate("MlpProbeOptions");
  }
};

/// A fitted MLP probe: standardiser, the two layers (on standardised features), the class labels
/// and the solver's report. logits / predict / accuracy / classes / class_labels / features /
/// standardizer / report / options come from the shared shell (analysis/probe.hpp).
class MlpProbe : public Probe<MlpProbe, MlpProbeOptions> {
 public:
  static constexpr const char* probe_name = "MlpProbe";  ///< names the probe in messages

  /// H, the width of the hidden layer.
  [[nodiscard]] index_t hidden() const { return w1_.dim(1); }
  /// W1, D x H (on standardised features).
  [[nodiscard]] const Tensor<double>& w1() const { return w1_; }
  /// b1, H.
  [[nodiscard]] const Tensor<double>& b1() const { return b1_; }
  /// W2, H x C.
  [[nodiscard]] const Tensor<double>& w2() const { return w2_; }
  /// b2, C.
  [[nodiscard]] const Tensor<double>& b2() const { return b2_; }

  /// N x C logits of N x D standardised features: relu(xs W1 + b1) W2 + b2.
  [[nodiscard]] Tensor<double> standardized_logits(const Tensor<double>& xs) const {
    const index_t n = xs.dim(0);
    Tensor<double> pre(Shape{n, w1_.dim(1)}), act(Shape{n, w1_.dim(1)}), z(Shape{n, classes()});
    MlpProbeObjective::forward(w1_, b1_.data(), w2_, b2_.data(), xs, pre, act, z);
    return z;
  }

 private:
  template <class T>
  friend MlpProbe fit_mlp_probe_impl(TensorView<const T>, TensorView<const index_t>, const MlpProbeOptions&);

  Tensor<double> w1_, b1_, w2_, b2_;
};

/// fit_mlp_probe() on a typed view: what it calls (a friend of MlpProbe, to set its weights).
template <class T>
MlpProbe fit_mlp_probe_impl(TensorView<const T> features, TensorView<const index_t> labels, const MlpProbeOptions& o) {
  o.validate();
  const index_t h = o.hidden;
  detail::ProbeFit fit = detail::fit_probe(
      features, labels, o.solver(), "fit_mlp_probe",
      [&](TensorView<const double> x, TensorView<const index_t> y, index_t classes) {
        return MlpProbeObjective(x, y, classes, h, o.l2);
      },
      [&](const MlpProbeObjective& objective, index_t d, index_t c) {
        // W1 then W2 Glorot-uniform from the seed, row-major; biases 0.
        const auto l = objective.layout();
        Eigen::VectorXd theta = Eigen::VectorXd::Zero(l.end);
        Rng rng(o.seed);
        const double a1 = std::sqrt(6.0 / double(d + h)), a2 = std::sqrt(6.0 / double(h + c));
        for (index_t i = 0; i < d * h; ++i) theta[l.w1 + i] = rng.uniform(-a1, a1);
        for (index_t i = 0; i < h * c; ++i) theta[l.w2 + i] = rng.uniform(-a2, a2);
        return theta;
      });
  const index_t d = fit.data.x.dim(1), c = static_cast<index_t>(fit.data.classes.size());
  const MlpProbeObjective::Layout l{0, d * h, d * h + h, d * h + h + h * c, d * h + h + h * c + c};
  MlpProbe probe;
  probe.w1_ = detail::theta_block(fit.theta, l.w1, Shape{d, h});
  probe.b1_ = detail::theta_block(fit.theta, l.b1, Shape{h});
  probe.w2_ = detail::theta_block(fit.theta, l.w2, Shape{h, c});
  probe.b2_ = detail::theta_block(fit.theta, l.b2, Shape{c});
  probe.set_fit(std::move(fit), o);
  return probe;
}

/// Fits an MLP probe on N x D training features (float or double) and their N labels (rows
/// labelled < 0 are skipped). Throws invar::Error on shape mismatches, fewer than 2 distinct
/// labels, non-finite features and bad options.
template <Viewable X, Viewable Y>
MlpProbe fit_mlp_probe(X&& train_features, Y&& train_labels, const MlpProbeOptions& options = {}) {
  using T = typename view_t<X>::value_type;
  return fit_mlp_probe_impl<T>(to_view(train_features), to_view(train_labels), options);
}

}  // namespace invar::analysis
