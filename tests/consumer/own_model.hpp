#pragma once
// A user's own model, built from none of invar's layers: logits = W x + b on flattened images,
// with the flattened input itself as the one tap ("input"; its gradient is not needed). It meets
// invar::nn::TrainableModel, so invar's objective and trainer train it.
#include <invar/invar.hpp>

#include <string>
#include <vector>

namespace user {

class LinearSoftmax {
 public:
  LinearSoftmax(invar::index_t features, invar::index_t classes)
      : w_("w", invar::Shape{classes, features}), b_("b", invar::Shape{classes}) {}

  invar::TensorView<const float> forward(invar::TensorView<const float> x) {
    const invar::index_t n = x.dim(0), d = w_.value.dim(1), k = w_.value.dim(0);
    x_ = invar::Tensor<float>::copy_of(x.reshape(invar::Shape{n, d}));
    y_ = invar::Tensor<float>(invar::Shape{n, k});
    for (invar::index_t i = 0; i < n; ++i)
      for (invar::index_t c = 0; c < k; ++c) {
        float s = b_.value[c];
        for (invar::index_t j = 0; j < d; ++j) s += w_.value(c, j) * x_(i, j);
        y_(i, c) = s;
      }
    tap_grad_ = invar::Tensor<float>(x_.shape());
    return y_;
  }
  invar::TensorView<const float> output() const { return y_; }
  invar::TensorView<const float> tap(const std::string&) const { return x_; }
  invar::TensorView<float> tap_grad(const std::string&) { return tap_grad_; }
  void backward(invar::TensorView<const float> dy) {
    for (invar::index_t i = 0; i < x_.dim(0); ++i)
      for (invar::index_t c = 0; c < w_.value.dim(0); ++c) {
        const float g = dy[i * w_.value.dim(0) + c];
        b_.grad[c] += g;
        for (invar::index_t j = 0; j < x_.dim(1); ++j) w_.grad(c, j) += g * x_(i, j);
      }
  }
  void backward_from_taps() {}  // the tap is the input: nothing to train below it
  std::vector<invar::Parameter<float>*> parameters() { return {&w_, &b_}; }
  void set_training(bool) {}

 private:
  invar::Parameter<float> w_, b_;
  invar::Tensor<float> x_, y_, tap_grad_;
};

}  // namespace user
