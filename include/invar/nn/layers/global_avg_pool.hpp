#pragma once
/// \file global_avg_pool.hpp
/// GlobalAvgPool: B x C x H x W -> B x C, the mean over the H W positions of each channel
/// (All-CNN-C's and WRN's top). Backward spreads dy / (H W) over the positions.

#include "invar/backend/ops.hpp"
#include "invar/nn/layer.hpp"

namespace invar::nn {

/// Mean over all spatial positions of each channel, [B, C, H, W] -> [B, C] (see the file comment).
template <class T, Device D = Cpu>
class GlobalAvgPool final : public Layer<T, D> {
 public:
  /// A layer named `name`; it has no parameters.
  explicit GlobalAvgPool(std::string name) : name_(std::move(name)) {}

  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    check(x.rank() == 4, "GlobalAvgPool ", name_, ": expected input [B, C, H, W], got ", x.shape());
    in_shape_ = x.shape();
    const index_t b = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
    check(hw > 0, "GlobalAvgPool ", name_, ": empty spatial extent in ", x.shape());
    y_ = this->output_buffer(Shape{b, c});
    ops::row_sums(x.reshape(Shape{b * c, hw}), y_.reshape(Shape{b * c}));
    ops::scale(y_, 1.0 / double(hw));
    return y_;
  }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.shape() == y_.shape(), "GlobalAvgPool ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    const index_t bc = in_shape_.dim(0) * in_shape_.dim(1), hw = in_shape_.dim(2) * in_shape_.dim(3);
    const TensorView<T, D> dx = this->input_gradient_buffer(in_shape_);
    ops::fill(dx, 0);
    const auto rows = dx.reshape(Shape{bc, hw});
    ops::broadcast_rows(rows, rows, dy.reshape(Shape{bc}), AddScaled{T(1) / T(hw)});
    return dx;
  }
  /// The output is the layer's own and backward() does not read it.
  [[nodiscard]] bool output_overwritable() const override { return true; }
  [[nodiscard]] std::string name() const override { return name_; }

 private:
  /// x + s g: a device-callable functor (a CUDA backend cannot call a host lambda).
  struct AddScaled {
    T s;
    INVAR_HOST_DEVICE T operator()(T x, T g) const { return x + s * g; }
  };

  std::string name_;
  Shape in_shape_;
  TensorView<T, D> y_;
};

}  // namespace invar::nn
