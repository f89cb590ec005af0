#pragma once
/// \file linear_probe.hpp
/// Linear probe on frozen features: multinomial logistic regression (a softmax linear classifier
/// with bias), fitted in double precision by a deterministic L-BFGS (analysis/lbfgs.hpp).
///
/// Model and objective. Features are standardised first (analysis/standardize.hpp, fitted on the
/// labelled training rows; the probe keeps the standardiser and applies it in predict: the
/// shell shared with the MLP probe is analysis/probe.hpp). With x_i
/// the standardised features (D), y_i the label of row i mapped to 0..C-1 (the C distinct labels
/// >= 0 of the training set, in increasing order) and n the labelled rows,
///
///   z_i = W^T x_i + b                                      (W: D x C, b: C)
///   f(W, b) = (1/n) sum_i [ logsumexp(z_i) - z_i[y_i] ]  +  (lambda / 2) ||W||_F^2
///
/// lambda = LinearProbeOptions::l2 (default 1e-4); the bias is not penalised. Rows labelled < 0
/// (invar::no_group) are dropped before anything else (not fitted, not counted in accuracy).
///
/// Solver: L-BFGS (memory 10), started from W = 0, b = 0, with a line search satisfying the
/// strong Wolfe conditions (c1 = 1e-4, c2 = 0.9; bracketing by doubling, then zoom with safeguarded
/// cubic interpolation). First step length min(1, 1 / ||g||_2) along -g, then 1 along the
/// L-BFGS direction. A curvature pair (s, y) enters the memory only when s.y > 1e-10 y.y.
///
/// Stopping rule, checked before every iteration (so also at the start):
///   converged   when ||g||_inf <= tolerance * max(1, ||g_0||_inf)      (tolerance default 1e-6,
///               g the full gradient over W and b, g_0 the gradient at the start W = 0, b = 0);
///   not converged after max_iterations accepted steps (default 1000), or when the line search
///               finds no point satisfying the Armijo condition even after restarting along
///               -g with the memory cleared ("line search failed": the objective has stopped
///               decreasing at double precision).
/// A line search that ends with the Armijo condition but not the curvature condition still
/// takes its best point. report() gives the iterations, the objective/gradient evaluations, the
/// converged flag, the final objective and gradient norm and the reason of the stop.
///
/// Determinism: every operation has a fixed order. The matrix products go through invar::ops::gemm
/// (Eigen's GEBP kernel, split so that every element is computed the same way on any thread
/// count), the rest is serial; two fits on the same data give bit-identical weights, whatever the
/// thread count.

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/lbfgs.hpp"
#include "invar/analysis/probe.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

// --------------------------------------------------------------------------------------------
// The linear probe
// --------------------------------------------------------------------------------------------

/// The objective f(W, b) of the file comment on given (already standardised) features, with its
/// gradient: what fit_linear_probe minimises, public so that it can be checked. Parameters
/// theta = [W row-major (D x C), b (C)], D C + C values. Not thread-safe (it keeps work buffers).
class LinearProbeObjective {
 public:
  /// x: n x D features (n >= 1), labels: n values in [0, classes), classes >= 1, l2 >= 0.
  LinearProbeObjective(TensorView<const double> x, TensorView<const index_t> labels, index_t classes, double l2)
      : x_(x), classes_(classes), l2_(l2) {
    detail::check_objective_inputs(x, labels, classes, l2, "LinearProbeObjective");
    labels_.assign(labels.begin(), labels.end());
    z_ = Tensor<double>(Shape{x.dim(0), classes});
  }

  /// The length of theta: D C + C.
  [[nodiscard]] index_t parameters() const { return x_.dim(1) * classes_ + classes_; }

  /// f(theta); the gradient into *grad (resized) unless grad is null.
  double operator()(const Eigen::VectorXd& theta, Eigen::VectorXd* grad) {
    const index_t n = x_.dim(0), d = x_.dim(1), c = classes_;
    check(theta.size() == parameters(), "LinearProbeObjective: theta has ", theta.size(), " values, expected ",
          parameters());
    const TensorView<const double> w(theta.data(), Shape{d, c});
    const double* b = theta.data() + d * c;
    ops::gemm(x_, w, z_);
    for (index_t i = 0; i < n; ++i)
      for (index_t k = 0; k < c; ++k) z_.data()[i * c + k] += b[k];
    const double loss = detail::softmax_cross_entropy_rows(z_, labels_, grad != nullptr);
    const double penalty = 0.5 * l2_ * theta.head(d * c).squaredNorm();
    if (grad) {
      grad->resize(theta.size());
      ops::gemm(x_, z_, TensorView<double>(grad->data(), Shape{d, c}), ops::GemmOptions{}.transpose_a());
      grad->head(d * c) += l2_ * theta.head(d * c);
      double* gb = grad->data() + d * c;
      for (index_t k = 0; k < c; ++k) gb[k] = 0;
      for (index_t i = 0; i < n; ++i)
        for (index_t k = 0; k < c; ++k) gb[k] += z_.data()[i * c + k];
    }
    return loss + penalty;
  }
  /// As above, always with the gradient (the form minimize_lbfgs calls).
  double operator()(const Eigen::VectorXd& theta, Eigen::VectorXd& grad) { return (*this)(theta, &grad); }

 private:
  TensorView<const double> x_;
  std::vector<index_t> labels_;
  index_t classes_;
  double l2_;
  Tensor<double> z_;
};

/// Options of fit_linear_probe(); checked by validate().
struct LinearProbeOptions {
  double l2 = 1e-4;               ///< lambda: (lambda / 2) ||W||_F^2 is added to the mean cross-entropy
  double tolerance = 1e-6;        ///< converged when ||g||_inf <= tolerance * max(1, ||g_0||_inf)
  index_t max_iterations = 1000;  ///< L-BFGS steps at most
  index_t memory = 10;            ///< L-BFGS curvature pairs
  /// Sets #l2.
  LinearProbeOptions& with_l2(double v) { l2 = v; return *this; }
  /// Sets #tolerance.
  LinearProbeOptions& with_tolerance(double v) { tolerance = v; return *this; }
  /// Sets #max_iterations.
  LinearProbeOptions& with_max_iterations(index_t v) { max_iterations = v; return *this; }
  /// Sets #memory.
  LinearProbeOptions& with_memory(index_t v) { memory = v; return *this; }
  /// The solver's options (memory, tolerance, max_iterations).
  [[nodiscard]] LbfgsOptions solver() const {
    return LbfgsOptions{}.with_memory(memory).with_tolerance(tolerance).with_max_iterations(max_iterations);
  }
  /// Throws invar::Error when l2 is negative or not finite, or the solver's options are invalid
  /// (LbfgsOptions::validate).
  void validate() const {
    check(std::isfinite(l2) && l2 >= 0, "LinearProbeOptions: l2 must be finite and >= 0, got ", l2);
    solver().validate("LinearProbeOptions");
  }
};

/// A fitted linear probe: standardiser, weights and bias (in standardised feature space), the
/// class labels, and the solver's report. logits / predict / accuracy / classes / class_labels /
/// features / standardizer / report / options come from the shared shell (analysis/probe.hpp).
class LinearProbe : public Probe<LinearProbe, LinearProbeOptions> {
 public:
  static constexpr const char* probe_name = "LinearProbe";  ///< names the probe in messages

  /// D x C, acting on standardised features.
  [[nodiscard]] const Tensor<double>& weights() const { return weights_; }
  /// C, the bias of the logits.
  [[nodiscard]] const Tensor<double>& bias() const { return bias_; }

  /// N x C logits of N x D standardised features: xs W + b.
  [[nodiscard]] Tensor<double> standardized_logits(const Tensor<double>& xs) const {
    const index_t n = xs.dim(0), c = classes();
    Tensor<double> z(Shape{n, c});
    ops::gemm(xs, weights_, z);
    for (index_t i = 0; i < n; ++i)
      for (index_t k = 0; k < c; ++k) z.data()[i * c + k] += bias_[k];
    return z;
  }

 private:
  template <class T>
  friend LinearProbe fit_linear_probe_impl(TensorView<const T>, TensorView<const index_t>, const LinearProbeOptions&);

  Tensor<double> weights_, bias_;
};

/// fit_linear_probe() on a typed view: what it calls (a friend of LinearProbe, to set its weights).
template <class T>
LinearProbe fit_linear_probe_impl(TensorView<const T> features, TensorView<const index_t> labels,
                                  const LinearProbeOptions& o) {
  o.validate();
  detail::ProbeFit fit = detail::fit_probe(
      features, labels, o.solver(), "fit_linear_probe",
      [&](TensorView<const double> x, TensorView<const index_t> y, index_t classes) {
        return LinearProbeObjective(x, y, classes, o.l2);
      },
      [](const LinearProbeObjective& objective, index_t, index_t) {
        return Eigen::VectorXd::Zero(objective.parameters()).eval();  // W = 0, b = 0
      });
  const index_t d = fit.data.x.dim(1), c = static_cast<index_t>(fit.data.classes.size());
  LinearProbe probe;
  probe.weights_ = detail::theta_block(fit.theta, 0, Shape{d, c});
  probe.bias_ = detail::theta_block(fit.theta, d * c, Shape{c});
  probe.set_fit(std::move(fit), o);
  return probe;
}

/// Fits a linear probe on N x D training features (float or double; rank > 2 is flattened) and
/// their N labels (rows labelled < 0 are skipped). Throws invar::Error on shape mismatches, on
/// fewer than 2 distinct labels, on non-finite features and on bad options.
template <Viewable X, Viewable Y>
LinearProbe fit_linear_probe(X&& train_features, Y&& train_labels, const LinearProbeOptions& options = {}) {
  using T = typename view_t<X>::value_type;
  return fit_linear_probe_impl<T>(to_view(train_features), to_view(train_labels), options);
}

}  // namespace invar::analysis
