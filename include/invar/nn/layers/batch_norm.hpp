#pragma once
/// \file batch_norm.hpp
/// BatchNorm over the channels of [B, C] (1D) or NCHW [B, C, H, W] (2D) inputs, PyTorch's
/// conventions (BatchNorm1d / BatchNorm2d):
///   training: y = gamma (x - mean_B) / sqrt(var_B + eps) + beta with the batch's per-channel mean
///             and *biased* variance over the N = B H W values of a channel; then
///             running = (1 - momentum) running + momentum batch_stat, running_var updated with the
///             *unbiased* batch variance var_B N / (N - 1). (Keras' momentum is 1 - ours.)
///   eval:     the same with running_mean / running_var; the running statistics do not change.
/// gamma ("<name>.weight", 1) and beta ("<name>.bias", 0) exist when affine; the running statistics
/// are buffers ("<name>.running_mean", 0 and "<name>.running_var", 1), saved in parameter files.
///
/// Per-channel quantities are computed in double (two-pass statistics, see
/// backend/cpu/batch_norm.hpp) and folded into y = x scale[c] + shift[c]. A forward costs about two
/// reads and one write of x from memory: the statistics read x once (their second pass finds each
/// block of channels in the cache), the normalisation reads it again and writes y. The folded scale
/// and shift are rounded to T: in float the output carries an offset of about 2^-24 |mean| / std.
///
/// Non-finite batch statistics (NaN or Inf in the input, or overflow) throw invar::Error naming the
/// layer and the channel *before* the running statistics are updated: one bad batch would otherwise
/// silently poison them for every later evaluation. Eval mode checks nothing (NaN flows through,
/// and no state is changed).
///
/// backward follows the mode of the last forward: in training the full batch-statistics gradient
///   dx = gamma inv_std / N (N dy - sum dy - xhat sum dy xhat),
/// in eval the affine map's dx = dy gamma inv_std_running; in both dgamma += sum dy xhat and
/// dbeta += sum dy (xhat from the statistics that forward used).

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/nn/layer.hpp"

namespace invar::nn {

struct BatchNormOptions {
  double momentum = 0.1;  ///< PyTorch's meaning: weight of the new batch in the running statistics
  double epsilon = 1e-5;  ///< added to the variance before the square root
  bool affine = true;     ///< learn gamma and beta
  BatchNormOptions& with_momentum(double m) { momentum = m; return *this; }
  BatchNormOptions& with_epsilon(double e) { epsilon = e; return *this; }
  BatchNormOptions& with_affine(bool a) { affine = a; return *this; }
};

template <class T, Device D = Cpu>
class BatchNorm final : public Layer<T, D> {
 public:
  BatchNorm(std::string name, index_t channels, const BatchNormOptions& o = {})
      : name_(std::move(name)), channels_(channels), o_(o) {
    check(channels > 0, "BatchNorm ", name_, ": channels must be positive, got ", channels);
    check(o.momentum >= 0 && o.momentum <= 1, "BatchNorm ", name_, ": momentum must be in [0, 1], got ", o.momentum);
    check(o.epsilon > 0, "BatchNorm ", name_, ": epsilon must be positive, got ", o.epsilon);
    if (o.affine) {
      weight_ = Parameter<T, D>(name_ + ".weight", Shape{channels});
      bias_ = Parameter<T, D>(name_ + ".bias", Shape{channels});
      ops::fill(weight_.value, 1);
    }
    running_mean_ = Tensor<T, D>(Shape{channels});
    running_var_ = Tensor<T, D>(Shape{channels});
    ops::fill(running_var_, 1);
  }

  /// x: [B, C] or [B, C, H, W]. Training needs more than one value per channel (B H W > 1).
  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    check((x.rank() == 2 || x.rank() == 4) && x.dim(1) == channels_, "BatchNorm ", name_, ": expected input [B, ",
          channels_, "] or [B, ", channels_, ", H, W], got ", x.shape());
    const index_t b = x.dim(0), s = x.rank() == 4 ? x.dim(2) * x.dim(3) : 1, n = b * s;
    const auto c = static_cast<std::size_t>(channels_);
    forward_training_ = this->training();
    forwarded_ = false;  // until this forward has succeeded
    std::vector<double> mean(c), inv_std(c);
    if (forward_training_) {
      check(n > 1, "BatchNorm ", name_, ": needs more than one value per channel in training, got input ", x.shape());
      detail::ensure_shape(mean_, Shape{channels_});
      detail::ensure_shape(var_, Shape{channels_});
      Backend<D>::batch_norm_statistics(b, channels_, s, x.data(), mean_.data(), var_.data());
      mean = to_host(mean_);
      const auto var = to_host(var_);
      for (std::size_t k = 0; k < c; ++k)
        check(std::isfinite(mean[k]) && std::isfinite(var[k]), "BatchNorm ", name_,
              ": the batch statistics of channel ", k, " are not finite (mean ", mean[k], ", variance ", var[k],
              ") for input ", x.shape(), ": NaN or Inf in the input? The running statistics are left unchanged");
      for (std::size_t k = 0; k < c; ++k) inv_std[k] = 1.0 / std::sqrt(var[k] + o_.epsilon);
      // Running statistics: PyTorch's update, the variance unbiased.
      auto rm = to_host(running_mean_), rv = to_host(running_var_);
      const double m = o_.momentum, unbias = double(n) / double(n - 1);
      for (std::size_t k = 0; k < c; ++k) {
        rm[k] = static_cast<T>((1 - m) * double(rm[k]) + m * mean[k]);
        rv[k] = static_cast<T>((1 - m) * double(rv[k]) + m * var[k] * unbias);
      }
      upload(rm, running_mean_);
      upload(rv, running_var_);
    } else {
      const auto rm = to_host(running_mean_), rv = to_host(running_var_);
      for (std::size_t k = 0; k < c; ++k) {
        mean[k] = double(rm[k]);
        inv_std[k] = 1.0 / std::sqrt(double(rv[k]) + o_.epsilon);
      }
      upload(mean, mean_);
    }
    upload(inv_std, inv_std_);
    // y = gamma (x - mean) inv_std + beta = x scale + shift.
    std::vector<T> scale(c), shift(c);
    std::vector<T> gamma, beta;
    if (o_.affine) {
      gamma = to_host(weight_.value);
      beta = to_host(bias_.value);
    }
    for (std::size_t k = 0; k < c; ++k) {
      const double a = (o_.affine ? double(gamma[k]) : 1.0) * inv_std[k];
      scale[k] = static_cast<T>(a);
      shift[k] = static_cast<T>((o_.affine ? double(beta[k]) : 0.0) - mean[k] * a);
    }
    upload(scale, scale_);
    upload(shift, shift_);
    detail::ensure_shape(y_, x.shape());
    Backend<D>::batch_norm_forward(b, channels_, s, x.data(), scale_.data(), shift_.data(), y_.data());
    x_ = x;
    batch_ = b;
    spatial_ = s;
    forwarded_ = true;
    return y_;
  }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(forwarded_, "BatchNorm ", name_, ": backward() without a successful forward()");
    check(dy.shape() == y_.shape(), "BatchNorm ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    const T* gamma = o_.affine ? weight_.value.data() : nullptr;
    T* dgamma = o_.affine ? weight_.grad.data() : nullptr;
    T* dbeta = o_.affine ? bias_.grad.data() : nullptr;
    const bool want_dx = this->input_gradient();
    if (want_dx) detail::ensure_shape(dx_, x_.shape());
    if (forward_training_) {
      Backend<D>::batch_norm_backward(batch_, channels_, spatial_, dy.data(), x_.data(), mean_.data(), inv_std_.data(),
                                      gamma, dgamma, dbeta, want_dx ? dx_.data() : nullptr);
    } else {
      // Parameter sums with the running statistics (dx == null), then dx = dy gamma inv_std: the
      // forward's scale, without the shift.
      Backend<D>::batch_norm_backward(batch_, channels_, spatial_, dy.data(), x_.data(), mean_.data(), inv_std_.data(),
                                      gamma, dgamma, dbeta, static_cast<T*>(nullptr));
      if (want_dx)
        Backend<D>::batch_norm_forward(batch_, channels_, spatial_, dy.data(), scale_.data(),
                                       static_cast<const T*>(nullptr), dx_.data());
    }
    if (!want_dx) return {};
    return dx_;
  }

  std::vector<Parameter<T, D>*> parameters() override {
    if (o_.affine) return {&weight_, &bias_};
    return {};
  }
  std::vector<std::pair<std::string, Tensor<T, D>*>> buffers() override {
    return {{name_ + ".running_mean", &running_mean_}, {name_ + ".running_var", &running_var_}};
  }
  [[nodiscard]] std::string name() const override { return name_; }
  [[nodiscard]] index_t channels() const { return channels_; }
  [[nodiscard]] const BatchNormOptions& options() const { return o_; }
  /// gamma and beta (empty parameters when not affine).
  Parameter<T, D>& weight() { return weight_; }
  Parameter<T, D>& bias() { return bias_; }
  Tensor<T, D>& running_mean() { return running_mean_; }
  Tensor<T, D>& running_var() { return running_var_; }

 private:
  template <class U>
  static std::vector<U> to_host(const Tensor<U, D>& t) {
    std::vector<U> out(static_cast<std::size_t>(t.numel()));
    D::copy_to_host(out.data(), t.data(), t.bytes());
    return out;
  }
  template <class U>
  static void upload(const std::vector<U>& host, Tensor<U, D>& t) {
    detail::ensure_shape(t, Shape{static_cast<index_t>(host.size())});
    D::copy_from_host(t.data(), host.data(), t.bytes());
  }

  std::string name_;
  index_t channels_;
  BatchNormOptions o_;
  Parameter<T, D> weight_, bias_;
  Tensor<T, D> running_mean_, running_var_;
  // The last forward: its input, mode, sizes, and the per-channel statistics it normalised with
  // (batch or running) and its folded scale and shift.
  TensorView<const T, D> x_;
  bool forward_training_ = true, forwarded_ = false;
  index_t batch_ = 0, spatial_ = 0;
  Tensor<double, D> mean_, var_, inv_std_;
  Tensor<T, D> scale_, shift_, y_, dx_;
};

}  // namespace invar::nn
