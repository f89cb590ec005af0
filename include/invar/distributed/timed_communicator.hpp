#pragma once
/// \file timed_communicator.hpp
/// TimedCommunicator: wraps another Communicator and counts, per collective kind, the calls, the
/// bytes this rank passed in and the seconds spent inside (waiting for the slowest rank included).
/// It answers "what does communication cost this step?" without a profiler:
///
///   distributed::TimedCommunicator timed(world);
///   objective.across(timed); ... one step ...
///   timed.total().seconds; timed.counters(distributed::Collective::allreduce).bytes;
///
/// benchmarks/mpi/bench_distributed.cpp uses it to split a training step's time.

#include <array>
#include <chrono>

#include "invar/distributed/communicator.hpp"

namespace invar::distributed {

/// The collectives a Communicator offers.
enum class Collective { allreduce, allgather, broadcast, barrier };

/// What TimedCommunicator counted for one kind of collective.
struct CollectiveCounters {
  long calls = 0;        ///< collectives made
  double bytes = 0;      ///< bytes this rank passed in (its share of the data)
  double seconds = 0;    ///< wall time inside the calls
};

/// A Communicator that forwards to another and counts every collective (see the file comment).
class TimedCommunicator final : public Communicator {
 public:
  /// Wraps `inner` (which must outlive this object).
  explicit TimedCommunicator(const Communicator& inner) : inner_(inner) {}
  [[nodiscard]] int rank() const override { return inner_.rank(); }
  [[nodiscard]] int size() const override { return inner_.size(); }
  void allreduce_sum(std::span<double> d) const override {
    timed(Collective::allreduce, d.size_bytes(), [&] { inner_.allreduce_sum(d); });
  }
  void allreduce_sum(std::span<float> d) const override {
    timed(Collective::allreduce, d.size_bytes(), [&] { inner_.allreduce_sum(d); });
  }
  void allgather_bytes(std::span<const std::byte> local, std::vector<std::byte>& all,
                       std::vector<std::size_t>& counts) const override {
    timed(Collective::allgather, local.size(), [&] { inner_.allgather_bytes(local, all, counts); });
  }
  void broadcast_bytes(std::span<std::byte> d, int root) const override {
    timed(Collective::broadcast, d.size(), [&] { inner_.broadcast_bytes(d, root); });
  }
  void barrier() const override {
    timed(Collective::barrier, 0, [&] { inner_.barrier(); });
  }

  /// The counters of one kind of collective since the last reset().
  [[nodiscard]] const CollectiveCounters& counters(Collective c) const { return counters_[std::size_t(c)]; }
  /// All kinds together.
  [[nodiscard]] CollectiveCounters total() const {
    CollectiveCounters t;
    for (const auto& c : counters_) {
      t.calls += c.calls;
      t.bytes += c.bytes;
      t.seconds += c.seconds;
    }
    return t;
  }
  /// Sets every counter to 0.
  void reset() { counters_ = {}; }

 private:
  template <class F>
  void timed(Collective kind, std::size_t bytes, F&& f) const {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    auto& c = counters_[std::size_t(kind)];
    c.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    c.bytes += double(bytes);
    ++c.calls;
  }

  const Communicator& inner_;
  mutable std::array<CollectiveCounters, 4> counters_{};
};

}  // namespace invar::distributed
