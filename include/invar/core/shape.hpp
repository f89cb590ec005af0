#pragma once
/// \file shape.hpp
/// Shape: the extents of an N-d tensor (rank <= Shape::max_rank), stored inline so that
/// creating views never allocates. Row-major: the last dimension is contiguous.

#include <array>
#include <initializer_list>
#include <ostream>
#include <span>

#include "invar/core/config.hpp"
#include "invar/core/error.hpp"

namespace invar {

/// Extents of a row-major N-d tensor, stored inline (see the file comment).
class Shape {
 public:
  static constexpr int max_rank = 8;  ///< the largest rank a Shape (and so a tensor) can have

  /// The rank-0 shape (one element, a scalar).
  constexpr Shape() = default;

  /// Shape{B, D}; every extent must be >= 0 (zero-sized tensors are allowed). Throws invar::Error
  /// for a rank above max_rank or a negative extent.
  Shape(std::initializer_list<index_t> extents) { assign(extents.begin(), extents.size()); }
  /// As above, from a run-time list of extents. Throws invar::Error for a rank above max_rank or
  /// a negative extent.
  explicit Shape(std::span<const index_t> extents) { assign(extents.data(), extents.size()); }

  /// Number of axes, 0 to max_rank.
  [[nodiscard]] constexpr int rank() const { return rank_; }
  /// Extent of `axis`, unchecked: 0 <= axis \< rank() (use dim() for a checked, negative-aware access).
  [[nodiscard]] constexpr index_t operator[](int axis) const { return extents_[static_cast<std::size_t>(axis)]; }

  /// Extent of `axis`; a negative axis counts from the end (-1 is the last). Checked.
  [[nodiscard]] index_t dim(int axis) const {
    const int a = axis < 0 ? axis + rank_ : axis;
    check(a >= 0 && a < rank_, "Shape::dim: axis ", axis, " out of range for shape ", *this);
    return extents_[static_cast<std::size_t>(a)];
  }

  /// Number of elements (1 for rank 0).
  [[nodiscard]] constexpr index_t numel() const {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= extents_[static_cast<std::size_t>(i)];
    return n;
  }

  /// Product of the extents after the first: the row length when the tensor is seen as a
  /// matrix of dim(0) rows ("any layer flattened").
  [[nodiscard]] constexpr index_t row_size() const {
    index_t n = 1;
    for (int i = 1; i < rank_; ++i) n *= extents_[static_cast<std::size_t>(i)];
    return n;
  }

  /// The rank() extents, outermost first; valid while this Shape lives.
  [[nodiscard]] std::span<const index_t> extents() const {
    return {extents_.data(), static_cast<std::size_t>(rank_)};
  }

  friend constexpr bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.extents_[static_cast<std::size_t>(i)] != b.extents_[static_cast<std::size_t>(i)]) return false;
    return true;
  }

  friend std::ostream& operator<<(std::ostream& out, const Shape& s) {
    out << '[';
    for (int i = 0; i < s.rank_; ++i) out << (i ? ", " : "") << s.extents_[static_cast<std::size_t>(i)];
    return out << ']';
  }

 private:
  void assign(const index_t* extents, std::size_t n) {
    check(n <= static_cast<std::size_t>(max_rank), "Shape: rank ", n, " exceeds the maximum ", max_rank);
    rank_ = static_cast<int>(n);
    for (std::size_t i = 0; i < n; ++i) {
      check(extents[i] >= 0, "Shape: extent ", i, " is negative (", extents[i], ")");
      extents_[i] = extents[i];
    }
  }

  std::array<index_t, max_rank> extents_{};
  int rank_ = 0;
};

}  // namespace invar
