// The Communicator contract on ThreadTeam (ranks as threads): rank-order sums that equal an
// explicit loop, gathers of unequal blocks, broadcasts, collective errors, and no hang when a
// rank fails while the others wait in a collective.
#include <doctest/doctest.h>

#include <atomic>
#include <numeric>

#include "invar/distributed/communicator.hpp"
#include "invar/distributed/thread_team.hpp"
#include "support/error_message.hpp"

using namespace invar;
using distributed::Communicator;
using distributed::ThreadTeam;

TEST_SUITE_BEGIN("distributed");

namespace {
// contribution[r][i]: rank r's element i, values whose sum depends on the order (computed once, so
// that the expected sums see the very same doubles).
std::vector<std::vector<double>> contributions(int ranks, std::size_t n) {
  std::vector<std::vector<double>> c(static_cast<std::size_t>(ranks), std::vector<double>(n));
  for (int r = 0; r < ranks; ++r)
    for (std::size_t i = 0; i < n; ++i)
      c[std::size_t(r)][i] = (r % 2 ? 1e16 : 1.0) * (r == 2 ? -1 : 1) + double(i) * 0.1 + r;
  return c;
}
}  // namespace

TEST_CASE("allreduce_sum adds the ranks' arrays in rank order, the same bits on every rank") {
  for (int n : {1, 2, 3, 4}) {
    ThreadTeam team(n);
    std::vector<std::vector<double>> results(static_cast<std::size_t>(n));
    std::vector<std::vector<float>> fresults(static_cast<std::size_t>(n));
    const auto c = contributions(n, 37);
    team.run([&](const Communicator& comm) {
      std::vector<double> v = c[std::size_t(comm.rank())];
      std::vector<float> f(37);
      for (std::size_t i = 0; i < v.size(); ++i) {
        f[i] = float(0.1 * double(comm.rank() + 1)) + float(i);  // float + float: no fused multiply-add
      }
      comm.allreduce_sum(std::span<double>(v));
      comm.allreduce_sum(std::span<float>(f));
      results[std::size_t(comm.rank())] = v;
      fresults[std::size_t(comm.rank())] = f;
    });
    for (std::size_t i = 0; i < 37; ++i) {
      double expect = 0;  // the documented order: 0 + rank 0 + rank 1 + ...
      double fexpect = 0;
      for (int r = 0; r < n; ++r) {
        expect += c[std::size_t(r)][i];
        fexpect += double(float(0.1 * double(r + 1)) + float(i));
      }
      for (int r = 0; r < n; ++r) {
        CHECK(results[std::size_t(r)][i] == expect);
        CHECK(fresults[std::size_t(r)][i] == float(fexpect));
      }
    }
  }
}

TEST_CASE("allgather concatenates unequal blocks in rank order and broadcast copies the root's") {
  ThreadTeam team(3);
  team.run([&](const Communicator& comm) {
    std::vector<index_t> mine(std::size_t(comm.rank()), index_t(10 * comm.rank()));  // rank r sends r values
    const auto g = distributed::allgather(comm, mine);
    CHECK(g.values == std::vector<index_t>{10, 20, 20});
    CHECK(g.offset == std::vector<std::size_t>{0, 0, 1, 3});
    CHECK(g.count(0) == 0);
    std::vector<double> b(4, double(comm.rank()));
    distributed::broadcast(comm, std::span<double>(b), 2);
    CHECK(b == std::vector<double>(4, 2.0));
    CHECK(distributed::broadcast_string(comm, comm.rank() == 1 ? "from one" : "x", 1) == "from one");
  });
}

TEST_CASE("shard_range splits rows into contiguous shards whose sizes differ by at most one") {
  for (index_t rows : {0, 1, 5, 13, 128})
    for (int ranks : {1, 2, 3, 7}) {
      index_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto s = distributed::shard_range(rows, r, ranks);
        CHECK(s.begin == next);
        CHECK((s.size() == rows / ranks || s.size() == rows / ranks + 1));
        next = s.end;
      }
      CHECK(next == rows);
    }
  CHECK_THROWS_AS((void)distributed::shard_range(4, 2, 2), Error);
}

TEST_CASE("a check that fails on one rank fails on every rank, naming the rank") {
  ThreadTeam team(3);
  std::vector<std::string> messages(3);
  team.run([&](const Communicator& comm) {
    try {
      distributed::agreed(comm, [&] { check(comm.rank() != 1, "bad shape on this rank"); });
    } catch (const Error& e) {
      messages[std::size_t(comm.rank())] = e.what();
    }
  });
  for (const auto& m : messages) CHECK(m == "invar: rank 1 of 3: bad shape on this rank");
}

TEST_CASE("a rank that throws stops the ranks waiting in a collective, and run() rethrows its error") {
  ThreadTeam team(3);
  std::atomic<int> reached{0};
  CHECK_THROWS_WITH(team.run([&](const Communicator& comm) {
                      if (comm.rank() == 2) throw Error("rank 2 cannot read its shard");
                      ++reached;
                      std::vector<double> v(3, 1.0);
                      comm.allreduce_sum(std::span<double>(v));  // never completes: rank 2 is gone
                    }),
                    "invar: rank 2 cannot read its shard");
  CHECK(reached == 2);
  CHECK_THROWS_AS(ThreadTeam(0), Error);
  // A team is reusable after a failure.
  int sum = 0;
  team.run([&](const Communicator& comm) {
    std::vector<double> v{1.0};
    comm.allreduce_sum(std::span<double>(v));
    if (comm.rank() == 0) sum = int(v[0]);
  });
  CHECK(sum == 3);
}

TEST_CASE("ranks that pass different lengths to allreduce_sum get an error, not a hang") {
  ThreadTeam team(2);
  CHECK_THROWS_WITH(team.run([&](const Communicator& comm) {
                      std::vector<double> v(std::size_t(2 + comm.rank()), 1.0);
                      comm.allreduce_sum(std::span<double>(v));
                    }),
                    doctest::Contains("different lengths"));
}
