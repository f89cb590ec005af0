#pragma once
/// \file tensor_view.hpp
/// TensorView<T, Device>: a non-owning, contiguous, row-major view of memory on `Device`.
/// T may be const (a read-only view). Views are cheap to copy (a pointer and a Shape);
/// they never allocate and never free. A user's own buffer goes in without a copy:
/// `TensorView<float> x(ptr, {B, D});`

#include <type_traits>

#include "invar/core/config.hpp"
#include "invar/core/device.hpp"
#include "invar/core/error.hpp"
#include "invar/core/shape.hpp"

namespace invar {

/// Non-owning, contiguous, row-major view of `T` elements on device D (see the file comment).
/// A default-constructed view is empty, of shape [0].
template <class T, Device D = Cpu>
class TensorView {
 public:
  using value_type = std::remove_const_t<T>;  ///< the element type without const
  using element_type = T;  ///< the element type as viewed: const T for a read-only view
  using device_type = D;  ///< the device the memory lives on

  TensorView() = default;

  /// Views `shape.numel()` elements at `data` (which may be null only for an empty shape).
  TensorView(T* data, const Shape& shape) : data_(data), shape_(shape) {
    check(data != nullptr || shape.numel() == 0, "TensorView: null data pointer for shape ", shape);
  }

  /// A mutable view converts to a read-only one.
  template <class U>
    requires(std::is_const_v<T> && std::is_same_v<std::remove_const_t<T>, U>)
  TensorView(const TensorView<U, D>& other) : data_(other.data()), shape_(other.shape()) {}

  /// Pointer to the first element, in device D's memory (null only for an empty view).
  [[nodiscard]] T* data() const { return data_; }
  /// The extents.
  [[nodiscard]] const Shape& shape() const { return shape_; }
  /// Number of axes (Shape::rank()).
  [[nodiscard]] int rank() const { return shape_.rank(); }
  /// Extent of `axis`; negative counts from the end. Throws invar::Error when out of range.
  [[nodiscard]] index_t dim(int axis) const { return shape_.dim(axis); }
  /// Number of elements (1 for rank 0).
  [[nodiscard]] index_t numel() const { return shape_.numel(); }
  /// Whether the view has no elements.
  [[nodiscard]] bool empty() const { return numel() == 0; }

  /// Rows when seen as a matrix: dim(0), or 1 for a scalar.
  [[nodiscard]] index_t rows() const { return rank() == 0 ? 1 : shape_[0]; }
  /// Flattened row length when seen as a matrix: the product of the extents after the first.
  [[nodiscard]] index_t row_size() const { return shape_.row_size(); }

  /// Same memory, another shape with the same number of elements.
  [[nodiscard]] TensorView reshape(const Shape& shape) const {
    check(shape.numel() == numel(), "TensorView::reshape: cannot view ", shape_, " (", numel(),
          " elements) as ", shape, " (", shape.numel(), " elements)");
    return TensorView(data_, shape);
  }

  /// The matrix view "any layer flattened": dim(0) rows of row_size() columns.
  [[nodiscard]] TensorView as_matrix() const {
    check(rank() >= 1, "TensorView::as_matrix: a scalar has no rows");
    return TensorView(data_, Shape{shape_[0], row_size()});
  }

  /// Rows [begin, end) along axis 0: still contiguous, so still a view.
  [[nodiscard]] TensorView slice_rows(index_t begin, index_t end) const {
    check(rank() >= 1, "TensorView::slice_rows: a scalar has no rows");
    check(0 <= begin && begin <= end && end <= shape_[0], "TensorView::slice_rows: range [", begin, ", ",
          end, ") out of bounds for shape ", shape_);
    std::array<index_t, Shape::max_rank> ext{};
    for (int i = 0; i < rank(); ++i) ext[static_cast<std::size_t>(i)] = shape_[i];
    ext[0] = end - begin;
    return TensorView(data_ + begin * row_size(),
                      Shape(std::span<const index_t>(ext.data(), static_cast<std::size_t>(rank()))));
  }

  /// Element access on host-accessible devices. Unchecked in release builds (like
  /// std::vector::operator[]); use at() for a checked access.
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  T& operator()(I... idx) const {
    return data_[offset_unchecked(static_cast<index_t>(idx)...)];
  }

  /// Checked element access on host-accessible devices: throws invar::Error unless there is
  /// one index per axis and each is in range.
  template <class... I>
    requires(HostDevice<D> && (std::is_integral_v<I> && ...))
  T& at(I... idx) const {
    const index_t i[] = {static_cast<index_t>(idx)...};
    constexpr int n = sizeof...(I);
    check(n == rank(), "TensorView::at: ", n, " indices for a tensor of rank ", rank(), " ", shape_);
    index_t off = 0;
    for (int a = 0; a < n; ++a) {
      check(i[a] >= 0 && i[a] < shape_[a], "TensorView::at: index ", i[a], " out of range on axis ", a,
            " of shape ", shape_);
      off = off * shape_[a] + i[a];
    }
    return data_[off];
  }

  /// Flat element access (row-major order), host devices only.
  T& operator[](index_t flat) const
    requires HostDevice<D>
  {
    return data_[flat];
  }

  /// Pointer to the first element, for range-for over all elements (host devices only).
  [[nodiscard]] T* begin() const
    requires HostDevice<D>
  {
    return data_;
  }
  /// One past the last element (host devices only).
  [[nodiscard]] T* end() const
    requires HostDevice<D>
  {
    return data_ + numel();
  }

 private:
  template <class... I>
  index_t offset_unchecked(I... idx) const {
    const index_t i[] = {idx...};
    index_t off = 0;
    for (int a = 0; a < static_cast<int>(sizeof...(I)); ++a) off = off * shape_[a] + i[a];
    return off;
  }

  T* data_ = nullptr;
  Shape shape_{0};
};

/// Read-only view: `ConstView<float>` is `TensorView<const float>`.
template <class T, Device D = Cpu>
using ConstView = TensorView<const T, D>;

/// Views a user's buffer: `view(ptr, {B, D})`.
template <class T>
TensorView<T, Cpu> view(T* data, const Shape& shape) {
  return TensorView<T, Cpu>(data, shape);
}

}  // namespace invar
