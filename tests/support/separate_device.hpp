#pragma once
// SeparateHost: a test device that lives on the host but keeps its memory apart, to prove the
// device boundary without a GPU.
//
// - host_accessible = false: the library cannot touch its memory except through the device
//   interface (allocate, copy, copy_to_host, copy_from_host, set_zero) and the backend. Any host
//   dereference of a tensor on it (element access, Eigen maps, range-for) fails to compile.
// - Every block is tracked: copies and zero fills into memory that is not a live block of this
//   device (a host pointer handed to the device, a freed block, a range past a block's end)
//   throw; leaks are visible in live_blocks().
// - Transfers are counted per direction, so tests can assert how many host round trips a loss
//   or a layer makes.
// Its backend runs the CPU kernels on that memory (it is host memory after all): what is tested
// is everything above the backend — ops, layers, losses and how they move data.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>

#include "invar/cpu.hpp"

namespace invar::test {

struct SeparateHost {
  static constexpr const char* name = "separate-host";
  static constexpr bool host_accessible = false;

  struct Counters {
    std::int64_t to_host = 0, from_host = 0, device_copies = 0, allocations = 0;
  };

  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = Cpu::allocate(bytes);
    std::lock_guard lock(state().mutex);
    state().blocks[reinterpret_cast<std::uintptr_t>(p)] = bytes;
    ++state().counters.allocations;
    return p;
  }
  static void deallocate(void* p) noexcept {
    if (!p) return;
    {
      std::lock_guard lock(state().mutex);
      state().blocks.erase(reinterpret_cast<std::uintptr_t>(p));
    }
    Cpu::deallocate(p);
  }
  static void copy(void* dst, const void* src, std::size_t bytes) {
    check_range("copy (destination)", dst, bytes);
    check_range("copy (source)", src, bytes);
    count(&Counters::device_copies);
    Cpu::copy(dst, src, bytes);
  }
  static void copy_to_host(void* host, const void* src, std::size_t bytes) {
    check_range("copy_to_host (source)", src, bytes);
    count(&Counters::to_host);
    Cpu::copy(host, src, bytes);
  }
  static void copy_from_host(void* dst, const void* host, std::size_t bytes) {
    check_range("copy_from_host (destination)", dst, bytes);
    count(&Counters::from_host);
    Cpu::copy(dst, host, bytes);
  }
  static void set_zero(void* p, std::size_t bytes) {
    check_range("set_zero", p, bytes);
    Cpu::set_zero(p, bytes);
  }

  static Counters counters() {
    std::lock_guard lock(state().mutex);
    return state().counters;
  }
  static std::size_t live_blocks() {
    std::lock_guard lock(state().mutex);
    return state().blocks.size();
  }

 private:
  struct State {
    std::mutex mutex;
    std::map<std::uintptr_t, std::size_t> blocks;  // start -> bytes
    Counters counters;
  };
  static State& state() {
    static State s;
    return s;
  }
  static void count(std::int64_t Counters::*which) {
    std::lock_guard lock(state().mutex);
    ++(state().counters.*which);
  }
  /// [p, p + bytes) must lie inside one live block of this device.
  static void check_range(const char* op, const void* p, std::size_t bytes) {
    if (bytes == 0) return;
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    std::lock_guard lock(state().mutex);
    auto it = state().blocks.upper_bound(a);
    const bool inside = it != state().blocks.begin() && (--it, a + bytes <= it->first + it->second);
    check(inside, "SeparateHost::", op, ": ", bytes, " bytes at ", p,
          " are not inside a live block of this device (a host pointer, a freed block, or past a block's end)");
  }
};

static_assert(Device<SeparateHost> && !HostDevice<SeparateHost>);

}  // namespace invar::test

namespace invar {
/// The CPU kernels, on SeparateHost's (host) memory.
template <>
struct DeviceBackend<test::SeparateHost> : DeviceBackend<Cpu> {};
static_assert(Backend<DeviceBackend<test::SeparateHost>>);
}  // namespace invar
