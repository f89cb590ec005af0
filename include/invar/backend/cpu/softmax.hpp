#pragma once
/// \file softmax.hpp
/// Softmax cross-entropy on the CPU, fused: per row, the max-shifted log-sum-exp in double
/// (stable for logits of any size: exp never sees a positive argument), the loss, whether the
/// argmax is right, and the gradient scale * (softmax - onehot) in one pass over the row.
/// Rows labelled < 0 are unlabelled: no loss, gradient 0 (beta * grad kept).

#include <cmath>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"

namespace invar::cpu {

template <class T>
void softmax_cross_entropy(index_t rows, index_t classes, const T* logits, const index_t* labels, double scale,
                           T beta, T* grad, double* row_loss, unsigned char* row_correct) {
  parallel_for(rows, classes * 4, [&](index_t i0, index_t i1) {
    for (index_t i = i0; i < i1; ++i) {
      const T* z = logits + i * classes;
      index_t arg = 0;
      for (index_t c = 1; c < classes; ++c)
        if (z[c] > z[arg]) arg = c;
      const double zmax = double(z[arg]);
      double sum = 0;
      for (index_t c = 0; c < classes; ++c) sum += std::exp(double(z[c]) - zmax);
      const double log_sum = std::log(sum);
      const index_t y = labels[i];
      row_loss[i] = y >= 0 ? log_sum - (double(z[y]) - zmax) : 0.0;
      row_correct[i] = y >= 0 && arg == y;
      if (grad) {
        T* g = grad + i * classes;
        for (index_t c = 0; c < classes; ++c) {
          const double d = y >= 0 ? scale * (std::exp(double(z[c]) - zmax - log_sum) - (c == y ? 1.0 : 0.0)) : 0.0;
          g[c] = beta == T(0) ? static_cast<T>(d) : static_cast<T>(double(beta) * double(g[c]) + d);
        }
      }
    }
  });
}

}  // namespace invar::cpu
