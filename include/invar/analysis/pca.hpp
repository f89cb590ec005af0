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
/// - Errors (invar::Error): N < 2, D < 1, a non-finite value (naming its row and column), total
///   variance 0 (every feature constant), k < 0.
/// The products go through invar::ops::gemm (deterministic on any thread count); the
/// eigen-solver is serial. Features of rank > 2 are rows x flattened rest.

#include <Eigen/Dense>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

enum class PcaMethod {
  automatic,   ///< covariance when D <= N, Gram otherwise
  covariance,  ///< eigenvalues of the D x D covariance
  gram,        ///< eigenvalues of the N x N Gram matrix
};

struct PcaOptions {
  index_t components = 0;                   ///< k: ratios of the top k components (0: all min(N, D))
  PcaMethod method = PcaMethod::automatic;  ///< which matrix is decomposed
  PcaOptions& with_components(index_t k) { components = k; return *this; }
  PcaOptions& with_method(PcaMethod m) { method = m; return *this; }
};

struct PcaResult {
  std::vector<double> eigenvalues;               ///< all min(N, D) covariance eigenvalues, decreasing, >= 0
  std::vector<double> explained_variance_ratio;  ///< lambda_i / total for the top k (k = options.components or all)
  double total_variance = 0;                     ///< sum of the eigenvalues (trace of the covariance)
  double effective_rank = 0;                     ///< exp of the entropy of the normalised spectrum
  double pc1_share = 0;                          ///< lambda_1 / total
  bool used_gram = false;                        ///< the N x N Gram matrix was decomposed
};

namespace detail {

/// exp(-sum p log p) of p = lambda / sum lambda over the positive eigenvalues.
inline double effective_rank_of(const std::vector<double>& eigenvalues) {
  double total = 0;
  for (double l : eigenvalues) {
    check(std::isfinite(l), "effective_rank: eigenvalue ", l, " is not finite");
    if (l > 0) total += l;
  }
  check(total > 0, "effective_rank: the spectrum has no positive eigenvalue");
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
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) xc.data()[i * d + j] -= mean[std::size_t(j)];
  return xc;
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
  double trace = 0;
  for (index_t i = 0; i < m; ++i) trace += s.data()[i * m + i];
  check(trace > 0, "pca: the total variance is 0 (every feature is constant over the ", n, " rows)");
  const Eigen::Map<const Eigen::MatrixXd> sm(s.data(), Eigen::Index(m), Eigen::Index(m));
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(sm, Eigen::EigenvaluesOnly);
  check(solver.info() == Eigen::Success, "pca: the eigen-solver did not converge");
  const Eigen::VectorXd& ev = solver.eigenvalues();  // increasing
  const index_t keep = std::min(n, d);
  r.eigenvalues.resize(std::size_t(keep));
  for (index_t i = 0; i < keep; ++i) r.eigenvalues[std::size_t(i)] = std::max(0.0, ev[Eigen::Index(m - 1 - i)]);
  for (double l : r.eigenvalues) r.total_variance += l;
  check(r.total_variance > 0, "pca: the total variance is 0 (every feature is constant over the ", n, " rows)");
  const index_t k = o.components == 0 ? keep : std::min(o.components, keep);
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

/// exp(H(p)), p the normalised covariance spectrum of the features (file comment).
template <Viewable X>
double effective_rank(X&& features) {
  return pca(features).effective_rank;
}

/// The effective rank of a given spectrum (non-negative values, at least one positive).
inline double effective_rank(const std::vector<double>& eigenvalues) { return detail::effective_rank_of(eigenvalues); }

/// lambda_1 / sum lambda: the fraction of the total variance along the first principal component.
template <Viewable X>
double pc1_share(X&& features) {
  return pca(features).pc1_share;
}

}  // namespace invar::analysis
