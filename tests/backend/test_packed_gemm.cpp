// The float GEMM on the micro-kernel (backend/cpu/packed_gemm.hpp), on every kernel this machine
// runs: against explicit loops across the blocks' edges (more rows than a block of A, more
// columns than a block of B, a depth of several blocks, partial tiles and partial transposition
// blocks), and the same bits for any thread count and any split of C.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <tuple>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/backend/cpu/packed_gemm.hpp"
#include "support/random.hpp"
#include "support/skip.hpp"

using invar::index_t;
using invar::cpu::ConvKernel;
namespace ig = invar::cpu::implicit_gemm;

namespace packed_gemm_test {  // named: the unity builds join test files
std::vector<ConvKernel> micro_kernels() {
  std::vector<ConvKernel> kernels;
  for (auto k : {ConvKernel::avx2, ConvKernel::avx512})
    if (invar::cpu::conv_kernel_available(k)) kernels.push_back(k);
  return kernels;
}

template <class F>
auto run_with_threads(int threads, F f) {
  invar::ThreadScope scope(threads);
  return f();
}

std::vector<float> random_floats(index_t n, std::uint64_t seed) {
  const auto t = invar::test::random_tensor<float>(invar::Shape{n}, seed);
  return {t.data(), t.data() + n};
}

// C = (accumulate ? C : 0) + alpha op(A) op(B) by explicit loops in double, row by row.
std::vector<double> naive(bool ta, bool tb, index_t m, index_t n, index_t k, double alpha, const std::vector<float>& a,
                          index_t lda, const std::vector<float>& b, index_t ldb, bool accumulate,
                          const std::vector<float>& c, index_t ldc) {
  std::vector<double> out(std::size_t(m * n));
  for (index_t i = 0; i < m; ++i)
    for (index_t j = 0; j < n; ++j) {
      double s = 0;
      for (index_t p = 0; p < k; ++p)
        s += double(ta ? a[std::size_t(p * lda + i)] : a[std::size_t(i * lda + p)]) *
             double(tb ? b[std::size_t(j * ldb + p)] : b[std::size_t(p * ldb + j)]);
      out[std::size_t(i * n + j)] = alpha * s + (accumulate ? double(c[std::size_t(i * ldc + j)]) : 0.0);
    }
  return out;
}

TEST_CASE("packed gemm matches explicit loops across block edges, transposes and leading dimensions") {
  const auto kernels = micro_kernels();
  if (kernels.empty()) {
    INVAR_SKIP_OPTIONAL("this machine has neither AVX2 + FMA nor AVX-512: float GEMM runs on Eigen's kernel");
    return;
  }
  std::uint64_t seed = 7;
  // 250 rows: more than a block of A (240); 1100 columns: more than a block of B (1024 with
  // AVX-512, 512 with AVX2), not a whole number of panels; depth 600: three blocks with AVX-512,
  // two with AVX2, not a whole number of transposition blocks.
  for (auto size : {std::tuple<index_t, index_t, index_t>{250, 1100, 600}, {13, 45, 37}, {1, 1, 1}, {8, 33, 17}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (auto [alpha, accumulate] : {std::pair{1.0f, false}, {-0.75f, true}}) {
          const index_t m = std::get<0>(size), n = std::get<1>(size), k = std::get<2>(size);
          const index_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
          const auto a = random_floats((ta ? k : m) * lda, ++seed);
          const auto b = random_floats((tb ? n : k) * ldb, ++seed);
          const auto c0 = random_floats(m * ldc, ++seed);
          const auto expected = naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, accumulate, c0, ldc);
          for (auto kernel : kernels) {
            CAPTURE(m);
            CAPTURE(n);
            CAPTURE(k);
            CAPTURE(ta);
            CAPTURE(tb);
            CAPTURE(int(kernel));
            auto c = c0;
            ig::gemm_serial(kernel, ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, accumulate, c.data(), ldc);
            double worst = 0;
            for (index_t i = 0; i < m; ++i)
              for (index_t j = 0; j < n; ++j) {
                const double e = expected[std::size_t(i * n + j)];
                worst = std::max(worst, std::abs(double(c[std::size_t(i * ldc + j)]) - e) / (1 + std::abs(e)));
              }
            CHECK(worst <= 1e-5 * std::sqrt(double(k)));
            bool padding_untouched = true;  // the columns between n and ldc are not C's
            for (index_t i = 0; i < m; ++i)
              for (index_t j = n; j < ldc; ++j)
                padding_untouched &= c[std::size_t(i * ldc + j)] == c0[std::size_t(i * ldc + j)];
            CHECK(padding_untouched);
          }
        }
}

TEST_CASE("packed gemm: beta = 0 never reads C (NaN there is overwritten), NaN in A reaches only its row") {
  for (auto kernel : micro_kernels()) {
    const index_t m = 20, n = 40, k = 30;
    auto a = random_floats(m * k, 1), b = random_floats(k * n, 2);
    std::vector<float> c(std::size_t(m * n), std::numeric_limits<float>::quiet_NaN());
    ig::gemm_serial(kernel, false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, false, c.data(), n);
    bool finite = true;
    for (float v : c) finite &= std::isfinite(v);
    CHECK(finite);
    a[std::size_t(5 * k + 3)] = std::numeric_limits<float>::quiet_NaN();
    ig::gemm_serial(kernel, false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, false, c.data(), n);
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) REQUIRE(std::isnan(c[std::size_t(i * n + j)]) == (i == 5));
  }
}

TEST_CASE("float gemm gives the same bits for every split of C between threads, on every kernel") {
  for (auto kernel : micro_kernels()) {
    invar::cpu::set_conv_kernel(kernel);
    // Sizes whose splits cut through tiles of 12 rows and through panels of 32 columns.
    for (auto size : {std::tuple<index_t, index_t, index_t>{100, 700, 300}, {500, 40, 260}}) {
      const index_t m = std::get<0>(size), n = std::get<1>(size), k = std::get<2>(size);
      auto a = invar::test::random_tensor<float>(invar::Shape{m, k}, 3);
      auto b = invar::test::random_tensor<float>(invar::Shape{n, k}, 4);
      auto product = [&] {
        invar::Tensor<float> c(invar::Shape{m, n});
        invar::ops::gemm(a, b, c, invar::ops::GemmOptions{}.transpose_b());
        return c;
      };
      const auto c1 = run_with_threads(1, product);
      for (int threads : {2, 3}) {
        const auto ct = run_with_threads(threads, product);
        CHECK(std::memcmp(c1.data(), ct.data(), sizeof(float) * std::size_t(m * n)) == 0);
      }
      // Each part of a split is its own call: rows 0..37 and 38..m on their own give the same bits.
      invar::Tensor<float> parts(invar::Shape{m, n});
      ig::gemm_serial(kernel, false, true, 38, n, k, 1.0f, a.data(), k, b.data(), k, false, parts.data(), n);
      ig::gemm_serial(kernel, false, true, m - 38, n, k, 1.0f, a.data() + 38 * k, k, b.data(), k, false,
                      parts.data() + 38 * n, n);
      CHECK(std::memcmp(c1.data(), parts.data(), sizeof(float) * std::size_t(m * n)) == 0);
    }
  }
  invar::cpu::reset_conv_kernel();
}

}  // namespace packed_gemm_test
