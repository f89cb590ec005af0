#pragma once
/// \file mpi_communicator.hpp
/// MpiCommunicator: the Communicator of MPI ranks (component invar::mpi: find_package(invar
/// COMPONENTS mpi), link invar::mpi), and MpiSession, which initialises and finalises MPI.
///
///   int main(int argc, char** argv) {
///     invar::distributed::MpiSession mpi(argc, argv);
///     invar::distributed::MpiCommunicator world;          // MPI_COMM_WORLD
///     ... GroupLossOptions{}.across(world) ..., TrainerOptions{}.across(world) ...
///   }
///
/// allreduce_sum keeps the Communicator's promise of a rank-order sum, the same bits on every
/// rank and in every run, which MPI_Allreduce does not make (its reduction order depends on the
/// algorithm the library picks): short arrays are all-gathered and summed in rank order; long
/// ones go through a reduce-scatter in rank order (MPI_Alltoallv: each rank sums one slice of
/// the array over the ranks) and an all-gather of the summed slices (MPI_Allgatherv), which sends
/// 2 (N - 1) / N of the array per rank, as a ring all-reduce does. Every MPI call is checked
/// (the communicator's error handler is set to MPI_ERRORS_RETURN): a failure is an invar::Error
/// naming the call and MPI's message.

#if !defined(INVAR_COMPONENT_MPI)
#error "invar: <invar/distributed/mpi_communicator.hpp> is part of the component invar::mpi: find_package(invar COMPONENTS mpi) and link the target invar::mpi"
#endif

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "invar/distributed/communicator.hpp"

namespace invar::distributed {

namespace detail {
inline void mpi_check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  throw Error(invar::detail::concat(call, " failed: ", std::string(text, std::size_t(len))));
}
}  // namespace detail

/// MPI_Init_thread (MPI_THREAD_FUNNELED: only the main thread calls MPI) on construction,
/// MPI_Finalize on destruction, unless MPI was initialised before.
class MpiSession {
 public:
  /// Initialises MPI with the program's arguments (MPI may remove its own from them).
  MpiSession(int& argc, char**& argv) {
    int initialised = 0;
    detail::mpi_check(MPI_Initialized(&initialised), "MPI_Initialized");
    if (!initialised) {
      int provided = 0;
      detail::mpi_check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    if (!owns_) return;
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
  }

 private:
  bool owns_ = false;
};

/// The Communicator of the ranks of an MPI communicator (MPI_COMM_WORLD by default), which it does
/// not own. See the file comment for how the sums stay in rank order.
class MpiCommunicator final : public Communicator {
 public:
  /// The ranks of `comm`; its error handler becomes MPI_ERRORS_RETURN (every call is checked).
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD) : comm_(comm) {
    detail::mpi_check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    detail::mpi_check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    detail::mpi_check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  [[nodiscard]] int rank() const override { return rank_; }
  [[nodiscard]] int size() const override { return size_; }
  /// The MPI communicator, for the caller's own MPI calls.
  [[nodiscard]] MPI_Comm native() const { return comm_; }

  void allreduce_sum(std::span<double> data) const override { reduce(data, MPI_DOUBLE); }
  void allreduce_sum(std::span<float> data) const override { reduce(data, MPI_FLOAT); }

  void allgather_bytes(std::span<const std::byte> local, std::vector<std::byte>& all,
                       std::vector<std::size_t>& counts) const override {
    check(local.size() <= std::size_t(INT_MAX), "allgather: ", local.size(), " bytes is more than one MPI message");
    int mine = int(local.size());
    std::vector<int> c(static_cast<std::size_t>(size_)), displs(static_cast<std::size_t>(size_));
    detail::mpi_check(MPI_Allgather(&mine, 1, MPI_INT, c.data(), 1, MPI_INT, comm_), "MPI_Allgather (counts)");
    std::size_t total = 0;
    counts.assign(std::size_t(size_), 0);
    for (int r = 0; r < size_; ++r) {
      check(total + std::size_t(c[std::size_t(r)]) <= std::size_t(INT_MAX), "allgather: more than 2 GiB in all");
      displs[std::size_t(r)] = int(total);
      counts[std::size_t(r)] = std::size_t(c[std::size_t(r)]);
      total += counts[std::size_t(r)];
    }
    all.resize(total);
    std::byte dummy{};
    detail::mpi_check(MPI_Allgatherv(local.empty() ? &dummy : local.data(), mine, MPI_BYTE,
                                     all.empty() ? &dummy : all.data(), c.data(), displs.data(), MPI_BYTE, comm_),
                      "MPI_Allgatherv");
  }

  void broadcast_bytes(std::span<std::byte> data, int root) const override {
    check(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of ", size_);
    for (std::size_t at = 0; at < data.size(); at += chunk_bytes) {
      const std::size_t n = std::min(chunk_bytes, data.size() - at);
      detail::mpi_check(MPI_Bcast(data.data() + at, int(n), MPI_BYTE, root, comm_), "MPI_Bcast");
    }
  }
  void barrier() const override { detail::mpi_check(MPI_Barrier(comm_), "MPI_Barrier"); }

 private:
  static constexpr std::size_t chunk_bytes = std::size_t(1) << 30;
  /// Arrays up to this many bytes per rank are all-gathered whole (one collective, latency-bound).
  static constexpr std::size_t gather_whole_below = 64 * 1024;

  template <class T>
  void reduce(std::span<T> data, MPI_Datatype type) const {
    if (size_ == 1 || data.empty()) {
      if (size_ > 1) check_lengths(0);
      return;
    }
    check_lengths(data.size());
    // Pieces of at most 2^26 values keep every MPI count far below INT_MAX.
    constexpr std::size_t piece = std::size_t(1) << 26;
    for (std::size_t at = 0; at < data.size(); at += piece) {
      const auto part = data.subspan(at, std::min(piece, data.size() - at));
      if (part.size_bytes() <= gather_whole_below) reduce_by_gather(part, type);
      else reduce_by_scatter(part, type);
    }
  }

  /// Refuses ranks that pass different lengths (each would wait for data that never comes).
  void check_lengths(std::size_t n) const {
    // One MPI_Allreduce (MAX) of {n, ~n} gives the largest and the smallest length.
    unsigned long long mine[2] = {n, ~static_cast<unsigned long long>(n)}, most[2] = {0, 0};
    detail::mpi_check(MPI_Allreduce(mine, most, 2, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm_), "MPI_Allreduce (length)");
    check(most[0] == ~most[1], "allreduce_sum: ranks passed different lengths (", ~most[1], " to ", most[0], " values)");
  }

  template <class T>
  void reduce_by_gather(std::span<T> data, MPI_Datatype type) const {
    const int n = int(data.size());
    std::vector<T> all(data.size() * std::size_t(size_));
    detail::mpi_check(MPI_Allgather(data.data(), n, type, all.data(), n, type, comm_), "MPI_Allgather (allreduce_sum)");
    sum_in_rank_order(all.data(), data.size(), data.size(), data.data());
  }

  template <class T>
  void reduce_by_scatter(std::span<T> data, MPI_Datatype type) const {
    const std::size_t n = data.size(), ranks = std::size_t(size_);
    std::vector<int> counts(ranks), displs(ranks);
    for (std::size_t r = 0; r < ranks; ++r) {
      const ShardRange s = shard_range(index_t(n), int(r), int(ranks));
      counts[r] = int(s.size());
      displs[r] = int(s.begin);
    }
    const std::size_t mine = std::size_t(counts[std::size_t(rank_)]);
    // Rank r receives slice r of every rank's array: ranks x mine values, rank order.
    std::vector<T> slices(ranks * std::max<std::size_t>(mine, 1));
    std::vector<int> recv_counts(ranks, int(mine)), recv_displs(ranks);
    for (std::size_t r = 0; r < ranks; ++r) recv_displs[r] = int(r * mine);
    detail::mpi_check(MPI_Alltoallv(data.data(), counts.data(), displs.data(), type, slices.data(), recv_counts.data(),
                                    recv_displs.data(), type, comm_),
                      "MPI_Alltoallv (allreduce_sum)");
    std::vector<T> summed(std::max<std::size_t>(mine, 1));
    sum_in_rank_order(slices.data(), mine, mine, summed.data());
    detail::mpi_check(MPI_Allgatherv(summed.data(), int(mine), type, data.data(), counts.data(), displs.data(), type,
                                     comm_),
                      "MPI_Allgatherv (allreduce_sum)");
  }

  /// out[i] = sum over r in rank order of blocks[r * stride + i], in double, rounded once.
  template <class T>
  void sum_in_rank_order(const T* blocks, std::size_t stride, std::size_t n, T* out) const {
    std::vector<double> sum(n, 0.0);
    for (int r = 0; r < size_; ++r) {
      const T* b = blocks + std::size_t(r) * stride;
      for (std::size_t i = 0; i < n; ++i) sum[i] += double(b[i]);
    }
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(sum[i]);
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace invar::distributed
