#pragma once
/// \file cka.hpp
/// Centred kernel alignment (Kornblith, Norouzi, Lee & Hinton, "Similarity of neural network
/// representations revisited", ICML 2019) between two sets of features of the same N inputs,
/// X (N x D1) and Y (N x D2), in double precision:
///
///   CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),   K, L the N x N Gram matrices of X, Y.
///
/// Kernels (CkaKernel):
///   linear  K = X X^T (X centred by columns first: the same CKA, better conditioned).
///   rbf     K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2)),  sigma = rbf_fraction * median_{i<j} ||x_i - x_j||,
///           sigma computed per matrix (one for X, one for Y). rbf_fraction defaults to 0.8, the
///           largest of the fractions of the paper's experiments (0.2, 0.4, 0.8). Kornblith's
///           reference code (google-research/cka, gram_rbf) takes the median of the *squared*
///           distances over the whole N x N matrix, diagonal zeros included, with threshold 1.0
///           by default: its bandwidth is close to, not equal to, ours.
/// HSIC estimators (CkaOptions::debiased):
///   biased    (Gretton et al. 2005)  HSIC = tr(K H L H) / (N - 1)^2,  H = I - 11^T / N;  N >= 2.
///   debiased  (Song et al. 2012, used for CKA by Nguyen, Raghu & Kornblith 2021), with K~, L~
///             the Gram matrices with their diagonals set to 0:
///               HSIC_1 = [ tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((N-1)(N-2)) - 2/(N-2) 1^T K~ L~ 1 ]
///                        / (N (N - 3)),                                                   N >= 4.
///             It is unbiased for HSIC, so it can be slightly negative; debiased CKA lies in
///             [-1, 1] in practice, not guaranteed in [0, 1].
/// Biased CKA lies in [0, 1] (K, L positive semi-definite). Linear CKA is invariant to orthogonal
/// transforms and isotropic scaling of X or Y, not to non-isotropic scaling.
///
/// Collapsed features (dead units, rank-1 features, identical rows) are input, not errors:
///   - a feature whose N values are all equal is centred to exactly 0 (not to the rounding noise of
///     its mean), so a constant representation has exactly K = 0 (linear);
///   - rows that are exactly equal are at distance exactly 0 (rbf);
///   - rbf, median distance 0 (more than half the pairs of rows equal, e.g. most images with all
///     units dead): sigma -> 0, and the kernel is its limit, K_ij = 1 when rows i and j are at
///     distance 0, else 0 (a valid kernel: it compares which rows coincide);
///   - CKA is undefined when HSIC(K, K) or HSIC(L, L) is <= 0: a representation that is constant
///     over the N rows (biased, and debiased), or a debiased estimate that falls to 0 or below.
///     cka() and cka_from_grams() then return NaN, not an error.
/// Errors (invar::Error): different N, N < 2 (N < 4 debiased), a non-finite value, rbf_fraction
/// not finite or <= 0.
/// The products go through invar::ops::gemm; squared distances use ||a||^2 + ||b||^2 - 2 a.b on
/// centred rows, clamped at 0 (exact zeros on the diagonal). Deterministic on any thread count.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar::analysis {

/// The kernel of both Gram matrices: `linear` (X X^T) or `rbf` (Gaussian; see the file comment).
enum class CkaKernel { linear, rbf };

/// Options of CKA; checked by validate().
struct CkaOptions {
  CkaKernel kernel = CkaKernel::linear;  ///< kernel of K and L (default linear)
  double rbf_fraction = 0.8;  ///< rbf: sigma = rbf_fraction * median pairwise Euclidean distance
  bool debiased = false;      ///< the unbiased HSIC estimator (Song et al. 2012) instead of the biased one
  /// Sets #kernel.
  CkaOptions& with_kernel(CkaKernel k) { kernel = k; return *this; }
  /// Sets #rbf_fraction.
  CkaOptions& with_rbf_fraction(double f) { rbf_fraction = f; return *this; }
  /// Sets #debiased.
  CkaOptions& with_debiased(bool d = true) { debiased = d; return *this; }
  /// Throws invar::Error unless rbf_fraction is finite and > 0 (also checked for the linear kernel).
  void validate() const {
    check(std::isfinite(rbf_fraction) && rbf_fraction > 0, "CkaOptions: rbf_fraction must be finite and > 0, got ",
          rbf_fraction);
  }
};

namespace detail {

/// Column-centred N x D copy in double, finite-checked.
template <class T>
Tensor<double> cka_centred(TensorView<const T> x, const char* who, const char* name) {
  check(x.rank() >= 2, who, ": ", name, " must be N x D (rows x features), got shape ", x.shape());
  const index_t n = x.dim(0), d = x.row_size();
  check(d >= 1, who, ": ", name, " has no columns (shape ", x.shape(), ")");
  auto xc = Tensor<double>::uninitialized(Shape{n, d});
  std::vector<double> mean(std::size_t(d), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) {
      const double v = double(x.data()[i * d + j]);
      check(std::isfinite(v), who, ": feature ", j, " of row ", i, " of ", name, " is not finite (", v, ")");
      xc.data()[i * d + j] = v;
      mean[std::size_t(j)] += v;
    }
  if (n > 0) {
    for (auto& m : mean) m /= double(n);
    // A column of equal values centres to exactly 0 (its mean can be off by an ulp): a constant
    // representation must give K = 0, not a Gram matrix of rounding noise with CKA of noise.
    std::vector<char> constant(std::size_t(d), 1);
    for (index_t i = 1; i < n; ++i)
      for (index_t j = 0; j < d; ++j)
        if (xc.data()[i * d + j] != xc.data()[j]) constant[std::size_t(j)] = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < d; ++j)
        xc.data()[i * d + j] = constant[std::size_t(j)] ? 0.0 : xc.data()[i * d + j] - mean[std::size_t(j)];
  }
  return xc;
}

/// For each row of x (N x D), the smallest index of a row exactly equal to it (itself if none).
inline std::vector<index_t> cka_equal_rows(const Tensor<double>& x) {
  const index_t n = x.dim(0), d = x.dim(1);
  std::vector<index_t> order(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  const double* p = x.data();
  // Rows in lexicographic order, equal rows by index: each run of equal rows starts at its smallest index.
  auto less = [&](index_t a, index_t b) {
    if (std::lexicographical_compare(p + a * d, p + (a + 1) * d, p + b * d, p + (b + 1) * d)) return true;
    if (std::lexicographical_compare(p + b * d, p + (b + 1) * d, p + a * d, p + (a + 1) * d)) return false;
    return a < b;
  };
  std::sort(order.begin(), order.end(), less);
  std::vector<index_t> first(static_cast<std::size_t>(n));
  for (std::size_t t = 0; t < order.size(); ++t) {
    const index_t i = order[t], prev = t > 0 ? order[t - 1] : i;
    const bool same = t > 0 && std::equal(p + i * d, p + (i + 1) * d, p + prev * d);
    first[std::size_t(i)] = same ? first[std::size_t(prev)] : i;
  }
  return first;
}

/// The N x N Gram matrix of centred features xc (exactly symmetric).
inline Tensor<double> cka_gram(const Tensor<double>& xc, const CkaOptions& o) {
  const index_t n = xc.dim(0);
  Tensor<double> k(Shape{n, n});
  ops::gemm(xc, xc, k, ops::GemmOptions{}.transpose_b());
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < i; ++j) k.data()[j * n + i] = k.data()[i * n + j];
  if (o.kernel == CkaKernel::linear) return k;
  // Squared distances (exactly 0 between equal rows: the expansion of a dot product need not
  // cancel exactly), then the median distance over the pairs i < j.
  const std::vector<index_t> first = cka_equal_rows(xc);
  std::vector<double> sq(std::size_t(n * n));
  std::vector<double> dist;
  dist.reserve(std::size_t(n * (n - 1) / 2));
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < n; ++j) {
      const double v = first[std::size_t(i)] == first[std::size_t(j)]
                            ? 0.0
                            : std::max(0.0, k.data()[i * n + i] + k.data()[j * n + j] - 2 * k.data()[i * n + j]);
      sq[std::size_t(i * n + j)] = v;
      if (j > i) dist.push_back(std::sqrt(v));
    }
  std::sort(dist.begin(), dist.end());
  const std::size_t p = dist.size();
  const double median = p == 0 ? 0.0 : p % 2 == 1 ? dist[p / 2] : 0.5 * (dist[p / 2 - 1] + dist[p / 2]);
  if (!(median > 0)) {
    // sigma -> 0: the limit of exp(-d^2 / (2 sigma^2)) is 1 at distance 0 and 0 elsewhere.
    for (index_t i = 0; i < n * n; ++i) k.data()[i] = sq[std::size_t(i)] == 0 ? 1.0 : 0.0;
    return k;
  }
  const double sigma = o.rbf_fraction * median;
  const double scale = -1.0 / (2.0 * sigma * sigma);
  for (index_t i = 0; i < n * n; ++i) k.data()[i] = std::exp(sq[std::size_t(i)] * scale);
  return k;
}

}  // namespace detail

/// HSIC of two N x N Gram matrices (symmetric; not checked): biased tr(KHLH) / (N-1)^2 or the
/// unbiased estimator of Song et al. 2012 (file comment). Public so that it can be checked.
inline double hsic(TensorView<const double> k, TensorView<const double> l, bool debiased) {
  check(k.rank() == 2 && k.dim(0) == k.dim(1) && k.shape() == l.shape(),
        "hsic: K and L must be N x N matrices of the same shape, got ", k.shape(), " and ", l.shape());
  const index_t n = k.dim(0);
  check(n >= (debiased ? 4 : 2), "hsic: the ", debiased ? "debiased" : "biased", " estimator needs N >= ",
        debiased ? 4 : 2, ", got N = ", n);
  const double* K = k.data();
  const double* L = l.data();
  if (!debiased) {
    // tr(K H L H) = sum_ij (HKH)_ij L_ij = sum_ij Kc_ij Lc_ij with Kc = HKH (double centring).
    std::vector<double> kr(std::size_t(n), 0.0), lr(std::size_t(n), 0.0);
    double ka = 0, la = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j) {
        kr[std::size_t(i)] += K[i * n + j];
        lr[std::size_t(i)] += L[i * n + j];
      }
    for (index_t i = 0; i < n; ++i) {
      kr[std::size_t(i)] /= double(n);
      lr[std::size_t(i)] /= double(n);
      ka += kr[std::size_t(i)];
      la += lr[std::size_t(i)];
    }
    ka /= double(n);
    la /= double(n);
    double s = 0;
    for (index_t i = 0; i < n; ++i)
      for (index_t j = 0; j < n; ++j) {
        const double kc = K[i * n + j] - kr[std::size_t(i)] - kr[std::size_t(j)] + ka;
        const double lc = L[i * n + j] - lr[std::size_t(i)] - lr[std::size_t(j)] + la;
        s += kc * lc;
      }
    return s / (double(n - 1) * double(n - 1));
  }
  // Diagonals treated as 0.
  double tr = 0, ksum = 0, lsum = 0, cross = 0;
  for (index_t i = 0; i < n; ++i) {
    double kri = 0, lri = 0;
    for (index_t j = 0; j < n; ++j) {
      if (j == i) continue;
      tr += K[i * n + j] * L[j * n + i];
      kri += K[i * n + j];
      lri += L[i * n + j];
    }
    ksum += kri;
    lsum += lri;
    cross += kri * lri;  // (K~ 1)_i (L~ 1)_i; 1^T K~ L~ 1 = sum_i (K~^T 1)_i (L~ 1)_i, K~ symmetric
  }
  const double nn = double(n);
  return (tr + ksum * lsum / ((nn - 1) * (nn - 2)) - 2.0 / (nn - 2) * cross) / (nn * (nn - 3));
}

/// The N x N Gram matrix CKA uses for features x (N x D): the linear kernel of the centred rows or
/// the RBF kernel with the bandwidth of the file comment.
template <Viewable X>
Tensor<double> cka_gram_matrix(X&& features, const CkaOptions& options = {}) {
  using T = typename view_t<X>::value_type;
  options.validate();
  return detail::cka_gram(detail::cka_centred<T>(TensorView<const T>(to_view(features)), "cka_gram_matrix", "x"),
                          options);
}

/// CKA from two N x N Gram matrices (cka_gram_matrix), so that one pair of Grams serves both
/// estimators: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)); NaN (undefined) when HSIC(K, K) or
/// HSIC(L, L) is <= 0 (a constant representation; file comment).
inline double cka_from_grams(TensorView<const double> k, TensorView<const double> l, bool debiased) {
  check(k.rank() == 2 && k.shape() == l.shape() && k.dim(0) == k.dim(1), "cka_from_grams: K ", k.shape(), " and L ",
        l.shape(), " must be the same N x N");
  check(k.dim(0) >= (debiased ? 4 : 2), "cka_from_grams: the ", debiased ? "debiased" : "biased",
        " estimator needs N >= ", debiased ? 4 : 2, " rows, got N = ", k.dim(0));
  const double kl = hsic(k, l, debiased);
  const double kk = hsic(k, k, debiased);
  const double ll = hsic(l, l, debiased);
  if (!(kk > 0 && ll > 0)) return std::numeric_limits<double>::quiet_NaN();
  return kl / std::sqrt(kk * ll);
}

/// CKA between x (N x D1) and y (N x D2), tensors or views of float or double (file comment);
/// NaN when it is undefined (x or y constant over the N rows).
template <Viewable X, Viewable Y>
double cka(X&& x_in, Y&& y_in, const CkaOptions& options = {}) {
  using TX = typename view_t<X>::value_type;
  using TY = typename view_t<Y>::value_type;
  options.validate();
  const TensorView<const TX> x(to_view(x_in));
  const TensorView<const TY> y(to_view(y_in));
  check(x.rank() >= 1 && y.rank() >= 1 && x.dim(0) == y.dim(0), "cka: x ", x.shape(), " and y ", y.shape(),
        " must have the same number of rows N");
  const index_t n = x.dim(0);
  const index_t need = options.debiased ? 4 : 2;
  check(n >= need, "cka: the ", options.debiased ? "debiased" : "biased", " estimator needs N >= ", need,
        " rows, got N = ", n);
  const Tensor<double> k = detail::cka_gram(detail::cka_centred(x, "cka", "x"), options);
  const Tensor<double> l = detail::cka_gram(detail::cka_centred(y, "cka", "y"), options);
  return cka_from_grams(k, l, options.debiased);
}

}  // namespace invar::analysis
