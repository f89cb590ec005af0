#pragma once
/// \file layer.hpp
/// The layer interface, the same for dense and convolutional layers: a forward/backward pair
/// written by hand (reverse mode), llm.c style, behind a small virtual interface so that models
/// are plain lists of layers (no deeply nested template types, fast builds).
///
/// An annotated layer:
/// \code
/// class MyLayer : public invar::nn::Layer<T, D> {
///  public:
///   // requires: x has the shape the layer was built for (rank >= 2, rows = samples).
///   // ensures:  returns y; the view stays valid until the next forward() of this layer.
///   //           The layer may keep a view of x for backward: x must stay alive and unchanged
///   //           until backward() (Sequential guarantees it: it owns every activation).
///   TensorView<const T, D> forward(TensorView<const T, D> x) override;
///
///   // requires: forward(x) was the last call; dy = dL/dy has y's shape.
///   // ensures:  adds dL/dθ to every parameter's grad (so gradients of several losses sum),
///   //           returns dL/dx (the attacks need it), valid until the next backward().
///   TensorView<const T, D> backward(TensorView<const T, D> dy) override;
///
///   std::vector<Parameter<T, D>*> parameters() override;   // trainable tensors, stable names
///   void set_training(bool training) override;              // batch norm: batch vs running statistics
///   std::string name() const override;                      // "fc1", used in parameter names
/// };
/// \endcode
/// Layers do their numeric work through invar::ops, so a CUDA device needs no layer changes.
///
/// Memory plan (what a container may do with a layer's buffers, docs/nn.md "Memory"):
/// - backward() writes dL/dx into input_gradient_buffer(): the layer's own buffer, or one that
///   its container lent it (set_input_gradient_buffer) and lends other layers once the layer
///   below has consumed it. A layer of your own that keeps its own dL/dx member works unchanged.
/// - forward() writes y into output_buffer(): its own, or, in a model's inference mode (no
///   backward follows), a buffer lent by the container (set_output_buffer) until the next layer
///   has read it.
/// - output_overwritable(): the layer owns its forward output and its backward does not read
///   it, so the next layer may write over it (an in-place ReLU, a residual addition).
/// - supports_in_place(): forward() can write its output over its input; a container turns it
///   on (set_in_place) only where the producer of that input allows it and nothing else reads it.
/// - backward_in_place(): backward() can write dL/dx over its dy (an element-wise layer); a
///   container then lends it the buffer that holds dy, where dy is in the plan's own buffers and
///   nothing reads it afterwards.
/// - can_fuse_relu(): forward() can apply a ReLU to its output in its own pass; a container turns
///   it on where a ReLU runs in place over that output, through the ReLU (nn::Relu::fuse_into,
///   which sets both sides together), and the ReLU then only records its output for the
///   backward. One read and write of the activations fewer, the same bits.
/// - backward_sum(dy, extra): backward() of the sum of two gradients, for a layer at a model's
///   tap (the loss's gradient there is `extra`); override it where one pass can read both.

#include <cstddef>
#include <string>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/core/tensor.hpp"
#include "invar/core/parameter.hpp"
#include "invar/nn/shared_buffers.hpp"

namespace invar::distributed {
class Communicator;  // <invar/distributed/communicator.hpp>
}

namespace invar::nn {

/// What a container tells the layers it contains before a forward() (Layer::plan_memory).
template <class T, Device D = Cpu>
struct MemoryPlan {
  /// The model's shared buffers; nullptr: no plan (every layer uses buffers of its own and
  /// nothing runs in place).
  SharedBuffers<T, D>* buffers = nullptr;
  /// The nesting level whose buffers the inner layers use.
  int level = 0;
  /// Forward only (no backward follows): intermediate outputs share buffers too.
  bool inference = false;
};

namespace detail {
/// A view of `shape` over `t`, which is first grown (reallocated, contents not kept) when it holds
/// fewer elements: buffers that are reused with whatever shape the next batch needs.
template <class T, Device D>
TensorView<T, D> grown_view(Tensor<T, D>& t, const Shape& shape) {
  if (t.numel() < shape.numel()) {
    t = Tensor<T, D>();  // free first: the old and the new buffer are never held together
    t = Tensor<T, D>::uninitialized(Shape{shape.numel()});
  }
  return TensorView<T, D>(t.data(), shape);
}
}  // namespace detail

/// A layer of a network: a forward/backward pair behind a small virtual interface (the contract
/// is in this file's description). Models (nn::Sequential) are lists of layers.
template <class T, Device D = Cpu>
class Layer {
 public:
  virtual ~Layer() = default;
  /// y = layer(x). Returns a view valid until the next forward(); x must stay alive and unchanged
  /// until backward().
  virtual TensorView<const T, D> forward(TensorView<const T, D> x) = 0;
  /// Given dy = dL/dy of the last forward(), adds dL/dθ to every parameter's gradient and returns
  /// dL/dx (an empty view when input_gradient() is off), valid until the next backward().
  virtual TensorView<const T, D> backward(TensorView<const T, D> dy) = 0;
  /// backward() of dy + extra: `extra` is the gradient a loss put at this layer's output (a
  /// model's tap) and may be overwritten. By default dy is added into `extra`, then
  /// backward(extra); an element-wise layer can read both in its own pass instead (ReLU: one
  /// read and write of the activations fewer), with the same bits.
  virtual TensorView<const T, D> backward_sum(TensorView<const T, D> dy, TensorView<T, D> extra) {
    ops::axpby(1.0, dy, 1.0, extra);  // extra + dy: alpha x + beta y with alpha = beta = 1 is exact
    return backward(extra);
  }
  /// The trainable tensors, with stable names (none by default).
  virtual std::vector<Parameter<T, D>*> parameters() { return {}; }
  /// Buffers that are state but not trained (batch norm's running statistics), for parameter files.
  virtual std::vector<std::pair<std::string, Tensor<T, D>*>> buffers() { return {}; }
  /// Training (true) or evaluation mode: batch norm uses batch or running statistics.
  virtual void set_training(bool training) { training_ = training; }
  /// Whether the layer is in training mode.
  [[nodiscard]] bool training() const { return training_; }
  /// The ranks whose batches this layer's batch statistics span (null: its own batch alone).
  /// Only batch norm uses it (synchronised batch norm, docs/distributed.md); containers pass it
  /// to their layers. Every rank must then run the same forward and backward passes.
  virtual void set_communicator(const distributed::Communicator* comm) { (void)comm; }
  /// The layer's name ("fc1"), the prefix of its parameters' names.
  [[nodiscard]] virtual std::string name() const = 0;

  /// Whether backward() must return dL/dx. A model turns it off for its first layer when nobody
  /// needs the input gradient (training): for an MLP on images that saves a third of the backward
  /// GEMM work. backward() then returns an empty view.
  void set_input_gradient(bool needed) { input_gradient_ = needed; }
  /// Whether backward() returns dL/dx (set_input_gradient).
  [[nodiscard]] bool input_gradient() const { return input_gradient_; }

  /// Whether the next layer may overwrite the output of forward() in place: the layer owns that
  /// buffer and its backward() does not read it (false by default).
  [[nodiscard]] virtual bool output_overwritable() const { return false; }
  /// Whether forward() can write its output over its input (false by default).
  [[nodiscard]] virtual bool supports_in_place() const { return false; }
  /// Whether backward() can write dL/dx over dy, element by element (false by default): each dx
  /// element depends only on the dy element at the same place, read before it is written.
  [[nodiscard]] virtual bool backward_in_place() const { return false; }
  /// Lets forward() write over its input (only where supports_in_place()). A container turns it on
  /// only when the input's producer allows it (output_overwritable()) and nothing else reads it.
  void set_in_place(bool on) { in_place_ = on && supports_in_place(); }
  /// Whether forward() writes over its input (set_in_place).
  [[nodiscard]] bool in_place() const { return in_place_; }
  /// Whether forward() can apply y = max(y, 0) to its output in its own pass (false by default).
  [[nodiscard]] virtual bool can_fuse_relu() const { return false; }
  /// Lets forward() rectify its output (only where can_fuse_relu()). A container turns it on only
  /// where a ReLU runs in place over that output and nothing else reads the output before it.
  void set_fused_relu(bool on) { fused_relu_ = on && can_fuse_relu(); }
  /// Whether forward() rectifies its output (set_fused_relu).
  [[nodiscard]] bool fused_relu() const { return fused_relu_; }

  /// Where backward() writes dL/dx: `shared`, a buffer of the container's memory plan (grown as
  /// needed; the container lends it to another layer once dL/dx is consumed), or the layer's own
  /// buffer for nullptr (the default).
  void set_input_gradient_buffer(Tensor<T, D>* shared) { shared_dx_ = shared; }
  /// Where forward() writes y: `shared`, a buffer of the container's plan in inference mode, or the
  /// layer's own buffer for nullptr (the default; backward() needs it).
  void set_output_buffer(Tensor<T, D>* shared) { shared_y_ = shared; }
  /// Called by a container before forward(): a layer that contains layers plans their buffers
  /// (MemoryPlan). Layers without inner layers ignore it (the default).
  virtual void plan_memory(const MemoryPlan<T, D>& plan) { (void)plan; }
  /// Bytes of the activation and gradient buffers this layer holds of its own (lent buffers and
  /// small per-channel state not counted); containers add their layers' and the shared buffers.
  [[nodiscard]] virtual std::size_t buffer_bytes() const { return own_y_.bytes() + own_dx_.bytes(); }

 protected:
  /// The storage forward() writes y into (the lent buffer or the layer's own).
  Tensor<T, D>& output_storage() { return shared_y_ != nullptr ? *shared_y_ : own_y_; }
  /// The output buffer the container lent (nullptr: none; the layer's own is used).
  [[nodiscard]] Tensor<T, D>* lent_output_buffer() const { return shared_y_; }
  /// An output buffer of `shape` in output_storage(), grown when too small (not initialised).
  /// A lent buffer frees the layer's own (held from an earlier mode).
  TensorView<T, D> output_buffer(const Shape& shape) {
    if (shared_y_ != nullptr) free_own_output();
    return detail::grown_view(output_storage(), shape);
  }
  /// Frees the layer's own output buffer (an in-place layer has no use for it).
  void free_own_output() { own_y_ = Tensor<T, D>(); }

  /// The storage backward() writes dL/dx into (the lent buffer or the layer's own).
  Tensor<T, D>& input_gradient_storage() { return shared_dx_ != nullptr ? *shared_dx_ : own_dx_; }
  /// A dL/dx buffer of `shape` in input_gradient_storage(), grown when too small (its contents are
  /// not initialised).
  TensorView<T, D> input_gradient_buffer(const Shape& shape) {
    if (shared_dx_ != nullptr) own_dx_ = Tensor<T, D>();  // held from a run without the plan
    return detail::grown_view(input_gradient_storage(), shape);
  }

  bool training_ = true;        ///< training mode (set_training)
  bool input_gradient_ = true;  ///< whether backward() returns dL/dx (set_input_gradient)

 private:
  bool in_place_ = false;
  bool fused_relu_ = false;
  Tensor<T, D>* shared_dx_ = nullptr;
  Tensor<T, D>* shared_y_ = nullptr;
  Tensor<T, D> own_dx_, own_y_;
};

namespace detail {
/// Makes `t` hold `shape`, reallocating only when the shape changes (activations are reused
/// from batch to batch).
template <class T, Device D>
void ensure_shape(Tensor<T, D>& t, const Shape& shape) {
  if (!(t.shape() == shape)) t = Tensor<T, D>::uninitialized(shape);
}

/// A writable view of memory handed out as const: a layer's output or its dL/dx, for the code
/// that owns the memory plan, only where the plan allows it (Layer::output_overwritable, or a
/// dL/dx buffer nobody else reads). The memory itself is never const (a Tensor's elements).
template <class T, Device D>
TensorView<T, D> writable(TensorView<const T, D> v) {
  return TensorView<T, D>(const_cast<T*>(v.data()), v.shape());
}
}  // namespace detail

}  // namespace invar::nn
