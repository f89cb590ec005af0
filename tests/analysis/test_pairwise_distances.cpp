// pairwise_distances against explicit loops over metric.value, for every metric, any rank, the
// Tensor and view overloads, the threaded path, and shape errors.

#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "invar/cpu.hpp"
#include "invar/analysis/pairwise_distances.hpp"
#include "metrics/metric_test_support.hpp"

using namespace invar;
using namespace invar::test;

TEST_SUITE_BEGIN("metrics");

namespace {

template <class M, class T>
void check_against_loops(const M& metric, const Tensor<T>& x, const Tensor<T>& out) {
  const index_t b = x.dim(0);
  const index_t d = x.row_size();
  REQUIRE(out.shape() == Shape{b, b});
  for (index_t i = 0; i < b; ++i) {
    for (index_t j = 0; j < b; ++j) {
      // Each entry is one call of value() on the same rows: bit-exact.
      const T expected = metric.value(x.data() + i * d, x.data() + j * d, d);
      if (out(i, j) != expected) {
        CAPTURE(i);
        CAPTURE(j);
        CHECK(out(i, j) == expected);
      }
    }
  }
  // And against the naive formula.
  Row ri(static_cast<std::size_t>(d)), rj(static_cast<std::size_t>(d));
  for (index_t i = 0; i < b; ++i) {
    for (index_t j = 0; j < b; j += 3) {
      for (index_t k = 0; k < d; ++k) {
        ri[static_cast<std::size_t>(k)] = x.data()[i * d + k];
        rj[static_cast<std::size_t>(k)] = x.data()[j * d + k];
      }
      CHECK(static_cast<double>(out(i, j)) ==
            doctest::Approx(static_cast<double>(naive_distance<M>(ri, rj))).epsilon(1e-4).scale(1.0));
    }
  }
}

}  // namespace

TEST_CASE_TEMPLATE("pairwise_distances matches explicit loops", T, float, double) {
  for_each_metric([](auto metric) {
    using M = decltype(metric);
    const std::string metric_name = M::name;
    CAPTURE(metric_name);
    // Rank 3: rows are flattened (B x 2 x 3 is B rows of 6).
    const auto x = random_tensor<T>(Shape{7, 2, 3}, 17);
    Tensor<T> out(Shape{7, 7});
    pairwise_distances(metric, x, out);
    check_against_loops(metric, x, out);

    // Large enough for the threaded path (B * B * D above the fork threshold).
    const auto big = random_tensor<T>(Shape{65, 33}, 18, 0.0, 2.0);
    Tensor<T> big_out(Shape{65, 65});
    pairwise_distances(metric, big, big_out);
    check_against_loops(metric, big, big_out);
  });
}

TEST_CASE("pairwise_distances accepts tensors and views of either constness") {
  auto x = random_tensor<double>(Shape{4, 5}, 3);
  Tensor<double> expected(Shape{4, 4});
  pairwise_distances(Manhattan{}, ConstView<double>(x.view()), expected.view());  // the core overload

  Tensor<double> out(Shape{4, 4});
  pairwise_distances(Manhattan{}, x.view(), out.view());  // mutable view as input
  CHECK(std::equal(out.begin(), out.end(), expected.begin()));

  Tensor<double> out2(Shape{4, 4});
  const Tensor<double>& cx = x;
  pairwise_distances(Manhattan{}, cx, out2);  // const Tensor in, Tensor out
  CHECK(std::equal(out2.begin(), out2.end(), expected.begin()));

  std::vector<double> buffer(16, -1.0);
  pairwise_distances(Manhattan{}, x, view(buffer.data(), {4, 4}));  // a user's buffer as output
  CHECK(std::equal(buffer.begin(), buffer.end(), expected.begin()));

  for (index_t i = 0; i < 4; ++i) CHECK(expected(i, i) == 0.0);
}

TEST_CASE("pairwise_distances of a cosine RDM with a dead row") {
  // A dead ReLU row is at distance 1 from everything, itself included (documented convention).
  Tensor<float> x(Shape{3, 4});
  for (index_t k = 0; k < 4; ++k) {
    x(0, k) = static_cast<float>(k + 1);
    x(2, k) = static_cast<float>(4 - k);
  }
  Tensor<float> out(Shape{3, 3});
  pairwise_distances(CosineDistance{}, x, out);
  for (index_t j = 0; j < 3; ++j) {
    CHECK(out(1, j) == 1.0f);
    CHECK(out(j, 1) == 1.0f);
  }
  CHECK(out(0, 0) == doctest::Approx(0.0).scale(1.0).epsilon(1e-6));
}

TEST_CASE("pairwise_distances edge sizes") {
  Tensor<float> empty(Shape{0, 5});
  Tensor<float> empty_out(Shape{0, 0});
  CHECK_NOTHROW(pairwise_distances(Euclidean{}, empty, empty_out));

  auto one = random_tensor<float>(Shape{1, 3}, 1);
  Tensor<float> one_out(Shape{1, 1});
  pairwise_distances(Euclidean{}, one, one_out);
  CHECK(one_out(0, 0) == 0.0f);

  // Rank 1: B rows of length 1.
  auto vec = random_tensor<double>(Shape{5}, 2);
  Tensor<double> vec_out(Shape{5, 5});
  pairwise_distances(Manhattan{}, vec, vec_out);
  CHECK(vec_out(1, 3) == doctest::Approx(std::fabs(vec(1) - vec(3))));
}

TEST_CASE("pairwise_distances rejects wrong shapes") {
  auto x = random_tensor<float>(Shape{4, 3}, 9);
  Tensor<float> wide(Shape{4, 5});
  Tensor<float> flat(Shape{16});
  Tensor<float> cube(Shape{4, 4, 1});
  Tensor<float> small(Shape{3, 3});
  CHECK_THROWS_AS(pairwise_distances(Euclidean{}, x, wide), Error);
  CHECK_THROWS_AS(pairwise_distances(Euclidean{}, x, flat), Error);
  CHECK_THROWS_AS(pairwise_distances(Euclidean{}, x, cube), Error);
  CHECK_THROWS_AS(pairwise_distances(CosineDistance{}, x, small), Error);
  float scalar_value = 1.0f;
  Tensor<float> out(Shape{1, 1});
  CHECK_THROWS_AS(pairwise_distances(Euclidean{}, view(&scalar_value, Shape{}), out), Error);
  // The message names the function, the expected and the actual shapes.
  CHECK_THROWS_WITH(pairwise_distances(Euclidean{}, x, wide),
                    doctest::Contains("pairwise_distances: out must have shape [4, 4]"));
}

TEST_SUITE_END();
