#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "support/error_message.hpp"
#include "support/random.hpp"
#include "invar/cpu.hpp"
#include "invar/backend/cpu/threads.hpp"
#include "invar/data/augment/augmentation.hpp"
#include "invar/data/augment/schemes.hpp"

using invar::Rng;
using invar::Shape;
using invar::Tensor;
using invar::index_t;
using namespace invar::data::augment;

namespace {

/// A C x H x W image with values uniform in [0, 1).
std::vector<float> random_image(index_t c, index_t h, index_t w, std::uint64_t seed) {
  const auto t = invar::test::random_tensor<float>(Shape{c, h, w}, seed, 0.0, 1.0);
  return std::vector<float>(t.begin(), t.end());
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// Element (c, y, x) of a CHW image.
float at(const std::vector<float>& img, index_t h, index_t w, index_t c, index_t y, index_t x) {
  return img[static_cast<std::size_t>((c * h + y) * w + x)];
}

double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }
double phi(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2.0 * std::numbers::pi); }

/// Sample mean, variance and the standard errors of both (from the sample's 4th central moment).
struct Moments {
  double mean = 0, var = 0, se_mean = 0, se_var = 0;
  explicit Moments(const std::vector<double>& v) {
    const double n = double(v.size());
    for (double x : v) mean += x;
    mean /= n;
    double m2 = 0, m4 = 0;
    for (double x : v) {
      const double d = (x - mean) * (x - mean);
      m2 += d;
      m4 += d * d;
    }
    var = m2 / n;
    m4 /= n;
    se_mean = std::sqrt(var / n);
    se_var = std::sqrt((m4 - var * var) / n);
  }
};

/// Kolmogorov-Smirnov statistic sup |F_n - F| of a sample against a continuous CDF.
double ks_statistic(std::vector<double> v, const std::function<double(double)>& cdf) {
  std::sort(v.begin(), v.end());
  const double n = double(v.size());
  double d = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double f = cdf(v[i]);
    d = std::max({d, double(i + 1) / n - f, f - double(i) / n});
  }
  return d;
}

double uniform_cdf(const Range& r, double x) { return std::clamp((x - r.lo) / r.width(), 0.0, 1.0); }
double truncated_normal_cdf(const Range& r, double x) {
  const double sigma = r.width() / 4, z = (x - r.mid()) / sigma;
  return std::clamp((Phi(z) - Phi(-2.0)) / (Phi(2.0) - Phi(-2.0)), 0.0, 1.0);
}

/// Checks a sample of n draws from `r`: inside the range, mean and variance within 5 standard
/// errors of the distribution's, KS statistic below 2.2 / sqrt(n) (p ~ 1e-4).
void check_distribution(const std::vector<double>& v, const Range& r, Draw how, const std::string& name) {
  CAPTURE(name);
  CAPTURE(to_string(how));
  const double tol = 1e-12 * std::max(1.0, std::abs(r.lo) + std::abs(r.hi));
  bool inside = true;
  for (double x : v) inside = inside && x >= r.lo - tol && x <= r.hi + tol;
  CHECK(inside);
  const Moments m(v);
  double var = 0;
  if (how == Draw::uniform) {
    var = r.width() * r.width() / 12;
  } else {
    const double sigma = r.width() / 4;
    var = sigma * sigma * (1 - 2 * 2 * phi(2.0) / (Phi(2.0) - Phi(-2.0)));
  }
  CAPTURE(m.mean);
  CAPTURE(m.var);
  CAPTURE(var);
  CHECK(std::abs(m.mean - r.mid()) < 5 * m.se_mean);
  CHECK(std::abs(m.var - var) < 5 * m.se_var);
  const double d = ks_statistic(v, [&](double x) {
    return how == Draw::uniform ? uniform_cdf(r, x) : truncated_normal_cdf(r, x);
  });
  CAPTURE(d);
  CHECK(d < 2.2 / std::sqrt(double(v.size())));
}

/// An inverting transform (x' = 1 - x) written against the Transform interface.
class Invert final : public Transform {
 public:
  TransformParams draw(Rng&, index_t, index_t, index_t) const override { return NoParams{}; }
  void apply(const TransformParams& p, const float* in, float* out, index_t c, index_t h, index_t w) const override {
    (void)params_as<NoParams>(p, "Invert");
    for (index_t i = 0; i < c * h * w; ++i) out[i] = 1.0f - in[i];
  }
  std::string describe() const override { return "invert"; }
};

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("augment: identity parameters give the input bit for bit") {
    for (auto [c, h, w] : std::vector<std::array<index_t, 3>>{{3, 32, 32}, {1, 5, 7}, {2, 1, 1}, {1, 1, 6}, {4, 9, 2}}) {
      CAPTURE(c);
      CAPTURE(h);
      CAPTURE(w);
      const auto in = random_image(c, h, w, 11);
      std::vector<float> out(in.size(), -1.0f);
      apply_affine(AffineParams{}, in.data(), out.data(), c, h, w);
      CHECK(bit_equal(in, out));
      std::fill(out.begin(), out.end(), -1.0f);
      apply_flip(FlipParams{false}, in.data(), out.data(), c, h, w);
      CHECK(bit_equal(in, out));
      std::fill(out.begin(), out.end(), -1.0f);
      apply_crop(CropParams{3, 3, 3}, in.data(), out.data(), c, h, w);
      CHECK(bit_equal(in, out));
      std::fill(out.begin(), out.end(), -1.0f);
      apply_brightness(BrightnessParams{0.0}, in.data(), out.data(), c, h, w);
      CHECK(bit_equal(in, out));
      std::fill(out.begin(), out.end(), -1.0f);
      apply_contrast(ContrastParams{1.0}, in.data(), out.data(), c, h, w);
      CHECK(bit_equal(in, out));

      // Pipelines whose every draw is the identity: the empty one, Identity, constant ranges.
      HeavierOptions o;
      o.horizontal_flip = false;
      o.affine = AffineRanges{};
      o.brightness = Range::constant(0.0);
      o.contrast = Range::constant(1.0);
      for (const Augmentation& aug : {Augmentation{}, Augmentation{}.identity(), heavier(o),
                                      Augmentation{}.horizontal_flip(0.0).random_crop(0)}) {
        CAPTURE(aug.describe());
        Rng rng(3);
        std::fill(out.begin(), out.end(), -1.0f);
        aug.apply(in.data(), out.data(), c, h, w, rng);
        CHECK(bit_equal(in, out));
      }
    }
  }

  TEST_CASE("augment: flipping twice gives the input back and flips columns") {
    const index_t c = 2, h = 4, w = 7;
    const auto in = random_image(c, h, w, 5);
    std::vector<float> once(in.size()), twice(in.size());
    flip_horizontal(in.data(), once.data(), c, h, w);
    flip_horizontal(once.data(), twice.data(), c, h, w);
    CHECK(bit_equal(in, twice));
    bool ok = true;
    for (index_t ch = 0; ch < c; ++ch)
      for (index_t y = 0; y < h; ++y)
        for (index_t x = 0; x < w; ++x) ok = ok && at(once, h, w, ch, y, x) == at(in, h, w, ch, y, w - 1 - x);
    CHECK(ok);
  }

  TEST_CASE("augment: translation by whole pixels moves pixels exactly with nearest border fill") {
    const index_t c = 2, h = 9, w = 11;
    const auto in = random_image(c, h, w, 7);
    std::vector<float> out(in.size());
    for (auto [tx, ty] : std::vector<std::array<index_t, 2>>{{3, -2}, {-4, 5}, {0, 1}, {12, -10}}) {
      CAPTURE(tx);
      CAPTURE(ty);
      AffineParams p;
      p.translate_x = double(tx);
      p.translate_y = double(ty);
      apply_affine(p, in.data(), out.data(), c, h, w);
      // Content moves right by tx and down by ty; outside, the nearest edge pixel.
      bool interior = true, border = true;
      for (index_t ch = 0; ch < c; ++ch)
        for (index_t y = 0; y < h; ++y)
          for (index_t x = 0; x < w; ++x) {
            const index_t sy = y - ty, sx = x - tx;
            const bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
            const float expected = at(in, h, w, ch, std::clamp<index_t>(sy, 0, h - 1), std::clamp<index_t>(sx, 0, w - 1));
            (inside ? interior : border) &= at(out, h, w, ch, y, x) == expected;
          }
      CHECK(interior);
      CHECK(border);
    }
  }

  TEST_CASE("augment: whole-pixel translation draws integers inside the range") {
    const index_t c = 1, h = 30, w = 32;
    const auto in = random_image(c, h, w, 8);
    std::vector<float> out(in.size());
    for (Draw how : {Draw::uniform, Draw::truncated_normal}) {
      const Augmentation aug = Augmentation{}.translate(Range::symmetric(0.1), Range::symmetric(0.1), how);
      const auto& step = dynamic_cast<const RandomAffine&>(aug.step(0));
      Rng rng(9);
      bool integral = true, in_range = true;
      std::vector<int> seen_x(7, 0);
      for (int i = 0; i < 2000; ++i) {
        const AffineParams p = step.sample(rng, h, w);
        integral = integral && p.translate_x == std::round(p.translate_x) && p.translate_y == std::round(p.translate_y);
        in_range = in_range && std::abs(p.translate_x) <= 3 && std::abs(p.translate_y) <= 3;
        if (std::abs(p.translate_x) <= 3) ++seen_x[static_cast<std::size_t>(p.translate_x + 3)];
        in_range = in_range && p.rotation == 0.0 && p.scale_x == 1.0;
      }
      CHECK(integral);
      CHECK(in_range);
      for (int k : seen_x) CHECK(k > 0);
      // A drawn shift moves the image exactly.
      Rng a(4), b(4);
      const AffineParams p = step.sample(b, h, w);
      aug.apply(in.data(), out.data(), c, h, w, a);
      bool ok = true;
      for (index_t y = 0; y < h; ++y)
        for (index_t x = 0; x < w; ++x)
          ok = ok && at(out, h, w, 0, y, x) ==
                         at(in, h, w, 0, std::clamp<index_t>(y - index_t(p.translate_y), 0, h - 1),
                            std::clamp<index_t>(x - index_t(p.translate_x), 0, w - 1));
      CHECK(ok);
    }
  }

  TEST_CASE("augment: rotation by 90 degrees of a square image equals the explicit rotation") {
    // Convention: positive angles turn the content counterclockwise as displayed (row 0 on top):
    // +90: out(y, x) = in(x, W-1-y); -90: out(y, x) = in(H-1-x, y); 180: out(y, x) = in(H-1-y, W-1-x).
    for (index_t n : {6, 7, 32}) {
      CAPTURE(n);
      const index_t c = 3;
      const auto in = random_image(c, n, n, 21);
      std::vector<float> out(in.size());
      for (int quarter : {1, -1, 2}) {
        CAPTURE(quarter);
        AffineParams p;
        p.rotation = quarter * std::numbers::pi / 2;
        apply_affine(p, in.data(), out.data(), c, n, n);
        double max_diff = 0;
        for (index_t ch = 0; ch < c; ++ch)
          for (index_t y = 0; y < n; ++y)
            for (index_t x = 0; x < n; ++x) {
              const float e = quarter == 1    ? at(in, n, n, ch, x, n - 1 - y)
                              : quarter == -1 ? at(in, n, n, ch, n - 1 - x, y)
                                              : at(in, n, n, ch, n - 1 - y, n - 1 - x);
              max_diff = std::max(max_diff, double(std::abs(at(out, n, n, ch, y, x) - e)));
            }
        CHECK(max_diff == 0.0);  // exact: the source positions are snapped to the integers they round-off from
      }
    }
  }

  TEST_CASE("augment: scale and shear follow the documented forward map") {
    // On a horizontal ramp in(y, x) = x the output shows the source column of every pixel.
    const index_t h = 9, w = 13;
    std::vector<float> ramp(static_cast<std::size_t>(h * w));
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) ramp[static_cast<std::size_t>(y * w + x)] = float(x);
    std::vector<float> out(ramp.size());
    const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    AffineParams s;
    s.scale_x = 2.0;  // content twice as wide: out(y, x) = in(y, cx + (x - cx) / 2)
    apply_affine(s, ramp.data(), out.data(), 1, h, w);
    for (index_t x = 0; x < w; ++x) CHECK(at(out, h, w, 0, 4, x) == doctest::Approx(cx + (double(x) - cx) / 2));
    AffineParams sh;
    sh.shear = 0.3;  // x' = x + tan(0.3) (y - cy): rows below the centre move right
    apply_affine(sh, ramp.data(), out.data(), 1, h, w);
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < w; ++x) {
        const double src = std::clamp(double(x) - std::tan(0.3) * (double(y) - cy), 0.0, double(w - 1));
        CHECK(at(out, h, w, 0, y, x) == doctest::Approx(src).epsilon(1e-6));
      }
  }

  TEST_CASE("augment: brightness and contrast match the explicit formulas with clipping") {
    const index_t c = 3, h = 5, w = 6;
    const auto in = random_image(c, h, w, 31);
    std::vector<float> out(in.size());
    for (double d : {0.2, -0.35, 0.9}) {
      apply_brightness(BrightnessParams{d}, in.data(), out.data(), c, h, w);
      bool ok = true;
      for (std::size_t i = 0; i < in.size(); ++i)
        ok = ok && std::abs(out[i] - std::clamp(double(in[i]) + d, 0.0, 1.0)) <= 1e-7;
      CHECK(ok);
    }
    for (double g : {0.5, 1.5, 3.0, 0.0, -1.0}) {
      CAPTURE(g);
      apply_contrast(ContrastParams{g}, in.data(), out.data(), c, h, w);
      bool ok = true;
      for (index_t ch = 0; ch < c; ++ch) {
        double mean = 0;
        for (index_t i = 0; i < h * w; ++i) mean += in[static_cast<std::size_t>(ch * h * w + i)];
        mean /= double(h * w);
        for (index_t i = 0; i < h * w; ++i) {
          const auto k = static_cast<std::size_t>(ch * h * w + i);
          ok = ok && std::abs(out[k] - std::clamp(g * (double(in[k]) - mean) + mean, 0.0, 1.0)) <= 1e-6;
        }
      }
      CHECK(ok);
    }
    // Clipping happens: a large gain saturates both ends.
    apply_contrast(ContrastParams{3.0}, in.data(), out.data(), c, h, w);
    CHECK(*std::min_element(out.begin(), out.end()) == 0.0f);
    CHECK(*std::max_element(out.begin(), out.end()) == 1.0f);
  }

  TEST_CASE("augment: random crop pads with zeros and crops back") {
    const index_t c = 2, h = 5, w = 6, pad = 2;
    const auto in = random_image(c, h, w, 41);
    std::vector<float> out(in.size());
    apply_crop(CropParams{pad, 0, 4}, in.data(), out.data(), c, h, w);  // window 2 up, 2 right
    bool ok = true;
    for (index_t ch = 0; ch < c; ++ch)
      for (index_t y = 0; y < h; ++y)
        for (index_t x = 0; x < w; ++x) {
          const index_t sy = y - 2, sx = x + 2;
          const float e = (sy >= 0 && sx < w) ? at(in, h, w, ch, sy, sx) : 0.0f;
          ok = ok && at(out, h, w, ch, y, x) == e;
        }
    CHECK(ok);
    const RandomCrop crop(pad);
    Rng rng(2);
    std::vector<int> seen(5, 0);
    for (int i = 0; i < 1000; ++i) {
      const CropParams p = crop.sample(rng);
      REQUIRE(p.offset_y >= 0);
      REQUIRE(p.offset_y <= 2 * pad);
      REQUIRE(p.offset_x >= 0);
      REQUIRE(p.offset_x <= 2 * pad);
      ++seen[static_cast<std::size_t>(p.offset_x)];
    }
    for (int k : seen) CHECK(k > 120);  // 200 expected each
  }

  TEST_CASE("augment: drawn parameters stay in range and follow their distribution") {
    const int n = 20000;
    const index_t c = 3, h = 32, w = 32;
    for (Draw how : {Draw::uniform, Draw::truncated_normal}) {
      const HeavierOptions o = HeavierOptions{}.with_draw(how);
      const Augmentation aug = heavier(o);
      REQUIRE(aug.size() == 4);
      Rng rng(2024);
      std::vector<double> rot, shear, sx, sy, tx, ty, bright, contrast;
      int flips = 0;
      for (int i = 0; i < n; ++i) {
        const AugmentationParams p = aug.draw(rng, c, h, w);
        const auto& a = std::get<AffineParams>(p[0]);
        rot.push_back(a.rotation);
        shear.push_back(a.shear);
        sx.push_back(a.scale_x);
        sy.push_back(a.scale_y);
        tx.push_back(a.translate_x / double(w));
        ty.push_back(a.translate_y / double(h));
        flips += std::get<FlipParams>(p[1]).flip ? 1 : 0;
        bright.push_back(std::get<BrightnessParams>(p[2]).delta);
        contrast.push_back(std::get<ContrastParams>(p[3]).gamma);
      }
      check_distribution(rot, Range::symmetric(deg_to_rad(22.5)), how, "rotation");
      check_distribution(shear, Range::symmetric(0.15), how, "shear");
      check_distribution(sx, Range(0.85, 1.15), how, "scale_x");
      check_distribution(sy, Range(0.85, 1.15), how, "scale_y");
      check_distribution(tx, Range::symmetric(0.1), how, "translate_x");
      check_distribution(ty, Range::symmetric(0.1), how, "translate_y");
      check_distribution(bright, Range::symmetric(0.25), how, "brightness");
      check_distribution(contrast, Range(0.5, 1.5), how, "contrast");
      CHECK(std::abs(double(flips) / n - 0.5) < 5 * std::sqrt(0.25 / n));
    }
    // The raw draw functions, on asymmetric ranges.
    for (Draw how : {Draw::uniform, Draw::truncated_normal})
      for (Range r : {Range(-3.0, 7.0), Range(0.001, 0.002)}) {
        Rng rng(77);
        std::vector<double> v(static_cast<std::size_t>(n));
        for (auto& x : v) x = draw(r, how, rng);
        check_distribution(v, r, how, "draw");
      }
    // A degenerate range gives its value and consumes nothing.
    Rng a(1), b(1);
    CHECK(draw(Range::constant(0.7), Draw::truncated_normal, a) == 0.7);
    CHECK(a.next() == b.next());
  }

  TEST_CASE("augment: the light scheme draws translations within 10 percent and flips half the time") {
    const int n = 20000;
    for (Draw how : {Draw::uniform, Draw::truncated_normal}) {
      const Augmentation aug = light(LightOptions{}.with_draw(how));
      REQUIRE(aug.size() == 2);
      Rng rng(99);
      std::vector<double> tx, ty;
      int flips = 0;
      bool translation_only = true;
      for (int i = 0; i < n; ++i) {
        const auto p = aug.draw(rng, 1, 28, 28);
        const auto& a = std::get<AffineParams>(p[0]);
        translation_only = translation_only && a.rotation == 0.0 && a.shear == 0.0 && a.scale_x == 1.0 && a.scale_y == 1.0;
        tx.push_back(a.translate_x / 28);
        ty.push_back(a.translate_y / 28);
        flips += std::get<FlipParams>(p[1]).flip;
      }
      CHECK(translation_only);
      check_distribution(tx, Range::symmetric(0.1), how, "light translate_x");
      check_distribution(ty, Range::symmetric(0.1), how, "light translate_y");
      CHECK(std::abs(double(flips) / n - 0.5) < 5 * std::sqrt(0.25 / n));
    }
  }

  TEST_CASE("augment: apply with an Rng equals draw then apply from the same state") {
    const index_t c = 3, h = 32, w = 32;
    const auto in = random_image(c, h, w, 51);
    for (const Augmentation& aug : {heavier(), light(), heavier(HeavierOptions{}.with_draw(Draw::uniform))}) {
      std::vector<float> o1(in.size()), o2(in.size()), o3(in.size());
      Rng a(123), b(123), r3(123);
      aug.apply(in.data(), o1.data(), c, h, w, a);
      const auto params = aug.draw(b, c, h, w);
      aug.apply(params, in.data(), o2.data(), c, h, w);
      CHECK(bit_equal(o1, o2));
      CHECK(a.next() == b.next());  // the same number of draws
      aug.apply(in.data(), o3.data(), c, h, w, r3);  // the same state, the same image
      CHECK(bit_equal(o1, o3));
      CHECK(!bit_equal(o1, in));
    }
  }

  TEST_CASE("augment: augment_batch is the same on 1 and 2 threads and keys differ") {
    const index_t n = 16, c = 3, h = 32, w = 32;
    const auto images = invar::test::random_tensor<float>(Shape{n, c, h, w}, 61, 0.0, 1.0);
    const Augmentation aug = heavier();
    Tensor<float> one, two, other_key, other_seed;
    {
      invar::ThreadScope scope(1);
      augment_batch(aug, images, one, 5, 0);
    }
    {
      invar::ThreadScope scope(2);
      augment_batch(aug, images, two, 5, 0);
      augment_batch(aug, images, other_key, 5, 1);
      augment_batch(aug, images, other_seed, 6, 0);
    }
    REQUIRE(one.shape() == images.shape());
    CHECK(std::memcmp(one.data(), two.data(), one.bytes()) == 0);
    const index_t size = c * h * w;
    for (index_t i = 0; i < n; ++i) {
      CAPTURE(i);
      const auto off = static_cast<std::size_t>(i * size), bytes = static_cast<std::size_t>(size) * sizeof(float);
      CHECK(std::memcmp(one.data() + off, other_key.data() + off, bytes) != 0);
      CHECK(std::memcmp(one.data() + off, other_seed.data() + off, bytes) != 0);
      // Image i is aug.apply with Rng::keyed(seed, {key, i}).
      std::vector<float> single(static_cast<std::size_t>(size));
      Rng rng = Rng::keyed(5, {0, static_cast<std::uint64_t>(i)});
      aug.apply(images.data() + off, single.data(), c, h, w, rng);
      CHECK(std::memcmp(one.data() + off, single.data(), bytes) == 0);
    }
    // Into a preallocated view (e.g. rows of a larger batch).
    Tensor<float> target(Shape{n, c, h, w});
    augment_batch(aug, images, target.view(), 5, 0);
    CHECK(std::memcmp(one.data(), target.data(), one.bytes()) == 0);
  }

  TEST_CASE("augment: outputs stay between 0 and 1") {
    const index_t n = 64, c = 3, h = 16, w = 16;
    auto images = invar::test::random_tensor<float>(Shape{n, c, h, w}, 71, 0.0, 1.0);
    for (index_t i = 0; i < images.numel(); i += 7) images[i] = (i / 7) % 2 ? 1.0f : 0.0f;  // saturated pixels
    HeavierOptions strong = HeavierOptions{}.with_draw(Draw::uniform);
    strong.affine.with_scale(Range(0.3, 3.0), Range(0.3, 3.0)).with_rotation(Range::symmetric(3.0));
    for (const Augmentation& aug : {heavier(), heavier(HeavierOptions{}.with_draw(Draw::uniform)), light(),
                                    heavier(strong), Augmentation{}.random_crop(4).horizontal_flip()}) {
      CAPTURE(aug.describe());
      Tensor<float> out;
      augment_batch(aug, images, out, 3, 0);
      const auto [lo, hi] = std::minmax_element(out.begin(), out.end());
      CHECK(*lo >= 0.0f);
      CHECK(*hi <= 1.0f);
    }
  }

  TEST_CASE("augment: user transforms compose with the standard ones") {
    const index_t c = 1, h = 4, w = 5;
    const auto in = random_image(c, h, w, 81);
    // A class of one's own, and a function with its own random numbers.
    const Augmentation aug = Augmentation{}.then(Invert{}).function(
        "add_noise", [](const float* src, float* dst, index_t ch, index_t hh, index_t ww, Rng& rng) {
          for (index_t i = 0; i < ch * hh * ww; ++i) dst[i] = src[i] + float(0.01 * rng.uniform());
        });
    CHECK(aug.describe() == "invert -> add_noise");
    std::vector<float> o1(in.size()), o2(in.size());
    Rng a(5), b(5);
    aug.apply(in.data(), o1.data(), c, h, w, a);
    aug.apply(aug.draw(b, c, h, w), in.data(), o2.data(), c, h, w);
    CHECK(bit_equal(o1, o2));
    bool close = true;
    for (std::size_t i = 0; i < in.size(); ++i) close = close && std::abs(o1[i] - (1.0f - in[i])) <= 0.0100001f;
    CHECK(close);
    // Pipelines concatenate, and one Invert twice is the identity.
    Augmentation twice = Augmentation{}.then(Invert{});
    twice.then(twice);
    CHECK(twice.size() == 2);
    Rng r(0);
    twice.apply(in.data(), o1.data(), c, h, w, r);
    for (std::size_t i = 0; i < in.size(); ++i) CHECK(o1[i] == doctest::Approx(in[i]).epsilon(1e-6));
  }

  TEST_CASE("augment: describe names the steps and their ranges") {
    const std::string d = heavier().describe();
    CHECK(d.find("rotation [-22.5, 22.5] deg") != std::string::npos);
    CHECK(d.find("shear [-0.15, 0.15] rad") != std::string::npos);
    CHECK(d.find("scale_x [0.85, 1.15]") != std::string::npos);
    CHECK(d.find("translate_x [-0.1, 0.1] x width") != std::string::npos);
    CHECK(d.find("horizontal_flip(p = 0.5)") != std::string::npos);
    CHECK(d.find("brightness(delta [-0.25, 0.25], truncated_normal") != std::string::npos);
    CHECK(d.find("contrast(gamma [0.5, 1.5]") != std::string::npos);
    CHECK(d.find("affine") < d.find("horizontal_flip"));
    CHECK(d.find("brightness") < d.find("contrast"));
    CHECK(heavier(HeavierOptions{}.with_horizontal_flip(false)).describe().find("flip") == std::string::npos);
    CHECK(heavier(HeavierOptions{}.with_draw(Draw::uniform)).describe().find("truncated") == std::string::npos);
    CHECK(light().describe() ==
          "affine(translate_x [-0.1, 0.1] x width, translate_y [-0.1, 0.1] x height, truncated_normal, bilinear, "
          "border nearest) -> horizontal_flip(p = 0.5)");
    CHECK(Augmentation{}.describe() == "identity");
    CHECK(Augmentation{}.random_crop(4).describe() == "random_crop(pad = 4, fill 0)");
  }

  TEST_CASE("augment: bad input throws invar::Error") {
    const Augmentation aug = heavier();
    std::vector<float> img(3 * 8 * 8, 0.5f), out(img.size());
    Rng rng(1);
    CHECK_ERROR_CONTAINS(aug.apply(img.data(), out.data(), 0, 8, 8, rng), "image sizes must be positive");
    CHECK_ERROR_CONTAINS(aug.apply(img.data(), out.data(), 3, -8, 8, rng), "image sizes must be positive");
    CHECK_ERROR_CONTAINS(aug.apply(img.data(), out.data(), 3, 8, 0, rng), "image sizes must be positive");
    CHECK_ERROR_CONTAINS(aug.apply(img.data(), img.data(), 3, 8, 8, rng), "overlap");
    CHECK_ERROR_CONTAINS(aug.apply(img.data(), img.data() + 1, 1, 8, 8, rng), "overlap");
    CHECK_ERROR_CONTAINS(aug.apply(nullptr, out.data(), 3, 8, 8, rng), "null image pointer");
    CHECK_ERROR_CONTAINS(apply_affine(AffineParams{}, img.data(), img.data(), 3, 8, 8), "overlap");
    CHECK_ERROR_CONTAINS(flip_horizontal(img.data(), img.data(), 3, 8, 8), "overlap");
    CHECK_ERROR_CONTAINS(apply_contrast(ContrastParams{}, img.data(), out.data(), 3, 0, 8), "must be positive");

    // Ranges: empty, NaN or infinite bounds, bad scales and shears, bad probabilities.
    CHECK_ERROR_CONTAINS(RandomBrightness(Range(0.3, -0.3), Draw::uniform), "empty range");
    CHECK_ERROR_CONTAINS(RandomContrast(Range(std::nan(""), 1.0), Draw::uniform), "must be finite");
    CHECK_ERROR_CONTAINS(RandomContrast(Range(0.5, std::nan("")), Draw::uniform), "gamma");
    CHECK_ERROR_CONTAINS(Augmentation{}.brightness(Range(0.0, INFINITY), Draw::uniform), "must be finite");
    CHECK_ERROR_CONTAINS(RandomAffine(AffineRanges{}.with_rotation(Range(1.0, -1.0)), Draw::uniform),
                         "rotation: empty range");
    CHECK_ERROR_CONTAINS(
        RandomAffine(AffineRanges{}.with_translation(Range(std::nan(""), 0.1), Range(0, 0)), Draw::uniform),
        "translate_x: range bounds must be finite");
    CHECK_ERROR_CONTAINS(RandomAffine(AffineRanges{}.with_scale(Range(0.0, 1.0), Range(1, 1)), Draw::uniform),
                         "scale ranges must be > 0");
    CHECK_ERROR_CONTAINS(RandomAffine(AffineRanges{}.with_shear(Range::symmetric(1.6)), Draw::uniform), "shear");
    HeavierOptions bad;
    bad.contrast = Range(1.5, 0.5);
    CHECK_ERROR_CONTAINS(heavier(bad), "RandomContrast: gamma: empty range");
    CHECK_ERROR_CONTAINS(RandomHorizontalFlip(1.5), "probability");
    CHECK_ERROR_CONTAINS(RandomHorizontalFlip(std::nan("")), "probability");
    CHECK_ERROR_CONTAINS(RandomCrop(-1), "pad must be >= 0");
    CHECK_ERROR_CONTAINS(Range(2.0, 1.0).validate("x"), "x: empty range [2, 1]");
    AffineParams p;
    p.scale_x = 0;
    CHECK_ERROR_CONTAINS(apply_affine(p, img.data(), out.data(), 3, 8, 8), "scales must be > 0");
    p = AffineParams{};
    p.rotation = std::nan("");
    CHECK_ERROR_CONTAINS(apply_affine(p, img.data(), out.data(), 3, 8, 8), "must be finite");
    CHECK_ERROR_CONTAINS(apply_crop(CropParams{2, 5, 0}, img.data(), out.data(), 3, 8, 8), "offsets must lie in");

    // Parameters that do not fit the pipeline.
    auto params = aug.draw(rng, 3, 8, 8);
    params.pop_back();
    CHECK_ERROR_CONTAINS(aug.apply(params, img.data(), out.data(), 3, 8, 8), "parameters for 3 steps");
    params = aug.draw(rng, 3, 8, 8);
    std::swap(params[0], params[1]);
    CHECK_ERROR_CONTAINS(aug.apply(params, img.data(), out.data(), 3, 8, 8), "RandomAffine: got parameters of another");
    CHECK_ERROR_CONTAINS(aug.draw(rng, 3, 8, 0), "image sizes must be positive");
    CHECK_ERROR_CONTAINS(Augmentation{}.then(std::shared_ptr<const Transform>{}), "null transform");
    CHECK_ERROR_CONTAINS(Augmentation{}.function("f", nullptr), "empty function");
    CHECK_ERROR_CONTAINS(aug.step(4), "out of range");

    // Batches: shapes and aliasing.
    Tensor<float> batch(Shape{2, 3, 8, 8}), flat(Shape{2, 192}), wrong(Shape{2, 3, 8, 9});
    CHECK_ERROR_CONTAINS(augment_batch(aug, flat, wrong, 1, 0), "must be N x C x H x W");
    CHECK_ERROR_CONTAINS(augment_batch(aug, batch, batch, 1, 0), "overlap");
    CHECK_ERROR_CONTAINS(augment_batch(aug, batch, batch.view(), 1, 0), "overlap");
    CHECK_ERROR_CONTAINS(augment_batch(aug, batch, wrong.view(), 1, 0), "out has shape");
    Tensor<float> no_channels(Shape{2, 0, 8, 8}), out0;
    CHECK_ERROR_CONTAINS(augment_batch(aug, no_channels, out0, 1, 0), "image sizes must be positive");
    // An exception inside the parallel loop reaches the caller: that of the lowest image, on any
    // number of threads (images 5 and up fail here; image i has first pixel i).
    const Augmentation throwing = Augmentation{}.function(
        "thrower", [](const float* src, float*, index_t, index_t, index_t, Rng&) {
          if (src[0] >= 5.0f) throw invar::Error("thrower failed at image " + std::to_string(int(src[0])));
        });
    Tensor<float> big(Shape{64, 3, 16, 16}), big_out;
    for (index_t i = 0; i < 64; ++i) big[i * 3 * 16 * 16] = float(i);
    for (int threads : {1, 2}) {
      invar::ThreadScope scope(threads);
      CHECK_ERROR_CONTAINS(augment_batch(throwing, big, big_out, 1, 0), "thrower failed at image 5");
    }
  }
}
