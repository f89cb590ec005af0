#pragma once
/// \file device_buffers.hpp
/// Small host arrays (group ids, per-group weights) made available on a device: on the host
/// they are used in place, elsewhere copied once per call (B or K elements).

#include <type_traits>
#include <vector>

#include "invar/core/tensor.hpp"

namespace invar::detail {

template <class T, Device D>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host) : host_(host.data()) {
    if constexpr (!HostDevice<D>) {
      copy_ = Tensor<T, D>::copy_of(TensorView<const T, Cpu>(host.data(), Shape{index_t(host.size())}));
    }
  }
  [[nodiscard]] const T* data() const {
    if constexpr (HostDevice<D>) return host_;
    else return copy_.data();
  }

 private:
  const T* host_;
  Tensor<T, D> copy_;
};

/// Scratch memory that persists between calls on one thread: the linear path needs K x D doubles
/// per call, and a fresh 16 MB allocation costs thousands of page faults every time (measured:
/// ~15 % of a call at B = 1024, D = 16384). The buffer only grows; it is released when the
/// thread ends. Slots keep simultaneous buffers apart.
template <class T, Device D>
TensorView<T, D> workspace(int slot, const Shape& shape) {
  struct Buffers {
    Tensor<T, D> slots[8];
  };
  thread_local Buffers buffers;
  Tensor<T, D>& t = buffers.slots[slot];
  if (t.numel() < shape.numel()) t = Tensor<T, D>::uninitialized(Shape{shape.numel()});
  return TensorView<T, D>(t.data(), shape);
}

/// Copies a device vector to the host (a no-op copy on the host).
template <class T, Device D>
std::vector<T> to_host(TensorView<const T, D> t) {
  std::vector<T> out(static_cast<std::size_t>(t.numel()));
  D::copy_to_host(out.data(), t.data(), static_cast<std::size_t>(t.numel()) * sizeof(T));
  return out;
}
template <class T, Device D>
std::vector<T> to_host(const Tensor<T, D>& t) {
  return to_host(t.view());
}
template <class T, Device D>
std::vector<T> to_host(TensorView<T, D> t) {
  return to_host(TensorView<const T, D>(t));
}

}  // namespace invar::detail
