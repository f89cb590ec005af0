// The invariance losses and cross-entropy of a batch split across ranks (ThreadTeam) equal the
// whole batch's in one process: every metric, both conventions, both references, value only and
// with (accumulating) gradients, groups spread over the ranks, even and uneven shards (a rank with
// no rows). The MPI tests (tests/mpi/) run the same cases under mpirun.
#include <doctest/doctest.h>

#include "distributed/across_cases.hpp"
#include "invar/distributed/thread_team.hpp"
#include "support/error_message.hpp"

using namespace invar;
using distributed::Communicator;
using distributed::ThreadTeam;

TEST_SUITE_BEGIN("distributed");

TEST_CASE("losses across 1, 2, 3 and 5 ranks equal the whole batch's in one process") {
  for (int n : {1, 2, 3, 5})
    for (bool uneven : {false, true}) {
      CAPTURE(n);
      CAPTURE(uneven);
      std::vector<test::AcrossReport> reports(static_cast<std::size_t>(n));
      ThreadTeam(n).run([&](const Communicator& comm) {
        reports[std::size_t(comm.rank())] = test::compare_losses_across(comm, uneven);
      });
      for (const auto& r : reports) {
        CAPTURE(r.worst);
        CHECK(r.cases == 6 * 2 * 4 * 3 + 1);
        CHECK(r.value_error < 1e-12);
        CHECK(r.grad_error < 1e-12);
      }
    }
}

TEST_CASE("the squared-difference losses across ranks keep their digits for features far from 0") {
  // float32 rows near 1e3 that differ by 1e-2: the shift (global row 0, broadcast) must be the same on every rank.
  const index_t rows = 12, cols = 8;
  Tensor<float> x(Shape{rows, cols});
  for (index_t i = 0; i < x.numel(); ++i) x[i] = 1000.0f + 0.01f * float((i * 7) % 13);
  std::vector<index_t> seeds(static_cast<std::size_t>(rows));
  for (index_t i = 0; i < rows; ++i) seeds[std::size_t(i)] = i % 4;
  Tensor<float> g_ref(x.shape());
  const auto ref = augmentation_invariance(MeanSquaredDifference{}, x, Tensor<index_t>::copy_of(TensorView<const index_t>(seeds.data(), Shape{rows})), g_ref);
  Tensor<float> g(x.shape());
  double value = 0;
  ThreadTeam(3).run([&](const Communicator& comm) {
    const auto s = distributed::shard_range(rows, comm.rank(), comm.size());
    const TensorView<const index_t> ids(seeds.data() + s.begin, Shape{s.size()});
    const auto v = augmentation_invariance(MeanSquaredDifference{}, x.view().slice_rows(s.begin, s.end), ids,
                                           g.view().slice_rows(s.begin, s.end), GroupLossOptions{}.across(comm));
    if (comm.rank() == 0) value = v.value;
  });
  CHECK(value == doctest::Approx(ref.value).epsilon(1e-6));
  for (index_t i = 0; i < g.numel(); ++i) CHECK(g[i] == doctest::Approx(g_ref[i]).epsilon(1e-4));
}

TEST_CASE("bad input on one rank is the same invar::Error on every rank") {
  std::vector<std::string> messages(2);
  ThreadTeam(2).run([&](const Communicator& comm) {
    Tensor<double> x(Shape{3, comm.rank() == 0 ? 4 : 5});  // rows of different lengths
    for (index_t i = 0; i < x.numel(); ++i) x[i] = double(i);
    Tensor<index_t> ids(Shape{3});
    try {
      augmentation_invariance(SquaredEuclidean{}, x, ids, no_gradient, GroupLossOptions{}.across(comm));
    } catch (const Error& e) {
      messages[std::size_t(comm.rank())] = e.what();
    }
  });
  CHECK(messages[0] == messages[1]);
  CHECK(messages[0].find("differ in length (4 and 5") != std::string::npos);

  ThreadTeam(2).run([&](const Communicator& comm) {
    Tensor<double> x(Shape{2, 3});
    x[0] = comm.rank() == 1 ? std::nan("") : 1.0;
    Tensor<index_t> ids(Shape{comm.rank() == 0 ? 2 : 1});  // rank 0 right, rank 1 wrong
    CHECK_ERROR_CONTAINS((augmentation_invariance(Euclidean{}, x, ids, no_gradient, GroupLossOptions{}.across(comm))),
                         "rank 1 of 2: augmentation_invariance: need one group id per row of x (2)");
    Tensor<index_t> ok(Shape{2});
    ok[1] = 1;
    CHECK_ERROR_CONTAINS((augmentation_invariance(SquaredEuclidean{}, x, ok, no_gradient, GroupLossOptions{}.across(comm))),
                         "rank 1 of 2: augmentation_invariance: x has a non-finite value (nan) at row 2, column 0");
    Tensor<double> none(Shape{0, 3});
    Tensor<index_t> no_ids(Shape{0});
    CHECK_ERROR_CONTAINS((augmentation_invariance(SquaredEuclidean{}, none, no_ids, no_gradient, GroupLossOptions{}.across(comm))),
                         "x has no rows on any of the 2 ranks");
  });
}
