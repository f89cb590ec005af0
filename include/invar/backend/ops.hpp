#pragma once
/// \file ops.hpp
/// invar::ops — the one op interface layers and losses use for numeric work, on any device.
///
/// Every function takes tensors or views (anything `to_view` accepts), checks shapes and
/// devices, throws invar::Error naming the argument and the shapes, then forwards raw
/// pointers to DeviceBackend<Device> (backend/backend.hpp). Matrices are "rows x flattened rest":
/// a B x C x H x W activation is a B x (C*H*W) matrix to gemm and the reductions.
///
/// | op                      | computes                                         |
/// |-------------------------|--------------------------------------------------|
/// | gemm(a, b, c, opts)     | c = alpha op(a) op(b) + beta c                   |
/// | map(out, f, in...)      | out[i] = f(in0[i], in1[i], ...)                  |
/// | broadcast_rows(o, x, v, f) | o[i,j] = f(x[i,j], v[i])                      |
/// | broadcast_cols(o, x, v, f) | o[i,j] = f(x[i,j], v[j])                      |
/// | reduce_rows(out, f, in...) | out[i] = sum_j f(in0[i,j], ...)               |
/// | reduce_cols(out, f, in...) | out[j] = sum_i f(in0[i,j], ...)               |
/// | reduce_all(f, in...)    | sum_i f(in0[i], ...) (returned to the host)      |
/// | gather_rows(src, idx, out) | out[r,:] = src[idx[r],:]                      |
/// | scatter_add_rows(src, idx, out, alpha) | out[idx[r],:] += alpha src[r,:]   |
/// | fill, copy, axpby, scale, sum, dot, row_sums, col_sums, row_squared_norms | conveniences on the above |
///
/// The fused ops of layers (convolution, pooling, batch norm, cross-entropy) are in backend/ops/,
/// included at the end of this header. A backend comes with its device's header
/// (<invar/cpu.hpp>, <invar/cuda.hpp>); this header includes none, so device-generic code
/// (losses, layers) compiles for any device without seeing Eigen.
///
/// Functors `f` must be callable on the device: any lambda on the CPU; an INVAR_HOST_DEVICE
/// functor (such as those in invar::fn) for CUDA. Reductions are deterministic whatever the
/// thread count (see backend/cpu/reduce.hpp).

#include <type_traits>
#include <vector>

#include "invar/backend/backend.hpp"
#include "invar/backend/functors.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"

namespace invar {


namespace ops {

namespace detail {

template <class V>
using scalar_of = typename V::value_type;
template <class V>
using device_of = typename V::device_type;

template <class Out, class... In>
constexpr void static_check_same() {
  static_assert((std::is_same_v<device_of<Out>, device_of<In>> && ...),
                "invar::ops: all arguments must live on the same device");
  static_assert(!std::is_const_v<typename Out::element_type>, "invar::ops: the output view must be mutable");
}

/// A backend must be declared where an op is used: the device's header brings it.
template <class D>
concept backend_declared = requires { sizeof(DeviceBackend<D>); };

template <class D>
struct backend_of {
  static_assert(backend_declared<D>,
                "invar::ops: no backend for this device in this translation unit: include <invar/cpu.hpp> "
                "(or <invar/invar.hpp>) for invar::Cpu, <invar/cuda.hpp> for invar::Cuda");
  using type = DeviceBackend<D>;
};

/// The backend of device D (a readable error when its header is missing).
template <class D>
using backend = typename backend_of<D>::type;

/// Counts indices outside [0, bound) on the device (for index checks of device memory).
struct OutOfRange {
  index_t bound;
  INVAR_HOST_DEVICE index_t operator()(index_t i) const { return (i < 0 || i >= bound) ? 1 : 0; }
};

template <class V>
index_t matrix_rows(const V& v) {
  return v.rank() == 0 ? 1 : v.dim(0);
}
template <class V>
index_t matrix_cols(const V& v) {
  return v.rank() == 0 ? 1 : v.row_size();
}

template <class Idx>
void check_indices(const char* op, const Idx& idx, index_t bound) {
  static_assert(std::is_same_v<scalar_of<Idx>, index_t>, "invar::ops: indices must be invar::index_t");
  check(idx.rank() == 1, op, ": idx must be a vector, got shape ", idx.shape());
  if constexpr (HostDevice<device_of<Idx>>) {
    for (index_t r = 0; r < idx.numel(); ++r)
      check(idx[r] >= 0 && idx[r] < bound, op, ": idx[", r, "] = ", idx[r], " is out of range [0, ", bound, ")");
  } else {
    // Counted on the device (one scalar comes back); the indices are copied only to name the
    // first bad one in the error.
    using D = device_of<Idx>;
    if (idx.numel() == 0) return;
    const index_t bad = backend<D>::template reduce_all<index_t>(idx.numel(), OutOfRange{bound}, idx.data());
    if (bad == 0) return;
    std::vector<index_t> host(static_cast<std::size_t>(idx.numel()));
    D::copy_to_host(host.data(), idx.data(), host.size() * sizeof(index_t));
    for (std::size_t r = 0; r < host.size(); ++r)
      check(host[r] >= 0 && host[r] < bound, op, ": idx[", r, "] = ", host[r], " is out of range [0, ", bound, ")");
  }
}

}  // namespace detail

/// Options of gemm, with chainable setters: `GemmOptions{}.transpose_a().with_beta(1)`.
struct GemmOptions {
  bool trans_a = false;  ///< use a^T
  bool trans_b = false;  ///< use b^T
  double alpha = 1.0;    ///< scale of the product
  double beta = 0.0;     ///< scale of the existing c (0: c is overwritten, NaN in c ignored)
  /// Sets trans_a (use a^T); returns *this for chaining.
  GemmOptions& transpose_a(bool t = true) { trans_a = t; return *this; }
  /// Sets trans_b (use b^T); returns *this for chaining.
  GemmOptions& transpose_b(bool t = true) { trans_b = t; return *this; }
  /// Sets alpha, the scale of the product; returns *this for chaining.
  GemmOptions& with_alpha(double a) { alpha = a; return *this; }
  /// Sets beta, the scale of the existing c (1: accumulate into c); returns *this for chaining.
  GemmOptions& with_beta(double b) { beta = b; return *this; }
};

/// c = alpha * op(a) * op(b) + beta * c, all rank-2.
template <Viewable A, Viewable B, Viewable C>
void gemm(A&& a_in, B&& b_in, C&& c_in, const GemmOptions& o = {}) {
  auto a = to_view(a_in);
  auto b = to_view(b_in);
  auto c = to_view(c_in);
  using VA = decltype(a);
  using T = detail::scalar_of<VA>;
  static_assert(std::is_same_v<T, detail::scalar_of<decltype(b)>> && std::is_same_v<T, detail::scalar_of<decltype(c)>>,
                "invar::ops::gemm: a, b and c must have the same scalar type");
  detail::static_check_same<decltype(c), VA, decltype(b)>();
  check(a.rank() == 2 && b.rank() == 2 && c.rank() == 2, "gemm: a, b, c must be matrices, got shapes a ", a.shape(),
        ", b ", b.shape(), ", c ", c.shape());
  const index_t m = o.trans_a ? a.dim(1) : a.dim(0);
  const index_t k = o.trans_a ? a.dim(0) : a.dim(1);
  const index_t kb = o.trans_b ? b.dim(1) : b.dim(0);
  const index_t n = o.trans_b ? b.dim(0) : b.dim(1);
  check(k == kb, "gemm: inner dimensions differ: op(a) is ", m, " x ", k, " (a ", a.shape(), o.trans_a ? "^T" : "",
        "), op(b) is ", kb, " x ", n, " (b ", b.shape(), o.trans_b ? "^T" : "", ")");
  check(c.dim(0) == m && c.dim(1) == n, "gemm: c has shape ", c.shape(), ", expected [", m, ", ", n, "]");
  detail::backend<detail::device_of<VA>>::gemm(o.trans_a, o.trans_b, m, n, k, static_cast<T>(o.alpha), a.data(), a.dim(1),
                                       b.data(), b.dim(1), static_cast<T>(o.beta), c.data(), c.dim(1));
}

/// out[i] = f(in0[i], in1[i], ...); every input has out's shape. out may be one of the inputs.
template <Viewable Out, class F, Viewable... In>
void map(Out&& out_in, F f, In&&... ins) {
  auto out = to_view(out_in);
  detail::static_check_same<decltype(out), decltype(to_view(ins))...>();
  (check(to_view(ins).shape() == out.shape(), "map: input shape ", to_view(ins).shape(),
         " differs from output shape ", out.shape()),
   ...);
  detail::backend<detail::device_of<decltype(out)>>::map(out.numel(), out.data(), f, to_view(ins).data()...);
}

/// out[i,j] = f(x[i,j], v[i]) for x seen as rows x flattened rest; out may be x.
template <Viewable Out, Viewable X, Viewable V, class F>
void broadcast_rows(Out&& out_in, X&& x_in, V&& v_in, F f) {
  auto out = to_view(out_in);
  auto x = to_view(x_in);
  auto v = to_view(v_in);
  detail::static_check_same<decltype(out), decltype(x), decltype(v)>();
  check(x.shape() == out.shape(), "broadcast_rows: x has shape ", x.shape(), ", out has ", out.shape());
  check(v.rank() == 1 && v.dim(0) == detail::matrix_rows(x), "broadcast_rows: v must be a vector of ",
        detail::matrix_rows(x), " (one per row of x ", x.shape(), "), got ", v.shape());
  detail::backend<detail::device_of<decltype(out)>>::broadcast_rows(detail::matrix_rows(x), detail::matrix_cols(x), out.data(),
                                                            x.data(), v.data(), f);
}

/// out[i,j] = f(x[i,j], v[j]) for x seen as rows x flattened rest; out may be x.
template <Viewable Out, Viewable X, Viewable V, class F>
void broadcast_cols(Out&& out_in, X&& x_in, V&& v_in, F f) {
  auto out = to_view(out_in);
  auto x = to_view(x_in);
  auto v = to_view(v_in);
  detail::static_check_same<decltype(out), decltype(x), decltype(v)>();
  check(x.shape() == out.shape(), "broadcast_cols: x has shape ", x.shape(), ", out has ", out.shape());
  check(v.rank() == 1 && v.dim(0) == detail::matrix_cols(x), "broadcast_cols: v must be a vector of ",
        detail::matrix_cols(x), " (one per column of x ", x.shape(), "), got ", v.shape());
  detail::backend<detail::device_of<decltype(out)>>::broadcast_cols(detail::matrix_rows(x), detail::matrix_cols(x), out.data(),
                                                            x.data(), v.data(), f);
}

/// out[i] = sum_j f(in0[i,j], in1[i,j], ...): one value per row; inputs share a shape.
template <Viewable Out, class F, Viewable In0, Viewable... In>
void reduce_rows(Out&& out_in, F f, In0&& in0_in, In&&... ins) {
  auto out = to_view(out_in);
  auto in0 = to_view(in0_in);
  detail::static_check_same<decltype(out), decltype(in0), decltype(to_view(ins))...>();
  (check(to_view(ins).shape() == in0.shape(), "reduce_rows: inputs differ in shape: ", in0.shape(), " vs ",
         to_view(ins).shape()),
   ...);
  const index_t rows = detail::matrix_rows(in0);
  check(out.rank() == 1 && out.dim(0) == rows, "reduce_rows: out must be a vector of ", rows, " (rows of ",
        in0.shape(), "), got ", out.shape());
  detail::backend<detail::device_of<decltype(out)>>::reduce_rows(rows, detail::matrix_cols(in0), out.data(), f, in0.data(),
                                                         to_view(ins).data()...);
}

/// out[j] = sum_i f(in0[i,j], ...): one value per column of the flattened matrix.
template <Viewable Out, class F, Viewable In0, Viewable... In>
void reduce_cols(Out&& out_in, F f, In0&& in0_in, In&&... ins) {
  auto out = to_view(out_in);
  auto in0 = to_view(in0_in);
  detail::static_check_same<decltype(out), decltype(in0), decltype(to_view(ins))...>();
  (check(to_view(ins).shape() == in0.shape(), "reduce_cols: inputs differ in shape: ", in0.shape(), " vs ",
         to_view(ins).shape()),
   ...);
  const index_t cols = detail::matrix_cols(in0);
  check(out.rank() == 1 && out.dim(0) == cols, "reduce_cols: out must be a vector of ", cols, " (columns of ",
        in0.shape(), "), got ", out.shape());
  detail::backend<detail::device_of<decltype(out)>>::reduce_cols(detail::matrix_rows(in0), cols, out.data(), f, in0.data(),
                                                         to_view(ins).data()...);
}

/// sum_i f(in0[i], in1[i], ...) over all elements.
template <class F, Viewable In0, Viewable... In>
auto reduce_all(F f, In0&& in0_in, In&&... ins) {
  auto in0 = to_view(in0_in);
  using T = detail::scalar_of<decltype(in0)>;
  (check(to_view(ins).shape() == in0.shape(), "reduce_all: inputs differ in shape: ", in0.shape(), " vs ",
         to_view(ins).shape()),
   ...);
  return detail::backend<detail::device_of<decltype(in0)>>::template reduce_all<T>(in0.numel(), f, in0.data(),
                                                                           to_view(ins).data()...);
}

/// out[r,:] = src[idx[r],:]; src and out are rows x flattened rest with the same row size.
template <Viewable Src, Viewable Idx, Viewable Out>
void gather_rows(Src&& src_in, Idx&& idx_in, Out&& out_in) {
  auto src = to_view(src_in);
  auto idx = to_view(idx_in);
  auto out = to_view(out_in);
  detail::static_check_same<decltype(out), decltype(src), decltype(idx)>();
  check(out.rank() >= 1 && src.rank() >= 1, "gather_rows: src and out need rows, got ", src.shape(), " and ",
        out.shape());
  check(idx.rank() == 1 && idx.dim(0) == out.dim(0), "gather_rows: idx must hold one index per output row (",
        out.dim(0), "), got shape ", idx.shape());
  check(src.row_size() == out.row_size(), "gather_rows: row sizes differ: src ", src.shape(), ", out ", out.shape());
  detail::check_indices("gather_rows", idx, src.dim(0));
  detail::backend<detail::device_of<decltype(out)>>::gather_rows(out.dim(0), out.row_size(), src.data(), idx.data(),
                                                         out.data());
}

/// out[idx[r],:] += alpha * src[r,:] (a segment sum when idx are group ids), deterministic.
template <Viewable Src, Viewable Idx, Viewable Out>
void scatter_add_rows(Src&& src_in, Idx&& idx_in, Out&& out_in, double alpha = 1.0) {
  auto src = to_view(src_in);
  auto idx = to_view(idx_in);
  auto out = to_view(out_in);
  detail::static_check_same<decltype(out), decltype(src), decltype(idx)>();
  using T = detail::scalar_of<decltype(out)>;
  check(out.rank() >= 1 && src.rank() >= 1, "scatter_add_rows: src and out need rows, got ", src.shape(), " and ",
        out.shape());
  check(idx.rank() == 1 && idx.dim(0) == src.dim(0), "scatter_add_rows: idx must hold one index per source row (",
        src.dim(0), "), got shape ", idx.shape());
  check(src.row_size() == out.row_size(), "scatter_add_rows: row sizes differ: src ", src.shape(), ", out ",
        out.shape());
  detail::check_indices("scatter_add_rows", idx, out.dim(0));
  detail::backend<detail::device_of<decltype(out)>>::scatter_add_rows(src.dim(0), src.row_size(), src.data(), idx.data(),
                                                              static_cast<T>(alpha), out.data());
}

// ---- conveniences, all expressed through the ops above ----

/// out[i] = value (converted to out's scalar type) for every element.
template <Viewable Out, class T>
void fill(Out&& out, T value) {
  using S = detail::scalar_of<view_t<Out>>;
  map(out, fn::Constant<S>{static_cast<S>(value)});
}

/// dst = src, elementwise: one device (a compile-time check) and one shape (else invar::Error).
/// Note the order: source first, unlike map.
template <Viewable Src, Viewable Dst>
void copy(Src&& src, Dst&& dst) {
  map(dst, fn::Identity{}, src);
}

/// y = alpha * x + beta * y
template <Viewable X, Viewable Y>
void axpby(double alpha, X&& x, double beta, Y&& y) {
  using S = detail::scalar_of<view_t<Y>>;
  map(y, fn::Axpby<S>{static_cast<S>(alpha), static_cast<S>(beta)}, x, y);
}

/// x *= s
template <Viewable X>
void scale(X&& x, double s) {
  using S = detail::scalar_of<view_t<X>>;
  map(x, fn::Axpby<S>{static_cast<S>(s), S(0)}, x, x);
}

/// The sum of all elements of x, as x's scalar type, returned to the host.
template <Viewable X>
auto sum(X&& x) {
  return reduce_all(fn::Identity{}, x);
}

/// sum_i x[i] y[i] over all elements (x and y of one shape), returned to the host.
template <Viewable X, Viewable Y>
auto dot(X&& x, Y&& y) {
  return reduce_all(fn::Multiply{}, x, y);
}

/// out[i] = sum_j x[i,j], x seen as rows x flattened rest; out a vector of x's rows.
template <Viewable X, Viewable Out>
void row_sums(X&& x, Out&& out) {
  reduce_rows(out, fn::Identity{}, x);
}

/// out[j] = sum_i x[i,j], x seen as rows x flattened rest; out a vector of x's columns.
template <Viewable X, Viewable Out>
void col_sums(X&& x, Out&& out) {
  reduce_cols(out, fn::Identity{}, x);
}

/// out[i] = sum_j x[i,j]^2, the squared Euclidean norm of each row; out a vector of x's rows.
template <Viewable X, Viewable Out>
void row_squared_norms(X&& x, Out&& out) {
  reduce_rows(out, fn::Square{}, x);
}

}  // namespace ops
}  // namespace invar

#include "invar/backend/ops/batch_norm.hpp"
#include "invar/backend/ops/conv2d.hpp"
#include "invar/backend/ops/cross_entropy.hpp"
#include "invar/backend/ops/pooling.hpp"
