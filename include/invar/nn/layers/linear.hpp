#pragma once
/// \file linear.hpp
/// Linear (fully connected): y = x W^T + b, x: B x in (any rank, rows flattened), W: out x in
/// (PyTorch's layout), b: out. Backward: dW += dy^T x, db += column sums of dy, dx = dy W; a
/// frozen parameter (requires_grad false) skips its term.

#include <string>

#include "invar/backend/ops.hpp"
#include "invar/core/random.hpp"
#include "invar/nn/init.hpp"
#include "invar/nn/layer.hpp"

namespace invar::nn {

/// Fully connected layer y = x W^T + b (see the file comment).
template <class T, Device D = Cpu>
class Linear final : public Layer<T, D> {
 public:
  /// A layer named `name` (parameters "name.weight" [out, in] and, with `bias`, "name.bias" [out]),
  /// all zero until initialize(). Throws invar::Error unless in, out > 0.
  Linear(std::string name, index_t in, index_t out, bool bias = true)
      : name_(std::move(name)), in_(in), out_(out), weight_(name_ + ".weight", Shape{out, in}) {
    check(in > 0 && out > 0, "Linear ", name_, ": sizes must be positive, got in = ", in, ", out = ", out);
    if (bias) bias_ = Parameter<T, D>(name_ + ".bias", Shape{out});
    has_bias_ = bias;
  }

  /// Initialises W (Glorot-uniform or He-normal) and zeroes b.
  void initialize(init::Initializer kind, Rng& rng) {
    if (kind == init::Initializer::glorot_uniform) init::glorot_uniform(weight_.value, in_, out_, rng);
    else init::he_normal(weight_.value, in_, rng);
    if (has_bias_) ops::fill(bias_.value, 0);
  }

  TensorView<const T, D> forward(TensorView<const T, D> x_in) override {
    check(x_in.rank() >= 2 && x_in.row_size() == in_, "Linear ", name_, ": expected input [B, ", in_, "], got ",
          x_in.shape());
    x_ = x_in.as_matrix();
    y_ = this->output_buffer(Shape{x_.dim(0), out_});
    ops::gemm(x_, weight_.value, y_, ops::GemmOptions{}.transpose_b());
    if (has_bias_) ops::broadcast_cols(y_, y_, bias_.value, fn::Add{});
    return y_;
  }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.shape() == y_.shape(), "Linear ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    if (weight_.requires_grad) ops::gemm(dy, x_, weight_.grad, ops::GemmOptions{}.transpose_a().with_beta(1));
    if (has_bias_ && bias_.requires_grad) {
      detail::ensure_shape(bias_sum_, Shape{out_});
      ops::col_sums(dy, bias_sum_);
      ops::axpby(1.0, bias_sum_, 1.0, bias_.grad);
    }
    if (!this->input_gradient()) return {};
    const TensorView<T, D> dx = this->input_gradient_buffer(x_.shape());
    ops::gemm(dy, weight_.value, dx);
    return dx;
  }
  /// The output is the layer's own and backward() reads x and W only.
  [[nodiscard]] bool output_overwritable() const override { return true; }

  std::vector<Parameter<T, D>*> parameters() override {
    if (has_bias_) return {&weight_, &bias_};
    return {&weight_};
  }
  [[nodiscard]] std::string name() const override { return name_; }
  /// Input row length (`in`).
  [[nodiscard]] index_t in_features() const { return in_; }
  /// Output row length (`out`).
  [[nodiscard]] index_t out_features() const { return out_; }
  /// W, [out, in].
  Parameter<T, D>& weight() { return weight_; }
  /// b, [out]; an empty, unnamed parameter when the layer has no bias.
  Parameter<T, D>& bias() { return bias_; }

 private:
  std::string name_;
  index_t in_, out_;
  bool has_bias_ = true;
  Parameter<T, D> weight_, bias_;
  TensorView<const T, D> x_;
  TensorView<T, D> y_;
  Tensor<T, D> bias_sum_;
};

}  // namespace invar::nn
