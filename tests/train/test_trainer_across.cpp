// Data-parallel training (TrainerOptions::across) on ranks as threads: 2 and 3 ranks train the
// same parameters as one process on the same global batches (the objective of Eq. 1 with L_DA and
// cross-entropy, groups straddling ranks), with and without batch norm; rank 0 alone writes the
// checkpoint and the log; a resume on another number of ranks is refused, naming both.
#include <doctest/doctest.h>

#include <fstream>

#include "invar/distributed/thread_team.hpp"
#include "train/across_training.hpp"
#include "support/error_message.hpp"
#include "support/temp_dir.hpp"

using namespace invar;
using distributed::Communicator;
using test::AcrossRun;
using test::max_difference;
using test::train_across;

TEST_SUITE_BEGIN("train");

TEST_CASE("training on 2 and 3 ranks gives the parameters of one process on the same global batches") {
  const AcrossRun one = train_across(nullptr, 2, false);
  for (int n : {2, 3}) {
    CAPTURE(n);
    std::vector<AcrossRun> runs(static_cast<std::size_t>(n));
    distributed::ThreadTeam(n).run([&](const Communicator& comm) { runs[std::size_t(comm.rank())] = train_across(&comm, 2, false); });
    for (const auto& r : runs) {
      CHECK(max_difference(r.parameters, one.parameters) < 1e-5);
      CHECK(r.parameters == runs[0].parameters);  // the replicas stay identical, to the bit
      REQUIRE(r.reports.size() == 2);
      CHECK(r.reports[1].train_objective == doctest::Approx(one.reports[1].train_objective).epsilon(1e-5));
      CHECK(r.reports[1].test_accuracy == doctest::Approx(one.reports[1].test_accuracy));
      CHECK(r.reports[1].test_cross_entropy == doctest::Approx(one.reports[1].test_cross_entropy).epsilon(1e-5));
    }
  }
}

TEST_CASE("with batch norm, ranks normalise their own rows and end with the same averaged running statistics") {
  std::vector<AcrossRun> runs(2);
  distributed::ThreadTeam(2).run([&](const Communicator& comm) { runs[std::size_t(comm.rank())] = train_across(&comm, 1, true); });
  CHECK(runs[0].parameters == runs[1].parameters);
  CHECK(runs[0].reports[0].test_accuracy == runs[1].reports[0].test_accuracy);
  CHECK(std::isfinite(runs[0].reports[0].train_objective));
}

TEST_CASE("with synchronised batch norm, 2 and 3 ranks train the parameters of one process") {
  const AcrossRun one = train_across(nullptr, 2, true);
  for (int n : {2, 3}) {
    CAPTURE(n);
    std::vector<AcrossRun> runs(static_cast<std::size_t>(n)), local(static_cast<std::size_t>(n));
    distributed::ThreadTeam(n).run([&](const Communicator& comm) {
      runs[std::size_t(comm.rank())] = train_across(&comm, 2, true, {}, false, true);
      local[std::size_t(comm.rank())] = train_across(&comm, 2, true);
    });
    CHECK(max_difference(runs[0].parameters, one.parameters) < 1e-5);  // parameters and running statistics
    CHECK(runs[1].parameters == runs[0].parameters);
    // Per-rank statistics train something else: the synchronisation is what makes them equal.
    CHECK(max_difference(local[0].parameters, one.parameters) > 1e-3);
  }
}

TEST_CASE("rank 0 alone writes the run folder, and a resume needs the same number of ranks") {
  const test::TempDir dir("across");
  const std::string out = (dir.path / "run").string();
  std::vector<AcrossRun> runs(2);
  distributed::ThreadTeam(2).run([&](const Communicator& comm) { runs[std::size_t(comm.rank())] = train_across(&comm, 1, false, out); });
  std::ifstream log(dir.path / "run" / "log.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) ++lines;
  CHECK(lines == 1);
  // Resumed on 2 ranks: the second epoch equals an uninterrupted 2-rank run.
  distributed::ThreadTeam(2).run([&](const Communicator& comm) { runs[std::size_t(comm.rank())] = train_across(&comm, 2, false, out, true); });
  std::vector<AcrossRun> straight(2);
  distributed::ThreadTeam(2).run([&](const Communicator& comm) { straight[std::size_t(comm.rank())] = train_across(&comm, 2, false); });
  CHECK(runs[0].reports.size() == 1);
  CHECK(runs[0].parameters == straight[0].parameters);
  // The checkpoint says 2 ranks: one process and 3 ranks are refused.
  CHECK_ERROR_CONTAINS(train_across(nullptr, 3, false, out, true), "was written by a run on 2 ranks; resume it on as many (this run has 1)");
  CHECK_THROWS_WITH(distributed::ThreadTeam(3).run([&](const Communicator& comm) { train_across(&comm, 3, false, out, true); }),
                    doctest::Contains("was written by a run on 2 ranks; resume it on as many (this run has 3)"));
}
