#pragma once
/// \file batch_norm.hpp
/// BatchNorm over the channels of [B, C] (1D) or NCHW [B, C, H, W] (2D) inputs, PyTorch's
/// conventions (BatchNorm1d / BatchNorm2d):
///   training: y = gamma (x - mean_B) / sqrt(var_B + eps) + beta with the batch's per-channel mean
///             and *biased* variance over the N = B H W values of a channel; then
///             running = (1 - momentum) running + momentum batch_stat, running_var updated with the
///             *unbiased* batch variance var_B N / (N - 1). (Keras' momentum is 1 - ours.)
///   eval:     the same with running_mean / running_var; the running statistics do not change.
/// gamma (`name.weight`, 1) and beta (`name.bias`, 0) exist when affine; the running statistics
/// are buffers (`name.running_mean`, 0 and `name.running_var`, 1), saved in parameter files.
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
///
/// Synchronised across ranks (set_communicator with N > 1 ranks, docs/distributed.md): in training
/// the statistics are those of every rank's rows together (each rank's count, mean and variance
/// are gathered and combined in rank order, Chan's pairwise update: no cancellation), and the
/// backward's sums dy and dy xhat are summed over the ranks before dx is formed, so dx is the
/// gradient of the whole batch's normalisation. dgamma and dbeta get this rank's share (the
/// gradient all-reduce of data-parallel training sums them). Every rank must run each training
/// forward and backward (they are collectives); evaluation is local.

#include <algorithm>
#include <span>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/backend/ops/batch_norm.hpp"
#include "invar/distributed/communicator.hpp"
#include "invar/nn/layer.hpp"

namespace invar::nn {

/// Options of BatchNorm, with chainable setters (checked when the layer is built).
struct BatchNormOptions {
  double momentum = 0.1;  ///< PyTorch's meaning: weight of the new batch in the running statistics
  double epsilon = 1e-5;  ///< added to the variance before the square root
  bool affine = true;     ///< learn gamma and beta
  /// Sets #momentum, in [0, 1]; returns *this for chaining.
  BatchNormOptions& with_momentum(double m) { momentum = m; return *this; }
  /// Sets #epsilon, > 0; returns *this.
  BatchNormOptions& with_epsilon(double e) { epsilon = e; return *this; }
  /// Sets #affine; returns *this.
  BatchNormOptions& with_affine(bool a) { affine = a; return *this; }
};

/// Batch normalisation over the channels (axis 1) of [B, C] or [B, C, H, W] input (see the file comment).
template <class T, Device D = Cpu>
class BatchNorm final : public Layer<T, D> {
 public:
  /// A layer named `name` over `channels` channels: gamma 1, beta 0, running mean 0, running
  /// variance 1. Throws invar::Error unless channels > 0, momentum is in [0, 1] and epsilon > 0.
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
    const index_t b = x.dim(0), s = x.rank() == 4 ? x.dim(2) * x.dim(3) : 1;
    index_t n = b * s;
    forward_training_ = this->training();
    forwarded_ = false;  // until this forward has succeeded
    for (auto* t : {&mean_, &var_, &inv_std_}) detail::ensure_shape(*t, Shape{channels_});
    for (auto* t : {&scale_, &shift_}) detail::ensure_shape(*t, Shape{channels_});
    detail::ensure_shape(bad_, Shape{1});
    synchronised_ = forward_training_ && distributed::is_distributed(comm_);
    if (synchronised_) {
      if (n > 0) ops::batch_norm_statistics(x, mean_, var_);
      n = synchronise_statistics(n);  // the whole batch's, on every rank
    }
    if (forward_training_)
      check(n > 1, "BatchNorm ", name_, ": needs more than one value per channel in training, got input ", x.shape(),
            synchronised_ ? " (on all ranks together)" : "");
    if (forward_training_ && !synchronised_) ops::batch_norm_statistics(x, mean_, var_);
    // Running statistics, inv_std and the folded scale and shift, all on the device; the one
    // value read back is the flag of non-finite statistics (training only).
    ops::batch_norm_finish(ops::BatchNormFinish{forward_training_, o_.momentum, double(n) / double(std::max<index_t>(n - 1, 1)),
                                                o_.epsilon},
                           mean_, var_, running_mean_, running_var_,
                           o_.affine ? weight_.value.view() : TensorView<T, D>{},
                           o_.affine ? bias_.value.view() : TensorView<T, D>{}, inv_std_, scale_, shift_, bad_);
    if (forward_training_) {
      unsigned char bad = 0;
      D::copy_to_host(&bad, bad_.data(), 1);
      if (bad) throw_non_finite_statistics(x.shape());
    }
    y_ = this->output_buffer(x.shape());
    ops::batch_norm_forward(x, scale_, shift_, y_, this->fused_relu());
    x_ = x;
    batch_ = b;
    spatial_ = s;
    count_ = n;
    forwarded_ = true;
    return y_;
  }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(forwarded_, "BatchNorm ", name_, ": backward() without a successful forward()");
    check(dy.shape() == y_.shape(), "BatchNorm ", name_, ": dy has shape ", dy.shape(), ", expected ", y_.shape());
    const TensorView<const T, D> gamma = o_.affine ? weight_.value.view() : TensorView<T, D>{};
    const TensorView<T, D> dgamma = o_.affine && weight_.requires_grad ? weight_.grad.view() : TensorView<T, D>{};
    const TensorView<T, D> dbeta = o_.affine && bias_.requires_grad ? bias_.grad.view() : TensorView<T, D>{};
    const bool want_dx = this->input_gradient();
    const TensorView<T, D> dx = want_dx ? this->input_gradient_buffer(x_.shape()) : TensorView<T, D>{};
    if (synchronised_) {
      synchronised_backward(dy, gamma, dgamma, dbeta, dx);
    } else if (forward_training_) {
      ops::batch_norm_backward(dy, x_, mean_, inv_std_, gamma, dgamma, dbeta, dx);
    } else {
      // Parameter sums with the running statistics (dx == null; none when both are frozen, as in
      // the attacks), then dx = dy gamma inv_std: the forward's scale, without the shift.
      if (dgamma.data() || dbeta.data())
        ops::batch_norm_backward(dy, x_, mean_, inv_std_, gamma, dgamma, dbeta, TensorView<T, D>{});
      if (want_dx)
        ops::batch_norm_forward(dy, scale_, TensorView<const T, D>{}, dx);
    }
    if (!want_dx) return {};
    return dx;
  }
  /// The output is the layer's own; backward() reads x and the statistics, not y.
  [[nodiscard]] bool output_overwritable() const override { return true; }
  /// The normalisation's pass can rectify its output: the backward reads x, never y.
  [[nodiscard]] bool can_fuse_relu() const override { return true; }

  std::vector<Parameter<T, D>*> parameters() override {
    if (o_.affine) return {&weight_, &bias_};
    return {};
  }
  std::vector<std::pair<std::string, Tensor<T, D>*>> buffers() override {
    return {{name_ + ".running_mean", &running_mean_}, {name_ + ".running_var", &running_var_}};
  }
  [[nodiscard]] std::string name() const override { return name_; }
  /// Synchronises the training statistics across `comm`'s ranks (null: this rank's batch alone).
  void set_communicator(const distributed::Communicator* comm) override { comm_ = comm; }
  /// Number of channels C.
  [[nodiscard]] index_t channels() const { return channels_; }
  /// The options, as given.
  [[nodiscard]] const BatchNormOptions& options() const { return o_; }
  /// gamma, [C] (an empty parameter when not affine).
  Parameter<T, D>& weight() { return weight_; }
  /// beta, [C] (an empty parameter when not affine).
  Parameter<T, D>& bias() { return bias_; }
  /// Running per-channel mean, [C], updated by training forwards and used in eval mode.
  Tensor<T, D>& running_mean() { return running_mean_; }
  /// Running per-channel unbiased variance, [C], updated by training forwards and used in eval mode.
  Tensor<T, D>& running_var() { return running_var_; }

 private:
  /// Replaces this rank's batch statistics (mean_, var_ over n values) by those of every rank's
  /// values together; returns the total count. Combined in rank order with Chan et al.'s update
  /// (counts, means and sums of squared deviations), so no E[x^2] - E[x]^2 cancellation.
  index_t synchronise_statistics(index_t n) {
    const auto c = static_cast<std::size_t>(channels_);
    std::vector<double> mine(1 + 2 * c, 0.0);
    mine[0] = double(n);
    if (n > 0) {
      D::copy_to_host(mine.data() + 1, mean_.data(), c * sizeof(double));
      D::copy_to_host(mine.data() + 1 + c, var_.data(), c * sizeof(double));
    }
    const auto all = distributed::allgather(*comm_, mine);
    std::vector<double> mean(c, 0.0), m2(c, 0.0);
    double total = 0;
    for (int r = 0; r < comm_->size(); ++r) {
      const double* v = all.values.data() + all.offset[std::size_t(r)];
      const double nr = v[0];
      if (nr == 0) continue;
      const double sum = total + nr;
      for (std::size_t k = 0; k < c; ++k) {
        const double delta = v[1 + k] - mean[k];
        mean[k] += delta * nr / sum;
        m2[k] += v[1 + c + k] * nr + delta * delta * total * nr / sum;
      }
      total = sum;
    }
    for (std::size_t k = 0; k < c; ++k) m2[k] = total > 0 ? m2[k] / total : 0.0;  // biased variance
    D::copy_from_host(mean_.data(), mean.data(), c * sizeof(double));
    D::copy_from_host(var_.data(), m2.data(), c * sizeof(double));
    return index_t(total);
  }

  /// The training backward with statistics over every rank: this rank's sums of dy and dy xhat,
  /// added to dgamma and dbeta, then summed over the ranks for dx = a dy + b x + c per channel,
  /// a = gamma inv_std, b = -a inv_std S_xhat / N, c = -a S_dy / N + a inv_std mean S_xhat / N.
  void synchronised_backward(TensorView<const T, D> dy, TensorView<const T, D> gamma, TensorView<T, D> dgamma,
                             TensorView<T, D> dbeta, TensorView<T, D> dx) {
    const auto c = static_cast<std::size_t>(channels_);
    Tensor<T, D> s_xhat(Shape{channels_}), s_dy(Shape{channels_});
    if (batch_ > 0) ops::batch_norm_backward(dy, x_, mean_, inv_std_, gamma, s_xhat, s_dy, TensorView<T, D>{});
    if (dgamma.data()) ops::axpby(1.0, s_xhat, 1.0, dgamma);
    if (dbeta.data()) ops::axpby(1.0, s_dy, 1.0, dbeta);
    std::vector<double> sums(2 * c);
    {
      std::vector<T> h(2 * c);
      D::copy_to_host(h.data(), s_xhat.data(), c * sizeof(T));
      D::copy_to_host(h.data() + c, s_dy.data(), c * sizeof(T));
      for (std::size_t k = 0; k < 2 * c; ++k) sums[k] = double(h[k]);
    }
    comm_->allreduce_sum(std::span<double>(sums));
    if (!dx.data() || batch_ == 0) return;
    std::vector<double> mean(c), inv_std(c), g(c, 1.0);
    D::copy_to_host(mean.data(), mean_.data(), c * sizeof(double));
    D::copy_to_host(inv_std.data(), inv_std_.data(), c * sizeof(double));
    if (gamma.data()) {
      std::vector<T> gh(c);
      D::copy_to_host(gh.data(), gamma.data(), c * sizeof(T));
      for (std::size_t k = 0; k < c; ++k) g[k] = double(gh[k]);
    }
    std::vector<T> a(c), b(c), cc(c);
    const double n = double(count_);
    for (std::size_t k = 0; k < c; ++k) {
      const double ak = g[k] * inv_std[k];
      a[k] = static_cast<T>(ak);
      b[k] = static_cast<T>(-ak * inv_std[k] * sums[k] / n);
      cc[k] = static_cast<T>(-ak * sums[c + k] / n + ak * inv_std[k] * mean[k] * sums[k] / n);
    }
    Tensor<T, D> ta(Shape{channels_}), tb(Shape{channels_}), tc(Shape{channels_});
    D::copy_from_host(ta.data(), a.data(), c * sizeof(T));
    D::copy_from_host(tb.data(), b.data(), c * sizeof(T));
    D::copy_from_host(tc.data(), cc.data(), c * sizeof(T));
    auto ady = Tensor<T, D>::uninitialized(dx.shape());
    ops::batch_norm_forward(dy, ta, TensorView<const T, D>{}, ady);  // a dy
    ops::batch_norm_forward(x_, tb, tc, dx);                        // b x + c
    ops::axpby(1.0, ady, 1.0, dx);
  }

  // Which channel is bad is read back only now, on the error path (the statistics are kept).
  [[noreturn]] void throw_non_finite_statistics(const Shape& input) const {
    std::vector<double> mean(static_cast<std::size_t>(channels_)), var(mean.size());
    D::copy_to_host(mean.data(), mean_.data(), mean_.bytes());
    D::copy_to_host(var.data(), var_.data(), var_.bytes());
    std::size_t k = 0;
    while (k + 1 < mean.size() && std::isfinite(mean[k]) && std::isfinite(var[k])) ++k;
    throw Error(invar::detail::concat("BatchNorm ", name_, ": the batch statistics of channel ", k,
                               " are not finite (mean ", mean[k], ", variance ", var[k], ") for input ", input,
                               ": NaN or Inf in the input? The running statistics are left unchanged"));
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
  index_t batch_ = 0, spatial_ = 0, count_ = 0;  // count_: values per channel of the statistics
  const distributed::Communicator* comm_ = nullptr;
  bool synchronised_ = false;  // the last forward used statistics over every rank
  Tensor<double, D> mean_, var_, inv_std_;
  Tensor<T, D> scale_, shift_;
  TensorView<T, D> y_;
  Tensor<unsigned char, D> bad_;
};

}  // namespace invar::nn
