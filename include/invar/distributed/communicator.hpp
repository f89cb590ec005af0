#pragma once
/// \file communicator.hpp
/// Communicator: what invar needs from a group of cooperating processes (ranks), and nothing of
/// MPI itself, so that the losses, the objective and the trainer take one without including
/// <mpi.h>. Implementations: SingleProcess (one rank, no communication), distributed::ThreadTeam
/// (ranks as threads of one process: tests and single-machine experiments) and
/// distributed::MpiCommunicator (component invar::mpi, <invar/distributed/mpi_communicator.hpp>).
///
/// Every collective is called by every rank in the same order (as in MPI). Results are the same
/// bits on every rank and from run to run: sums are taken in rank order (rank 0's block, plus
/// rank 1's, ...), never in the order messages arrive, so training across ranks is
/// deterministic. docs/distributed.md gives the cost of each call.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

namespace invar::distributed {

/// A group of ranks that run the same program on shards of one batch (see the file comment).
class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process's rank, 0 .. size() - 1.
  [[nodiscard]] virtual int rank() const = 0;
  /// The number of ranks.
  [[nodiscard]] virtual int size() const = 0;
  /// Element-wise sum of `data` over the ranks, in rank order, written back to `data` on every
  /// rank. Every rank passes the same length.
  virtual void allreduce_sum(std::span<double> data) const = 0;
  /// As above for float: the sum runs in double and is rounded to float once.
  virtual void allreduce_sum(std::span<float> data) const = 0;
  /// Every rank's `local` bytes, concatenated in rank order, into `all`; `counts[r]` is rank r's
  /// byte count. Ranks may pass different lengths.
  virtual void allgather_bytes(std::span<const std::byte> local, std::vector<std::byte>& all,
                               std::vector<std::size_t>& counts) const = 0;
  /// Rank `root`'s `data` copied to every rank (every rank passes the same length).
  virtual void broadcast_bytes(std::span<std::byte> data, int root) const = 0;
  /// Returns when every rank has called it.
  virtual void barrier() const = 0;
};

/// One rank, no communication: every collective returns its input.
class SingleProcess final : public Communicator {
 public:
  [[nodiscard]] int rank() const override { return 0; }
  [[nodiscard]] int size() const override { return 1; }
  void allreduce_sum(std::span<double>) const override {}
  void allreduce_sum(std::span<float>) const override {}
  void allgather_bytes(std::span<const std::byte> local, std::vector<std::byte>& all,
                       std::vector<std::size_t>& counts) const override {
    all.assign(local.begin(), local.end());
    counts.assign(1, local.size());
  }
  void broadcast_bytes(std::span<std::byte>, int) const override {}
  void barrier() const override {}
};

/// Whether `comm` spans more than one rank (a null communicator is one process).
[[nodiscard]] inline bool is_distributed(const Communicator* comm) { return comm != nullptr && comm->size() > 1; }

/// What allgather() returns: every rank's values in rank order, and where each rank's block starts.
template <class T>
struct Gathered {
  std::vector<T> values;            ///< rank 0's block, then rank 1's, ...
  std::vector<std::size_t> offset;  ///< size() + 1 entries: rank r's block is [offset[r], offset[r + 1])
  /// The number of values rank `rank` sent.
  [[nodiscard]] std::size_t count(int rank) const { return offset[std::size_t(rank) + 1] - offset[std::size_t(rank)]; }
};

/// Every rank's `local` values concatenated in rank order (counts may differ between ranks).
template <class T>
Gathered<T> allgather(const Communicator& comm, std::span<const T> local) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::vector<std::byte> all;
  std::vector<std::size_t> counts;
  comm.allgather_bytes(std::as_bytes(local), all, counts);
  Gathered<T> g;
  g.values.resize(all.size() / sizeof(T));
  if (!all.empty()) std::memcpy(g.values.data(), all.data(), all.size());
  g.offset.assign(1, 0);
  for (std::size_t c : counts) {
    check(c % sizeof(T) == 0, "allgather: a rank sent ", c, " bytes, not a whole number of ", sizeof(T), "-byte values");
    g.offset.push_back(g.offset.back() + c / sizeof(T));
  }
  return g;
}
/// allgather() of a vector.
template <class T>
Gathered<T> allgather(const Communicator& comm, const std::vector<T>& local) {
  return allgather(comm, std::span<const T>(local));
}

/// Rank `root`'s values copied into `data` on every rank.
template <class T>
void broadcast(const Communicator& comm, std::span<T> data, int root = 0) {
  static_assert(std::is_trivially_copyable_v<T>);
  comm.broadcast_bytes(std::as_writable_bytes(data), root);
}

/// Rank `root`'s string on every rank (lengths may differ before the call).
inline std::string broadcast_string(const Communicator& comm, std::string s, int root = 0) {
  std::size_t n = s.size();
  broadcast(comm, std::span<std::size_t>(&n, 1), root);
  s.resize(n);
  if (n) comm.broadcast_bytes(std::as_writable_bytes(std::span<char>(s.data(), n)), root);
  return s;
}

/// Collective error agreement: every rank passes its own problem (empty: none). When any rank has
/// one, every rank throws invar::Error naming the first rank that has one and its message, so
/// that no rank goes on to a collective the others never reach (which would hang).
inline void agree_or_throw(const Communicator& comm, const std::string& problem) {
  const auto all = allgather(comm, std::span<const char>(problem.data(), problem.size()));
  for (int r = 0; r < comm.size(); ++r) {
    if (all.count(r) == 0) continue;
    std::string msg(all.values.begin() + std::ptrdiff_t(all.offset[std::size_t(r)]),
                    all.values.begin() + std::ptrdiff_t(all.offset[std::size_t(r) + 1]));
    throw Error(comm.size() > 1 ? invar::detail::concat("rank ", r, " of ", comm.size(), ": ", msg) : msg);
  }
}

/// Runs `f`; an invar::Error it throws on some ranks becomes the same error on every rank (see
/// agree_or_throw). For local checks before a collective.
template <class F>
void agreed(const Communicator& comm, F&& f) {
  std::string problem;
  try {
    f();
  } catch (const Error& e) {
    problem = e.what();
    if (problem.rfind("invar: ", 0) == 0) problem.erase(0, 7);  // Error adds the prefix again
    if (problem.empty()) problem = "invar::Error";
  }
  agree_or_throw(comm, problem);
}

/// The rows [begin, end) of a batch of `rows` rows that rank `rank` of `ranks` holds: contiguous
/// shards in rank order whose sizes differ by at most one (the first rows % ranks ranks get one more).
struct ShardRange {
  index_t begin = 0;  ///< the first row of the shard
  index_t end = 0;    ///< one past its last row
  /// The shard's row count.
  [[nodiscard]] index_t size() const { return end - begin; }
};
/// Rank `rank`'s shard of `rows` rows split over `ranks` ranks (see ShardRange).
[[nodiscard]] inline ShardRange shard_range(index_t rows, int rank, int ranks) {
  check(ranks >= 1 && rank >= 0 && rank < ranks, "shard_range: rank ", rank, " of ", ranks, " ranks");
  check(rows >= 0, "shard_range: rows must be >= 0, got ", rows);
  const index_t base = rows / ranks, extra = rows % ranks;
  const index_t begin = rank * base + std::min<index_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace invar::distributed
