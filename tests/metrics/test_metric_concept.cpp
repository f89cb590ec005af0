// The Metric and SquaredDifferenceMetric concepts: which types satisfy them and which do not
// (translation_invariant, homogeneity and gram_kind are optional), the declared properties of
// each built-in metric, and which metrics declare a Gram path.

#include <doctest/doctest.h>

#include <cstring>
#include <set>
#include <string>

#include "invar/cpu.hpp"
#include "invar/metrics/metrics.hpp"

using namespace invar;

TEST_SUITE_BEGIN("metrics");

namespace {

// A complete user-defined metric (the minimum the concept asks for).
struct Complete {
  static constexpr const char* name = "complete";
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = -1;
  template <class T>
  T value(const T*, const T*, index_t) const {
    return T(0);
  }
  template <class T>
  void accumulate_gradient(const T*, const T*, index_t, T, T*, T*) const {}
};

struct MissingValue {
  static constexpr const char* name = "missing_value";
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = 2;
  template <class T>
  void accumulate_gradient(const T*, const T*, index_t, T, T*, T*) const {}
};

struct MissingGradient {
  static constexpr const char* name = "missing_gradient";
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = 2;
  template <class T>
  T value(const T*, const T*, index_t) const {
    return T(0);
  }
};

struct MissingName {
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = 2;
  template <class T>
  T value(const T*, const T*, index_t) const {
    return T(0);
  }
  template <class T>
  void accumulate_gradient(const T*, const T*, index_t, T, T*, T*) const {}
};

// value() not const: a metric must be usable through a const reference (and from many threads).
struct NonConstValue {
  static constexpr const char* name = "non_const_value";
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = 2;
  template <class T>
  T value(const T*, const T*, index_t) {
    return T(0);
  }
  template <class T>
  void accumulate_gradient(const T*, const T*, index_t, T, T*, T*) const {}
};

// Only for double: Metric is checked per scalar type.
struct DoubleOnly {
  static constexpr const char* name = "double_only";
  static constexpr bool symmetric = true;
  static constexpr bool translation_invariant = true;
  static constexpr int homogeneity = 2;
  double value(const double*, const double*, index_t) const { return 0; }
  void accumulate_gradient(const double*, const double*, index_t, double, double*, double*) const {}
};

// Only the required members: translation_invariant, homogeneity and gram_kind are optional.
struct RequiredOnly {
  static constexpr const char* name = "required_only";
  static constexpr bool symmetric = true;
  template <class T>
  T value(const T*, const T*, index_t) const {
    return T(0);
  }
  template <class T>
  void accumulate_gradient(const T*, const T*, index_t, T, T*, T*) const {}
};

// An optional member that is present must have its documented type.
struct BadHomogeneity {
  static constexpr const char* name = "bad_homogeneity";
  static constexpr bool symmetric = true;
  static constexpr const char* homogeneity = "two";
  template <class T>
  T value(const T*, const T*, index_t) const {
    return T(0);
  }
  template <class T>
  void accumulate_gradient(const T*, const T*, index_t, T, T*, T*) const {}
};

struct BadGramKind {
  static constexpr const char* name = "bad_gram_kind";
  static constexpr bool symmetric = true;
  static constexpr int gram_kind = 1;  // not an invar::GramKind
  template <class T>
  T value(const T*, const T*, index_t) const {
    return T(0);
  }
  template <class T>
  void accumulate_gradient(const T*, const T*, index_t, T, T*, T*) const {}
};

template <class M>
constexpr bool metric_for_both = Metric<M, float> && Metric<M, double>;

}  // namespace

static_assert(metric_for_both<MeanSquaredDifference>);
static_assert(metric_for_both<SquaredEuclidean>);
static_assert(metric_for_both<Euclidean>);
static_assert(metric_for_both<Manhattan>);
static_assert(metric_for_both<CosineDistance>);
static_assert(metric_for_both<CorrelationDistance>);
static_assert(Metric<Euclidean, long double>);

static_assert(SquaredDifferenceMetric<MeanSquaredDifference, float> &&
              SquaredDifferenceMetric<MeanSquaredDifference, double>);
static_assert(SquaredDifferenceMetric<SquaredEuclidean, float> && SquaredDifferenceMetric<SquaredEuclidean, double>);
static_assert(!SquaredDifferenceMetric<Euclidean, float> && !SquaredDifferenceMetric<Manhattan, float> &&
              !SquaredDifferenceMetric<CosineDistance, float> && !SquaredDifferenceMetric<CorrelationDistance, float>);

static_assert(metric_for_both<Complete>);
static_assert(assert_metric<Complete, float>());
static_assert(assert_metric<CorrelationDistance, double>());
static_assert(!Metric<MissingValue, float>);
static_assert(!Metric<MissingGradient, float>);
static_assert(!Metric<MissingName, float>);
static_assert(!Metric<NonConstValue, float>);
static_assert(Metric<DoubleOnly, double> && !Metric<DoubleOnly, float>);
static_assert(!Metric<Euclidean, int>);  // T must be floating point
static_assert(metric_for_both<RequiredOnly> && assert_metric<RequiredOnly, double>());
static_assert(!Metric<BadHomogeneity, float>);
static_assert(!Metric<BadGramKind, float>);

// The Gram path is chosen by a trait: the built-in cosine, correlation and Euclidean declare
// their kind; everything else (a user's metric that says nothing included) has none.
static_assert(gram_path_traits<CosineDistance>::kind == GramKind::cosine);
static_assert(gram_path_traits<CorrelationDistance>::kind == GramKind::correlation);
static_assert(gram_path_traits<Euclidean>::kind == GramKind::euclidean);
static_assert(gram_path_traits<MeanSquaredDifference>::kind == GramKind::none);
static_assert(gram_path_traits<Manhattan>::kind == GramKind::none);
static_assert(gram_path_traits<RequiredOnly>::kind == GramKind::none && !has_gram_path<Complete>);

TEST_CASE("built-in metrics declare the documented properties") {
  CHECK(std::string(MeanSquaredDifference::name) == "mean_squared_difference");
  CHECK(std::string(SquaredEuclidean::name) == "squared_euclidean");
  CHECK(std::string(Euclidean::name) == "euclidean");
  CHECK(std::string(Manhattan::name) == "manhattan");
  CHECK(std::string(CosineDistance::name) == "cosine_distance");
  CHECK(std::string(CorrelationDistance::name) == "correlation_distance");

  CHECK(MeanSquaredDifference::homogeneity == 2);
  CHECK(SquaredEuclidean::homogeneity == 2);
  CHECK(Euclidean::homogeneity == 1);
  CHECK(Manhattan::homogeneity == 1);
  CHECK(CosineDistance::homogeneity == 0);
  CHECK(CorrelationDistance::homogeneity == 0);

  CHECK(MeanSquaredDifference::translation_invariant);
  CHECK(SquaredEuclidean::translation_invariant);
  CHECK(Euclidean::translation_invariant);
  CHECK(Manhattan::translation_invariant);
  CHECK_FALSE(CosineDistance::translation_invariant);
  CHECK_FALSE(CorrelationDistance::translation_invariant);

  std::set<std::string> names;
  std::apply([&](auto... m) { (names.insert(decltype(m)::name), ...); }, all_metrics{});
  CHECK(names.size() == std::tuple_size_v<all_metrics>);
}

TEST_SUITE_END();
