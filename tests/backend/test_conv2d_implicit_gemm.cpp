// The float convolution kernels (backend/cpu/conv2d_implicit_gemm.hpp and the im2col path of
// conv2d.hpp): each kernel this machine runs, forward and input gradient, against explicit loops
// in double on odd shapes (channel counts that fill no micro-tile, panels that straddle images
// and rows, strides, paddings, kernel sizes), the weight and bias gradients alongside, and the
// same bits on 1 and 2 threads. A kernel the machine cannot run is reported skipped.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "invar/backend/cpu/conv2d.hpp"
#include "invar/cpu.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"

using namespace invar;

TEST_SUITE_BEGIN("backend");

namespace {

/// Chooses a kernel for the scope; back to the machine's best at the end.
struct KernelScope {
  explicit KernelScope(cpu::ConvKernel k) { cpu::set_conv_kernel(k); }
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;
  ~KernelScope() { cpu::reset_conv_kernel(); }
};

const char* kernel_name(cpu::ConvKernel k) {
  return k == cpu::ConvKernel::avx512 ? "avx512" : k == cpu::ConvKernel::avx2 ? "avx2" : "im2col";
}

/// What the weight and bias gradients hold before the backward pass, which adds to them.
constexpr float gradient_start = 0.5f;

/// Explicit loops in double: y = conv(x, w) + b, and, for dy, dx = dL/dx, dw = gradient_start + dL/dw,
/// db = gradient_start + dL/db.
struct Reference {
  std::vector<double> y, dx, dw, db;
};
Reference reference(const Conv2dGeometry& g, const std::vector<float>& x, const std::vector<float>& w,
                    const std::vector<float>& b, const std::vector<float>& dy) {
  Reference r{std::vector<double>(dy.size()), std::vector<double>(x.size()), std::vector<double>(w.size()),
              std::vector<double>(b.size())};
  std::fill(r.dw.begin(), r.dw.end(), double(gradient_start));
  std::fill(r.db.begin(), r.db.end(), double(gradient_start));
  const index_t ho = g.out_h(), wo = g.out_w(), kk = g.kernel;
  for (index_t n = 0; n < g.batch; ++n)
    for (index_t o = 0; o < g.out_channels; ++o)
      for (index_t oy = 0; oy < ho; ++oy)
        for (index_t ox = 0; ox < wo; ++ox) {
          const std::size_t yi = std::size_t(((n * g.out_channels + o) * ho + oy) * wo + ox);
          double acc = b[std::size_t(o)];
          const double d = dy[yi];
          r.db[std::size_t(o)] += d;
          for (index_t c = 0; c < g.in_channels; ++c)
            for (index_t ky = 0; ky < kk; ++ky)
              for (index_t kx = 0; kx < kk; ++kx) {
                const index_t iy = oy * g.stride - g.padding + ky, ix = ox * g.stride - g.padding + kx;
                if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) continue;
                const std::size_t xi = std::size_t(((n * g.in_channels + c) * g.height + iy) * g.width + ix);
                const std::size_t wi = std::size_t(((o * g.in_channels + c) * kk + ky) * kk + kx);
                acc += double(w[wi]) * double(x[xi]);
                r.dx[xi] += double(w[wi]) * d;
                r.dw[wi] += double(x[xi]) * d;
              }
          r.y[yi] = acc;
        }
  return r;
}

/// max |a - b| / (1 + max |b|): float accumulation over up to a few hundred terms of size 1.
double relative_error(const std::vector<float>& a, const std::vector<double>& b) {
  double err = 0, scale = 1;
  for (std::size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, std::abs(double(a[i]) - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return err / scale;
}

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  const auto t = test::random_tensor<float>(Shape{static_cast<index_t>(n)}, seed);
  return {t.begin(), t.end()};
}

struct Outputs {
  std::vector<float> y, dx, dw, db;
};
Outputs run(const Conv2dGeometry& g, const std::vector<float>& x, const std::vector<float>& w,
            const std::vector<float>& b, const std::vector<float>& dy) {
  // dw and db start at gradient_start: the backward adds to them (dx and y are overwritten).
  Outputs out{std::vector<float>(dy.size(), 7.0f), std::vector<float>(x.size(), 7.0f),
              std::vector<float>(w.size(), gradient_start), std::vector<float>(b.size(), gradient_start)};
  cpu::conv2d_forward(g, x.data(), w.data(), b.data(), out.y.data());
  cpu::conv2d_backward(g, x.data(), w.data(), dy.data(), out.dw.data(), out.db.data(), out.dx.data());
  return out;
}

std::vector<cpu::ConvKernel> kernels_here() {
  std::vector<cpu::ConvKernel> here;
  for (const auto k : {cpu::ConvKernel::im2col, cpu::ConvKernel::avx2, cpu::ConvKernel::avx512}) {
    if (cpu::conv_kernel_available(k)) here.push_back(k);
    else MESSAGE("skipped: this machine cannot run the " << kernel_name(k) << " convolution kernel");
  }
  return here;
}

}  // namespace

TEST_CASE("float convolution kernels equal explicit loops in double: forward, dx, dw and dbias, odd shapes") {
  // batch, in channels, height, width, out channels, kernel, stride, padding
  const std::vector<Conv2dGeometry> shapes = {
      {2, 3, 7, 5, 10, 3, 1, 1},    // 10 outputs: no tile size divides it; 35 positions: panels straddle images
      {3, 5, 9, 9, 13, 3, 2, 1},    // stride 2 (dx by im2col)
      {1, 4, 6, 6, 8, 1, 1, 0},     // pointwise
      {2, 7, 8, 8, 24, 5, 1, 2},    // 5x5, padding 2
      {1, 2, 5, 5, 3, 3, 1, 0},     // valid: dx pads by k - 1
      {4, 16, 8, 8, 64, 3, 1, 1},   // 8x8 maps, several rows per panel
      {2, 8, 11, 13, 12, 3, 2, 0},  // stride 2, valid, odd sizes
      {1, 3, 3, 3, 5, 3, 1, 2},     // padding 2 on a 3x3 image
      {2, 3, 4, 4, 6, 1, 1, 1},     // padding beyond k - 1: dx by im2col
      {1, 6, 34, 33, 7, 3, 1, 1},   // rows longer than a panel
      {3, 2, 6, 6, 4, 2, 3, 1},     // even kernel, stride 3
      {1, 1, 1, 1, 1, 1, 1, 0},     // one pixel
      {2, 5, 16, 16, 20, 3, 1, 1},  // rows of 16: panels read in place from the images (AVX-512)
      {1, 3, 6, 32, 10, 3, 1, 1},   // rows of 32: the same, one row per panel
  };
  for (const auto k : kernels_here()) {
    KernelScope scope(k);
    for (const auto& g : shapes) {
      CAPTURE(kernel_name(k));
      CAPTURE(g.in_channels);
      CAPTURE(g.out_channels);
      CAPTURE(g.height);
      CAPTURE(g.width);
      CAPTURE(g.kernel);
      CAPTURE(g.stride);
      CAPTURE(g.padding);
      const auto x = random_vector(std::size_t(g.batch * g.in_image()), 1);
      const auto w = random_vector(std::size_t(g.out_channels * g.patch_rows()), 2);
      const auto b = random_vector(std::size_t(g.out_channels), 3);
      const auto dy = random_vector(std::size_t(g.batch * g.out_image()), 4);
      const auto ref = reference(g, x, w, b, dy);
      const auto out = run(g, x, w, b, dy);
      CHECK(relative_error(out.y, ref.y) < 1e-5);
      CHECK(relative_error(out.dx, ref.dx) < 1e-5);
      CHECK(relative_error(out.dw, ref.dw) < 1e-5);
      CHECK(relative_error(out.db, ref.db) < 1e-5);
    }
  }
}

TEST_CASE("float convolution kernels: the same bits on 1, 2 and 5 threads, and from run to run") {
  // 40 images of 12x12: several chunks per thread; 20 output channels: a partial micro-tile.
  // 10 chunks over 8 partial weight gradients, made in waves of 4 and 4 (1 to 4 threads) or of 5
  // and 3 (5 threads).
  const Conv2dGeometry g{40, 8, 12, 12, 20, 3, 1, 1};
  const auto x = random_vector(std::size_t(g.batch * g.in_image()), 5);
  const auto w = random_vector(std::size_t(g.out_channels * g.patch_rows()), 6);
  const auto b = random_vector(std::size_t(g.out_channels), 7);
  const auto dy = random_vector(std::size_t(g.batch * g.out_image()), 8);
  for (const auto k : kernels_here()) {
    CAPTURE(kernel_name(k));
    KernelScope scope(k);
    const auto one = [&] {
      ThreadScope threads(1);
      return run(g, x, w, b, dy);
    }();
    const auto two = [&] {
      ThreadScope threads(2);
      return run(g, x, w, b, dy);
    }();
    const auto again = [&] {
      ThreadScope threads(2);
      return run(g, x, w, b, dy);
    }();
    const auto five = [&] {
      ThreadScope threads(5);
      return run(g, x, w, b, dy);
    }();
    CHECK(one.y == two.y);
    CHECK(one.dx == two.dx);
    CHECK(one.dw == two.dw);
    CHECK(one.dw == five.dw);
    CHECK(one.db == five.db);
    CHECK(one.dx == five.dx);
    CHECK(two.y == again.y);
    CHECK(two.dx == again.dx);
  }
}

TEST_CASE("set_conv_kernel chooses the kernel, reset_conv_kernel goes back to the machine's best") {
  const auto best = cpu::conv_kernel();
  CHECK(cpu::conv_kernel_available(best));
  if (cpu::conv_kernel_available(cpu::ConvKernel::avx512)) CHECK(best == cpu::ConvKernel::avx512);
  {
    KernelScope scope(cpu::ConvKernel::im2col);
    CHECK(cpu::conv_kernel() == cpu::ConvKernel::im2col);
  }
  CHECK(cpu::conv_kernel() == best);
  for (const auto k : {cpu::ConvKernel::avx2, cpu::ConvKernel::avx512})
    if (!cpu::conv_kernel_available(k))
      CHECK_THROWS_WITH_AS(cpu::set_conv_kernel(k), doctest::Contains("this machine cannot run"), Error);
}

TEST_CASE("conv2d_forward_packed refuses weights packed for another convolution") {
  for (const auto k : kernels_here()) {
    if (k == cpu::ConvKernel::im2col) continue;
    CAPTURE(kernel_name(k));
    const Conv2dGeometry g{1, 3, 6, 6, 12, 3, 1, 1};
    const auto x = random_vector(std::size_t(g.batch * g.in_image()), 1);
    std::vector<float> y(std::size_t(g.batch * g.out_image()));
    // Packed for 10 output channels; the convolution has 12.
    std::vector<float> buffer(std::size_t(cpu::implicit_gemm::packed_weights_size(k, 10, g.patch_rows())));
    const auto packed = cpu::implicit_gemm::pack_conv_weights(
        k, 10, g.patch_rows(), [](index_t, index_t) { return 1.0f; }, buffer.data());
    CHECK_ERROR_CONTAINS(cpu::implicit_gemm::conv2d_forward_packed(k, g, x.data(), packed, nullptr, y.data()),
                         "weights packed for 10 x 27");
  }
}
