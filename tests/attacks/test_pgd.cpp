// PGD on a small random MLP: every result lies in its epsilon ball (L-inf and L2, checked in
// double with no tolerance) and in [0, 1], never has a lower loss than the clean image, and is
// on average at least as strong as FGSM; more restarts never lower an image's loss; targeted PGD
// pulls images towards the target class; the same seed gives the same bits, another seed other
// starts, and the batch option changes nothing; bad options are refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/attacks/attack_loss.hpp"
#include "invar/attacks/fgsm.hpp"
#include "invar/attacks/pgd.hpp"
#include "invar/attacks/target.hpp"
#include "invar/nn/models/mlp.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;
using attacks::Norm;
using attacks::PgdOptions;

TEST_SUITE_BEGIN("attacks");

namespace {

constexpr index_t kPgdImages = 24, kPgdPixels = 20, kPgdClasses = 3;

nn::Sequential<float> pgd_model() { return nn::make_mlp<float>({kPgdPixels, 16, kPgdClasses}, nn::MlpOptions{}.with_seed(5)); }

/// 24 images of 1 x 4 x 5 pixels, uniform in [0, 1), with a few pixels set to exactly 0 and 1.
Tensor<float> pgd_images() {
  Tensor<float> x = test::random_tensor<float>(Shape{kPgdImages, 1, 4, 5}, 61, 0.0, 1.0);
  for (index_t i = 0; i < kPgdImages; ++i) {
    x.data()[i * kPgdPixels + (i % kPgdPixels)] = 0.0f;
    x.data()[i * kPgdPixels + ((i + 7) % kPgdPixels)] = 1.0f;
  }
  return x;
}

Tensor<index_t> pgd_labels() { return test::random_indices(kPgdImages, kPgdClasses, 62); }

double pgd_mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

bool pgd_same_bits(const Tensor<float>& a, const Tensor<float>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

/// max_j |adv_j - x_j| (L-inf) or ||adv - x||_2 (L2) of image i, in double.
double pgd_distance(const Tensor<float>& x, const Tensor<float>& adv, index_t i, Norm norm) {
  double m = 0, s = 0;
  for (index_t j = 0; j < kPgdPixels; ++j) {
    const double d = double(adv.data()[i * kPgdPixels + j]) - double(x.data()[i * kPgdPixels + j]);
    m = std::max(m, std::abs(d));
    s += d * d;
  }
  return norm == Norm::linf ? m : std::sqrt(s);
}

PgdOptions pgd_determinism_options(Norm norm, bool random_start) {
  return PgdOptions{}
      .with_norm(norm)
      .with_epsilon(norm == Norm::linf ? 0.1 : 0.5)
      .with_step_size(norm == Norm::linf ? 0.02 : 0.1)
      .with_iterations(6)
      .with_restarts(2)
      .with_random_start(random_start)
      .with_seed(11);
}

}  // namespace

TEST_CASE("attacks::pgd stays in the ball and in [0, 1] and never lowers the loss (L-inf and L2)") {
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = pgd_images();
  const Tensor<index_t> y = pgd_labels();
  const std::vector<double> clean = attacks::attack_loss(target, x, y);

  for (const Norm norm : {Norm::linf, Norm::l2}) {
    const double eps = norm == Norm::linf ? 0.1 : 0.5;
    const double step = norm == Norm::linf ? 0.025 : 0.125;
    for (const bool random_start : {false, true}) {
      std::vector<double> one_restart;
      for (const index_t restarts : {1, 3}) {
        const std::string norm_name = norm == Norm::linf ? "linf" : "l2";
        CAPTURE(norm_name);
        CAPTURE(random_start);
        CAPTURE(restarts);
        const auto o = PgdOptions{}
                           .with_norm(norm)
                           .with_epsilon(eps)
                           .with_step_size(step)
                           .with_iterations(10)
                           .with_random_start(random_start)
                           .with_restarts(restarts)
                           .with_seed(3);
        const Tensor<float> adv = attacks::pgd(target, x, y, o);
        REQUIRE(adv.shape() == x.shape());
        index_t on_boundary = 0;
        for (index_t i = 0; i < kPgdImages; ++i) {
          const double d = pgd_distance(x, adv, i, norm);
          CHECK(d <= eps);  // exact, in double
          if (d >= 0.99 * eps) ++on_boundary;
        }
        for (index_t i = 0; i < x.numel(); ++i) {
          CHECK(adv[i] >= 0.0f);
          CHECK(adv[i] <= 1.0f);
        }
        // The attack does something: most images end on the ball's boundary.
        CHECK(on_boundary >= kPgdImages / 2);

        const std::vector<double> attacked = attacks::attack_loss(target, adv, y);
        index_t raised = 0;
        for (index_t i = 0; i < kPgdImages; ++i) {
          CHECK(attacked[std::size_t(i)] >= clean[std::size_t(i)]);
          if (attacked[std::size_t(i)] > clean[std::size_t(i)] + 1e-3) ++raised;
        }
        CHECK(raised == kPgdImages);
        if (norm == Norm::linf) {
          const Tensor<float> f = attacks::fgsm(target, x, y, eps);
          CHECK(pgd_mean(attacked) >= pgd_mean(attacks::attack_loss(target, f, y)));
        }
        // Restart 0 of a 3-restart run is the 1-restart run (same key), so the best of three is
        // never below it, image by image.
        if (restarts == 1) one_restart = attacked;
        else
          for (index_t i = 0; i < kPgdImages; ++i) CHECK(attacked[std::size_t(i)] >= one_restart[std::size_t(i)]);
      }
    }
  }
}

TEST_CASE("attacks::pgd L2 with a small epsilon ends on the sphere, not back at the clean image") {
  // Interior images and a ball far smaller than the model's kinks: the loss is close to linear
  // in it, so after a few steps every image reaches the sphere and stays on it. A projection that
  // gave up and returned the clean image would leave images inside.
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = test::random_tensor<float>(Shape{kPgdImages, 1, 4, 5}, 63, 0.2, 0.8);
  const Tensor<index_t> y = pgd_labels();
  for (const double eps : {1e-3, 1e-2}) {
    for (const bool random_start : {false, true}) {
      CAPTURE(eps);
      CAPTURE(random_start);
      const auto o = PgdOptions{}.with_norm(Norm::l2).with_epsilon(eps).with_step_size(eps / 4).with_iterations(10)
                         .with_random_start(random_start);
      const Tensor<float> adv = attacks::pgd(target, x, y, o);
      index_t on_sphere = 0;
      for (index_t i = 0; i < kPgdImages; ++i) {
        const double d = pgd_distance(x, adv, i, Norm::l2);
        CHECK(d <= eps);
        if (d >= 0.95 * eps) ++on_sphere;
      }
      CHECK(on_sphere == kPgdImages);
    }
  }
}

TEST_CASE("attacks::pgd without random start gives the same image for every restart") {
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = pgd_images();
  const Tensor<index_t> y = pgd_labels();
  for (const Norm norm : {Norm::linf, Norm::l2}) {
    const auto o = PgdOptions{}.with_norm(norm).with_epsilon(0.2).with_step_size(0.05).with_iterations(8).with_random_start(false);
    CHECK(pgd_same_bits(attacks::pgd(target, x, y, o), attacks::pgd(target, x, y, PgdOptions(o).with_restarts(3))));
  }
}

TEST_CASE("attacks::pgd targeted pulls the images towards the target class") {
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = pgd_images();
  const Tensor<index_t> y = pgd_labels();
  Tensor<index_t> t(Shape{kPgdImages});
  for (index_t i = 0; i < kPgdImages; ++i) t[i] = (y[i] + 1) % kPgdClasses;

  const std::vector<double> clean = attacks::attack_loss(target, x, t, true);  // -CE(t)
  const auto o = PgdOptions{}.with_epsilon(1.0).with_step_size(0.05).with_iterations(40).with_targeted();
  const Tensor<float> adv = attacks::pgd(target, x, t, o);
  const std::vector<double> attacked = attacks::attack_loss(target, adv, t, true);
  index_t lowered = 0;
  for (index_t i = 0; i < kPgdImages; ++i) {
    CHECK(attacked[std::size_t(i)] >= clean[std::size_t(i)]);
    if (attacked[std::size_t(i)] > clean[std::size_t(i)] + 1e-3) ++lowered;
  }
  CHECK(lowered == kPgdImages);

  // Before the attack few images are classified as their target; after it most are.
  const double hit_before = attacks::accuracy(target, x, t), hit_after = attacks::accuracy(target, adv, t);
  MESSAGE("targeted PGD on a random 20-16-3 MLP: ", 100 * hit_before, " % -> ", 100 * hit_after, " % at the target");
  CHECK(hit_before <= 0.5);
  CHECK(hit_after >= 0.75);
  // The untargeted loss on the targets is the negation: the same images, opposite sign.
  const std::vector<double> ce = attacks::attack_loss(target, adv, t, false);
  for (index_t i = 0; i < kPgdImages; ++i) CHECK(ce[std::size_t(i)] == -attacked[std::size_t(i)]);
}

TEST_CASE("attacks::pgd is deterministic in its seed") {
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = pgd_images();
  const Tensor<index_t> y = pgd_labels();
  for (const Norm norm : {Norm::linf, Norm::l2}) {
    for (const bool random_start : {false, true}) {
      const std::string norm_name = norm == Norm::linf ? "linf" : "l2";
      CAPTURE(norm_name);
      CAPTURE(random_start);
      const PgdOptions o = pgd_determinism_options(norm, random_start);
      const Tensor<float> a = attacks::pgd(target, x, y, o);
      CHECK(pgd_same_bits(a, attacks::pgd(target, x, y, o)));
      const Tensor<float> other = attacks::pgd(target, x, y, PgdOptions(o).with_seed(12));
      if (random_start) {
        index_t differ = 0;
        for (index_t i = 0; i < kPgdImages; ++i)
          if (std::memcmp(a.data() + i * kPgdPixels, other.data() + i * kPgdPixels, sizeof(float) * kPgdPixels) != 0)
            ++differ;
        CHECK(differ >= kPgdImages / 2);
      } else {
        CHECK(pgd_same_bits(a, other));  // the seed only draws the random starts
      }
    }
  }
}

TEST_CASE("attacks::pgd results agree to float rounding whatever the batch option") {
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = pgd_images();
  const Tensor<index_t> y = pgd_labels();
  for (const Norm norm : {Norm::linf, Norm::l2}) {
    for (const bool random_start : {false, true}) {
      const std::string norm_name = norm == Norm::linf ? "linf" : "l2";
      CAPTURE(norm_name);
      CAPTURE(random_start);
      const PgdOptions o = pgd_determinism_options(norm, random_start);
      const Tensor<float> a = attacks::pgd(target, x, y, o);
      for (const index_t batch : {1, 3, 5}) {
        CAPTURE(batch);
        // Random starts are keyed by the image's index, not by its batch: a batch-dependent key
        // would move whole images by up to 2 epsilon, far beyond this bound.
        const Tensor<float> b = attacks::pgd(target, x, y, PgdOptions(o).with_batch(batch));
        double worst = 0;
        for (index_t i = 0; i < x.numel(); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
        CHECK(worst <= 1e-6);
      }
    }
  }
}

TEST_CASE("attacks::pgd random starts of an image do not depend on the other images of the call") {
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = pgd_images();
  const Tensor<index_t> y = pgd_labels();
  // Zero iterations with a random start: the result is either the clean image or its random
  // start, whichever has the higher loss; either way it is image-wise and keyed by the index.
  const auto o = PgdOptions{}.with_epsilon(0.3).with_iterations(0).with_seed(4);
  const Tensor<float> a = attacks::pgd(target, x, y, o);
  const Tensor<float> b = attacks::pgd(target, x, y, PgdOptions(o).with_batch(7));
  CHECK(pgd_same_bits(a, b));
  index_t moved = 0;
  for (index_t i = 0; i < kPgdImages; ++i) {
    CHECK(pgd_distance(x, a, i, Norm::linf) <= 0.3);
    if (pgd_distance(x, a, i, Norm::linf) > 0) ++moved;
  }
  CHECK(moved >= 1);
}

TEST_CASE("attacks::pgd with zero iterations and no random start, or epsilon 0, returns the clean images") {
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = pgd_images();
  const Tensor<index_t> y = pgd_labels();
  for (const Norm norm : {Norm::linf, Norm::l2}) {
    CHECK(pgd_same_bits(attacks::pgd(target, x, y, PgdOptions{}.with_norm(norm).with_iterations(0).with_random_start(false).with_restarts(2)), x));
    CHECK(pgd_same_bits(attacks::pgd(target, x, y, PgdOptions{}.with_norm(norm).with_epsilon(0)), x));
  }
}

namespace {
/// Logits = the pixels of N x 3 "images"; counts the forwards and backwards an attack asks for.
struct PgdCountingTarget {
  index_t forwards = 0, backwards = 0;
  Tensor<float> grad;
  TensorView<const float> logits(TensorView<const float> x) {
    ++forwards;
    return x;
  }
  TensorView<const float> input_gradient(TensorView<const float> dlogits) {
    ++backwards;
    grad = Tensor<float>::copy_of(dlogits);
    return grad.view();
  }
};
}  // namespace

TEST_CASE("attacks::pgd without keep_best returns the last iterate and runs iterations forwards and backwards") {
  // With logits = pixels, dCE/dz = softmax(z) - onehot(y): its sign is -1 on the label and +1
  // elsewhere, so the L-inf path is known in closed form: every step moves the label's pixel down
  // and the others up by the step, clipped to the ball and to [0, 1].
  const index_t n = 4, k = 3, iterations = 5;
  const Tensor<float> x = test::random_tensor<float>(Shape{n, k}, 71, 0.2, 0.8);
  const Tensor<index_t> y = test::random_indices(n, k, 72);
  const double eps = 0.07, step = 0.02;
  const auto o = PgdOptions{}.with_epsilon(eps).with_step_size(step).with_iterations(iterations).with_random_start(false);

  PgdCountingTarget last_target;
  const Tensor<float> last = attacks::pgd(last_target, x, y, PgdOptions(o).with_keep_best(false));
  CHECK(last_target.forwards == iterations);
  CHECK(last_target.backwards == iterations);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < k; ++j) {
      double v = double(x(i, j));
      for (index_t t = 0; t < iterations; ++t) {
        v += j == y[i] ? -step : step;
        v = std::clamp(v, std::max(0.0, double(x(i, j)) - eps), std::min(1.0, double(x(i, j)) + eps));
      }
      CHECK(double(last(i, j)) == doctest::Approx(v).epsilon(1e-6));
    }

  // keep_best scores the clean images and every iterate, the last one included.
  PgdCountingTarget best_target;
  attacks::pgd(best_target, x, y, o);
  CHECK(best_target.forwards == iterations + 2);
  CHECK(best_target.backwards == iterations);
  CHECK_ERROR_CONTAINS(attacks::pgd(best_target, x, y, PgdOptions(o).with_keep_best(false).with_restarts(2)),
                       "2 restarts need keep_best");
  // Labels are still checked without the clean forward.
  Tensor<index_t> bad = Tensor<index_t>::copy_of(y.view());
  bad[0] = 5;
  CHECK_ERROR_CONTAINS(attacks::pgd(last_target, x, bad, PgdOptions(o).with_keep_best(false)), "label 5 is not a class");
}

TEST_CASE("attacks::pgd refuses bad options and bad input by name") {
  auto model = pgd_model();
  attacks::ModelTarget target(model);
  const Tensor<float> x = pgd_images();
  const Tensor<index_t> y = pgd_labels();
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_epsilon(-0.01)), "epsilon must be finite and >= 0, got -0.01");
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_epsilon(std::nan(""))), "epsilon must be finite");
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_step_size(0)), "step_size must be finite and > 0, got 0");
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_step_size(-0.5)), "step_size must be finite and > 0");
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_step_size(HUGE_VAL)), "step_size must be finite");
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_restarts(0)), "restarts must be >= 1, got 0");
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_iterations(-1)), "iterations must be >= 0, got -1");
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_batch(0)), "batch must be >= 1, got 0");
  // Options are checked even where the attack would have nothing to do.
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, y, PgdOptions{}.with_epsilon(0).with_restarts(0)), "restarts must be >= 1");
  // Labels are checked even at epsilon 0 (the clean loss is still evaluated), and by accuracy.
  Tensor<index_t> bad_label = Tensor<index_t>::copy_of(y.view());
  bad_label[1] = 7;
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, bad_label, PgdOptions{}.with_epsilon(0)),
                       "label 7 is not a class of the 3 logits");
  CHECK_ERROR_CONTAINS(attacks::fgsm(target, x, bad_label, 0.0), "label 7 is not a class of the 3 logits");
  CHECK_ERROR_CONTAINS(attacks::accuracy(target, x, bad_label), "label 7 of image 1 is not a class of the 3 logits");

  Tensor<float> bad = x;
  bad.data()[2 * kPgdPixels + 3] = 1.0625f;
  CHECK_ERROR_CONTAINS(attacks::pgd(target, bad, y), "pgd: pixel 3 of image 2 is 1.0625");
  Tensor<index_t> wrong = y;
  wrong[5] = kPgdClasses;
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, wrong), "label 3 is not a class of the 3 logits");
  CHECK_ERROR_CONTAINS(attacks::pgd(target, x, test::random_indices(kPgdImages - 1, kPgdClasses, 1)), "need one label per image");
}

TEST_SUITE_END();
