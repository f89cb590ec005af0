#pragma once
/// \file avg_pool2d.hpp
/// AvgPool2d on NCHW tensors: y[b, c, oy, ox] = the mean of x[b, c] over the kernel x kernel
/// window at (oy s - p, ox s - p) (Pool2dOptions). With count_padding (the default, PyTorch's
/// count_include_pad=True) padding cells count as zeros and the divisor is kernel^2; without,
/// the divisor is the number of real pixels in the window. Backward spreads dy / divisor over
/// each window (adding where windows overlap). Keeps no view of x.

#include <string>

#include "invar/backend/ops.hpp"
#include "invar/nn/layer.hpp"
#include "invar/nn/layers/pool2d_options.hpp"

namespace invar::nn {

/// Average pooling over square windows of NCHW input (see the file comment).
template <class T, Device D = Cpu>
class AvgPool2d final : public Layer<T, D> {
 public:
  /// A layer named `name` with the window `o`. Throws invar::Error for invalid options
  /// (kernel \<= 0, stride \< 0, padding outside [0, kernel / 2]).
  explicit AvgPool2d(std::string name, const Pool2dOptions& o = {}) : name_(std::move(name)), o_(o) {
    detail::check_pool2d_options("AvgPool2d", name_, o_);
  }

  /// Output extent of a spatial input extent.
  [[nodiscard]] index_t output_size(index_t in) const { return o_.output_size(in); }
  /// The window options, as given.
  [[nodiscard]] const Pool2dOptions& options() const { return o_; }

  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    detail::check_pool2d_input("AvgPool2d", name_, o_, x.shape());
    in_shape_ = x.shape();
    y_ = this->output_buffer(Shape{x.dim(0), x.dim(1), output_size(x.dim(2)), output_size(x.dim(3))});
    ops::avg_pool2d(x, y_, ops::PoolWindow{o_.kernel, o_.effective_stride(), o_.padding}, o_.count_padding);
    return y_;
  }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.shape() == y_.shape(), "AvgPool2d ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    if (!this->input_gradient()) return {};
    const TensorView<T, D> dx = this->input_gradient_buffer(in_shape_);
    ops::avg_pool2d_backward(dy, dx, ops::PoolWindow{o_.kernel, o_.effective_stride(), o_.padding}, o_.count_padding);
    return dx;
  }
  /// The output is the layer's own and backward() does not read it.
  [[nodiscard]] bool output_overwritable() const override { return true; }
  [[nodiscard]] std::string name() const override { return name_; }

 private:
  std::string name_;
  Pool2dOptions o_;
  Shape in_shape_;
  TensorView<T, D> y_;
};

}  // namespace invar::nn
