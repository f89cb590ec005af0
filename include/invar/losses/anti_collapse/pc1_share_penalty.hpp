#pragma once
/// \file pc1_share_penalty.hpp
/// A penalty on the share of the batch's variance that its first principal component carries,
/// the collapse statistic the paper reports (PC1 = 0.996 for invariance-only features):
///
///   share = lambda_1 / ||f_c||_F^2      (lambda_1: the top eigenvalue of f_c^T f_c)
///   P     = relu(share - threshold)
///   dP/df = [share > threshold] (2 / ||f_c||_F^2) (u v^T - share f_c),   u = f_c v
///
/// f_c: the centred B x F features (flat, or channel means: PenaltyFeatures); v: the top
/// right-singular vector of f_c. lambda_1 and v come from power iteration on f_c itself
/// (v <- f_c^T f_c v), O(B F) per iteration, never forming a B x B or F x F matrix. The start
/// is a fixed vector (f_c^T r, r a fixed +-1 pattern), so a step is deterministic; iteration
/// stops when lambda changes by less than `tolerance` (relative) or after `max_iterations`.
/// The gradient is exact at the eigenvector (lambda_1 is stationary in v there); before
/// convergence it is the exact gradient of the Rayleigh quotient ||f_c v||^2, a lower bound of
/// lambda_1. A batch whose rows are all equal has no variance: share undefined (statistic NaN),
/// value 0, zero gradient. Defaults: threshold 0.2, tolerance 1e-6, 50 iterations.
///
///   auto p = invar::pc1_share_penalty(x, grad, invar::Pc1SharePenaltyOptions{}.with_threshold(0.2));
///   // p.statistic is the PC1 share of the batch

#include <cstdint>
#include <limits>
#include <vector>

#include "invar/losses/anti_collapse/detail/penalty_features.hpp"
#include "invar/losses/anti_collapse/penalty_options.hpp"

namespace invar {

/// Options of pc1_share_penalty.
struct Pc1SharePenaltyOptions : PenaltyOptionsBase<Pc1SharePenaltyOptions> {
  double threshold = 0.2;    ///< the share above which the penalty acts, in [0, 1)
  double tolerance = 1e-6;   ///< stop when |lambda_k - lambda_k-1| <= tolerance * lambda_k (>= 0)
  int max_iterations = 50;   ///< power iterations at most (>= 1)

  /// Sets #threshold.
  Pc1SharePenaltyOptions& with_threshold(double t) { threshold = t; return *this; }
  /// Sets #tolerance and #max_iterations.
  Pc1SharePenaltyOptions& with_iterations(double tol, int max) { tolerance = tol; max_iterations = max; return *this; }
  /// Throws invar::Error when an option is out of range.
  void validate() const {
    validate_common("pc1_share_penalty");
    check(std::isfinite(threshold) && threshold >= 0 && threshold < 1,
          "pc1_share_penalty: threshold must be in [0, 1), got ", threshold);
    check(std::isfinite(tolerance) && tolerance >= 0, "pc1_share_penalty: tolerance must be finite and >= 0, got ",
          tolerance);
    check(max_iterations >= 1, "pc1_share_penalty: max_iterations must be >= 1, got ", max_iterations);
  }
};

namespace detail {
/// The fixed +-1 start pattern of the power iteration (a hash of the row index).
inline std::vector<double> power_start_pattern(index_t rows) {
  std::vector<double> r(static_cast<std::size_t>(rows));
  for (index_t i = 0; i < rows; ++i) {
    std::uint64_t z = std::uint64_t(i) + 0x9E3779B97F4A7C15ull;  // splitmix64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    r[std::size_t(i)] = (z & 1) ? 1.0 : -1.0;
  }
  return r;
}
}  // namespace detail

/// The PC1-share penalty of x (B x D or B x C x H x W, any device); writes
/// gradient_scale * dP/dx into `grad` unless it is invar::no_gradient. PenaltyValue::statistic
/// is the batch's PC1 share, PenaltyValue::iterations the power iterations used.
template <Viewable X, class Grad>
PenaltyValue pc1_share_penalty(X&& x_in, Grad&& grad_in, const Pc1SharePenaltyOptions& o = {}) {
  constexpr const char* name = "pc1_share_penalty";
  o.validate();
  const auto args = detail::penalty_arguments(name, x_in, grad_in, o.features);
  using T = typename decltype(args.x)::value_type;
  using D = typename decltype(args.x)::device_type;
  const auto& [x, grad, f] = args;
  const index_t B = f.rows, F = f.cols;
  const double total = double(ops::reduce_all(fn::Square{}, f.centered));
  detail::check_penalty_finite(name, total, x);

  PenaltyValue v;
  if (total == 0) {  // every row equal: no variance to share out
    v.statistic = std::numeric_limits<double>::quiet_NaN();
    if (grad.data() != nullptr && !o.accumulate) ops::fill(grad, T(0));
    return v;
  }
  // Power iteration on f_c^T f_c, through f_c (matrix-vector products only).
  const auto pattern = detail::power_start_pattern(B);
  std::vector<T> pattern_t(pattern.begin(), pattern.end());
  const Tensor<T, D> r = Tensor<T, D>::copy_of(TensorView<const T, Cpu>(pattern_t.data(), Shape{B, 1}));
  Tensor<T, D> vec = Tensor<T, D>::uninitialized(Shape{F, 1});
  Tensor<T, D> u = Tensor<T, D>::uninitialized(Shape{B, 1});
  const auto normalise = [&](Tensor<T, D>& w) {
    const double norm = std::sqrt(double(ops::dot(w, w)));
    if (norm > 0) ops::scale(w, 1.0 / norm);
    return norm > 0;
  };
  ops::gemm(f.centered, r, vec, ops::GemmOptions{}.transpose_a());
  if (!normalise(vec)) {  // r happens to be orthogonal to every column: start from the all-ones direction
    ops::fill(vec, T(1));
    normalise(vec);
  }
  double lambda = 0, previous = -1;
  for (int it = 1;; ++it) {
    ops::gemm(f.centered, vec, u);  // u = f_c v
    lambda = double(ops::dot(u, u));
    v.iterations = it;
    const bool converged = it > 1 && std::abs(lambda - previous) <= o.tolerance * lambda;
    if (converged || it >= o.max_iterations) break;
    Tensor<T, D> next = Tensor<T, D>::uninitialized(Shape{F, 1});
    ops::gemm(f.centered, u, next, ops::GemmOptions{}.transpose_a());  // f_c^T f_c v
    if (!normalise(next)) break;  // f_c v = 0: v lies in the null space (cannot happen from a start in the row space)
    vec = std::move(next);
    previous = lambda;
  }
  const double share = lambda / total;
  v.statistic = share;
  v.value = share > o.threshold ? share - o.threshold : 0.0;
  if (grad.data() == nullptr) return v;
  if (share <= o.threshold) {
    if (!o.accumulate) ops::fill(grad, T(0));
    return v;
  }
  // g = (2 / total) (u v^T - share f_c)
  Tensor<T, D> g = Tensor<T, D>::uninitialized(f.centered.shape());
  ops::copy(f.centered, g);
  ops::scale(g, -share);
  ops::gemm(u, vec, g, ops::GemmOptions{}.transpose_b().with_beta(1.0));
  detail::fold_gradient(f, g, grad, o.gradient_scale * 2.0 / total, o.accumulate);
  return v;
}

}  // namespace invar
