// A metric opts into the losses' Gram path through invar::gram_path_traits: by a `gram_kind`
// member or by a specialisation of the trait. A user-defined metric equal to the cosine distance
// that opts in takes the Gram path (its value() is never called) and gives exactly what
// CosineDistance gives; one that does not opt in takes the pairwise path.
#include <doctest/doctest.h>

#include <atomic>
#include <type_traits>

#include "invar/cpu.hpp"
#include "invar/losses/group_invariance.hpp"
#include "invar/metrics/metrics.hpp"
#include "losses/loss_test_data.hpp"
#include "support/error_message.hpp"

using namespace invar;

namespace {

std::atomic<long> gram_trait_metric_calls{0};

/// The cosine distance under another name, counting the calls the losses make to it.
template <GramKind Kind>
struct CountingCosineOf {
  static constexpr const char* name = "counting_cosine";
  static constexpr bool symmetric = true;
  static constexpr GramKind gram_kind = Kind;
  template <class T>
  T value(const T* a, const T* b, index_t d) const {
    ++gram_trait_metric_calls;
    return CosineDistance{}.value(a, b, d);
  }
  template <class T>
  void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    ++gram_trait_metric_calls;
    CosineDistance{}.accumulate_gradient(a, b, d, w, ga, gb);
  }
};
using OptedInCosine = CountingCosineOf<GramKind::cosine>;
using PlainCosine = CountingCosineOf<GramKind::none>;

/// A correlation distance from "another library": it declares nothing, the trait is specialised.
struct TheirCorrelation {
  static constexpr const char* name = "their_correlation";
  static constexpr bool symmetric = true;
  template <class T>
  T value(const T* a, const T* b, index_t d) const {
    ++gram_trait_metric_calls;
    return CorrelationDistance{}.value(a, b, d);
  }
  template <class T>
  void accumulate_gradient(const T* a, const T* b, index_t d, T w, T* ga, T* gb) const {
    ++gram_trait_metric_calls;
    CorrelationDistance{}.accumulate_gradient(a, b, d, w, ga, gb);
  }
};

}  // namespace

template <>
struct invar::gram_path_traits<TheirCorrelation> {
  static constexpr GramKind kind = GramKind::correlation;
};

static_assert(Metric<OptedInCosine, float> && Metric<PlainCosine, double> && Metric<TheirCorrelation, double>);
static_assert(has_gram_path<OptedInCosine> && !has_gram_path<PlainCosine> && has_gram_path<TheirCorrelation>);

TEST_SUITE_BEGIN("losses");

namespace {
/// The user's metric against the built-in one on the same path: bit for bit when the path does
/// not call the metric (Gram); when it does (pairwise), the wrapper's calls are inlined into other
/// code than the built-in's, so the compiler may contract or vectorise them differently: equal to
/// rounding.
template <class M, class Reference, class T>
void gram_trait_compare(const Tensor<T>& x, const Tensor<index_t>& seeds, const GroupLossOptions& o, bool via_metric) {
  Tensor<T> g_user(x.shape()), g_builtin(x.shape());
  gram_trait_metric_calls = 0;
  const auto user = augmentation_invariance(M{}, x, seeds, g_user, o);
  CHECK((gram_trait_metric_calls.load() > 0) == via_metric);
  const auto builtin = augmentation_invariance(Reference{}, x, seeds, g_builtin, o);
  if (!via_metric) {
    CHECK(user.value == builtin.value);
    CHECK(user.numerator == builtin.numerator);
    CHECK(user.denominator == builtin.denominator);
    for (index_t i = 0; i < x.numel(); ++i) CHECK(g_user[i] == g_builtin[i]);
  } else {
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    CHECK(user.value == doctest::Approx(builtin.value).epsilon(tol));
    for (index_t i = 0; i < x.numel(); ++i)
      CHECK(double(g_user[i]) == doctest::Approx(double(g_builtin[i])).epsilon(tol).scale(1.0));
  }
}
}  // namespace

TEST_CASE_TEMPLATE("gram_path_traits: a user's cosine that opts in takes the Gram path and equals CosineDistance", T,
                   float, double) {
  const auto b = test::loss_batch(7, 21);
  const auto x = test::cast<T>(b.x);
  const auto seeds = test::id_tensor(b.seeds);
  for (auto conv : {PairConvention::paper, PairConvention::pooled}) {
    const auto o = GroupLossOptions{}.with_convention(conv);
    // automatic: the Gram path, bit for bit what CosineDistance gets, and no call to the metric
    gram_trait_compare<OptedInCosine, CosineDistance>(x, seeds, o, false);
    gram_trait_compare<OptedInCosine, CosineDistance>(x, seeds, GroupLossOptions{o}.with_path(LossPath::gram), false);
    gram_trait_compare<TheirCorrelation, CorrelationDistance>(x, seeds, o, false);
    // asked for the pairwise path, the metric is called, and again equals the built-in's pairwise path
    gram_trait_compare<OptedInCosine, CosineDistance>(x, seeds, GroupLossOptions{o}.with_path(LossPath::pairwise),
                                                        true);
  }
}

TEST_CASE("gram_path_traits: a cosine that does not opt in takes the pairwise path and refuses LossPath::gram") {
  const auto b = test::loss_batch(5, 22);
  const auto seeds = test::id_tensor(b.seeds);
  Tensor<double> g(b.x.shape()), g_pairwise(b.x.shape());
  gram_trait_metric_calls = 0;
  const auto v = augmentation_invariance(PlainCosine{}, b.x, seeds, g);
  CHECK(gram_trait_metric_calls.load() > 0);
  const auto p = augmentation_invariance(CosineDistance{}, b.x, seeds, g_pairwise,
                                         GroupLossOptions{}.with_path(LossPath::pairwise));
  CHECK(v.value == doctest::Approx(p.value).epsilon(1e-12));
  for (index_t i = 0; i < g.numel(); ++i) CHECK(g[i] == doctest::Approx(g_pairwise[i]).epsilon(1e-12).scale(1.0));
  // and the automatic path of CosineDistance (Gram) is not what PlainCosine took
  gram_trait_metric_calls = 0;
  (void)augmentation_invariance(OptedInCosine{}, b.x, seeds, g);
  CHECK(gram_trait_metric_calls.load() == 0);
  CHECK_ERROR_CONTAINS(augmentation_invariance(PlainCosine{}, b.x, seeds, no_gradient,
                                               GroupLossOptions{}.with_path(LossPath::gram)),
                       "LossPath::gram needs cosine, correlation or Euclidean distance; counting_cosine");
}

TEST_SUITE_END();
