#pragma once
/// \file device.hpp
/// Devices are policy types (as in Eigen's Tensor module): a device says where memory lives
/// and how to allocate and copy it. The numeric work on a device's memory is done by the
/// op interface (backend/ops.hpp), specialised per device in backend/cpu/, backend/cuda/.
///
/// The contract, checked by the `Device` concept:
/// \code
/// struct MyDevice {
///   static constexpr const char* name = "mydevice";   // for messages
///   static constexpr bool host_accessible = false;    // may the host dereference its pointers?
///   static void* allocate(std::size_t bytes);         // throws invar::Error on failure; 64-byte aligned
///   static void deallocate(void* p) noexcept;         // p from allocate, or nullptr
///   static void copy(void* dst, const void* src, std::size_t bytes);            // device -> device
///   static void copy_to_host(void* host, const void* src, std::size_t bytes);   // device -> host
///   static void copy_from_host(void* dst, const void* host, std::size_t bytes); // host -> device
///   static void set_zero(void* p, std::size_t bytes);                             // all bytes 0
/// };
/// A device with state (a GPU's stream, library handles, a caching allocator) keeps it in a
/// device context that these static functions reach (backend/cuda/context.hpp); the host has none.
/// \endcode

#include <concepts>
#include <cstddef>
#include <cstring>
#include <new>

#include "invar/core/error.hpp"

namespace invar {

/// What a device type must provide (the contract in the file comment).
template <class D>
concept Device = requires(void* p, const void* q, std::size_t n) {
  { D::name } -> std::convertible_to<const char*>;
  { D::host_accessible } -> std::convertible_to<bool>;
  { D::allocate(n) } -> std::same_as<void*>;
  D::deallocate(p);
  D::copy(p, q, n);
  D::copy_to_host(p, q, n);
  D::copy_from_host(p, q, n);
  D::set_zero(p, n);
};

/// The host: memory from the C++ heap, 64-byte aligned (one cache line, one AVX-512 vector),
/// numeric work in backend/cpu (Eigen + OpenMP).
struct Cpu {
  static constexpr const char* name = "cpu";  ///< device name in messages
  static constexpr bool host_accessible = true;  ///< the host dereferences Cpu pointers directly
  static constexpr std::size_t alignment = 64;  ///< bytes; every allocation is aligned to this

  /// `bytes` of uninitialised, 64-byte-aligned heap memory; nullptr for 0 bytes.
  /// Throws invar::Error when out of memory.
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = ::operator new(bytes, std::align_val_t{alignment}, std::nothrow);
    check(p != nullptr, "Cpu::allocate: out of memory allocating ", bytes, " bytes");
    return p;
  }
  /// Frees memory from allocate(); nullptr is a no-op.
  static void deallocate(void* p) noexcept {
    if (p) ::operator delete(p, std::align_val_t{alignment});
  }
  /// memcpy of `bytes` bytes (the ranges must not overlap).
  static void copy(void* dst, const void* src, std::size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  /// Device -> host copy: on the host, the same as copy().
  static void copy_to_host(void* host, const void* src, std::size_t bytes) { copy(host, src, bytes); }
  /// Host -> device copy: on the host, the same as copy().
  static void copy_from_host(void* dst, const void* host, std::size_t bytes) { copy(dst, host, bytes); }
  /// Sets `bytes` bytes at p to 0.
  static void set_zero(void* p, std::size_t bytes) {
    if (bytes) std::memset(p, 0, bytes);
  }
};

static_assert(Device<Cpu>);

/// Devices whose memory the host may read and write directly (element access, Eigen maps).
template <class D>
concept HostDevice = Device<D> && D::host_accessible;

}  // namespace invar
