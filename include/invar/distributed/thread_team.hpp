#pragma once
/// \file thread_team.hpp
/// ThreadTeam: N ranks as N threads of one process, each with its own Communicator, sharing
/// memory only through the collectives. It runs the code written for MPI ranks without MPI: the
/// tests of the distributed losses and trainer run in the ordinary test binary (and under the
/// sanitizers), and a single machine can try a multi-rank configuration.
///
///   distributed::ThreadTeam team(3);
///   team.run([&](const distributed::Communicator& comm) { ... comm.rank() ... });
///
/// Collectives follow the Communicator contract (rank-order sums, same bits everywhere). When a
/// rank throws, ranks waiting in a collective stop with an invar::Error instead of waiting
/// forever, and run() rethrows the exception of the lowest rank that failed first-hand.

#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "invar/distributed/communicator.hpp"

namespace invar::distributed {

/// N ranks as threads of this process (see the file comment).
class ThreadTeam {
 public:
  /// A team of `ranks` ranks (>= 1).
  explicit ThreadTeam(int ranks) : ranks_(ranks) {
    check(ranks >= 1, "ThreadTeam: need at least 1 rank, got ", ranks);
  }
  /// The number of ranks.
  [[nodiscard]] int size() const { return ranks_; }

  /// Calls f(comm) on `size()` threads, rank r's comm having rank() == r; returns when all have
  /// returned. Rethrows the exception of the lowest rank that failed first-hand (see the file comment).
  void run(const std::function<void(const Communicator&)>& f) {
    Shared shared(ranks_);
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(ranks_));
    std::vector<char> aborted_by_others(static_cast<std::size_t>(ranks_), 0);
    auto body = [&](int r) {
      Member comm(shared, r);
      try {
        f(comm);
      } catch (const Aborted&) {
        aborted_by_others[std::size_t(r)] = 1;
        errors[std::size_t(r)] = std::current_exception();
      } catch (...) {
        errors[std::size_t(r)] = std::current_exception();
        shared.abort();
      }
    };
    std::vector<std::thread> threads;
    threads.reserve(std::size_t(ranks_ - 1));
    for (int r = 1; r < ranks_; ++r) threads.emplace_back(body, r);
    body(0);
    for (auto& t : threads) t.join();
    for (int r = 0; r < ranks_; ++r)
      if (errors[std::size_t(r)] && !aborted_by_others[std::size_t(r)]) std::rethrow_exception(errors[std::size_t(r)]);
    for (int r = 0; r < ranks_; ++r)
      if (errors[std::size_t(r)]) std::rethrow_exception(errors[std::size_t(r)]);
  }

 private:
  /// Thrown in a rank waiting in a collective when another rank has failed.
  struct Aborted : Error {
    Aborted() : Error("ThreadTeam: another rank failed while this one waited in a collective") {}
  };

  struct Shared {
    explicit Shared(int n) : slots(std::size_t(n)), ranks(n) {}
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::vector<std::byte>> slots;  // one per rank: what it contributes to the current collective
    int ranks;
    int arrived = 0;
    long generation = 0;
    bool failed = false;

    void abort() {
      const std::lock_guard lock(mutex);
      failed = true;
      cv.notify_all();
    }
    /// Waits until every rank has arrived (a reusable barrier); throws Aborted when a rank failed.
    void barrier() {
      std::unique_lock lock(mutex);
      if (failed) throw Aborted();
      const long gen = generation;
      if (++arrived == ranks) {
        arrived = 0;
        ++generation;
        cv.notify_all();
        return;
      }
      cv.wait(lock, [&] { return generation != gen || failed; });
      if (generation == gen) throw Aborted();
    }
  };

  class Member final : public Communicator {
   public:
    Member(Shared& s, int rank) : s_(s), rank_(rank) {}
    [[nodiscard]] int rank() const override { return rank_; }
    [[nodiscard]] int size() const override { return s_.ranks; }
    void allreduce_sum(std::span<double> data) const override { reduce(data); }
    void allreduce_sum(std::span<float> data) const override { reduce(data); }
    void allgather_bytes(std::span<const std::byte> local, std::vector<std::byte>& all,
                         std::vector<std::size_t>& counts) const override {
      publish(local);
      all.clear();
      counts.clear();
      for (const auto& slot : s_.slots) {
        all.insert(all.end(), slot.begin(), slot.end());
        counts.push_back(slot.size());
      }
      s_.barrier();  // every rank has read the slots before they are reused
    }
    void broadcast_bytes(std::span<std::byte> data, int root) const override {
      check(root >= 0 && root < s_.ranks, "broadcast: root ", root, " is not a rank of ", s_.ranks);
      publish(rank_ == root ? std::span<const std::byte>(data) : std::span<const std::byte>{});
      const auto& src = s_.slots[std::size_t(root)];
      check(src.size() == data.size(), "broadcast: rank ", rank_, " expects ", data.size(), " bytes, root ", root,
            " sent ", src.size());
      if (!data.empty()) std::memcpy(data.data(), src.data(), data.size());
      s_.barrier();
    }
    void barrier() const override { s_.barrier(); }

   private:
    void publish(std::span<const std::byte> bytes) const {
      s_.slots[std::size_t(rank_)].assign(bytes.begin(), bytes.end());
      s_.barrier();  // every rank has published
    }
    template <class T>
    void reduce(std::span<T> data) const {
      publish(std::as_bytes(data));
      for (const auto& slot : s_.slots)
        check(slot.size() == data.size_bytes(), "allreduce_sum: ranks passed different lengths (", slot.size() / sizeof(T),
              " and ", data.size(), " values)");
      std::vector<double> sum(data.size(), 0.0);
      for (const auto& slot : s_.slots) {  // rank order
        const T* v = reinterpret_cast<const T*>(slot.data());
        for (std::size_t i = 0; i < data.size(); ++i) sum[i] += double(v[i]);
      }
      for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<T>(sum[i]);
      s_.barrier();
    }

    Shared& s_;
    int rank_;
  };

  int ranks_;
};

}  // namespace invar::distributed
