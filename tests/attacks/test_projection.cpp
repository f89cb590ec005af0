// The projections that keep adversarial images valid: L-infinity onto the float nearest to the
// bound inside the ball (and inside [0, 1]), L2 by scaling onto the sphere (and into [0, 1]),
// both exact when checked in double; points already inside are left alone, and a point outside
// ends on the boundary, not back at the clean image.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/attacks/projection.hpp"
#include "support/random.hpp"

using namespace invar;

TEST_SUITE_BEGIN("attacks");

namespace {

double projection_l2_distance(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
  return std::sqrt(s);
}

}  // namespace

TEST_CASE("attacks::detail::project_linf lands on the float nearest to the bound inside the ball and [0, 1]") {
  const std::vector<float> centres = {0.0f, 1.0f, 0.5f, 0.3f, 0.123456f, 0.999f, 1e-6f};
  for (const float x0 : centres)
    for (const double eps : {1e-4, 0.01, 0.1, 0.3, 2.0}) {
      CAPTURE(x0);
      CAPTURE(eps);
      // Far above and far below: the clamp lands on the boundary.
      float up = 5.0f, down = -5.0f;
      attacks::detail::project_linf(&x0, &up, 1, eps);
      attacks::detail::project_linf(&x0, &down, 1, eps);
      const double hi = std::min(1.0, double(x0) + eps), lo = std::max(0.0, double(x0) - eps);
      CHECK(double(up) <= hi);
      CHECK(double(std::nextafter(up, 2.0f)) > hi);  // the next float up would leave
      CHECK(double(down) >= lo);
      CHECK(double(std::nextafter(down, -1.0f)) < lo);
      CHECK(std::abs(double(up) - double(x0)) <= eps);
      CHECK(std::abs(double(down) - double(x0)) <= eps);
      // Inside: unchanged.
      float inside = static_cast<float>(std::clamp(double(x0) + eps / 2, 0.0, 1.0));
      const float before = inside;
      attacks::detail::project_linf(&x0, &inside, 1, eps);
      CHECK(inside == before);
    }
}

TEST_CASE("attacks::detail::project_l2 leaves points inside alone and moves points outside onto the sphere") {
  for (const index_t n : {1, 3, 20, 784}) {
    for (const double eps : {1e-4, 1e-3, 0.01, 0.5}) {
      CAPTURE(n);
      CAPTURE(eps);
      // Interior centres, and a displacement along a random direction small enough not to clip.
      const auto c = test::random_tensor<float>(Shape{n}, std::uint64_t(n) * 7 + 1, 0.25, 0.75);
      const auto dir = test::random_tensor<double>(Shape{n}, std::uint64_t(n) * 7 + 2, -1.0, 1.0);
      double norm = 0, largest = 0;
      for (const double v : dir) norm += v * v, largest = std::max(largest, std::abs(v));
      norm = std::sqrt(norm);
      // No pixel moves by more than 0.2: nothing is clipped, the projection is a pure scaling.
      const double scale = std::min(1.0, 0.2 / (2.0 * eps * largest / norm));
      std::vector<float> x0(c.begin(), c.end()), out(x0.size()), in(x0.size());
      for (index_t i = 0; i < n; ++i) {
        out[std::size_t(i)] = static_cast<float>(double(x0[std::size_t(i)]) + dir[i] / norm * 2.0 * eps * scale);
        in[std::size_t(i)] = static_cast<float>(double(x0[std::size_t(i)]) + dir[i] / norm * 0.5 * eps);
      }
      const std::vector<float> in_before = in, out_before = out;
      attacks::detail::project_l2(x0.data(), in.data(), n, eps);
      CHECK(in == in_before);
      if (projection_l2_distance(x0, out_before) <= eps) continue;
      attacks::detail::project_l2(x0.data(), out.data(), n, eps);
      const double d = projection_l2_distance(x0, out);
      CHECK(d <= eps);             // exact, in double
      // On the sphere (up to the float spacing, a few % of a 1e-4 step spread over 784 pixels),
      // not pulled back towards, or onto, the clean image.
      CHECK(d >= 0.97 * eps);
      // The direction of the displacement is kept.
      double dot = 0;
      for (std::size_t i = 0; i < x0.size(); ++i)
        dot += (double(out[i]) - double(x0[i])) * (double(out_before[i]) - double(x0[i]));
      CHECK(dot >= 0.999 * d * projection_l2_distance(x0, out_before));
    }
  }
}

TEST_CASE("attacks::detail::project_l2 on one pixel: x0 0.5, x 0.5002, epsilon 1e-4 lands near 0.5001") {
  // The smallest reproduction: one pixel, a float spacing (6e-8) that is a large fraction of epsilon.
  const float x0 = 0.5f;
  float x = static_cast<float>(0.5 + 2e-4);
  attacks::detail::project_l2(&x0, &x, 1, 1e-4);
  CHECK(double(x) - 0.5 <= 1e-4);
  CHECK(double(x) - 0.5 >= 1e-4 - 1e-7);
}

TEST_CASE("attacks::detail::project_l2 clips into [0, 1] and stays within epsilon") {
  const std::vector<float> x0 = {0.95f, 0.5f, 0.02f};
  std::vector<float> x = {1.2f, 0.5f, -0.3f};
  attacks::detail::project_l2(x0.data(), x.data(), 3, 0.5);
  // Clipping alone brings it inside (distance sqrt(0.05^2 + 0.02^2) < 0.5): no scaling.
  CHECK(x == std::vector<float>{1.0f, 0.5f, 0.0f});
  std::vector<float> far = {1.9f, 0.5f, 0.02f};
  attacks::detail::project_l2(x0.data(), far.data(), 3, 0.01);
  CHECK(projection_l2_distance(x0, far) <= 0.01);
  CHECK(projection_l2_distance(x0, far) >= 0.00999);
  CHECK(far[1] == 0.5f);
  CHECK(far[2] == 0.02f);
}

TEST_SUITE_END();
