#pragma once
// Independent references for the anti-collapse penalties: explicit loops over a row-major B x F
// matrix (no invar op, no GEMM), a planted-spectrum generator, and a central-difference check.

#include <Eigen/Dense>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/core/tensor.hpp"
#include "support/gradcheck.hpp"
#include "support/random.hpp"

namespace invar::test::penalty {

using Matrix = std::vector<std::vector<double>>;  // [row][column]

/// x (B x D, or B x C x H x W) as the penalty's matrix: flat, or channel means.
inline Matrix features_of(const Tensor<double>& x, bool channel_means) {
  const index_t B = x.dim(0);
  Matrix m(static_cast<std::size_t>(B));
  if (!channel_means) {
    const index_t F = x.numel() / B;
    for (index_t i = 0; i < B; ++i)
      for (index_t j = 0; j < F; ++j) m[std::size_t(i)].push_back(x[i * F + j]);
    return m;
  }
  const index_t C = x.dim(1), S = x.dim(2) * x.dim(3);
  for (index_t i = 0; i < B; ++i)
    for (index_t c = 0; c < C; ++c) {
      double s = 0;
      for (index_t k = 0; k < S; ++k) s += x[(i * C + c) * S + k];
      m[std::size_t(i)].push_back(s / double(S));
    }
  return m;
}

inline Matrix centred(Matrix m) {
  const std::size_t B = m.size(), F = m[0].size();
  for (std::size_t j = 0; j < F; ++j) {
    double mean = 0;
    for (std::size_t i = 0; i < B; ++i) mean += m[i][j];
    mean /= double(B);
    for (std::size_t i = 0; i < B; ++i) m[i][j] -= mean;
  }
  return m;
}

/// The unbiased covariance matrix, by loops.
inline Matrix covariance(const Matrix& raw) {
  const Matrix c = centred(raw);
  const std::size_t B = c.size(), F = c[0].size();
  Matrix cov(F, std::vector<double>(F, 0.0));
  for (std::size_t j = 0; j < F; ++j)
    for (std::size_t k = 0; k < F; ++k) {
      double s = 0;
      for (std::size_t i = 0; i < B; ++i) s += c[i][j] * c[i][k];
      cov[j][k] = s / double(B - 1);
    }
  return cov;
}

/// VICReg's variance term: mean over features of relu(target - sqrt(var + eps)).
inline double variance_hinge(const Matrix& raw, double target, double eps) {
  const Matrix cov = covariance(raw);
  double s = 0;
  for (std::size_t j = 0; j < cov.size(); ++j) s += std::max(0.0, target - std::sqrt(cov[j][j] + eps));
  return s / double(cov.size());
}

/// VICReg's covariance term: sum of squared off-diagonal covariances / F.
inline double covariance_penalty(const Matrix& raw) {
  const Matrix cov = covariance(raw);
  double s = 0;
  for (std::size_t j = 0; j < cov.size(); ++j)
    for (std::size_t k = 0; k < cov.size(); ++k)
      if (j != k) s += cov[j][k] * cov[j][k];
  return s / double(cov.size());
}

/// The PC1 share from a full eigen-decomposition (Eigen's self-adjoint solver, not power iteration).
inline double pc1_share(const Matrix& raw) {
  const Matrix cov = covariance(raw);
  const auto F = Eigen::Index(cov.size());
  Eigen::MatrixXd m(F, F);
  for (Eigen::Index j = 0; j < F; ++j)
    for (Eigen::Index k = 0; k < F; ++k) m(j, k) = cov[std::size_t(j)][std::size_t(k)];
  const Eigen::VectorXd ev = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(m, Eigen::EigenvaluesOnly).eigenvalues();
  return ev.maxCoeff() / ev.sum();
}

/// B x F features with singular values `s` (a planted spectrum), centred, in random directions:
/// their PC1 share is s_0^2 / sum s_k^2 exactly.
inline Tensor<double> planted(index_t B, index_t F, const std::vector<double>& s, std::uint64_t seed) {
  const auto k = Eigen::Index(s.size());
  std::mt19937_64 rng(seed);
  Eigen::MatrixXd a(B, k), b(F, k);
  for (Eigen::Index i = 0; i < a.size(); ++i) a.data()[i] = uniform(rng, -1, 1);
  for (Eigen::Index i = 0; i < b.size(); ++i) b.data()[i] = uniform(rng, -1, 1);
  a.rowwise() -= a.colwise().mean();  // columns orthogonal to the ones vector: centred rows
  const Eigen::MatrixXd u = Eigen::HouseholderQR<Eigen::MatrixXd>(a).householderQ() * Eigen::MatrixXd::Identity(B, k);
  const Eigen::MatrixXd v = Eigen::HouseholderQR<Eigen::MatrixXd>(b).householderQ() * Eigen::MatrixXd::Identity(F, k);
  Eigen::VectorXd sv(k);
  for (Eigen::Index i = 0; i < k; ++i) sv[i] = s[std::size_t(i)];
  const Eigen::MatrixXd x = u * sv.asDiagonal() * v.transpose();
  Tensor<double> t(Shape{B, F});
  for (index_t i = 0; i < B; ++i)
    for (index_t j = 0; j < F; ++j) t[i * F + j] = x(i, j);
  return t;
}

/// The gradient call(x, grad) writes, against central differences of call(x, no_gradient).value
/// over every element of x (support/gradcheck.hpp's measure).
template <class Call>
double gradient_error(Tensor<double> x, Call&& call, double h = 1e-6) {
  Tensor<double> g(x.shape());
  call(x, g);
  return gradient_relative_error(x, g, [&] { return call(x, no_gradient).value; }, h);
}

}  // namespace invar::test::penalty
