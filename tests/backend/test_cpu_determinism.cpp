// The CPU backend promises the same bits whatever the thread count (docs/tensors-and-devices.md).
#include <doctest/doctest.h>

#include <cstring>

#include "invar/cpu.hpp"
#include "invar/backend/ops.hpp"
#include "support/random.hpp"

using invar::index_t;
using invar::Shape;
using invar::Tensor;
namespace ops = invar::ops;

namespace {
template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

template <class F>
auto run_with_threads(int threads, F f) {
  invar::ThreadScope scope(threads);
  return f();
}
}  // namespace

TEST_CASE_TEMPLATE("gemm gives the same bits on 1, 2 and 3 threads", T, float, double) {
  for (auto [m, n, k] : {std::tuple{128, 512, 3072}, {256, 256, 1000}, {97, 301, 129}, {1000, 10, 512}}) {
    for (bool ta : {false, true}) {
      auto a = invar::test::random_tensor<T>(ta ? Shape{k, m} : Shape{m, k}, 31);
      auto b = invar::test::random_tensor<T>(Shape{k, n}, 32);
      auto product = [&] {
        Tensor<T> c(Shape{m, n});
        ops::gemm(a, b, c, ops::GemmOptions{}.transpose_a(ta));
        return c;
      };
      const auto c1 = run_with_threads(1, product);
      CHECK(same_bits(c1, run_with_threads(2, product)));
      CHECK(same_bits(c1, run_with_threads(3, product)));
    }
  }
}

TEST_CASE_TEMPLATE("reductions and scatter-add give the same bits on 1, 2 and 3 threads", T, float, double) {
  auto x = invar::test::random_tensor<T>(Shape{300, 5000}, 41);
  auto idx = invar::test::random_indices(300, 17, 42);
  auto reduce = [&] {
    Tensor<T> rs(Shape{300}), cs(Shape{5000}), seg(Shape{17, 5000}), total(Shape{1});
    ops::row_sums(x, rs);
    ops::col_sums(x, cs);
    ops::scatter_add_rows(x, idx, seg);
    total[0] = ops::sum(x);
    return std::tuple{rs, cs, seg, total};
  };
  const auto r1 = run_with_threads(1, reduce);
  for (int threads : {2, 3}) {
    const auto rn = run_with_threads(threads, reduce);
    CHECK(same_bits(std::get<0>(r1), std::get<0>(rn)));
    CHECK(same_bits(std::get<1>(r1), std::get<1>(rn)));
    CHECK(same_bits(std::get<2>(r1), std::get<2>(rn)));
    CHECK(same_bits(std::get<3>(r1), std::get<3>(rn)));
  }
}

TEST_CASE("set_num_threads sets invar's and Eigen's thread counts together") {
  {
    invar::ThreadScope scope(3);
    CHECK(invar::num_threads() == 3);
#if defined(_OPENMP)
    CHECK(Eigen::nbThreads() == 3);
#endif
  }
  CHECK_THROWS_WITH_AS(invar::set_num_threads(0), doctest::Contains("at least one thread"), invar::Error);
}

#if defined(_OPENMP)
TEST_CASE("inside a user's parallel region invar runs serially (no nesting) and stays correct") {
  auto x = invar::test::random_tensor<double>(Shape{64, 4096}, 51);
  Tensor<double> expected(Shape{64});
  ops::row_sums(x, expected);
  std::vector<Tensor<double>> results(4, Tensor<double>(Shape{64}));
  bool nested_seen = false;
#pragma omp parallel for num_threads(2)
  for (int t = 0; t < 4; ++t) {
    ops::row_sums(x, results[static_cast<std::size_t>(t)]);
    if (omp_get_num_threads() > 1 && !invar::in_parallel_region()) nested_seen = true;
  }
  CHECK_FALSE(nested_seen);
  for (const auto& r : results) CHECK(same_bits(r, expected));
}
#endif
