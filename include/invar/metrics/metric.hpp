#pragma once
/// \file metric.hpp
/// The Metric concept: what a distance d(a, b) between two feature rows must provide so that
/// the invariance losses (and pairwise_distances) can take it as a template parameter.
///
/// A metric is a small policy type (as in mlpack). The annotated contract:
/// \code
/// struct MyMetric {
///   static constexpr const char* name = "my_metric";   // for messages, logs and checkpoints
///   static constexpr bool symmetric = true;             // d(a, b) == d(b, a) (bit-exact in invar's own metrics)
///   static constexpr bool translation_invariant = true; // d(a + t, b + t) == d(a, b) for every vector t
///   static constexpr int homogeneity = 2;               // p with d(c a, c b) = c^p d(a, b) for c > 0; -1 if none
///
///   // d between the contiguous rows a[0..d) and b[0..d).
///   template <class T> INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) const;
///
///   // ga[k] += w * dd/da_k and gb[k] += w * dd/db_k. Adds (never overwrites) so that a loss
///   // can sum many pairs into one gradient row; ga or gb may be nullptr (that side is skipped).
///   template <class T> INVAR_HOST_DEVICE void accumulate_gradient(const T* a, const T* b, index_t d,
///                                                                 T w, T* ga, T* gb) const;
///
///   // Optional: only for metrics of the form d(a, b) = s(D) * ||a - b||^2 (see SquaredDifferenceMetric).
///   template <class T> static constexpr INVAR_HOST_DEVICE T squared_difference_weight(index_t d);
/// };
/// \endcode
/// Every member is const (a metric may carry parameters, never mutable state) and
/// INVAR_HOST_DEVICE (so that CUDA kernels can call it); metric headers include nothing heavier
/// than config.hpp and <cmath>. Where d is not differentiable the metric defines the subgradient
/// it returns and documents it (docs/metrics.md).

#include <concepts>

#include "invar/core/config.hpp"

namespace invar {

namespace detail {

// One concept per requirement: assert_metric names the one that fails, and compilers print the
// failing sub-concept's name when a constrained call is rejected.
template <class M>
concept metric_has_name = requires {
  { M::name } -> std::convertible_to<const char*>;
};
template <class M>
concept metric_has_symmetric = requires {
  { M::symmetric } -> std::convertible_to<bool>;
};
template <class M>
concept metric_has_translation_invariant = requires {
  { M::translation_invariant } -> std::convertible_to<bool>;
};
template <class M>
concept metric_has_homogeneity = requires {
  { M::homogeneity } -> std::convertible_to<int>;
};
template <class M, class T>
concept metric_has_value = requires(const M& m, const T* a, const T* b, index_t d) {
  { m.value(a, b, d) } -> std::convertible_to<T>;
};
template <class M, class T>
concept metric_has_gradient = requires(const M& m, const T* a, const T* b, index_t d, T w, T* ga, T* gb) {
  m.accumulate_gradient(a, b, d, w, ga, gb);
};

}  // namespace detail

/// d(a, b) between two contiguous rows of length d, for the floating-point scalar type T.
template <class M, class T>
concept Metric = std::floating_point<T> && detail::metric_has_name<M> && detail::metric_has_symmetric<M> &&
                 detail::metric_has_translation_invariant<M> && detail::metric_has_homogeneity<M> &&
                 detail::metric_has_value<M, T> && detail::metric_has_gradient<M, T>;

/// Metrics of the form d(a, b) = s(D) * ||a - b||^2. The losses use an O(B * D) path for them
/// (sums of squared differences over a group follow from per-group means and second moments)
/// instead of the O(B^2 * D) loop over pairs.
template <class M, class T>
concept SquaredDifferenceMetric = Metric<M, T> && requires(index_t d) {
  { M::template squared_difference_weight<T>(d) } -> std::convertible_to<T>;
};

/// Readable diagnostics: `static_assert(invar::assert_metric<MyMetric, float>());` reports each
/// missing or ill-formed member with its own message, where a failed `Metric<M, T>` only says
/// that the concept is not satisfied. Returns true when everything is there.
template <class M, class T>
constexpr bool assert_metric() {
  static_assert(std::floating_point<T>, "a metric is evaluated for a floating-point T (float, double, long double)");
  static_assert(detail::metric_has_name<M>, "a metric needs `static constexpr const char* name`");
  static_assert(detail::metric_has_symmetric<M>, "a metric needs `static constexpr bool symmetric`");
  static_assert(detail::metric_has_translation_invariant<M>,
                "a metric needs `static constexpr bool translation_invariant`");
  static_assert(detail::metric_has_homogeneity<M>,
                "a metric needs `static constexpr int homogeneity` (the degree p, or -1 if none)");
  static_assert(detail::metric_has_value<M, T>,
                "a metric needs `template <class T> INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) "
                "const` (note the const)");
  static_assert(detail::metric_has_gradient<M, T>,
                "a metric needs `template <class T> INVAR_HOST_DEVICE void accumulate_gradient(const T* a, "
                "const T* b, index_t d, T w, T* ga, T* gb) const` (adds w * dd/da to ga and w * dd/db to gb)");
  return Metric<M, T>;
}

}  // namespace invar
