#pragma once
/// \file cross_entropy.hpp
/// The checked fused softmax cross-entropy op:
///   ops::softmax_cross_entropy(logits, labels, scale, beta, grad, row_loss, row_correct)
/// per row: row_loss = -log softmax(logits)[label] (0 for an unlabelled row, label < 0),
/// row_correct = argmax == label, and grad = beta grad + scale (softmax - onehot) (grad may be an
/// empty view: value only). Labels live on the logits' device; they are checked on the host by
/// the loss (losses/softmax_cross_entropy.hpp) before they are copied there.

#include "invar/backend/ops.hpp"

namespace invar::ops {

/// Softmax cross-entropy of logits [B, classes] against labels (index_t, B; < 0: unlabelled,
/// loss 0, nothing added to grad), computed stably on the logits' device: row_loss (double, B values) =
/// -log softmax[label], row_correct (unsigned char, B values) = argmax == label, and
/// grad = beta grad + scale (softmax - onehot) (grad of the logits' shape, or an empty view: value
/// only). Labels >= classes are not checked here (the loss checks them on the host); shape
/// mismatches throw invar::Error.
template <Viewable Z, Viewable L, Viewable G, Viewable RL, Viewable RC>
void softmax_cross_entropy(Z&& logits_in, L&& labels_in, double scale, double beta, G&& grad_in, RL&& row_loss_in,
                           RC&& row_correct_in) {
  auto logits = to_view(logits_in);
  auto labels = to_view(labels_in);
  auto grad = to_view(grad_in);
  auto row_loss = to_view(row_loss_in);
  auto row_correct = to_view(row_correct_in);
  using T = detail::scalar_of<decltype(logits)>;
  detail::static_check_same<decltype(grad), decltype(logits), decltype(labels)>();
  detail::static_check_same<decltype(row_loss), decltype(logits)>();
  detail::static_check_same<decltype(row_correct), decltype(logits)>();
  static_assert(std::is_same_v<detail::scalar_of<decltype(labels)>, index_t>, "softmax_cross_entropy: labels are index_t");
  check(logits.rank() == 2, "softmax_cross_entropy: logits must be [B, classes], got ", logits.shape());
  const index_t rows = logits.dim(0);
  check(labels.rank() == 1 && labels.dim(0) == rows, "softmax_cross_entropy: need one label per row (", rows,
        "), got shape ", labels.shape());
  if (grad.data()) check(grad.shape() == logits.shape(), "softmax_cross_entropy: grad has shape ", grad.shape(),
                         ", logits have ", logits.shape());
  check(row_loss.numel() == rows && row_correct.numel() == rows, "softmax_cross_entropy: row_loss and row_correct ",
        "need one value per row (", rows, "), got ", row_loss.shape(), " and ", row_correct.shape());
  detail::backend<detail::device_of<decltype(logits)>>::softmax_cross_entropy(
      rows, logits.dim(1), logits.data(), labels.data(), scale, static_cast<T>(beta), grad.data(), row_loss.data(),
      row_correct.data());
}

}  // namespace invar::ops
