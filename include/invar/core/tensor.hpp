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

/// An owning, contiguous, row-major N-d array of T in the memory of `D` (Cpu, Cuda): value
/// semantics (copies copy the data, moves are free); work on it goes through its views.
template <class T, Device D = Cpu>
class Tensor {
  static_assert(std::is_trivially_copyable_v<T> && !std::is_const_v<T>,
                "invar::Tensor holds plain non-const arithmetic-like element types");

 public:
  using value_type = T;   ///< the element type
  using device_type = D;  ///< where the elements live

  /// An empty tensor (shape [0], no memory).
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

  /// A deep copy (on the same device).
  Tensor(const Tensor& other) : Tensor(other.shape_, Uninitialized{}) { D::copy(data_, other.data_, bytes()); }
  /// Takes over other's memory; other is left empty.
  Tensor(Tensor&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), shape_(std::exchange(other.shape_, Shape{0})) {}
  /// A deep copy of other's shape and elements.
  Tensor& operator=(const Tensor& other) {
    if (this != &other) *this = Tensor(other);
    return *this;
  }
  /// Frees this tensor's memory and takes over other's; other is left empty.
  Tensor& operator=(Tensor&& other) noexcept {
    if (this != &other) {
      D::deallocate(data_);
      data_ = std::exchange(other.data_, nullptr);
      shape_ = std::exchange(other.shape_, Shape{0});
    }
    return *this;
  }
  ~Tensor() { D::deallocate(data_); }

  [[nodiscard]] T* data() { return data_; }                   ///< the first element (device memory for a GPU tensor)
  [[nodiscard]] const T* data() const { return data_; }       ///< the first element
  [[nodiscard]] const Shape& shape() const { return shape_; } ///< the extents
  [[nodiscard]] int rank() const { return shape_.rank(); }    ///< the number of axes
  [[nodiscard]] index_t dim(int axis) const { return shape_.dim(axis); }  ///< the extent of `axis`
  [[nodiscard]] index_t numel() const { return shape_.numel(); }          ///< the number of elements
  [[nodiscard]] bool empty() const { return numel() == 0; }               ///< whether it has no element
  [[nodiscard]] index_t rows() const { return view().rows(); }            ///< the extent of axis 0 (samples)
  [[nodiscard]] index_t row_size() const { return shape_.row_size(); }    ///< the elements of one row
  /// The size of the elements in bytes.
  [[nodiscard]] std::size_t bytes() const { return static_cast<std::size_t>(numel()) * sizeof(T); }

  [[nodiscard]] TensorView<T, D> view() { return {data_, shape_}; }              ///< a mutable view of all elements
  [[nodiscard]] TensorView<const T, D> view() const { return {data_, shape_}; }  ///< a read-only view
  /// Implicit, by design: every function that takes a view takes a Tensor.
  operator TensorView<T, D>() { return view(); }              // NOLINT: implicit by design
  /// Implicit, by design: every function that takes a read-only view takes a Tensor.
  operator TensorView<const T, D>() const { return view(); }  // NOLINT: implicit by design

  /// Sets every element to zero (all bits 0: +0 for floating point), on the tensor's device.
  void set_zero() { D::set_zero(data_, bytes()); }

  /// Changes the shape in place; the number of elements must stay the same.
  void reshape(const Shape& shape) { shape_ = view().reshape(shape).shape(); }

  /// The element at (i, j, ...), one index per axis, unchecked (host tensors).
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  T& operator()(I... idx) {
    return view()(idx...);
  }
  /// The element at (i, j, ...), unchecked (host tensors).
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  const T& operator()(I... idx) const {
    return view()(idx...);
  }
  /// The element at (i, j, ...), bounds-checked: invar::Error when out of range (host tensors).
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  T& at(I... idx) {
    return view().at(idx...);
  }
  /// The element at (i, j, ...), bounds-checked (host tensors).
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  const T& at(I... idx) const {
    return view().at(idx...);
  }
  /// The element at a flat (row-major) index, unchecked (host tensors).
  T& operator[](index_t flat)
    requires HostDevice<D>
  {
    return data_[flat];
  }
  /// The element at a flat (row-major) index, unchecked (host tensors).
  const T& operator[](index_t flat) const
    requires HostDevice<D>
  {
    return data_[flat];
  }
  /// Iteration over all elements in memory order (host tensors).
  T* begin()
    requires HostDevice<D>
  {
    return data_;
  }
  /// One past the last element (host tensors).
  T* end()
    requires HostDevice<D>
  {
    return data_ + numel();
  }
  /// Iteration over all elements in memory order (host tensors).
  const T* begin() const
    requires HostDevice<D>
  {
    return data_;
  }
  /// One past the last element (host tensors).
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
/// The mutable view of a Tensor.
template <class T, Device D>
TensorView<T, D> to_view(Tensor<T, D>& t) {
  return t.view();
}
/// The read-only view of a const Tensor.
template <class T, Device D>
TensorView<const T, D> to_view(const Tensor<T, D>& t) {
  return t.view();
}

/// Anything to_view accepts.
template <class X>
concept Viewable = requires(X& x) { to_view(x); };

/// The view type to_view gives for X (TensorView<T, D> or TensorView<const T, D>).
template <class X>
using view_t = decltype(to_view(std::declval<X&>()));

}  // namespace invar
