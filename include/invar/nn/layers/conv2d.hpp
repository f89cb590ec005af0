#pragma once
/// \file conv2d.hpp
/// Conv2d on NCHW tensors: y[b, o] = sum_c W[o, c] * x[b, c] + bias[o] (cross-correlation, as
/// every framework), square kernel, stride, zero padding. The algorithm is the backend's
/// (ops::conv2d_forward / conv2d_backward): on the CPU im2col + GEMM over chunks of
/// images, one chunk per thread (backend/cpu/conv2d.hpp).

#include <string>

#include "invar/backend/ops.hpp"
#include "invar/core/random.hpp"
#include "invar/nn/init.hpp"
#include "invar/nn/layer.hpp"

namespace invar::nn {

/// Geometry of a Conv2d, with chainable setters (checked when the layer is built).
struct Conv2dOptions {
  index_t kernel = 3;   ///< square kernel side, > 0
  index_t stride = 1;   ///< step between windows, > 0
  index_t padding = 0;  ///< zeros on every side; kernel / 2 keeps the size at stride 1 ("same")
  bool bias = true;     ///< whether the layer has a per-output-channel bias
  /// Sets #kernel; returns *this for chaining.
  Conv2dOptions& with_kernel(index_t k) { kernel = k; return *this; }
  /// Sets #stride; returns *this.
  Conv2dOptions& with_stride(index_t s) { stride = s; return *this; }
  /// Sets #padding; returns *this.
  Conv2dOptions& with_padding(index_t p) { padding = p; return *this; }
  /// Sets #bias; returns *this.
  Conv2dOptions& with_bias(bool b) { bias = b; return *this; }
};

/// 2-d convolution of NCHW input (see the file comment).
template <class T, Device D = Cpu>
class Conv2d final : public Layer<T, D> {
 public:
  /// A layer named `name` (parameters "name.weight" [out, in, k, k] and, with o.bias, "name.bias"
  /// [out]), all zero until initialize(). Throws invar::Error unless both channel counts,
  /// o.kernel and o.stride are > 0 and o.padding >= 0.
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
    geometry_ = Conv2dGeometry{x.dim(0), in_, x.dim(2), x.dim(3), out_, o_.kernel, o_.stride, o_.padding};
    y_ = this->output_buffer(Shape{x.dim(0), out_, geometry_.out_h(), geometry_.out_w()});
    ops::conv2d_forward(geometry_, x, weight_.value, o_.bias ? bias_.value.view() : TensorView<T, D>{}, y_);
    return y_;
  }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.shape() == y_.shape(), "Conv2d ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    // A frozen parameter's gradient is not computed (an empty view): no patches and no weight
    // GEMM when the weight is frozen.
    const TensorView<T, D> dw = weight_.requires_grad ? weight_.grad.view() : TensorView<T, D>{};
    const TensorView<T, D> db = o_.bias && bias_.requires_grad ? bias_.grad.view() : TensorView<T, D>{};
    const TensorView<T, D> dx = this->input_gradient() ? this->input_gradient_buffer(x_.shape()) : TensorView<T, D>{};
    ops::conv2d_backward(geometry_, x_, weight_.value, dy, dw, db, dx);
    if (!this->input_gradient()) return {};
    return dx;
  }
  /// The output is the layer's own and backward() reads x and W only.
  [[nodiscard]] bool output_overwritable() const override { return true; }

  std::vector<Parameter<T, D>*> parameters() override {
    if (o_.bias) return {&weight_, &bias_};
    return {&weight_};
  }
  [[nodiscard]] std::string name() const override { return name_; }
  /// W, [out_channels, in_channels, kernel, kernel].
  Parameter<T, D>& weight() { return weight_; }
  /// The bias, [out_channels]; an empty, unnamed parameter when o.bias is false.
  Parameter<T, D>& bias() { return bias_; }

 private:
  std::string name_;
  index_t in_, out_;
  Conv2dOptions o_;
  Parameter<T, D> weight_, bias_;
  TensorView<const T, D> x_;
  Conv2dGeometry geometry_{};
  TensorView<T, D> y_;
};

}  // namespace invar::nn
