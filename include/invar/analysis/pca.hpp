#pragma once
/// \file pca.hpp
/// Principal component analysis of N x D features (float or double; computed in double): the
/// spectrum of the sample covariance of the centred features,
///
///   C = Xc^T Xc / (N - 1),      Xc = X - column means,      lambda_1 >= lambda_2 >= ... >= 0,
///
/// its explained-variance ratios lambda_i / sum_j lambda_j (sum_j lambda_j = trace C, the total
/// variance), the effective rank and the share of the first component.
///
/// - Method: the eigenvalues of the D x D covariance when D <= N, of the N x N Gram matrix
///   Xc Xc^T / (N - 1) otherwise (same non-zero eigenvalues: the "transpose trick"), by
///   Eigen::SelfAdjointEigenSolver (eigenvalues only). Both give min(N, D) eigenvalues; rounding
///   noise below 0 is clamped to 0. PcaOptions::method forces one or the other.
/// - Effective rank (Roy & Vetterli, 2007): with p_i = lambda_i / sum_j lambda_j,
///     erank = exp(H(p)),   H(p) = - sum_{i: p_i > 0} p_i log p_i     (natural log; 0 log 0 = 0).
///   It is k for k equal non-zero eigenvalues and 1 for a single one; it lies in [1, min(N, D)].
/// - pc1_share = lambda_1 / sum_j lambda_j (the first explained-variance ratio).
/// - Collapsed features. A feature whose N values are all equal (a dead unit) is centred to
///   exactly 0, so it adds exactly 0 variance (not the rounding noise of its mean); rank-1
///   features give pc1_share 1 and effective rank 1. When every feature is constant the total
///   variance is 0 and the ratios, pc1_share and the effective rank are undefined: pca() then
///   returns all-zero eigenvalues, total_variance 0 and NaN for those (PcaResult::defined() is
///   false) rather than throwing, so that a fully collapsed layer is reported, not fatal.
/// - Errors (invar::Error): N < 2, D < 1, a non-finite value (naming its row and column), k < 0.
/// The products go through invar::ops::gemm (deterministic on any thread count); the
/// eigen-solver is serial. Features of rank > 2 are rows x flattened rest.

#include <Eigen/Dense>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

/// Which matrix pca() decomposes (the eigenvalues agree; the smaller matrix is cheaper).
enum class PcaMethod {
  automatic,   ///< covariance when D <= N, Gram otherwise
  covariance,  ///< eigenvalues of the D x D covariance
  gram,        ///< eigenvalues of the N x N Gram matrix
};

/// Options of pca().
struct PcaOptions {
  index_t components = 0;                   ///< k >= 0: ratios of the top k components (0: all; capped at min(N, D))
  PcaMethod method = PcaMethod::automatic;  ///< which matrix is decomposed
  /// Sets #components.
  PcaOptions& with_components(index_t k) { components = k; return *this; }
  /// Sets #method.
  PcaOptions& with_method(PcaMethod m) { method = m; return *this; }
};

/// What pca() returns (see the file comment for the definitions).
struct PcaResult {
  std::vector<double> eigenvalues;               ///< all min(N, D) covariance eigenvalues, decreasing, >= 0
  std::vector<double> explained_variance_ratio;  ///< lambda_i / total for the top k (k = options.components or all); NaN when !defined()
  double total_variance = 0;                     ///< sum of the eigenvalues (trace of the covariance)
  double effective_rank = 0;                     ///< exp of the entropy of the normalised spectrum; NaN when !defined()
  double pc1_share = 0;                          ///< lambda_1 / total; NaN when !defined()
  bool used_gram = false;                        ///< the N x N Gram matrix was decomposed
  /// Whether the ratios are defined: false when every feature is constant (total variance 0).
  [[nodiscard]] bool defined() const { return total_variance > 0; }
};

namespace detail {

/// exp(-sum p log p) of p = lambda / sum lambda over the positive eigenvalues; NaN (undefined)
/// when none is positive.
inline double effective_rank_of(const std::vector<double>& eigenvalues) {
  double total = 0;
  for (double l : eigenvalues) {
    check(std::isfinite(l), "effective_rank: eigenvalue ", l, " is not finite");
    if (l > 0) total += l;
  }
  if (!(total > 0)) return std::numeric_limits<double>::quiet_NaN();
  double h = 0;
  for (double l : eigenvalues)
    if (l > 0) {
      const double p = l / total;
      h -= p * std::log(p);
    }
  return std::exp(h);
}

/// Centred N x D copy in double of the features (two-pass column means), finite-checked.
template <class T>
Tensor<double> pca_centred(TensorView<const T> x, const char* who) {
  check(x.rank() >= 2, who, ": features must be N x D (rows x features), got shape ", x.shape());
  const index_t n = x.dim(0), d = x.row_size();
  check(n >= 2, who, ": needs at least 2 rows, got ", n, " (shape ", x.shape(), ")");
  check(d >= 1, who, ": the features have no columns (shape ", x.shape(), ")");
  auto xc = Tensor<double>::uninitialized(Shape{n, d});
  std::vector<double> mean(std::size_t(d), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) {
      const double v = double(x.data()[i * d + j]);
      check(std::isfinite(v), who, ": feature ", j, " of row ", i, " is not finite (", v, ")");
      xc.data()[i * d + j] = v;
      mean[std::size_t(j)] += v;
    }
  for (auto& m : mean) m /= double(n);
  // A column of equal values is centred to exactly 0: its mean can be off by an ulp, and that
  // noise must not become variance (it would decide the ratios of fully collapsed features).
  std::vector<char> constant(std::size_t(d), 1);
  for (index_t i = 1; i < n; ++i)
    for (index_t j = 0; j < d; ++j)
      if (xc.data()[i * d + j] != xc.data()[j]) constant[std::size_t(j)] = 0;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j)
      xc.data()[i * d + j] = constant[std::size_t(j)] ? 0.0 : xc.data()[i * d + j] - mean[std::size_t(j)];
  return xc;
}

/// The result for a total variance of 0: zero eigenvalues, undefined (NaN) ratios.
inline PcaResult pca_undefined(PcaResult r, index_t keep, index_t k) {
  const double undefined = std::numeric_limits<double>::quiet_NaN();
  r.eigenvalues.assign(std::size_t(keep), 0.0);
  r.total_variance = 0;
  r.explained_variance_ratio.assign(std::size_t(k), undefined);
  r.pc1_share = undefined;
  r.effective_rank = undefined;
  return r;
}

template <class T>
PcaResult pca_impl(TensorView<const T> x, const PcaOptions& o) {
  check(o.components >= 0, "pca: components must be >= 0 (0: all), got ", o.components);
  const Tensor<double> xc = pca_centred(x, "pca");
  const index_t n = xc.dim(0), d = xc.dim(1);
  PcaResult r;
  r.used_gram = o.method == PcaMethod::gram || (o.method == PcaMethod::automatic && d > n);
  const index_t m = r.used_gram ? n : d;
  Tensor<double> s(Shape{m, m});
  if (r.used_gram) ops::gemm(xc, xc, s, ops::GemmOptions{}.transpose_b().with_alpha(1.0 / double(n - 1)));
  else ops::gemm(xc, xc, s, ops::GemmOptions{}.transpose_a().with_alpha(1.0 / double(n - 1)));
  // Exactly symmetric (the solver reads the lower triangle only, but keep it well defined).
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < i; ++j) s.data()[j * m + i] = s.data()[i * m + j];
  const index_t keep = std::min(n, d);
  const index_t k = o.components == 0 ? keep : std::min(o.components, keep);
  double trace = 0;
  for (index_t i = 0; i < m; ++i) trace += s.data()[i * m + i];
  if (!(trace > 0)) return pca_undefined(r, keep, k);  // every feature constant: C = 0 exactly
  const Eigen::Map<const Eigen::MatrixXd> sm(s.data(), Eigen::Index(m), Eigen::Index(m));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(sm, Eigen::EigenvaluesOnly);
  check(solver.info() == Eigen::Success, "pca: the eigen-solver did not converge");
  const Eigen::VectorXd& ev = solver.eigenvalues();  // increasing
  r.eigenvalues.resize(std::size_t(keep));
  for (index_t i = 0; i < keep; ++i) r.eigenvalues[std::size_t(i)] = std::max(0.0, ev[Eigen::Index(m - 1 - i)]);
  for (double l : r.eigenvalues) r.total_variance += l;
  if (!(r.total_variance > 0)) return pca_undefined(r, keep, k);
  r.explained_variance_ratio.resize(std::size_t(k));
  for (index_t i = 0; i < k; ++i)
    r.explained_variance_ratio[std::size_t(i)] = r.eigenvalues[std::size_t(i)] / r.total_variance;
  r.pc1_share = r.eigenvalues[0] / r.total_variance;
  r.effective_rank = effective_rank_of(r.eigenvalues);
  return r;
}

}  // namespace detail

/// PCA of N x D features (tensor or view, float or double): see the file comment.
template <Viewable X>
PcaResult pca(X&& features, const PcaOptions& options = {}) {
  using T = typename view_t<X>::value_type;
  return detail::pca_impl<T>(TensorView<const T>(to_view(features)), options);
}

/// Explained-variance ratios of the top k components (all min(N, D) when k = 0).
template <Viewable X>
std::vector<double> explained_variance_ratio(X&& features, index_t k = 0) {
  return pca(features, PcaOptions{}.with_components(k)).explained_variance_ratio;
}

/// exp(H(p)), p the normalised covariance spectrum of the features (file comment); NaN when every
/// feature is constant.
template <Viewable X>
double effective_rank(X&& features) {
  return pca(features).effective_rank;
}

/// The effective rank of a given spectrum (finite values; those <= 0 are ignored); NaN when no
/// value is positive.
inline double effective_rank(const std::vector<double>& eigenvalues) { return detail::effective_rank_of(eigenvalues); }

/// lambda_1 / sum lambda: the fraction of the total variance along the first principal component;
/// NaN when every feature is constant.
template <Viewable X>
double pc1_share(X&& features) {
  return pca(features).pc1_share;
}

}  // namespace invar::analysis
