#pragma once
/// \file softmax_cross_entropy.hpp
/// Softmax cross-entropy over labelled rows: L = mean over rows with a label of
/// -log softmax(z_i)[y_i], computed as logsumexp(z_i - max z_i) - (z_i[y_i] - max z_i) in double,
/// stable for logits of any size. Rows labelled invar::no_group (-1) are unlabelled: they have no
/// loss and get no gradient (semi-supervised batches), and the mean is over labelled rows.
/// Gradient: dL/dz_i = scale * (softmax(z_i) - onehot(y_i)) / (number of labelled rows).
/// Across ranks (CrossEntropyOptions::across), each rank passes its rows of the batch: the mean,
/// the counts and the gradient's divisor are those of the whole batch (two small all-reduces).

#include <span>
#include <vector>

#include "invar/backend/ops.hpp"
#include "invar/backend/ops/cross_entropy.hpp"
#include "invar/losses/detail/device_buffers.hpp"
#include "invar/core/no_group.hpp"
#include "invar/distributed/communicator.hpp"
#include "invar/losses/detail/non_finite.hpp"
#include "invar/losses/no_gradient.hpp"

namespace invar {

/// What softmax_cross_entropy() returns: the loss and the counts for the accuracy.
struct CrossEntropyValue {
  double loss = 0;        ///< mean over labelled rows (0 when there are none)
  index_t labelled = 0;   ///< rows with a label
  index_t correct = 0;    ///< labelled rows whose argmax is the label
  /// correct / labelled, in [0, 1]; 0 when no row is labelled.
  [[nodiscard]] double accuracy() const { return labelled ? double(correct) / double(labelled) : 0.0; }
};

/// Options of softmax_cross_entropy(), with chainable setters.
struct CrossEntropyOptions {
  double gradient_scale = 1.0;  ///< the weight of the term (w_ce of Eq. 1)
  bool accumulate = false;      ///< add to grad instead of overwriting
  /// The ranks that hold the batch, each its own rows (null: this process holds it all); the
  /// value and counts are then the whole batch's, on every rank. Must outlive the call.
  const distributed::Communicator* communicator = nullptr;
  /// Sets #gradient_scale (must be finite: the call throws invar::Error otherwise); returns *this.
  CrossEntropyOptions& with_gradient_scale(double s) { gradient_scale = s; return *this; }
  /// Sets #accumulate; returns *this.
  CrossEntropyOptions& accumulating(bool a = true) { accumulate = a; return *this; }
  /// Sets #communicator; returns *this.
  CrossEntropyOptions& across(const distributed::Communicator& comm) { communicator = &comm; return *this; }
};

namespace detail {
template <class T, Device D>
CrossEntropyValue cross_entropy_impl(TensorView<const T, D> logits, TensorView<const index_t> labels, T* grad,
                                     const Shape* grad_shape, const CrossEntropyOptions& o) {
  const distributed::Communicator* comm = o.communicator;
  const bool across = distributed::is_distributed(comm);
  std::vector<index_t> host_labels;
  CrossEntropyValue v;
  auto local_checks = [&] {
    check(logits.rank() == 2, "softmax_cross_entropy: logits must be [B, classes], got ", logits.shape());
    const index_t rows = logits.dim(0), classes = logits.dim(1);
    check(classes > 0, "softmax_cross_entropy: no classes in logits ", logits.shape());
    check(labels.rank() == 1 && labels.dim(0) == rows, "softmax_cross_entropy: need one label per row (", rows,
          "), got shape ", labels.shape());
    check(std::isfinite(o.gradient_scale), "softmax_cross_entropy: gradient_scale must be finite");
    if (grad_shape) check(*grad_shape == logits.shape(), "softmax_cross_entropy: grad has shape ", *grad_shape,
                          ", logits have ", logits.shape());
    host_labels.assign(labels.begin(), labels.end());
    for (index_t i = 0; i < rows; ++i) {
      const index_t y = host_labels[std::size_t(i)];
      check(y == no_group || (y >= 0 && y < classes), "softmax_cross_entropy: label ", y, " of row ", i,
            " is outside [0, ", classes, ") (use invar::no_group for an unlabelled row)");
      v.labelled += y >= 0;
    }
  };
  if (across) distributed::agreed(*comm, local_checks);
  else local_checks();
  const index_t rows = logits.dim(0);
  if (across) {
    double labelled = double(v.labelled);
    comm->allreduce_sum(std::span<double>(&labelled, 1));
    v.labelled = index_t(labelled);
  }
  Upload<D> up;  // labels, one transfer
  const std::size_t labels_s = up.add(host_labels);
  up.send();
  // Per-row loss (double) and correctness, side by side in one buffer: one transfer back.
  Tensor<double, D> row_stats(Shape{2 * rows});
  const TensorView<double, D> row_loss(row_stats.data(), Shape{rows});
  const TensorView<unsigned char, D> row_correct(reinterpret_cast<unsigned char*>(row_stats.data() + rows), Shape{rows});
  const double scale = v.labelled ? o.gradient_scale / double(v.labelled) : 0.0;
  ops::softmax_cross_entropy(logits, up.template view<index_t>(labels_s), scale, o.accumulate ? 1.0 : 0.0,
                             grad ? TensorView<T, D>(grad, logits.shape()) : TensorView<T, D>{}, row_loss, row_correct);
  const auto stats = to_host(row_stats);
  const double* losses = stats.data();
  const auto* correct = reinterpret_cast<const unsigned char*>(stats.data() + rows);
  double total = 0;
  for (index_t i = 0; i < rows; ++i) {
    total += losses[std::size_t(i)];
    v.correct += correct[std::size_t(i)];
  }
  if (across) {
    double sums[2] = {total, double(v.correct)};
    comm->allreduce_sum(std::span<double>(sums, 2));
    total = sums[0];
    v.correct = index_t(sums[1]);
    if (!std::isfinite(total)) {
      distributed::agree_or_throw(*comm, non_finite_message("softmax_cross_entropy", logits));
      throw Error("softmax_cross_entropy: the sum of the losses overflowed");
    }
  }
  if (!std::isfinite(total)) throw_non_finite("softmax_cross_entropy", logits);
  v.loss = v.labelled ? total / double(v.labelled) : 0.0;
  return v;
}
}  // namespace detail

/// Value, accuracy and dL/dlogits (pass invar::no_gradient for the value only).
template <Viewable Z, Viewable Y, class Grad>
CrossEntropyValue softmax_cross_entropy(Z&& logits, Y&& labels, Grad&& grad, const CrossEntropyOptions& o = {}) {
  auto z = to_view(logits);
  using T = typename decltype(z)::value_type;
  using D = typename decltype(z)::device_type;
  const TensorView<const index_t> y = to_view(labels);
  if constexpr (std::is_same_v<std::remove_cvref_t<Grad>, NoGradient>) {
    return detail::cross_entropy_impl<T, D>(z, y, nullptr, nullptr, o);
  } else {
    auto g = to_view(grad);
    const Shape s = g.shape();
    return detail::cross_entropy_impl<T, D>(z, y, g.data(), &s, o);
  }
}

}  // namespace invar
