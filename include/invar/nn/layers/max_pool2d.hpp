#pragma once
/// \file max_pool2d.hpp
/// MaxPool2d on NCHW tensors: y[b, c, oy, ox] = the maximum of x[b, c] over the kernel x kernel
/// window at (oy s - p, ox s - p) (Pool2dOptions; padding cells are -infinity, never chosen).
/// Ties go to the first maximum in row-major window order; a NaN in a window gives NaN.
/// Forward keeps the position of each maximum; backward routes dy there (adding where
/// overlapping windows chose the same pixel). Keeps no view of x.

#include <string>

#include "invar/backend/ops.hpp"
#include "invar/nn/layer.hpp"
#include "invar/nn/layers/pool2d_options.hpp"

namespace invar::nn {

/// Max pooling over square windows of NCHW input (see the file comment).
template <class T, Device D = Cpu>
class MaxPool2d final : public Layer<T, D> {
 public:
  /// A layer named `name` with the window `o`. Throws invar::Error for invalid options
  /// (kernel \<= 0, stride \< 0, padding outside [0, kernel / 2]).
  explicit MaxPool2d(std::string name, const Pool2dOptions& o = {}) : name_(std::move(name)), o_(o) {
    detail::check_pool2d_options("MaxPool2d", name_, o_);
  }

  /// Output extent of a spatial input extent.
  [[nodiscard]] index_t output_size(index_t in) const { return o_.output_size(in); }
  /// The window options, as given.
  [[nodiscard]] const Pool2dOptions& options() const { return o_; }

  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    detail::check_pool2d_input("MaxPool2d", name_, o_, x.shape());
    in_shape_ = x.shape();
    const Shape out{x.dim(0), x.dim(1), output_size(x.dim(2)), output_size(x.dim(3))};
    y_ = this->output_buffer(out);
    detail::ensure_shape(argmax_, out);
    ops::max_pool2d(x, y_, argmax_, ops::PoolWindow{o_.kernel, o_.effective_stride(), o_.padding});
    return y_;
  }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.shape() == y_.shape(), "MaxPool2d ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    if (!this->input_gradient()) return {};
    const TensorView<T, D> dx = this->input_gradient_buffer(in_shape_);
    ops::max_pool2d_backward(dy, argmax_, dx);
    return dx;
  }
  [[nodiscard]] std::size_t buffer_bytes() const override { return Layer<T, D>::buffer_bytes() + argmax_.bytes(); }
  /// The output is the layer's own; backward() reads the positions of the maxima only.
  [[nodiscard]] bool output_overwritable() const override { return true; }
  [[nodiscard]] std::string name() const override { return name_; }

 private:
  std::string name_;
  Pool2dOptions o_;
  Shape in_shape_;
  TensorView<T, D> y_;
  Tensor<index_t, D> argmax_;  ///< per output, y w + x of the chosen pixel within its plane
};

}  // namespace invar::nn
