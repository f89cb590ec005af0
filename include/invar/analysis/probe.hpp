#pragma once
/// \file probe.hpp
/// What the probes on frozen features (linear_probe.hpp, mlp_probe.hpp) share: the labelled
/// rows and their standardisation, the mapping of labels to classes 0..C-1, the L-BFGS fitting
/// shell, and a fitted probe's predict / accuracy plumbing (the base class Probe). A probe type
/// adds only its objective, its parameters and how they turn standardised features into logits.
///
/// Conventions common to every probe: rows labelled < 0 (invar::no_group) are dropped before
/// anything else (not fitted, not counted in accuracy); the classes are the distinct labels >= 0
/// of the training rows, increasing, and logit column k is class_labels()[k]; features are
/// standardised by a Standardizer fitted on the labelled training rows, kept by the probe and
/// applied in logits(); predict is the argmax of the logits (the smaller label on ties).

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/lbfgs.hpp"
#include "invar/analysis/standardize.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

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

/// The checks every probe objective makes of its (already standardised) inputs.
inline void check_objective_inputs(TensorView<const double> x, TensorView<const index_t> labels, index_t classes,
                                   double l2, const char* who) {
  check(x.rank() == 2 && x.dim(0) >= 1, who, ": x must be n x D with n >= 1, got ", x.shape());
  check(classes >= 1, who, ": classes must be >= 1, got ", classes);
  check(std::isfinite(l2) && l2 >= 0, who, ": l2 must be finite and >= 0, got ", l2);
  check_labels_shape(labels, x.dim(0), x.shape(), who);
  for (index_t i = 0; i < x.dim(0); ++i)
    check(labels[i] >= 0 && labels[i] < classes, who, ": label ", labels[i], " of row ", i, " is outside [0, ",
          classes, ")");
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

/// A probe fit: its training data (standardiser, classes), the fitted parameters and the report.
struct ProbeFit {
  ProbeData data;
  Eigen::VectorXd theta;
  LbfgsReport report;
};

/// The fitting shell of every probe: the labelled rows, standardised, their labels mapped to
/// 0..C-1; then L-BFGS on `make_objective(x, y, classes)` (x: n x D standardised, y: n labels in
/// [0, C)) from `initial(objective, x.dim(1), classes)`, a theta of objective.parameters() values.
template <class T, class MakeObjective, class Initial>
ProbeFit fit_probe(TensorView<const T> features, TensorView<const index_t> labels, const LbfgsOptions& solver,
                   const char* who, MakeObjective&& make_objective, Initial&& initial) {
  ProbeFit fit{prepare_probe_data(features, labels, who), {}, {}};
  const auto classes = static_cast<index_t>(fit.data.classes.size());
  const TensorView<const index_t> y(fit.data.y.data(), Shape{static_cast<index_t>(fit.data.y.size())});
  auto objective = make_objective(TensorView<const double>(fit.data.x), y, classes);
  fit.theta = initial(objective, fit.data.x.dim(1), classes);
  fit.report = minimize_lbfgs(objective, fit.theta, solver);
  return fit;
}

/// theta[offset, offset + numel(shape)) as a tensor of that shape.
inline Tensor<double> theta_block(const Eigen::VectorXd& theta, index_t offset, const Shape& shape) {
  Tensor<double> t(shape);
  std::copy(theta.data() + offset, theta.data() + offset + t.numel(), t.data());
  return t;
}

}  // namespace detail

/// The shell of a fitted probe (CRTP): standardiser, classes, solver report and options, and
/// logits / predict / accuracy on raw features. `Derived` provides
///   static constexpr const char* probe_name;                        // "LinearProbe", for messages
///   Tensor<double> standardized_logits(const Tensor<double>& xs) const;  // N x C from N x D standardised
template <class Derived, class Options>
class Probe {
 public:
  /// N x C scores (column k is class_labels()[k]) of N x D features (float or double; rank > 2
  /// is flattened).
  template <Viewable X>
  [[nodiscard]] Tensor<double> logits(X&& features) const {
    using T = typename view_t<X>::value_type;
    const Tensor<double> xs = detail::probe_inputs<T>(standardizer_, to_view(features), Derived::probe_name);
    return static_cast<const Derived&>(*this).standardized_logits(xs);
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
    return detail::labelled_accuracy(predict(x), to_view(labels), x.shape(), accuracy_name());
  }

  /// C, the number of classes (0 for a probe that was never fitted).
  [[nodiscard]] index_t classes() const { return static_cast<index_t>(classes_.size()); }
  /// The labels of the classes, increasing: class k of the logits is class_labels()[k].
  [[nodiscard]] const std::vector<index_t>& class_labels() const { return classes_; }
  /// D, the number of features the probe was fitted on.
  [[nodiscard]] index_t features() const { return standardizer_.features(); }
  /// The standardisation fitted on the labelled training rows, applied by logits().
  [[nodiscard]] const Standardizer& standardizer() const { return standardizer_; }
  /// What the solver did (iterations, convergence, final objective).
  [[nodiscard]] const LbfgsReport& report() const { return report_; }
  /// The options of the fit.
  [[nodiscard]] const Options& options() const { return options_; }

 protected:
  /// Takes the training data's standardiser and classes, the report and the options of a fit.
  void set_fit(detail::ProbeFit&& fit, const Options& o) {
    standardizer_ = std::move(fit.data.standardizer);
    classes_ = std::move(fit.data.classes);
    report_ = std::move(fit.report);
    options_ = o;
  }

 private:
  static const char* accuracy_name() {
    static const std::string name = std::string(Derived::probe_name) + "::accuracy";
    return name.c_str();
  }

  Standardizer standardizer_;
  std::vector<index_t> classes_;
  LbfgsReport report_;
  Options options_;
};

}  // namespace invar::analysis
