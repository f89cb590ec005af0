#pragma once
/// \file conv2d.hpp
/// Conv2d on NCHW tensors: y[b, o] = sum_c W[o, c] * x[b, c] + bias[o] (cross-correlation, as
/// every framework), square kernel, stride, zero padding. Per image, im2col turns the
/// convolution into one GEMM: Y_b (O x HoWo) = W (O x C k k) * cols_b (C k k x HoWo).
/// Backward recomputes cols_b (instead of keeping B of them: 450 MB for All-CNN's second layer
/// at batch 128): dW += dY_b cols_b^T, dbias += row sums of dY_b, dcols = W^T dY_b -> col2im.

#include <string>

#include "invar/backend/ops.hpp"
#include "invar/core/random.hpp"
#include "invar/nn/init.hpp"
#include "invar/nn/layer.hpp"

namespace invar::nn {

struct Conv2dOptions {
  index_t kernel = 3;
  index_t stride = 1;
  index_t padding = 0;  ///< zeros on every side; kernel / 2 keeps the size at stride 1 ("same")
  bool bias = true;
  Conv2dOptions& with_kernel(index_t k) { kernel = k; return *this; }
  Conv2dOptions& with_stride(index_t s) { stride = s; return *this; }
  Conv2dOptions& with_padding(index_t p) { padding = p; return *this; }
  Conv2dOptions& with_bias(bool b) { bias = b; return *this; }
};

template <class T, Device D = Cpu>
class Conv2d final : public Layer<T, D> {
 public:
  Conv2d(std::string name, index_t in_channels, index_t out_channels, const Conv2dOptions& o = {})
      : name_(std::move(name)), in_(in_channels), out_(out_channels), o_(o),
        weight_(name_ + ".weight", Shape{out_channels, in_channels, o.kernel, o.kernel}) {
    check(in_channels > 0 && out_channels > 0, "Conv2d ", name_, ": channels must be positive, got ", in_channels,
          " -> ", out_channels);
    check(o.kernel > 0 && o.stride > 0 && o.padding >= 0, "Conv2d ", name_, ": need kernel > 0, stride > 0, padding >= 0, got ",
          o.kernel, ", ", o.stride, ", ", o.padding);
    if (o.bias) bias_ = Parameter<T, D>(name_ + ".bias", Shape{out_channels});
  }

  /// Glorot-uniform (fans: C k k and O k k, as Keras) or He-normal (fan in C k k); bias 0.
  void initialize(init::Initializer kind, Rng& rng) {
    const index_t kk = o_.kernel * o_.kernel;
    if (kind == init::Initializer::glorot_uniform) init::glorot_uniform(weight_.value, in_ * kk, out_ * kk, rng);
    else init::he_normal(weight_.value, in_ * kk, rng);
    if (o_.bias) ops::fill(bias_.value, 0);
  }

  /// Output extent of a spatial input extent.
  [[nodiscard]] index_t output_size(index_t in) const { return (in + 2 * o_.padding - o_.kernel) / o_.stride + 1; }

  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    check(x.rank() == 4 && x.dim(1) == in_, "Conv2d ", name_, ": expected input [B, ", in_, ", H, W], got ", x.shape());
    check(x.dim(2) + 2 * o_.padding >= o_.kernel && x.dim(3) + 2 * o_.padding >= o_.kernel, "Conv2d ", name_,
          ": input ", x.shape(), " is smaller than the kernel ", o_.kernel, " with padding ", o_.padding);
    x_ = x;
    const index_t b = x.dim(0), ho = output_size(x.dim(2)), wo = output_size(x.dim(3));
    detail::ensure_shape(y_, Shape{b, out_, ho, wo});
    detail::ensure_shape(cols_, Shape{in_ * o_.kernel * o_.kernel, ho * wo});
    const auto w = weight_matrix();
    for (index_t i = 0; i < b; ++i) {
      im2col(i);
      TensorView<T, D> yi(y_.data() + i * out_ * ho * wo, Shape{out_, ho * wo});
      ops::gemm(w, cols_, yi);
      if (o_.bias) ops::broadcast_rows(yi, yi, bias_.value, fn::Add{});
    }
    return y_;
  }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.shape() == y_.shape(), "Conv2d ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    const index_t b = y_.dim(0), hw = y_.dim(2) * y_.dim(3);
    const TensorView<T, D> dw(weight_.grad.data(), Shape{out_, in_ * o_.kernel * o_.kernel});
    const auto w = weight_matrix();
    if (this->input_gradient()) {
      detail::ensure_shape(dx_, x_.shape());
      ops::fill(dx_, 0);
      detail::ensure_shape(dcols_, cols_.shape());
    }
    if (o_.bias) detail::ensure_shape(bias_sum_, Shape{out_});
    for (index_t i = 0; i < b; ++i) {
      const TensorView<const T, D> dyi(dy.data() + i * out_ * hw, Shape{out_, hw});
      im2col(i);
      ops::gemm(dyi, cols_, dw, ops::GemmOptions{}.transpose_b().with_beta(1));
      if (o_.bias) {
        ops::row_sums(dyi, bias_sum_);
        ops::axpby(1.0, bias_sum_, 1.0, bias_.grad);
      }
      if (this->input_gradient()) {
        ops::gemm(w, dyi, dcols_, ops::GemmOptions{}.transpose_a());
        Backend<D>::col2im(in_, x_.dim(2), x_.dim(3), o_.kernel, o_.kernel, o_.stride, o_.padding, y_.dim(2), y_.dim(3),
                           dcols_.data(), dx_.data() + i * in_ * x_.dim(2) * x_.dim(3));
      }
    }
    if (!this->input_gradient()) return {};
    return dx_;
  }

  std::vector<Parameter<T, D>*> parameters() override {
    if (o_.bias) return {&weight_, &bias_};
    return {&weight_};
  }
  [[nodiscard]] std::string name() const override { return name_; }
  Parameter<T, D>& weight() { return weight_; }
  Parameter<T, D>& bias() { return bias_; }

 private:
  TensorView<const T, D> weight_matrix() const {
    return TensorView<const T, D>(weight_.value.data(), Shape{out_, in_ * o_.kernel * o_.kernel});
  }
  void im2col(index_t image) {
    const index_t c = in_, h = x_.dim(2), w = x_.dim(3);
    Backend<D>::im2col(c, h, w, o_.kernel, o_.kernel, o_.stride, o_.padding, y_.dim(2), y_.dim(3),
                       x_.data() + image * c * h * w, cols_.data());
  }

  std::string name_;
  index_t in_, out_;
  Conv2dOptions o_;
  Parameter<T, D> weight_, bias_;
  TensorView<const T, D> x_;
  Tensor<T, D> y_, dx_, cols_, dcols_, bias_sum_;
};

}  // namespace invar::nn
