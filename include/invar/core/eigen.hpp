#pragma once
/// \file eigen.hpp
/// Zero-copy interop with Eigen, both ways.
/// - `as_matrix(view)`: an Eigen::Map of a host view as a row-major matrix
///   (dim(0) rows, every other axis flattened into columns) — "any layer flattened".
/// - `as_vector(view)`: an Eigen::Map of all elements as a column vector.
/// - `view_of(m)`: a TensorView of a row-major Eigen matrix, an Eigen vector, or an
///   Eigen::Map of either. A column-major matrix (Eigen's default) is the row-major
///   matrix of its transpose: `view_of_transposed(m)` makes that explicit.
/// Nothing here copies: the data pointers are the same on both sides.

#include <Eigen/Core>
#include <type_traits>

#include "invar/core/tensor.hpp"
#include "invar/core/tensor_view.hpp"

namespace invar {

/// Dynamic-size row-major Eigen matrix: the layout of invar tensors, so view_of() takes it without a copy.
template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// Dynamic-size Eigen column vector (the Plain type of as_vector()'s map).
template <class T>
using ColVector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

/// Row-major matrix map of a host view (const view -> read-only map).
template <class T, HostDevice D>
auto as_matrix(const TensorView<T, D>& v) {
  using Plain = RowMatrix<std::remove_const_t<T>>;
  using MapT = Eigen::Map<std::conditional_t<std::is_const_v<T>, const Plain, Plain>>;
  const index_t r = v.rows();
  const index_t c = v.rank() == 0 ? 1 : v.row_size();
  return MapT(v.data(), r, c);
}

/// Column-vector map of all elements of a host view.
template <class T, HostDevice D>
auto as_vector(const TensorView<T, D>& v) {
  using Plain = ColVector<std::remove_const_t<T>>;
  using MapT = Eigen::Map<std::conditional_t<std::is_const_v<T>, const Plain, Plain>>;
  return MapT(v.data(), v.numel());
}

/// As as_matrix(const TensorView<T, D>&), for a tensor: a writable map of its elements.
template <class T, HostDevice D>
auto as_matrix(Tensor<T, D>& t) { return as_matrix(t.view()); }
/// As above, for a const tensor: a read-only map.
template <class T, HostDevice D>
auto as_matrix(const Tensor<T, D>& t) { return as_matrix(t.view()); }
/// As as_vector(const TensorView<T, D>&), for a tensor: a writable map of its elements.
template <class T, HostDevice D>
auto as_vector(Tensor<T, D>& t) { return as_vector(t.view()); }
/// As above, for a const tensor: a read-only map.
template <class T, HostDevice D>
auto as_vector(const Tensor<T, D>& t) { return as_vector(t.view()); }

namespace detail {

template <class Derived, class Ptr>
TensorView<std::remove_pointer_t<Ptr>, Cpu> view_of_dense(const Eigen::DenseBase<Derived>& m, Ptr data,
                                                          bool transposed) {
  static_assert(bool(Derived::Flags & Eigen::DirectAccessBit),
                "invar::view_of: the Eigen object must own or map contiguous memory (a Matrix, Array or "
                "Map), not an expression; evaluate it into a matrix first");
  const auto& d = m.derived();
  check(d.innerStride() == 1, "view_of: Eigen object has inner stride ", d.innerStride(),
        "; only contiguous storage can be viewed without a copy");
  if constexpr (Derived::IsVectorAtCompileTime) {
    return {data, Shape{d.size()}};
  } else {
    check(d.outerStride() == d.innerSize(), "view_of: Eigen object has outer stride ", d.outerStride(),
          " for inner size ", d.innerSize(), " (a block of a larger matrix?); only contiguous storage can be viewed");
    if (transposed) return {data, Shape{d.cols(), d.rows()}};
    return {data, Shape{d.rows(), d.cols()}};
  }
}

template <class Derived>
constexpr bool row_major_or_vector = Derived::IsVectorAtCompileTime || bool(Derived::IsRowMajor);

}  // namespace detail

/// View of a row-major Eigen matrix (shape {rows, cols}) or of a vector (shape {size}).
template <class Derived>
auto view_of(Eigen::PlainObjectBase<Derived>& m) {
  static_assert(detail::row_major_or_vector<Derived>,
                "invar::view_of: this Eigen matrix is column-major; invar views are row-major. Use a "
                "RowMajor matrix (invar::RowMatrix<T>) or view_of_transposed(m), which views it as its transpose");
  return detail::view_of_dense(m, m.data(), false);
}
/// As above, for a const matrix or vector: a read-only view.
template <class Derived>
auto view_of(const Eigen::PlainObjectBase<Derived>& m) {
  static_assert(detail::row_major_or_vector<Derived>,
                "invar::view_of: this Eigen matrix is column-major; invar views are row-major. Use a "
                "RowMajor matrix (invar::RowMatrix<T>) or view_of_transposed(m), which views it as its transpose");
  return detail::view_of_dense(m, m.data(), false);
}
/// View of an Eigen::Map (row-major or vector). Maps are handles, often temporaries: a map of mutable
/// memory gives a mutable view. Throws invar::Error if the map is not contiguous (inner stride not 1,
/// or an outer stride other than the row length).
template <class Plain, int Options, class Stride>
auto view_of(const Eigen::Map<Plain, Options, Stride>& m) {
  static_assert(detail::row_major_or_vector<Plain>,
                "invar::view_of: this Eigen map is column-major; invar views are row-major. Map it RowMajor "
                "or use view_of_transposed(m)");
  return detail::view_of_dense(m, const_cast<typename Eigen::Map<Plain, Options, Stride>::PointerType>(m.data()),
                               false);
}

/// View of a column-major Eigen matrix as the row-major matrix of its transpose (shape {cols, rows}).
template <class Derived>
auto view_of_transposed(Eigen::PlainObjectBase<Derived>& m) {
  static_assert(!bool(Derived::IsRowMajor) || Derived::IsVectorAtCompileTime,
                "invar::view_of_transposed expects a column-major matrix; use view_of for row-major ones");
  return detail::view_of_dense(m, m.data(), true);
}
/// As above, for a const matrix: a read-only view.
template <class Derived>
auto view_of_transposed(const Eigen::PlainObjectBase<Derived>& m) {
  static_assert(!bool(Derived::IsRowMajor) || Derived::IsVectorAtCompileTime,
                "invar::view_of_transposed expects a column-major matrix; use view_of for row-major ones");
  return detail::view_of_dense(m, m.data(), true);
}

}  // namespace invar
