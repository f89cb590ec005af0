#pragma once
/// \file backend_concept.hpp
/// The `Backend` concept: every op a device's backend must provide (the contract is documented
/// in backend/backend.hpp), for float and double. A device header asserts it,
///   static_assert(invar::Backend<invar::DeviceBackend<invar::Cpu>>);
/// so that a backend missing an op, or with a wrong signature, fails to compile with the name of
/// the missing group of ops (one sub-concept per group, as in metrics/metric.hpp).
/// `assert_backend<B>()` names the first group that fails, in a static_assert message.
///
/// Only declarations are checked (a requires-expression does not instantiate function bodies),
/// so the check costs little compile time.

#include <concepts>

#include "invar/backend/backend.hpp"
#include "invar/backend/conv2d_geometry.hpp"
#include "invar/backend/functors.hpp"
#include "invar/core/config.hpp"

namespace invar {

namespace detail {

/// A metric of the smallest shape the pairwise ops take (value and gradient of one pair).
struct ProbeMetric {
  template <class T>
  INVAR_HOST_DEVICE T value(const T*, const T*, index_t) const {
    return T(0);
  }
  template <class T>
  INVAR_HOST_DEVICE void accumulate_gradient(const T*, const T*, index_t, T, T*, T*) const {}
};

template <class B, class T>
concept backend_has_gemm = requires(bool t, index_t n, T s, const T* a, T* c) {
  B::gemm(t, t, n, n, n, s, a, n, a, n, s, c, n);
};

template <class B, class T>
concept backend_has_elementwise = requires(index_t n, T* out, const T* x, fn::Multiply mul, fn::Square sq,
                                           fn::Constant<T> constant) {
  B::map(n, out, constant);
  B::map(n, out, sq, x);
  B::map(n, out, mul, x, x);
  B::broadcast_rows(n, n, out, x, x, mul);
  B::broadcast_cols(n, n, out, x, x, mul);
};

template <class B, class T>
concept backend_has_reductions = requires(index_t n, T* out, const T* x, fn::Identity id, fn::Multiply mul) {
  B::reduce_rows(n, n, out, id, x);
  B::reduce_cols(n, n, out, mul, x, x);
  { B::template reduce_all<T>(n, mul, x, x) } -> std::convertible_to<T>;
};

template <class B, class T>
concept backend_has_gather = requires(index_t n, const T* src, const index_t* idx, T alpha, T* out) {
  B::gather_rows(n, n, src, idx, out);
  B::scatter_add_rows(n, n, src, idx, alpha, out);
};

template <class B, class T>
concept backend_has_conv2d = requires(const Conv2dGeometry& g, const T* x, T* y) {
  B::conv2d_forward(g, x, x, x, y);
  B::conv2d_backward(g, x, x, x, y, y, y);
};

template <class B, class T>
concept backend_has_pooling = requires(index_t n, const T* x, T* y, index_t* argmax, const index_t* cargmax, bool f) {
  B::max_pool2d(n, n, n, n, n, n, n, n, x, y, argmax);
  B::max_pool2d_backward(n, n, n, n, n, x, cargmax, y);
  B::avg_pool2d(n, n, n, n, n, n, n, n, f, x, y);
  B::avg_pool2d_backward(n, n, n, n, n, n, n, n, f, x, y);
};

template <class B, class T>
concept backend_has_batch_norm = requires(index_t n, const T* x, T* y, double* d, const double* cd, double s,
                                          bool training, unsigned char* bad) {
  B::batch_norm_statistics(n, n, n, x, d, d);
  B::batch_norm_forward(n, n, n, x, x, x, y, training);
  B::batch_norm_backward(n, n, n, x, x, cd, cd, x, y, y, y);
  B::batch_norm_finish(n, training, s, s, s, d, d, y, y, x, x, d, y, y, bad);
};

template <class B, class T>
concept backend_has_cross_entropy = requires(index_t n, const T* x, const index_t* labels, double s, T beta, T* grad,
                                             double* loss, unsigned char* correct) {
  B::softmax_cross_entropy(n, n, x, labels, s, beta, grad, loss, correct);
};

template <class B, class T>
concept backend_has_group_stats = requires(index_t n, const T* x, const index_t* idx, double* d,
                                           const CenteredTerms& terms, T beta, T* out) {
  B::group_sums(n, n, x, x, idx, idx, n, d, d, d);
  B::group_centered_combination(n, n, x, x, idx, terms, beta, out);
};

template <class B, class T>
concept backend_has_gram_pairs = requires(index_t n, const T* x, const unsigned char* zero, double s, PairSet set,
                                          const index_t* idx, const double* cd, double* d, T* out) {
  B::gram_pair_sums(n, n, x, x, zero, s, set, idx, cd, idx, cd, d, d);
  B::gram_pair_coefficients(n, n, x, x, zero, s, set, idx, cd, idx, cd, out);
  B::euclid_gram_pair_sums(n, n, x, x, x, s, set, idx, cd, idx, cd, d, d);
  B::euclid_gram_coefficients(n, n, x, x, x, s, set, idx, cd, idx, cd, out, out);
};

template <class B, class T>
concept backend_has_metric_pairs = requires(const ProbeMetric& m, index_t n, const T* x, PairSet set,
                                            const index_t* idx, const double* cd, double* d, T beta, T* out) {
  B::group_pair_sums(m, n, n, x, set, idx, cd, idx, cd, d, d);
  B::group_pair_gradient(m, n, n, x, set, idx, cd, idx, cd, beta, out);
};

template <class B, class T>
concept backend_for_scalar = backend_has_gemm<B, T> && backend_has_elementwise<B, T> &&
                             backend_has_reductions<B, T> && backend_has_gather<B, T> && backend_has_conv2d<B, T> &&
                             backend_has_pooling<B, T> && backend_has_batch_norm<B, T> &&
                             backend_has_cross_entropy<B, T> && backend_has_group_stats<B, T> &&
                             backend_has_gram_pairs<B, T> && backend_has_metric_pairs<B, T>;

}  // namespace detail

/// A complete backend: every op of backend/backend.hpp, for float and double.
template <class B>
concept Backend = detail::backend_for_scalar<B, float> && detail::backend_for_scalar<B, double>;

/// A device whose backend is declared in this translation unit and complete.
template <class D>
concept DeviceWithBackend = Device<D> && Backend<DeviceBackend<D>>;

/// \def INVAR_BACKEND_REQUIRE(group, what)
/// Local to assert_backend (undefined after it): a static_assert that backend B has the op group
/// `group` for float and double, naming `what` in the message.

/// static_assert(assert_backend<B>()): fails with a message naming the first missing group of ops.
template <class B>
consteval bool assert_backend() {
#define INVAR_BACKEND_REQUIRE(group, what)                                                        \
  static_assert(detail::backend_has_##group<B, float> && detail::backend_has_##group<B, double>, \
                "invar::Backend: the backend lacks " what " (for float or double); see backend/backend.hpp")
  INVAR_BACKEND_REQUIRE(gemm, "gemm");
  INVAR_BACKEND_REQUIRE(elementwise, "map / broadcast_rows / broadcast_cols");
  INVAR_BACKEND_REQUIRE(reductions, "reduce_rows / reduce_cols / reduce_all");
  INVAR_BACKEND_REQUIRE(gather, "gather_rows / scatter_add_rows");
  INVAR_BACKEND_REQUIRE(conv2d, "conv2d_forward / conv2d_backward");
  INVAR_BACKEND_REQUIRE(pooling, "max_pool2d / avg_pool2d and their backward");
  INVAR_BACKEND_REQUIRE(batch_norm, "batch_norm_statistics / forward / backward / finish");
  INVAR_BACKEND_REQUIRE(cross_entropy, "softmax_cross_entropy");
  INVAR_BACKEND_REQUIRE(group_stats, "group_sums / group_centered_combination");
  INVAR_BACKEND_REQUIRE(gram_pairs, "gram_pair_sums / gram_pair_coefficients / euclid_gram_*");
  INVAR_BACKEND_REQUIRE(metric_pairs, "group_pair_sums / group_pair_gradient");
#undef INVAR_BACKEND_REQUIRE
  return true;
}

}  // namespace invar
