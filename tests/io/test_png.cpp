// PNG writing: a grid of images read back with stb_image (an independent decoder), exact pixel
// values and layout, and the errors (bad shapes, NaN, unwritable paths leave no file behind).
#include <doctest/doctest.h>

#include "invar/cpu.hpp"
#include "invar/io/png.hpp"
#include "support/error_message.hpp"
#include "support/temp_dir.hpp"

#include "support/stb_image.hpp"

using namespace invar;

TEST_SUITE_BEGIN("io");

namespace {
struct Decoded {
  int width = 0, height = 0, channels = 0;
  std::vector<unsigned char> pixels;
};
Decoded decode(const std::string& path) {
  Decoded d;
  unsigned char* p = stbi_load(path.c_str(), &d.width, &d.height, &d.channels, 0);
  REQUIRE(p != nullptr);
  d.pixels.assign(p, p + d.width * d.height * d.channels);
  stbi_image_free(p);
  return d;
}
}  // namespace

TEST_CASE("write_image_grid lays out RGB images in rows, with padding and scaling") {
  test::TempDir dir;
  // 5 images of 3 x 2 x 3 (C x H x W); pixel value encodes (image, channel, y, x).
  Tensor<float> images(Shape{5, 3, 2, 3});
  for (index_t i = 0; i < 5; ++i)
    for (index_t c = 0; c < 3; ++c)
      for (index_t y = 0; y < 2; ++y)
        for (index_t x = 0; x < 3; ++x) images(i, c, y, x) = float(i * 40 + c * 10 + y * 3 + x) / 255.0f;
  images(4, 0, 0, 0) = 2.0f;  // clipped to 1
  const auto path = dir.file("grid.png");
  io::write_image_grid(path, images, io::ImageGridOptions{}.with_columns(2).with_padding(1).with_scale(2).with_background(0));
  const auto d = decode(path);
  // 2 columns x 3 rows of 6 x 4 cells, 1 pixel of padding around and between.
  CHECK(d.width == 2 * 6 + 3);
  CHECK(d.height == 3 * 4 + 4);
  CHECK(d.channels == 3);
  auto at = [&](int x, int y, int c) { return int(d.pixels[std::size_t((y * d.width + x) * 3 + c)]); };
  for (index_t i = 0; i < 5; ++i) {
    const int x0 = 1 + int(i % 2) * 7, y0 = 1 + int(i / 2) * 5;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 6; ++x) {
          const int expected = (i == 4 && c == 0 && y < 2 && x < 2) ? 255 : int(i * 40 + c * 10 + (y / 2) * 3 + x / 2);
          CHECK(at(x0 + x, y0 + y, c) == expected);
        }
  }
  CHECK(at(0, 0, 0) == 0);    // padding
  CHECK(at(13, 13, 1) == 0);  // the empty sixth cell
  CHECK(dir.listing() == std::vector<std::string>{"grid.png"});
}

TEST_CASE("write_image_grid writes grey images and rejects bad input without leaving files") {
  test::TempDir dir;
  Tensor<float> grey(Shape{1, 1, 2, 2});
  grey[0] = 0.0f;
  grey[1] = 0.5f;
  grey[2] = 1.0f;
  grey[3] = 0.25f;
  io::write_image_grid(dir.file("grey.png"), grey, io::ImageGridOptions{}.with_padding(0));
  const auto d = decode(dir.file("grey.png"));
  CHECK(d.channels == 1);
  CHECK(d.pixels == std::vector<unsigned char>{0, 128, 255, 64});

  CHECK_ERROR_CONTAINS(io::write_image_grid(dir.file("a.png"), Tensor<float>(Shape{2, 2, 4, 4})),
                       "1 or 3 channels");
  CHECK_ERROR_CONTAINS(io::write_image_grid(dir.file("a.png"), Tensor<float>(Shape{2, 16})), "[N, C, H, W]");
  grey[1] = std::nanf("");
  CHECK_ERROR_CONTAINS(io::write_image_grid(dir.file("a.png"), grey), "NaN");
  grey[1] = 0.5f;
  CHECK_ERROR_CONTAINS(io::write_image_grid(dir.file("missing/a.png"), grey), "missing/a.png");
  CHECK(dir.listing() == std::vector<std::string>{"grey.png"});
}

TEST_SUITE_END();
