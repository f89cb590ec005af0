#pragma once
/// \file standardize.hpp
/// Standardizer: per-feature mean and standard deviation fitted on one N x D set of features,
/// applied to any set with D features (train, test, augmented...):
///
///   x'_ij = (x_ij - mean_j) / scale_j
///
/// - mean_j and std_j are computed in double in two passes (the mean, then the mean squared
///   deviation from it): no cancellation even when |mean| >> std. std is the population standard
///   deviation (divided by N, as numpy.std and sklearn's StandardScaler).
/// - Constant features get scale 1 (so x' = x - mean = 0 on the fitting set and the feature
///   carries nothing): a feature is constant when std_j == 0 or
///   std_j <= Standardizer::constant_threshold * max_k std_k (1e-10: rounding noise, not signal).
///   `constant_features` counts them.
/// - Non-finite values (NaN, Inf) are errors, in fit and apply, naming the row and the column.
/// Features of any rank >= 2 are rows x flattened rest (N x C x H x W is N x CHW).

#include <algorithm>
#include <cmath>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

/// Per-feature standardisation fitted on one set of features (see the file comment).
class Standardizer {
 public:
  /// Features whose std is at most this times the largest std (or 0) are constant: scale 1.
  static constexpr double constant_threshold = 1e-10;

  /// An unfitted standardizer (features() == 0; apply() throws): assign one from fit().
  Standardizer() = default;

  /// Fits on N x D features (N >= 1; float or double).
  template <Viewable X>
  static Standardizer fit(X&& features) {
    using T = typename view_t<X>::value_type;
    return fit_impl<T>(TensorView<const T>(to_view(features)));
  }

  /// (x - mean) / scale as a new N x D tensor of Out (double unless asked: `apply<float>(x)`).
  template <class Out = double, Viewable X>
  [[nodiscard]] Tensor<Out> apply(X&& features) const {
    using T = typename view_t<X>::value_type;
    const TensorView<const T> x = to_view(features);
    const auto [n, d] = matrix_extents(x, "Standardizer::apply");
    check(!mean_.empty(), "Standardizer::apply: the standardizer was not fitted");
    check(d == this->features(), "Standardizer::apply: the features have ", d, " columns (shape ", x.shape(),
          "), the standardizer was fitted on ", this->features());
    auto out = Tensor<Out>::uninitialized(Shape{n, d});
    for (index_t i = 0; i < n; ++i) {
      const T* row = x.data() + i * d;
      Out* o = out.data() + i * d;
      for (index_t j = 0; j < d; ++j) {
        const double v = double(row[j]);
        check(std::isfinite(v), "Standardizer::apply: feature ", j, " of row ", i, " is not finite (", v, ")");
        o[j] = static_cast<Out>((v - mean_[std::size_t(j)]) / scale_[std::size_t(j)]);
      }
    }
    return out;
  }

  /// D, the number of features it was fitted on (0: not fitted).
  [[nodiscard]] index_t features() const { return static_cast<index_t>(mean_.size()); }
  /// Per-feature means of the fitting set.
  [[nodiscard]] const std::vector<double>& mean() const { return mean_; }
  /// Per-feature standard deviations (population), 1 for the constant features.
  [[nodiscard]] const std::vector<double>& scale() const { return scale_; }
  /// How many features were constant (scale 1).
  [[nodiscard]] index_t constant_features() const { return constant_; }
  /// Whether feature j was constant (scale 1); throws std::out_of_range unless 0 <= j < features().
  [[nodiscard]] bool is_constant(index_t j) const { return constant_flag_.at(std::size_t(j)) != 0; }

 private:
  template <class T>
  static std::pair<index_t, index_t> matrix_extents(TensorView<const T> x, const char* who) {
    check(x.rank() >= 2, who, ": features must be N x D (rows x features), got shape ", x.shape());
    return {x.dim(0), x.row_size()};
  }

  template <class T>
  static Standardizer fit_impl(TensorView<const T> x) {
    const auto [n, d] = matrix_extents(x, "Standardizer::fit");
    check(n >= 1 && d >= 1, "Standardizer::fit: need at least one row and one feature, got shape ", x.shape());
    Standardizer s;
    s.mean_.assign(std::size_t(d), 0.0);
    s.scale_.assign(std::size_t(d), 0.0);
    s.constant_flag_.assign(std::size_t(d), 0);
    for (index_t i = 0; i < n; ++i) {
      const T* row = x.data() + i * d;
      for (index_t j = 0; j < d; ++j) {
        const double v = double(row[j]);
        check(std::isfinite(v), "Standardizer::fit: feature ", j, " of row ", i, " is not finite (", v, ")");
        s.mean_[std::size_t(j)] += v;
      }
    }
    for (auto& m : s.mean_) m /= double(n);
    std::vector<double> ss(std::size_t(d), 0.0);
    for (index_t i = 0; i < n; ++i) {
      const T* row = x.data() + i * d;
      for (index_t j = 0; j < d; ++j) {
        const double e = double(row[j]) - s.mean_[std::size_t(j)];
        ss[std::size_t(j)] += e * e;
      }
    }
    double largest = 0;
    for (index_t j = 0; j < d; ++j) {
      s.scale_[std::size_t(j)] = std::sqrt(ss[std::size_t(j)] / double(n));
      largest = std::max(largest, s.scale_[std::size_t(j)]);
    }
    for (index_t j = 0; j < d; ++j) {
      double& sc = s.scale_[std::size_t(j)];
      if (sc == 0 || sc <= constant_threshold * largest) {
        sc = 1.0;
        s.constant_flag_[std::size_t(j)] = 1;
        ++s.constant_;
      }
    }
    return s;
  }

  std::vector<double> mean_;
  std::vector<double> scale_;
  std::vector<unsigned char> constant_flag_;
  index_t constant_ = 0;
};

}  // namespace invar::analysis
