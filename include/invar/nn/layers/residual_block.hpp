#pragma once
/// \file residual_block.hpp
/// The pre-activation basic block of Wide ResNets (He et al. 2016, Zagoruyko & Komodakis 2016):
///
///   o1 = relu(bn1(x));  z = conv2(relu(bn2(conv1(o1))));  y = z + shortcut
///
/// with 3x3 convolutions (conv1 carries the stride, no biases: batch norm follows each). The
/// shortcut is the identity when the shape is kept; otherwise one of
///  - average_pool_zero_pad: average pooling of x over stride x stride windows, then the extra
///    channels filled with zeros (the invariance paper's authors' code; no parameters), or
///  - projection: a 1x1 convolution with the stride applied to o1, the pre-activated input, as in
///    Zagoruyko's reference code (the usual published parameter counts use it).
/// A block is one Layer, so a model puts a tap after it: "the output of every residual addition".
///
/// Memory: the residual addition is written over conv2's output (which conv2's backward does not
/// read), and under a model's memory plan (plan_memory) both ReLUs run in place over their batch
/// norm's output, applied by the batch norm in its own pass (Layer::set_fused_relu), and the inner layers' dL/dx share the plan's buffers of the next level, with
/// bn1 writing straight into the block's own dL/dx, which serves as the second buffer of the
/// inner chain until then (the ReLUs' backward runs in place), and the shortcut's output goes into
/// a shared buffer too. A block then keeps four activations (the two batch norms' inputs and
/// outputs, the last of which becomes the block's output) and no gradient of its own; the arithmetic, and so every bit of the results, is the same with and without it.
/// In inference mode (no backward) the inner outputs share the next level's buffers as well and
/// conv2 writes into the output buffer the model lent the block.

#include <memory>
#include <string>

#include "invar/backend/ops.hpp"
#include "invar/core/random.hpp"
#include "invar/nn/init.hpp"
#include "invar/nn/layer.hpp"
#include "invar/nn/layers/avg_pool2d.hpp"
#include "invar/nn/layers/batch_norm.hpp"
#include "invar/nn/layers/conv2d.hpp"
#include "invar/nn/layers/relu.hpp"

namespace invar::nn {

/// The shortcut of a ResidualBlock that changes shape (see the file comment): pooled input with
/// zero-padded channels (no parameters), or a strided 1x1 convolution of the pre-activated input.
enum class ResidualShortcut { average_pool_zero_pad, projection };

/// "average_pool_zero_pad" or "projection".
[[nodiscard]] inline const char* to_string(ResidualShortcut s) {
  return s == ResidualShortcut::projection ? "projection" : "average_pool_zero_pad";
}

/// Pre-activation Wide ResNet basic block, one Layer (see the file comment).
template <class T, Device D = Cpu>
class ResidualBlock final : public Layer<T, D> {
 public:
  /// A block named `name` (sub-layers `name.bn1`, `name.conv1`, ...) from in_channels to out_channels
  /// channels, with `stride` on conv1 and the shortcut; `shortcut` applies only when the shape changes.
  /// Weights are zero until initialize(). Throws invar::Error if stride \< 1, or if
  /// average_pool_zero_pad would have to reduce the channels.
  ResidualBlock(std::string name, index_t in_channels, index_t out_channels, index_t stride,
                ResidualShortcut shortcut = ResidualShortcut::average_pool_zero_pad,
                const BatchNormOptions& bn = {})
      : name_(std::move(name)),
        in_(in_channels),
        out_(out_channels),
        stride_(stride),
        kind_(shortcut),
        bn1_(name_ + ".bn1", in_channels, bn),
        relu1_(name_ + ".relu1"),
        conv1_(name_ + ".conv1", in_channels, out_channels,
               Conv2dOptions{}.with_kernel(3).with_stride(stride).with_padding(1).with_bias(false)),
        bn2_(name_ + ".bn2", out_channels, bn),
        relu2_(name_ + ".relu2"),
        conv2_(name_ + ".conv2", out_channels, out_channels,
               Conv2dOptions{}.with_kernel(3).with_stride(1).with_padding(1).with_bias(false)) {
    check(stride >= 1, "ResidualBlock ", name_, ": stride must be at least 1, got ", stride);
    check(out_channels >= in_channels || shortcut == ResidualShortcut::projection, "ResidualBlock ", name_,
          ": the zero-padding shortcut cannot reduce channels (", in_channels, " -> ", out_channels,
          "); use the projection shortcut");
    if (!identity()) {
      if (kind_ == ResidualShortcut::projection)
        projection_ = std::make_unique<Conv2d<T, D>>(
            name_ + ".shortcut", in_channels, out_channels,
            Conv2dOptions{}.with_kernel(1).with_stride(stride).with_padding(0).with_bias(false));
      else if (stride_ > 1)
        pool_ = std::make_unique<AvgPool2d<T, D>>(name_ + ".shortcut_pool",
                                                  Pool2dOptions{}.with_kernel(stride).with_stride(stride));
    }
  }

  /// Initialises the convolutions (batch norm starts at weight 1, bias 0).
  void initialize(init::Initializer kind, Rng& rng) {
    conv1_.initialize(kind, rng);
    conv2_.initialize(kind, rng);
    if (projection_) projection_->initialize(kind, rng);
  }

  /// Whether the shortcut is the identity (same channels, stride 1).
  [[nodiscard]] bool identity() const { return in_ == out_ && stride_ == 1; }

  TensorView<const T, D> forward(TensorView<const T, D> x) override {
    check(x.rank() == 4 && x.dim(1) == in_, "ResidualBlock ", name_, ": expected input [B, ", in_, ", H, W], got ",
          x.shape());
    x_shape_ = x.shape();
    lend_output_buffers();
    const auto o1 = relu1_.forward(bn1_.forward(x));
    const auto z = conv2_.forward(relu2_.forward(bn2_.forward(conv1_.forward(o1))));
    // y = z + shortcut, over z: conv2's backward does not read its output.
    const TensorView<T, D> y = detail::writable(z);
    if (identity()) {
      ops::map(y, fn::Add{}, z, x);
    } else if (projection_) {
      ops::map(y, fn::Add{}, z, projection_->forward(o1));
    } else {
      const auto s = pool_ ? pool_->forward(x) : x;
      check(s.dim(2) == z.dim(2) && s.dim(3) == z.dim(3), "ResidualBlock ", name_, ": the pooled shortcut ",
            s.shape(), " does not match the residual ", z.shape(), " (odd input size with stride ", stride_, ")");
      add_channels(s, y);
    }
    y_shape_ = y.shape();
    return y;
  }

  /// Inner layers share `buffers`' level `level` (see the file comment); nullptr: own buffers.
  void plan_memory(const MemoryPlan<T, D>& plan) override { plan_ = plan; }
  [[nodiscard]] std::size_t buffer_bytes() const override {
    std::size_t n = Layer<T, D>::buffer_bytes() + dy_head_.bytes();
    for (const Layer<T, D>* l : const_cast<ResidualBlock*>(this)->layers()) n += l->buffer_bytes();
    return n;
  }
  /// The output (conv2's buffer) is not read by backward().
  [[nodiscard]] bool output_overwritable() const override { return true; }

  TensorView<const T, D> backward(TensorView<const T, D> dy) override {
    check(!inference_forward_, "ResidualBlock ", name_,
          ": backward() after a forward in inference mode, which keeps no activations (turn inference off)");
    check(dy.shape() == y_shape_, "ResidualBlock ", name_, ": dy has shape ", dy.shape(), ", expected ", y_shape_);
    conv1_.set_input_gradient(true);
    bn1_.set_input_gradient(this->input_gradient());
    lend_buffers();
    auto g = relu2_.backward(conv2_.backward(dy));
    const auto d_o1 = conv1_.backward(bn2_.backward(g));
    // conv1's dL/dx is this block's to change: the shortcut's gradient is added over it.
    if (projection_) ops::map(detail::writable(d_o1), fn::Add{}, d_o1, projection_->backward(dy));
    const auto dx_main = bn1_.backward(relu1_.backward(d_o1));
    if (!this->input_gradient()) return {};
    // Under a plan bn1 wrote into the block's own dL/dx already; otherwise copy (exact).
    const TensorView<T, D> dx = this->input_gradient_buffer(x_shape_);
    if (dx_main.data() != dx.data()) ops::copy(dx_main, dx);
    if (projection_) return dx;
    if (identity()) {
      ops::map(dx, fn::Add{}, dx, dy);
      return dx;
    }
    // Zero-padded channels receive no gradient: only dy's first in_ channels reach x.
    if (pool_) {
      detail::ensure_shape(dy_head_, Shape{dy.dim(0), in_, dy.dim(2), dy.dim(3)});
      take_channels(dy, dy_head_.view());
      ops::axpby(1.0, pool_->backward(dy_head_), 1.0, dx);
    } else {
      add_head_channels(dy, dx);
    }
    return dx;
  }

  std::vector<Parameter<T, D>*> parameters() override {
    std::vector<Parameter<T, D>*> all;
    for (Layer<T, D>* l : layers())
      for (auto* p : l->parameters()) all.push_back(p);
    return all;
  }
  std::vector<std::pair<std::string, Tensor<T, D>*>> buffers() override {
    auto all = bn1_.buffers();
    for (auto& b : bn2_.buffers()) all.push_back(b);
    return all;
  }
  /// Passes the communicator to every layer (batch norm synchronises its statistics across it).
  void set_communicator(const distributed::Communicator* comm) override {
    for (Layer<T, D>* l : layers()) l->set_communicator(comm);
  }
  void set_training(bool training) override {
    Layer<T, D>::set_training(training);
    for (Layer<T, D>* l : layers()) l->set_training(training);
  }
  [[nodiscard]] std::string name() const override { return name_; }
  /// The shortcut kind as given (unused when identity()).
  [[nodiscard]] ResidualShortcut shortcut() const { return kind_; }

 private:
  // The backward chain alternates between the level's two chain buffers; the shortcut's layer
  // takes the third, and bn1, the last, writes into the block's own dL/dx.
  void lend_buffers() {
    if (plan_.buffers == nullptr) {
      for (Layer<T, D>* l : layers()) l->set_input_gradient_buffer(nullptr);
      return;
    }
    // Two buffers: one of the next level (b) and the block's own dL/dx (q), free until bn1
    // writes the result there. The ReLUs' backward runs in place (dx over dy, element-wise).
    Tensor<T, D>* b = &plan_.buffers->slot(plan_.level, 0);
    Tensor<T, D>* q = &this->input_gradient_storage();
    conv2_.set_input_gradient_buffer(b);
    relu2_.set_input_gradient_buffer(b);
    bn2_.set_input_gradient_buffer(q);
    conv1_.set_input_gradient_buffer(b);
    if (projection_) projection_->set_input_gradient_buffer(q);  // bn2's dL/dx in q is consumed
    relu1_.set_input_gradient_buffer(b);
    bn1_.set_input_gradient_buffer(q);
    if (pool_) pool_->set_input_gradient_buffer(b);  // after bn1: b is free again
  }

  // Forward: ReLUs in place under a plan, and the shortcut's output (read once, by the addition)
  // in a buffer of the next level. In inference bn1's output (o1, which the projection reads
  // last) takes one buffer of the level, conv1 and the shortcut the second (conv1's output is
  // dead once bn2 has read it), bn2 the third, and conv2 the block's own output buffer.
  void lend_output_buffers() {
    relu1_.set_in_place(plan_.buffers != nullptr);
    relu2_.set_in_place(plan_.buffers != nullptr);
    // Each ReLU in place over a batch norm's output: the batch norm rectifies in its own pass.
    relu1_.fuse_into(bn1_, plan_.buffers != nullptr);
    relu2_.fuse_into(bn2_, plan_.buffers != nullptr);
    inference_forward_ = plan_.buffers != nullptr && plan_.inference;
    for (Layer<T, D>* l : layers()) l->set_output_buffer(nullptr);
    if (plan_.buffers == nullptr) return;
    if (!inference_forward_) {
      // Between forward and backward the level's buffers hold nothing.
      if (projection_) projection_->set_output_buffer(&plan_.buffers->slot(plan_.level, 0));
      if (pool_) pool_->set_output_buffer(&plan_.buffers->slot(plan_.level, 0));
      return;
    }
    bn1_.set_output_buffer(&plan_.buffers->slot(plan_.level, 0));
    conv1_.set_output_buffer(&plan_.buffers->slot(plan_.level, 1));
    bn2_.set_output_buffer(&plan_.buffers->slot(plan_.level, 2));
    conv2_.set_output_buffer(this->lent_output_buffer());
    if (projection_) projection_->set_output_buffer(&plan_.buffers->slot(plan_.level, 1));
    if (pool_) pool_->set_output_buffer(&plan_.buffers->slot(plan_.level, 1));
  }

  std::vector<Layer<T, D>*> layers() {
    std::vector<Layer<T, D>*> l{&bn1_, &relu1_, &conv1_, &bn2_, &relu2_, &conv2_};
    if (projection_) l.push_back(projection_.get());
    if (pool_) l.push_back(pool_.get());
    return l;
  }

  /// y[b, :C_s] += s[b] for every image (s has the first C_s <= C_y channels).
  static void add_channels(TensorView<const T, D> s, TensorView<T, D> y) {
    const index_t head = s.numel() / s.dim(0), stride = y.numel() / y.dim(0);
    for (index_t b = 0; b < s.dim(0); ++b) {
      TensorView<T, D> yb(y.data() + b * stride, Shape{head});
      ops::axpby(1.0, TensorView<const T, D>(s.data() + b * head, Shape{head}), 1.0, yb);
    }
  }
  /// out[b] = dy[b, :C_out] for every image.
  static void take_channels(TensorView<const T, D> dy, TensorView<T, D> out) {
    const index_t head = out.numel() / out.dim(0), stride = dy.numel() / dy.dim(0);
    for (index_t b = 0; b < dy.dim(0); ++b)
      ops::copy(TensorView<const T, D>(dy.data() + b * stride, Shape{head}),
                TensorView<T, D>(out.data() + b * head, Shape{head}));
  }
  /// dx[b] += dy[b, :C_x] for every image (stride 1, more output channels).
  static void add_head_channels(TensorView<const T, D> dy, TensorView<T, D> dx) {
    const index_t head = dx.numel() / dx.dim(0), stride = dy.numel() / dy.dim(0);
    for (index_t b = 0; b < dy.dim(0); ++b) {
      TensorView<T, D> dxb(dx.data() + b * head, Shape{head});
      ops::axpby(1.0, TensorView<const T, D>(dy.data() + b * stride, Shape{head}), 1.0, dxb);
    }
  }

  std::string name_;
  index_t in_, out_, stride_;
  ResidualShortcut kind_;
  BatchNorm<T, D> bn1_;
  Relu<T, D> relu1_;
  Conv2d<T, D> conv1_;
  BatchNorm<T, D> bn2_;
  Relu<T, D> relu2_;
  Conv2d<T, D> conv2_;
  std::unique_ptr<Conv2d<T, D>> projection_;
  std::unique_ptr<AvgPool2d<T, D>> pool_;
  Shape x_shape_, y_shape_;
  Tensor<T, D> dy_head_;
  MemoryPlan<T, D> plan_;
  bool inference_forward_ = false;
};

}  // namespace invar::nn
