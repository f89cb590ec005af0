// Synchronised batch norm (set_communicator) on ranks as threads: the rows of one batch split
// over 1, 2 and 3 ranks (one rank with a single row) give, in training, the outputs, dL/dx, the
// running statistics and (summed over ranks) dgamma and dbeta of one BatchNorm on the whole batch;
// evaluation stays local; too few values in all is refused on every rank.
#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/core/random.hpp"
#include "invar/distributed/thread_team.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "support/error_message.hpp"

using namespace invar;
using distributed::Communicator;

TEST_SUITE_BEGIN("nn");

namespace {
struct BnAcrossResult {
  Tensor<double> y, dx, dgamma, dbeta, running_mean, running_var;
};

// Rows [begin, end) of x through a BatchNorm (gamma, beta set), in training, dy = a fixed pattern.
BnAcrossResult bn_rows(const Tensor<double>& x, const Tensor<double>& dy, index_t begin, index_t end,
                       const Communicator* comm) {
  nn::BatchNorm<double> bn("bn", x.dim(1));
  for (index_t c = 0; c < x.dim(1); ++c) {
    bn.weight().value[c] = 0.5 + 0.25 * double(c);
    bn.bias().value[c] = -0.1 * double(c);
  }
  bn.set_communicator(comm);
  const auto xs = x.view().slice_rows(begin, end);
  BnAcrossResult r;
  r.y = Tensor<double>::copy_of(bn.forward(xs));
  r.dx = Tensor<double>::copy_of(bn.backward(dy.view().slice_rows(begin, end)));
  r.dgamma = Tensor<double>::copy_of(bn.weight().grad.view());
  r.dbeta = Tensor<double>::copy_of(bn.bias().grad.view());
  r.running_mean = Tensor<double>::copy_of(bn.running_mean().view());
  r.running_var = Tensor<double>::copy_of(bn.running_var().view());
  return r;
}

double max_abs_diff(TensorView<const double> a, TensorView<const double> b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0;
  for (index_t i = 0; i < a.numel(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}
}  // namespace

TEST_CASE("synchronised batch norm across ranks equals one batch norm on the whole batch") {
  const index_t b = 7, c = 3, h = 2, w = 3;
  Tensor<double> x(Shape{b, c, h, w}), dy(x.shape());
  Rng rng(11);
  for (index_t i = 0; i < x.numel(); ++i) {
    x[i] = 100.0 + rng.normal() * (1.0 + double((i / (h * w)) % c));  // offset: the combination must not cancel
    dy[i] = rng.normal();
  }
  const BnAcrossResult whole = bn_rows(x, dy, 0, b, nullptr);
  for (int n : {1, 2, 3}) {
    CAPTURE(n);
    const std::vector<index_t> cuts = n == 1 ? std::vector<index_t>{0, b} : n == 2 ? std::vector<index_t>{0, 4, b}
                                                                                   : std::vector<index_t>{0, 1, 5, b};
    std::vector<BnAcrossResult> parts(static_cast<std::size_t>(n));
    distributed::ThreadTeam(n).run([&](const Communicator& comm) {
      const auto r = std::size_t(comm.rank());
      parts[r] = bn_rows(x, dy, cuts[r], cuts[r + 1], &comm);
    });
    Tensor<double> dgamma(Shape{c}), dbeta(Shape{c});
    for (int r = 0; r < n; ++r) {
      const auto& p = parts[std::size_t(r)];
      const index_t b0 = cuts[std::size_t(r)], b1 = cuts[std::size_t(r) + 1];
      CHECK(max_abs_diff(p.y.view(), whole.y.view().slice_rows(b0, b1)) < 1e-12);
      CHECK(max_abs_diff(p.dx.view(), whole.dx.view().slice_rows(b0, b1)) < 1e-12);
      CHECK(max_abs_diff(p.running_mean.view(), whole.running_mean.view()) < 1e-12);
      CHECK(max_abs_diff(p.running_var.view(), whole.running_var.view()) < 1e-12);
      for (index_t k = 0; k < c; ++k) {
        dgamma[k] += p.dgamma[k];
        dbeta[k] += p.dbeta[k];
      }
    }
    CHECK(max_abs_diff(dgamma.view(), whole.dgamma.view()) < 1e-12);
    CHECK(max_abs_diff(dbeta.view(), whole.dbeta.view()) < 1e-12);
  }
}

TEST_CASE("synchronised batch norm needs two values per channel on all ranks together, and evaluates locally") {
  std::vector<std::string> messages(2);
  distributed::ThreadTeam(2).run([&](const Communicator& comm) {
    nn::BatchNorm<double> bn("bn", 2);
    bn.set_communicator(&comm);
    Tensor<double> one_row(Shape{1, 2});
    one_row[0] = double(comm.rank());
    bn.forward(one_row);  // 2 values per channel over both ranks: fine
    Tensor<double> none(Shape{0, 2});
    messages[std::size_t(comm.rank())] = test::error_of([&] { bn.forward(comm.rank() == 0 ? one_row.view() : none.view()); });
    bn.set_training(false);
    const auto y = bn.forward(one_row);  // no collective: rank 1 alone would hang otherwise
    CHECK(std::isfinite(y[0]));
  });
  for (const auto& m : messages) {
    CHECK(m.find("needs more than one value per channel in training, got input [") != std::string::npos);
    CHECK(m.find("(on all ranks together)") != std::string::npos);
  }
}
