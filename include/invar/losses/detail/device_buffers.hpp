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

/// Copies a device vector to the host (a no-op copy on the host).
template <class T, Device D>
std::vector<T> to_host(const Tensor<T, D>& t) {
  std::vector<T> out(static_cast<std::size_t>(t.numel()));
  D::copy_to_host(out.data(), t.data(), t.bytes());
  return out;
}

}  // namespace invar::detail
