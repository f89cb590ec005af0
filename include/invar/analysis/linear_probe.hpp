#pragma once
/// \file linear_probe.hpp
/// Linear probe on frozen features: multinomial logistic regression (a softmax linear classifier
/// with bias), fitted in double precision by a deterministic L-BFGS (analysis/lbfgs.hpp).
///
/// Model and objective. Features are standardised first (analysis/standardize.hpp, fitted on the
/// labelled training rows; the probe keeps the standardiser and applies it in predict). With x_i
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
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/lbfgs.hpp"
#include "invar/analysis/standardize.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

// --------------------------------------------------------------------------------------------
// Shared by the probes
// --------------------------------------------------------------------------------------------

namespace detail {

/// Mean softmax cross-entropy of the rows of z (n x c) against labels in [0, c), in double;
/// when `gradient`, z is overwritten by dL/dz = (softmax(z) - onehot(y)) / n.
inline double softmax_cross_entropy_rows(Tensor<double>& z, const std::vector<index_t>& labels, bool gradient) {
  const index_t n = z.dim(0), c = z.dim(1);
  double total = 0;
  for (index_t i = 0; i < n; ++i) {
    double* zi = z.data() + i * c;
    double mx = zi[0];
    for (index_t k = 1; k < c; ++k) mx = std::max(mx, zi[k]);
    double sum = 0;
    for (index_t k = 0; k < c; ++k) sum += std::exp(zi[k] - mx);
    const index_t y = labels[std::size_t(i)];
    total += std::log(sum) - (zi[y] - mx);
    if (gradient) {
      for (index_t k = 0; k < c; ++k) zi[k] = std::exp(zi[k] - mx) / sum / double(n);
      zi[y] -= 1.0 / double(n);
    }
  }
  return total / double(n);
}

/// The labelled training rows of a probe: standardised features, labels mapped to 0..C-1.
struct ProbeData {
  Standardizer standardizer;
  std::vector<index_t> classes;  ///< the distinct labels >= 0, increasing
  Tensor<double> x;              ///< n x D standardised (labelled rows only)
  std::vector<index_t> y;        ///< in [0, classes.size())
};

template <class T>
std::pair<index_t, index_t> probe_extents(TensorView<const T> features, const char* who) {
  check(features.rank() >= 2, who, ": features must be N x D (rows x features), got shape ", features.shape());
  return {features.dim(0), features.row_size()};
}

inline void check_labels_shape(TensorView<const index_t> labels, index_t n, const Shape& features, const char* who) {
  check(labels.rank() == 1 && labels.dim(0) == n, who, ": need one label per row of the features ", features,
        ", got labels of shape ", labels.shape());
}

template <class T>
void check_finite_features(TensorView<const T> x, index_t d, const char* who) {
  for (index_t i = 0; i < x.numel(); ++i)
    check(std::isfinite(double(x[i])), who, ": feature ", i % d, " of row ", i / d, " is not finite (", double(x[i]),
          ")");
}

template <class T>
ProbeData prepare_probe_data(TensorView<const T> features, TensorView<const index_t> labels, const char* who) {
  const auto [n, d] = probe_extents(features, who);
  check_labels_shape(labels, n, features.shape(), who);
  check(d >= 1, who, ": the features have no columns (shape ", features.shape(), ")");
  check_finite_features(features, d, who);
  ProbeData p;
  std::vector<index_t> rows;
  for (index_t i = 0; i < n; ++i)
    if (labels[i] >= 0) {
      rows.push_back(i);
      p.classes.push_back(labels[i]);
    }
  std::sort(p.classes.begin(), p.classes.end());
  p.classes.erase(std::unique(p.classes.begin(), p.classes.end()), p.classes.end());
  check(p.classes.size() >= 2, who, ": need at least 2 classes among the labelled rows, got ", p.classes.size(),
        " (", rows.size(), " labelled rows of ", n, ")");
  const auto m = static_cast<index_t>(rows.size());
  Tensor<T> kept = Tensor<T>::uninitialized(Shape{m, d});
  p.y.resize(rows.size());
  for (index_t r = 0; r < m; ++r) {
    const index_t i = rows[std::size_t(r)];
    std::copy(features.data() + i * d, features.data() + (i + 1) * d, kept.data() + r * d);
    p.y[std::size_t(r)] =
        std::lower_bound(p.classes.begin(), p.classes.end(), labels[i]) - p.classes.begin();
  }
  p.standardizer = Standardizer::fit(kept);
  p.x = p.standardizer.apply(kept);
  return p;
}

/// Standardised features for prediction, checked against the fitted width.
template <class T>
Tensor<double> probe_inputs(const Standardizer& s, TensorView<const T> features, const char* who) {
  const auto [n, d] = probe_extents(features, who);
  (void)n;
  check(d == s.features(), who, ": the features have ", d, " columns (shape ", features.shape(),
        "), the probe was fitted on ", s.features());
  check_finite_features(features, d, who);
  return s.apply(features.as_matrix());
}

/// argmax of every row of logits (the first on ties), as the original labels.
inline Tensor<index_t> argmax_labels(const Tensor<double>& logits, const std::vector<index_t>& classes) {
  const index_t n = logits.dim(0), c = logits.dim(1);
  Tensor<index_t> out(Shape{n});
  for (index_t i = 0; i < n; ++i) {
    const double* zi = logits.data() + i * c;
    index_t best = 0;
    for (index_t k = 1; k < c; ++k)
      if (zi[k] > zi[best]) best = k;
    out[i] = classes[std::size_t(best)];
  }
  return out;
}

/// Fraction of rows labelled >= 0 whose prediction is the label.
inline double labelled_accuracy(const Tensor<index_t>& predicted, TensorView<const index_t> labels, const Shape& features,
                                const char* who) {
  check_labels_shape(labels, predicted.dim(0), features, who);
  index_t labelled = 0, correct = 0;
  for (index_t i = 0; i < labels.numel(); ++i) {
    if (labels[i] < 0) continue;
    ++labelled;
    correct += predicted[i] == labels[i];
  }
  check(labelled > 0, who, ": no labelled rows (every label is < 0)");
  return double(correct) / double(labelled);
}

}  // namespace detail

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
    check(x.rank() == 2 && x.dim(0) >= 1, "LinearProbeObjective: x must be n x D with n >= 1, got ", x.shape());
    check(classes >= 1, "LinearProbeObjective: classes must be >= 1, got ", classes);
    check(std::isfinite(l2) && l2 >= 0, "LinearProbeObjective: l2 must be finite and >= 0, got ", l2);
    detail::check_labels_shape(labels, x.dim(0), x.shape(), "LinearProbeObjective");
    labels_.assign(labels.begin(), labels.end());
    for (index_t i = 0; i < x.dim(0); ++i)
      check(labels_[std::size_t(i)] >= 0 && labels_[std::size_t(i)] < classes, "LinearProbeObjective: label ",
            labels_[std::size_t(i)], " of row ", i, " is outside [0, ", classes, ")");
    z_ = Tensor<double>(Shape{x.dim(0), classes});
  }

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
  double operator()(const Eigen::VectorXd& theta, Eigen::VectorXd& grad) { return (*this)(theta, &grad); }

 private:
  TensorView<const double> x_;
  std::vector<index_t> labels_;
  index_t classes_;
  double l2_;
  Tensor<double> z_;
};

struct LinearProbeOptions {
  double l2 = 1e-4;               ///< lambda: (lambda / 2) ||W||_F^2 is added to the mean cross-entropy
  double tolerance = 1e-6;        ///< converged when ||g||_inf <= tolerance * max(1, ||g_0||_inf)
  index_t max_iterations = 1000;  ///< L-BFGS steps at most
  index_t memory = 10;            ///< L-BFGS curvature pairs
  LinearProbeOptions& with_l2(double v) { l2 = v; return *this; }
  LinearProbeOptions& with_tolerance(double v) { tolerance = v; return *this; }
  LinearProbeOptions& with_max_iterations(index_t v) { max_iterations = v; return *this; }
  LinearProbeOptions& with_memory(index_t v) { memory = v; return *this; }
  void validate() const {
    check(std::isfinite(l2) && l2 >= 0, "LinearProbeOptions: l2 must be finite and >= 0, got ", l2);
    LbfgsOptions{}.with_memory(memory).with_tolerance(tolerance).with_max_iterations(max_iterations)
        .validate("LinearProbeOptions");
  }
};

/// A fitted linear probe: standardiser, weights and bias (in standardised feature space), the
/// class labels, and the solver's report.
class LinearProbe {
 public:
  /// N x C scores (column k is classes()[k]) of N x D features (float or double).
  template <Viewable X>
  [[nodiscard]] Tensor<double> logits(X&& features) const {
    using T = typename view_t<X>::value_type;
    const Tensor<double> xs = detail::probe_inputs<T>(standardizer_, to_view(features), "LinearProbe");
    const index_t n = xs.dim(0), c = classes();
    Tensor<double> z(Shape{n, c});
    ops::gemm(xs, weights_, z);
    for (index_t i = 0; i < n; ++i)
      for (index_t k = 0; k < c; ++k) z.data()[i * c + k] += bias_[k];
    return z;
  }

  /// The predicted label of every row (argmax of the logits; the smaller label on ties).
  template <Viewable X>
  [[nodiscard]] Tensor<index_t> predict(X&& features) const {
    return detail::argmax_labels(logits(features), classes_);
  }

  /// The fraction of rows with a label >= 0 that are predicted right (rows labelled < 0 are
  /// skipped; a label the probe never saw is always wrong). Throws when no row is labelled.
  template <Viewable X, Viewable Y>
  [[nodiscard]] double accuracy(X&& features, Y&& labels) const {
    const auto x = to_view(features);
    return detail::labelled_accuracy(predict(x), to_view(labels), x.shape(), "LinearProbe::accuracy");
  }

  [[nodiscard]] index_t classes() const { return static_cast<index_t>(classes_.size()); }
  /// The labels of the classes, increasing: class k of the logits is class_labels()[k].
  [[nodiscard]] const std::vector<index_t>& class_labels() const { return classes_; }
  [[nodiscard]] index_t features() const { return standardizer_.features(); }
  [[nodiscard]] const Standardizer& standardizer() const { return standardizer_; }
  /// D x C, acting on standardised features.
  [[nodiscard]] const Tensor<double>& weights() const { return weights_; }
  [[nodiscard]] const Tensor<double>& bias() const { return bias_; }
  [[nodiscard]] const LbfgsReport& report() const { return report_; }
  [[nodiscard]] const LinearProbeOptions& options() const { return options_; }

 private:
  template <class T>
  friend LinearProbe fit_linear_probe_impl(TensorView<const T>, TensorView<const index_t>, const LinearProbeOptions&);

  Standardizer standardizer_;
  std::vector<index_t> classes_;
  Tensor<double> weights_, bias_;
  LbfgsReport report_;
  LinearProbeOptions options_;
};

template <class T>
LinearProbe fit_linear_probe_impl(TensorView<const T> features, TensorView<const index_t> labels,
                                  const LinearProbeOptions& o) {
  o.validate();
  detail::ProbeData data = detail::prepare_probe_data(features, labels, "fit_linear_probe");
  const index_t d = data.x.dim(1), c = static_cast<index_t>(data.classes.size());
  const TensorView<const index_t> y(data.y.data(), Shape{static_cast<index_t>(data.y.size())});
  LinearProbeObjective objective(data.x, y, c, o.l2);
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(objective.parameters());
  LinearProbe probe;
  probe.report_ = minimize_lbfgs(objective, theta,
                                 LbfgsOptions{}.with_memory(o.memory).with_tolerance(o.tolerance).with_max_iterations(
                                     o.max_iterations));
  probe.weights_ = Tensor<double>(Shape{d, c});
  probe.bias_ = Tensor<double>(Shape{c});
  std::copy(theta.data(), theta.data() + d * c, probe.weights_.data());
  std::copy(theta.data() + d * c, theta.data() + d * c + c, probe.bias_.data());
  probe.standardizer_ = std::move(data.standardizer);
  probe.classes_ = std::move(data.classes);
  probe.options_ = o;
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
