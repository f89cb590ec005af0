#pragma once
/// \file relu.hpp
/// ReLU: y = max(x, 0); backward dx = dy where y > 0, else 0 (the subgradient 0 at x = 0).
/// In place (set_in_place, turned on by a model's memory plan after a convolution or a batch
/// norm) y overwrites x: the backward needs only y, so the layer then holds no buffer of its own.
/// When the layer before rectifies its output in its own pass (the container fused the two:
/// fuse_into), forward() in place only records y = x.

#include "invar/backend/ops.hpp"
#include "invar/nn/layer.hpp"

// The functors join invar::fn (ops.hpp's): a separate invar::nn::fn would hide invar::fn::Add
// from every layer in invar::nn that is compiled after this header.
namespace invar::fn {
/// Element-wise max(x, 0), for ops::map.
struct Relu {
  /// x if x > 0, else 0 (NaN gives 0).
  template <class T>
  INVAR_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : T(0); }
};
/// Element-wise ReLU gradient from the output, for ops::map.
struct ReluBackward {
  /// dy where the forward output y > 0, else 0.
  template <class T>
  INVAR_HOST_DEVICE T operator()(T dy, T y) const { return y > T(0) ? dy : T(0); }
};
/// ReluBackward of a sum of two gradients (the one from above and a tap's), for ops::map.
struct ReluBackwardSum {
  /// dy + extra where the forward output y > 0, else 0 (the sum rounded as dy + extra is; y is
  /// a ReLU's output, never NaN). Written as two selects and an addition outside them: with the
  /// addition inside a condition the loop vectorises only where the addition can be masked
  /// (AVX-512); with AVX2 GCC keeps a branch per element under -ftrapping-math (measured 2.5x
  /// the time of the two passes it replaces). The second condition is written apart so that
  /// GCC cannot merge the two selects back into one branch around the addition.
  template <class T>
  INVAR_HOST_DEVICE T operator()(T dy, T extra, T y) const {
    const T a = y > T(0) ? dy : T(0);
    const T b = y <= T(0) ? T(0) : extra;
    return a + b;
  }
};
}  // namespace invar::fn

namespace invar::nn {

/// ReLU activation layer, any input shape (see the file comment).
template <class T, Device D = Cpu>
class Relu final : public Layer<T, D> {
 public:
  /// A layer named `name`; it has no parameters.
  explicit Relu(std::string name) : name_(std::move(name)) {}

  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    TensorView<T, D> y;
    if (this->in_place()) {
      this->free_own_output();
      y = detail::writable(x);
      if (input_rectified_) {  // max(x, 0) is x already
        y_ = y;
        return y_;
      }
    } else {
      y = this->output_buffer(x.shape());
    }
    ops::map(y, fn::Relu{}, x);
    y_ = y;
    return y_;
  }
  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(dy.shape() == y_.shape(), "Relu ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    const TensorView<T, D> dx = this->input_gradient_buffer(y_.shape());
    ops::map(dx, fn::ReluBackward{}, dy, y_);
    return dx;
  }
  /// One pass over dy, extra and y (where the default adds dy into extra first): the same bits.
  TensorView<const T, D> backward_sum(TensorView<const T, D> dy, TensorView<T, D> extra) override {
    check(dy.shape() == y_.shape() && extra.shape() == y_.shape(), "Relu ", name_, ": dy has shape ", dy.shape(),
          " and the added gradient ", extra.shape(), ", expected ", y_.shape());
    const TensorView<T, D> dx = this->input_gradient_buffer(y_.shape());
    ops::map(dx, fn::ReluBackwardSum{}, dy, TensorView<const T, D>(extra), y_);
    return dx;
  }
  /// Element-wise: y can overwrite x.
  [[nodiscard]] bool supports_in_place() const override { return true; }
  /// Element-wise: dx can overwrite dy (half the memory traffic of a separate dx buffer: no
  /// line of a third buffer to fetch before it is written).
  [[nodiscard]] bool backward_in_place() const override { return true; }
  [[nodiscard]] std::string name() const override { return name_; }
  /// Fuses this ReLU with `producer`, the layer whose output it rectifies in place: where `on`
  /// and the producer can (Layer::can_fuse_relu), the producer applies max(y, 0) in its own pass
  /// and this ReLU's forward only records that output; otherwise the two run as two passes. Both
  /// sides are set here together, so the pair is never half fused (a ReLU that skipped its pass
  /// over an output nobody rectified). Called by the container, which knows that the ReLU runs
  /// in place over the producer's output and that nothing reads that output in between.
  void fuse_into(Layer<T, D>& producer, bool on) {
    producer.set_fused_relu(on);
    input_rectified_ = producer.fused_relu();
  }
  /// Whether forward() takes its input as rectified by the layer before (fuse_into).
  [[nodiscard]] bool input_rectified() const { return input_rectified_; }

 private:
  std::string name_;
  bool input_rectified_ = false;
  TensorView<const T, D> y_;  ///< the last output (in the output buffer or over the input)
};

}  // namespace invar::nn
