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
///
///   // Optional documentation of the metric's properties: nothing in the library reads them,
///   // the tests of invar's own metrics check them. When present they must have these types.
///   static constexpr bool translation_invariant = true; // d(a + t, b + t) == d(a, b) for every vector t
///   static constexpr int homogeneity = 2;               // p with d(c a, c b) = c^p d(a, b) for c > 0; -1 if none
///
///   // Optional: d is the cosine, correlation or Euclidean distance, so the losses may take their
///   // Gram path (two GEMMs) instead of calling value/accumulate_gradient pair by pair. See
///   // GramKind and gram_path_traits below (a specialisation of the trait works as well).
///   static constexpr invar::GramKind gram_kind = invar::GramKind::cosine;
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
/// than config.hpp and `<cmath>`. Where d is not differentiable the metric defines the subgradient
/// it returns and documents it (docs/metrics.md).

#include <concepts>

#include "invar/core/config.hpp"

namespace invar {

/// The Gram paths of the invariance losses (losses/detail/gram_path.hpp). A metric that declares
/// one promises that its d(a, b) *is* that distance, with the conventions of invar's metric of
/// the same kind at its special points: the path computes the distance itself from a Gram matrix
/// and never calls the metric's value() or accumulate_gradient().
enum class GramKind {
  none,         ///< no Gram path: the pairwise path calls the metric (the default)
  cosine,       ///< d = 1 - cos(a, b); a zero row: value 1, gradient 0 (as CosineDistance)
  correlation,  ///< d = 1 - Pearson r(a, b); a constant row: value 1, gradient 0 (as CorrelationDistance)
  euclidean,    ///< d = ||a - b||; at a == b value 0, gradient 0 (as Euclidean)
};

namespace detail {
template <class M>
constexpr GramKind declared_gram_kind() {
  if constexpr (requires { { M::gram_kind } -> std::convertible_to<GramKind>; }) {
    return M::gram_kind;
  } else {
    return GramKind::none;
  }
}
}  // namespace detail

/// Which Gram path the losses may take for metric M: M::gram_kind when M declares it, else
/// GramKind::none. Specialise it for a metric type you cannot edit:
/// \code
/// template <> struct invar::gram_path_traits<TheirCosine> {
///   static constexpr invar::GramKind kind = invar::GramKind::cosine;
/// };
/// \endcode
template <class M>
struct gram_path_traits {
  static constexpr GramKind kind = detail::declared_gram_kind<M>();  ///< the kind, GramKind::none if none
};

/// Whether the losses have a Gram path for M.
template <class M>
inline constexpr bool has_gram_path = gram_path_traits<M>::kind != GramKind::none;

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
// The optional, documenting members: absent, or present with the right type.
template <class M>
concept metric_has_translation_invariant = requires {
  { M::translation_invariant } -> std::convertible_to<bool>;
};
template <class M>
concept metric_has_homogeneity = requires {
  { M::homogeneity } -> std::convertible_to<int>;
};
template <class M>
concept metric_translation_invariant_ok = !requires { M::translation_invariant; } || metric_has_translation_invariant<M>;
template <class M>
concept metric_homogeneity_ok = !requires { M::homogeneity; } || metric_has_homogeneity<M>;
template <class M>
concept metric_gram_kind_ok = !requires { M::gram_kind; } || requires {
  { M::gram_kind } -> std::convertible_to<GramKind>;
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
/// Required: name, symmetric, value, accumulate_gradient. Optional: translation_invariant,
/// homogeneity (documentation), gram_kind (the losses' Gram path), squared_difference_weight
/// (their linear path); an optional member that is present must have the documented type.
template <class M, class T>
concept Metric = std::floating_point<T> && detail::metric_has_name<M> && detail::metric_has_symmetric<M> &&
                 detail::metric_translation_invariant_ok<M> && detail::metric_homogeneity_ok<M> &&
                 detail::metric_gram_kind_ok<M> && detail::metric_has_value<M, T> && detail::metric_has_gradient<M, T>;

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
  static_assert(detail::metric_translation_invariant_ok<M>,
                "the optional `translation_invariant` must be a `static constexpr bool` (or absent)");
  static_assert(detail::metric_homogeneity_ok<M>,
                "the optional `homogeneity` must be a `static constexpr int`: the degree p, or -1 if none (or absent)");
  static_assert(detail::metric_gram_kind_ok<M>,
                "the optional `gram_kind` must be a `static constexpr invar::GramKind` (or absent)");
  static_assert(detail::metric_has_value<M, T>,
                "a metric needs `template <class T> INVAR_HOST_DEVICE T value(const T* a, const T* b, index_t d) "
                "const` (note the const)");
  static_assert(detail::metric_has_gradient<M, T>,
                "a metric needs `template <class T> INVAR_HOST_DEVICE void accumulate_gradient(const T* a, "
                "const T* b, index_t d, T w, T* ga, T* gb) const` (adds w * dd/da to ga and w * dd/db to gb)");
  return Metric<M, T>;
}

}  // namespace invar
