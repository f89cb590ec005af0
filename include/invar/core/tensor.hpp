#pragma once
/// \file tensor.hpp
/// Tensor<T, Device>: owns a contiguous, row-major, N-d block of T on `Device`.
/// Copying copies the data (value semantics, like std::vector); moving is free.
/// Work on a tensor goes through views (view(), implicit conversion) so that every
/// function taking a TensorView accepts a Tensor, an Eigen matrix (via view_of) or a raw buffer.

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

#include "invar/core/tensor_view.hpp"

namespace invar {

template <class T, Device D = Cpu>
class Tensor {
  static_assert(std::is_trivially_copyable_v<T> && !std::is_const_v<T>,
                "invar::Tensor holds plain non-const arithmetic-like element types");

 public:
  using value_type = T;
  using device_type = D;

  Tensor() = default;

  /// A zero-filled tensor of the given shape.
  explicit Tensor(const Shape& shape) : Tensor(shape, Uninitialized{}) { set_zero(); }

  /// A tensor of the given shape whose elements are not initialised (for outputs that
  /// are fully overwritten; saves a pass over memory).
  static Tensor uninitialized(const Shape& shape) { return Tensor(shape, Uninitialized{}); }

  /// A tensor holding a copy of the elements a view shows (possibly from another device).
  template <class U, Device From>
    requires std::is_same_v<std::remove_const_t<U>, T>
  static Tensor copy_of(const TensorView<U, From>& src) {
    Tensor t(src.shape(), Uninitialized{});
    if constexpr (std::is_same_v<From, D>) {
      D::copy(t.data_, src.data(), t.bytes());
    } else {
      static_assert(HostDevice<From> || HostDevice<D>, "Tensor::copy_of: copies go through the host");
      if constexpr (HostDevice<From>)
        D::copy_from_host(t.data_, src.data(), t.bytes());
      else
        From::copy_to_host(t.data_, src.data(), t.bytes());
    }
    return t;
  }

  Tensor(const Tensor& other) : Tensor(other.shape_, Uninitialized{}) { D::copy(data_, other.data_, bytes()); }
  Tensor(Tensor&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), shape_(std::exchange(other.shape_, Shape{0})) {}
  Tensor& operator=(const Tensor& other) {
    if (this != &other) *this = Tensor(other);
    return *this;
  }
  Tensor& operator=(Tensor&& other) noexcept {
    if (this != &other) {
      D::deallocate(data_);
      data_ = std::exchange(other.data_, nullptr);
      shape_ = std::exchange(other.shape_, Shape{0});
    }
    return *this;
  }
  ~Tensor() { D::deallocate(data_); }

  [[nodiscard]] T* data() { return data_; }
  [[nodiscard]] const T* data() const { return data_; }
  [[nodiscard]] const Shape& shape() const { return shape_; }
  [[nodiscard]] int rank() const { return shape_.rank(); }
  [[nodiscard]] index_t dim(int axis) const { return shape_.dim(axis); }
  [[nodiscard]] index_t numel() const { return shape_.numel(); }
  [[nodiscard]] bool empty() const { return numel() == 0; }
  [[nodiscard]] index_t rows() const { return view().rows(); }
  [[nodiscard]] index_t row_size() const { return shape_.row_size(); }
  [[nodiscard]] std::size_t bytes() const { return static_cast<std::size_t>(numel()) * sizeof(T); }

  [[nodiscard]] TensorView<T, D> view() { return {data_, shape_}; }
  [[nodiscard]] TensorView<const T, D> view() const { return {data_, shape_}; }
  operator TensorView<T, D>() { return view(); }              // NOLINT: implicit by design
  operator TensorView<const T, D>() const { return view(); }  // NOLINT: implicit by design

  /// Sets every element to zero (all bits 0: +0 for floating point), on the tensor's device.
  void set_zero() { D::set_zero(data_, bytes()); }

  /// Changes the shape in place; the number of elements must stay the same.
  void reshape(const Shape& shape) { shape_ = view().reshape(shape).shape(); }

  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  T& operator()(I... idx) {
    return view()(idx...);
  }
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  const T& operator()(I... idx) const {
    return view()(idx...);
  }
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  T& at(I... idx) {
    return view().at(idx...);
  }
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  const T& at(I... idx) const {
    return view().at(idx...);
  }
  T& operator[](index_t flat)
    requires HostDevice<D>
  {
    return data_[flat];
  }
  const T& operator[](index_t flat) const
    requires HostDevice<D>
  {
    return data_[flat];
  }
  T* begin()
    requires HostDevice<D>
  {
    return data_;
  }
  T* end()
    requires HostDevice<D>
  {
    return data_ + numel();
  }
  const T* begin() const
    requires HostDevice<D>
  {
    return data_;
  }
  const T* end() const
    requires HostDevice<D>
  {
    return data_ + numel();
  }

 private:
  struct Uninitialized {};
  Tensor(const Shape& shape, Uninitialized)
      : data_(static_cast<T*>(D::allocate(static_cast<std::size_t>(shape.numel()) * sizeof(T)))),
        shape_(shape) {}

  T* data_ = nullptr;
  Shape shape_{0};
};

}  // namespace invar

namespace invar {

/// to_view(x): the view of a Tensor or a TensorView (identity). Functions that accept
/// "anything tensor-like" are templates that call it (template deduction does not see
/// implicit conversions).
template <class T, Device D>
TensorView<T, D> to_view(const TensorView<T, D>& v) {
  return v;
}
template <class T, Device D>
TensorView<T, D> to_view(Tensor<T, D>& t) {
  return t.view();
}
template <class T, Device D>
TensorView<const T, D> to_view(const Tensor<T, D>& t) {
  return t.view();
}

/// Anything to_view accepts.
template <class X>
concept Viewable = requires(X& x) { to_view(x); };

template <class X>
using view_t = decltype(to_view(std::declval<X&>()));

}  // namespace invar
