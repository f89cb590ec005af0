// Under mpirun (-np 2 and -np 3, loopback): the losses of a batch split across MPI ranks equal
// the whole batch's in one process (every metric, both conventions, both references, groups
// spread over ranks, a rank with no rows), MpiCommunicator keeps the Communicator contract, and a
// short training run equals one process on the same global batches.
#include <doctest/doctest.h>

#include "distributed/across_cases.hpp"
#include "invar/distributed/mpi_communicator.hpp"
#include "train/across_training.hpp"

using namespace invar;

TEST_SUITE_BEGIN("mpi");

TEST_CASE("MpiCommunicator: rank-order sums (short and long arrays), gathers and broadcasts") {
  const distributed::MpiCommunicator world;
  REQUIRE(world.size() >= 2);
  const int n = world.size(), me = world.rank();
  for (std::size_t len : {std::size_t(5), std::size_t(100000)}) {  // all-gather path, reduce-scatter path
    std::vector<double> v(len);
    std::vector<float> f(len);
    for (std::size_t i = 0; i < len; ++i) {
      v[i] = (me % 2 ? 1e16 : 1.0) + double(i) * 0.25 + me;
      f[i] = float(0.1 * (me + 1)) + float(i % 97);
    }
    world.allreduce_sum(std::span<double>(v));
    world.allreduce_sum(std::span<float>(f));
    for (std::size_t i = 0; i < len; i += (len > 10 ? 997 : 1)) {
      double expect = 0, fexpect = 0;  // 0 + rank 0 + rank 1 + ... in double
      for (int r = 0; r < n; ++r) {
        expect += (r % 2 ? 1e16 : 1.0) + double(i) * 0.25 + r;
        fexpect += double(float(0.1 * (r + 1)) + float(i % 97));
      }
      CHECK(v[i] == expect);
      CHECK(f[i] == float(fexpect));
    }
  }
  std::vector<index_t> mine(static_cast<std::size_t>(me), index_t(me));
  const auto g = distributed::allgather(world, mine);
  CHECK(g.values.size() == std::size_t(n * (n - 1) / 2));
  CHECK(g.count(n - 1) == std::size_t(n - 1));
  CHECK(distributed::broadcast_string(world, me == n - 1 ? "last" : "", n - 1) == "last");
  std::vector<double> wrong(static_cast<std::size_t>(1 + me), 1.0);
  CHECK_THROWS_WITH(world.allreduce_sum(std::span<double>(wrong)), doctest::Contains("different lengths"));
}

TEST_CASE("losses across MPI ranks equal the whole batch's in one process") {
  const distributed::MpiCommunicator world;
  for (bool uneven : {false, true}) {
    CAPTURE(uneven);
    const auto r = test::compare_losses_across(world, uneven);
    CAPTURE(r.worst);
    CHECK(r.cases == 6 * 2 * 4 * 3 + 1);
    CHECK(r.value_error < 1e-12);
    CHECK(r.grad_error < 1e-12);
  }
}

TEST_CASE("training on MPI ranks equals one process on the same global batches") {
  const distributed::MpiCommunicator world;
  const test::AcrossRun one = test::train_across(nullptr, 2, false);
  const test::AcrossRun mine = test::train_across(&world, 2, false);
  CHECK(test::max_difference(mine.parameters, one.parameters) < 1e-5);
  // The replicas are identical to the bit: rank 0's parameters on every rank.
  std::vector<float> rank0 = mine.parameters;
  distributed::broadcast(world, std::span<float>(rank0), 0);
  CHECK(rank0 == mine.parameters);
  CHECK(mine.reports.back().test_accuracy == doctest::Approx(one.reports.back().test_accuracy));
}
