#pragma once
/// \file pgd.hpp
/// Projected gradient descent (Madry et al. 2018), here ascent on the attack loss
/// (attack_loss.hpp), under an L-infinity or L2 budget:
///
///   x_0 = x (+ a uniform random point of the ball when random_start)
///   x_{t+1} = P(x_t + step_size * s_t),   s_t = sign(g_t) (L-inf) or g_t / ||g_t||_2 (L2)
///
/// where P projects onto the epsilon ball around x and into [0, 1] (projection.hpp), for
/// `iterations` steps, from `restarts` starts. Each image keeps its best point: the one with the
/// highest loss among every evaluated iterate of every restart and the clean image itself, so
/// the result never has a lower loss than the clean image (or than any iterate). With
/// keep_best off the result is the last iterate, as most PGD implementations return it, which
/// saves the clean image's forward and the last iterate's (`iterations` forwards and backwards
/// in all, one start).
///
///   attacks::PgdOptions o;  // the paper's: epsilon 0.03, step 0.01, 40 steps, random start
///   auto adversarial = attacks::pgd(target, images, labels, o.with_epsilon(0.03));
///
/// Deterministic: the random starts come from Rng::keyed(seed, {image index, restart}), and the
/// same seed and batch option give the same bits on any thread count. Another batch option can
/// change the last bits (the matrix products round a row differently depending on how many rows
/// share the batch), and through them an attack's path: results then agree to rounding, not to
/// the bit. Cost: 1 + restarts x (iterations + 1) forwards and restarts x iterations backwards
/// (keep_best off: iterations of each). The backwards compute dL/dx only: the targets freeze the
/// model's parameters (target.hpp).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/projection.hpp"
#include "invar/core/random.hpp"

namespace invar::attacks {

/// Options of pgd(); the defaults are the paper's L-infinity attack. Checked by validate().
struct PgdOptions {
  double epsilon = 0.03;      ///< radius of the ball (in [0, 1] pixel units)
  Norm norm = Norm::linf;     ///< the ball's norm (and the step's direction: sign or normalised gradient)
  double step_size = 0.01;    ///< per step: in pixel units (L-inf), in L2 length (L2)
  index_t iterations = 40;    ///< gradient steps per restart (>= 0; 0: only the start is evaluated)
  bool random_start = true;   ///< start from a uniform random point of the ball, not the clean image
  index_t restarts = 1;       ///< starts per image (>= 1); the best point over all is kept
  bool targeted = false;      ///< labels are target classes; the loss is -CE(target)
  std::uint64_t seed = 0;     ///< of the random starts
  index_t batch = 256;        ///< images per forward/backward
  bool keep_best = true;      ///< return each image's highest-loss point (false: the last iterate; one restart only)

  /// Sets #epsilon.
  PgdOptions& with_epsilon(double e) { epsilon = e; return *this; }
  /// Sets #norm.
  PgdOptions& with_norm(Norm n) { norm = n; return *this; }
  /// Sets #step_size.
  PgdOptions& with_step_size(double s) { step_size = s; return *this; }
  /// Sets #iterations.
  PgdOptions& with_iterations(index_t i) { iterations = i; return *this; }
  /// Sets #random_start.
  PgdOptions& with_random_start(bool r = true) { random_start = r; return *this; }
  /// Sets #restarts.
  PgdOptions& with_restarts(index_t r) { restarts = r; return *this; }
  /// Sets #targeted.
  PgdOptions& with_targeted(bool t = true) { targeted = t; return *this; }
  /// Sets #seed.
  PgdOptions& with_seed(std::uint64_t s) { seed = s; return *this; }
  /// Sets #batch.
  PgdOptions& with_batch(index_t b) { batch = b; return *this; }
  /// Sets #keep_best.
  PgdOptions& with_keep_best(bool k = true) { keep_best = k; return *this; }

  /// Throws invar::Error unless epsilon is finite and >= 0, step_size finite and > 0,
  /// iterations >= 0, restarts >= 1 (exactly 1 without keep_best: the restarts' end points are
  /// compared by their loss) and batch >= 1.
  void validate() const {
    check(std::isfinite(epsilon) && epsilon >= 0, "PgdOptions: epsilon must be finite and >= 0, got ", epsilon);
    check(std::isfinite(step_size) && step_size > 0, "PgdOptions: step_size must be finite and > 0, got ", step_size);
    check(iterations >= 0, "PgdOptions: iterations must be >= 0, got ", iterations);
    check(restarts >= 1, "PgdOptions: restarts must be >= 1, got ", restarts);
    check(batch >= 1, "PgdOptions: batch must be >= 1, got ", batch);
    check(keep_best || restarts == 1, "PgdOptions: ", restarts,
          " restarts need keep_best (the restarts' end points are compared by their loss); without it, use one");
  }
};

namespace detail {

/// A uniform random point of the ball around x0 (then projected into [0, 1]).
inline void random_start(const float* x0, float* x, index_t n, const PgdOptions& o, Rng& rng) {
  if (o.norm == Norm::linf) {
    for (index_t i = 0; i < n; ++i) x[i] = static_cast<float>(double(x0[i]) + rng.uniform(-o.epsilon, o.epsilon));
    project_linf(x0, x, n, o.epsilon);
    return;
  }
  // L2: a normal direction, radius epsilon * u^(1/n) (uniform in the ball's volume).
  std::vector<double> d(static_cast<std::size_t>(n));
  double norm = 0;
  for (auto& v : d) v = rng.normal(), norm += v * v;
  norm = std::sqrt(norm);
  const double radius = o.epsilon * std::pow(rng.uniform(), 1.0 / double(n));
  for (index_t i = 0; i < n; ++i)
    x[i] = static_cast<float>(double(x0[i]) + (norm > 0 ? d[std::size_t(i)] / norm * radius : 0.0));
  project_l2(x0, x, n, o.epsilon);
}

}  // namespace detail

/// Adversarial versions (N x ..., in [0, 1]) of `images` against `target` by PGD (file comment).
/// Epsilon 0 returns a copy of the images. Throws invar::Error on invalid options, images outside
/// [0, 1], labels that are not one per image in [0, K), or non-finite logits.
template <AttackTarget Target>
Tensor<float> pgd(Target& target, TensorView<const float> images, TensorView<const index_t> labels,
                  const PgdOptions& o = {}) {
  o.validate();
  detail::check_attack_inputs(images, labels, "pgd");
  const index_t n = images.dim(0), per = images.row_size();
  Tensor<float> best = Tensor<float>::copy_of(images);
  std::vector<double> best_loss(static_cast<std::size_t>(n)), loss(static_cast<std::size_t>(std::min(n, o.batch)));
  Tensor<float> dlogits;
  for (index_t b0 = 0; b0 < n; b0 += o.batch) {
    const index_t b1 = std::min(n, b0 + o.batch), m = b1 - b0;
    const auto x0 = images.slice_rows(b0, b1);
    const auto y = labels.slice_rows(b0, b1);
    if (o.keep_best || o.iterations == 0 || o.epsilon == 0)
      detail::attack_loss_batch(target, x0, y, o.targeted, best_loss.data() + b0, nullptr, "pgd");  // checks labels
    if (o.epsilon == 0) continue;  // the clean images are the only point of the ball
    Tensor<float> x = Tensor<float>::copy_of(x0);
    auto keep_best = [&] {
      if (!o.keep_best) return;
      for (index_t i = 0; i < m; ++i)
        if (loss[std::size_t(i)] > best_loss[std::size_t(b0 + i)]) {
          best_loss[std::size_t(b0 + i)] = loss[std::size_t(i)];
          std::copy(x.data() + i * per, x.data() + (i + 1) * per, best.data() + (b0 + i) * per);
        }
    };
    for (index_t r = 0; r < o.restarts; ++r) {
      if (o.random_start) {
        for (index_t i = 0; i < m; ++i) {
          Rng rng = Rng::keyed(o.seed, {std::uint64_t(b0 + i), std::uint64_t(r)});
          detail::random_start(x0.data() + i * per, x.data() + i * per, per, o, rng);
        }
      } else {
        std::copy(x0.data(), x0.data() + x0.numel(), x.data());
      }
      for (index_t t = 0; t <= o.iterations; ++t) {
        const bool last = t == o.iterations;
        if (last && !o.keep_best) {
          // The last iterate is the answer: no forward to score it.
          std::copy(x.data(), x.data() + x.numel(), best.data() + b0 * per);
          break;
        }
        detail::attack_loss_batch(target, x.view(), y, o.targeted, loss.data(), last ? nullptr : &dlogits, "pgd");
        keep_best();
        if (last) break;
        const TensorView<const float> g = target.input_gradient(dlogits.view());
        check(g.numel() == x.numel(), "pgd: the target's input gradient has shape ", g.shape(), " for images ",
              x.shape());
        for (index_t i = 0; i < m; ++i) {
          const float* gi = g.data() + i * per;
          float* xi = x.data() + i * per;
          const float* x0i = x0.data() + i * per;
          if (o.norm == Norm::linf) {
            for (index_t j = 0; j < per; ++j)
              xi[j] = static_cast<float>(double(xi[j]) + (gi[j] > 0 ? o.step_size : gi[j] < 0 ? -o.step_size : 0.0));
            detail::project_linf(x0i, xi, per, o.epsilon);
          } else {
            double norm = 0;
            for (index_t j = 0; j < per; ++j) norm += double(gi[j]) * double(gi[j]);
            norm = std::sqrt(norm);
            if (norm == 0) continue;  // a flat point: nowhere to go
            for (index_t j = 0; j < per; ++j) xi[j] = static_cast<float>(double(xi[j]) + o.step_size * gi[j] / norm);
            detail::project_l2(x0i, xi, per, o.epsilon);
          }
        }
      }
    }
  }
  return best;
}

}  // namespace invar::attacks
