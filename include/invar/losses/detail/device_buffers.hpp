#pragma once
/// \file device_buffers.hpp
/// How the losses move their small host arrays (group ids, orders, per-group weights and
/// coefficients) to the device and get scratch memory, without a host round trip per array:
///
/// - `Upload<D>` packs several host arrays into one buffer and copies it with ONE transfer
///   (on the host: no copy at all, the arrays are used in place).
/// - `Scratch<T, D>` is scratch memory for one call: on the host a buffer that persists between
///   calls on one thread (a fresh 16 MB allocation costs thousands of page faults every time,
///   measured ~15 % of a call at B = 1024, D = 16384); on another device a tensor from the
///   device's allocator (the CUDA device caches freed blocks, so this costs no cudaMalloc), freed
///   at the end of the call. No device memory is ever held by a thread_local.
/// - `to_host` copies a device array back (a plain copy on the host).

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <vector>

#include "invar/core/tensor.hpp"

namespace invar::detail {

template <Device D>
class Upload {
 public:
  /// Registers a host array (kept alive by the caller until the Upload is gone); returns its slot.
  template <class T>
  std::size_t add(const std::vector<T>& host) {
    static_assert(std::is_trivially_copyable_v<T>);
    const std::size_t offset = (bytes_ + alignment - 1) / alignment * alignment;
    entries_.push_back({host.data(), offset, host.size() * sizeof(T)});
    bytes_ = offset + host.size() * sizeof(T);
    return entries_.size() - 1;
  }

  /// Copies every registered array to the device in one transfer.
  void send() {
    if constexpr (!HostDevice<D>) {
      std::vector<unsigned char> packed(bytes_);
      for (const Entry& e : entries_)
        if (e.bytes) std::memcpy(packed.data() + e.offset, e.host, e.bytes);
      device_ = Tensor<unsigned char, D>::uninitialized(Shape{index_t(bytes_)});
      if (bytes_) D::copy_from_host(device_.data(), packed.data(), bytes_);
    }
    sent_ = true;
  }

  /// The device copy of the array in `slot` (the host array itself on the host).
  template <class T>
  [[nodiscard]] const T* get(std::size_t slot) const {
    check(sent_, "Upload::get before send");
    const Entry& e = entries_[slot];
    if constexpr (HostDevice<D>) return static_cast<const T*>(e.host);
    else return reinterpret_cast<const T*>(device_.data() + e.offset);
  }
  template <class T>
  [[nodiscard]] TensorView<const T, D> view(std::size_t slot) const {
    return TensorView<const T, D>(get<T>(slot), Shape{index_t(entries_[slot].bytes / sizeof(T))});
  }

 private:
  static constexpr std::size_t alignment = 64;
  struct Entry {
    const void* host;
    std::size_t offset, bytes;
  };
  std::vector<Entry> entries_;
  std::size_t bytes_ = 0;
  bool sent_ = false;
  Tensor<unsigned char, D> device_;
};

/// Scratch memory for one call (see the file comment); `slot` keeps simultaneous host buffers apart.
template <class T, Device D>
class Scratch {
 public:
  Scratch(int slot, const Shape& shape) {
    if constexpr (HostDevice<D>) {
      struct Buffers {
        Tensor<T, D> slots[8];
      };
      thread_local Buffers buffers;
      Tensor<T, D>& t = buffers.slots[slot];
      if (t.numel() < shape.numel()) t = Tensor<T, D>::uninitialized(Shape{shape.numel()});
      view_ = TensorView<T, D>(t.data(), shape);
    } else {
      own_ = Tensor<T, D>::uninitialized(shape);
      view_ = own_.view();
    }
  }
  [[nodiscard]] TensorView<T, D> view() const { return view_; }
  [[nodiscard]] T* data() const { return view_.data(); }
  operator TensorView<T, D>() const { return view_; }  // NOLINT: implicit by design
  operator TensorView<const T, D>() const { return view_; }  // NOLINT: implicit by design

 private:
  Tensor<T, D> own_;
  TensorView<T, D> view_;
};

/// Copies a device array to the host (a plain copy on the host).
template <class T, Device D>
std::vector<std::remove_const_t<T>> to_host(TensorView<T, D> t) {
  std::vector<std::remove_const_t<T>> out(static_cast<std::size_t>(t.numel()));
  if (!out.empty()) D::copy_to_host(out.data(), t.data(), out.size() * sizeof(T));
  return out;
}
template <class T, Device D>
std::vector<T> to_host(const Tensor<T, D>& t) {
  return to_host(t.view());
}

}  // namespace invar::detail
