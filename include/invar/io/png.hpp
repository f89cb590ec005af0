#pragma once
/// \file png.hpp
/// PNG files, written atomically: `write_png` for 8-bit pixels and `write_image_grid` for a
/// batch of float images in [0, 1] laid out as a grid (to look at augmentations, samples, ...).
///
/// The encoder is stb_image_write (Debian: libstb-dev, header <stb/stb_image_write.h>), compiled
/// into each translation unit with static linkage (STB_IMAGE_WRITE_STATIC), so this header-only
/// use never clashes with another copy of stb in the user's program. Only this header needs it.

#if !defined(INVAR_COMPONENT_REPORT)
#error "invar: <invar/io/png.hpp> is part of the component invar::report: find_package(invar COMPONENTS report) and link the target invar::report"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/io/atomic_file.hpp"

#ifndef INVAR_STB_IMAGE_WRITE_INCLUDED
#define INVAR_STB_IMAGE_WRITE_INCLUDED
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

namespace invar::io {

/// Encodes `pixels` (height rows of width x channels bytes; channels 1 = grey, 3 = RGB,
/// 4 = RGBA) as the bytes of a PNG file (to embed an image in an SVG or HTML page, say).
inline std::vector<unsigned char> encode_png(const std::uint8_t* pixels, index_t width, index_t height, int channels,
                                             const char* who = "encode_png") {
  check(width > 0 && height > 0, who, ": image size must be positive, got ", width, " x ", height);
  check(channels == 1 || channels == 3 || channels == 4, who, ": channels must be 1, 3 or 4, got ", channels);
  check(width <= (1 << 24) && height <= (1 << 24), who, ": image too large (", width, " x ", height, ")");
  std::vector<unsigned char> encoded;
  auto sink = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    const auto* bytes = static_cast<const unsigned char*>(data);
    out->insert(out->end(), bytes, bytes + size);
  };
  const int ok = stbi_write_png_to_func(sink, &encoded, static_cast<int>(width), static_cast<int>(height), channels,
                                        pixels, static_cast<int>(width * channels));
  check(ok != 0 && !encoded.empty(), who, ": the PNG encoder failed");
  return encoded;
}

/// Writes `pixels` (as encode_png) as a PNG file: complete or not at all.
inline void write_png(const std::string& path, const std::uint8_t* pixels, index_t width, index_t height,
                      int channels) {
  const std::string who = "write_png " + path;
  const auto encoded = encode_png(pixels, width, height, channels, who.c_str());
  AtomicFile file(path);
  file.write(encoded.data(), encoded.size());
  file.commit();
}

/// Layout of write_image_grid(); checked there (columns > 0, padding >= 0, scale > 0).
struct ImageGridOptions {
  index_t columns = 8;  ///< images per row
  index_t padding = 2;  ///< pixels between images (and around the grid)
  index_t scale = 1;    ///< each pixel becomes scale x scale pixels (small images are easier to see)
  float background = 1.0f;  ///< grey level of the padding, in [0, 1]
  /// Sets #columns.
  ImageGridOptions& with_columns(index_t c) { columns = c; return *this; }
  /// Sets #padding.
  ImageGridOptions& with_padding(index_t p) { padding = p; return *this; }
  /// Sets #scale.
  ImageGridOptions& with_scale(index_t s) { scale = s; return *this; }
  /// Sets #background.
  ImageGridOptions& with_background(float b) { background = b; return *this; }
};

/// Lays out `images` (N x C x H x W, C = 1 or 3, values in [0, 1]; outside values are clipped)
/// row by row in a grid and writes it as a PNG. Throws invar::Error for a bad shape, NaN pixels
/// or a path that cannot be written.
inline void write_image_grid(const std::string& path, TensorView<const float> images, const ImageGridOptions& o = {}) {
  check(images.rank() == 4, "write_image_grid ", path, ": expected images [N, C, H, W], got ", images.shape());
  const index_t n = images.dim(0), c = images.dim(1), h = images.dim(2), w = images.dim(3);
  check(n > 0 && h > 0 && w > 0, "write_image_grid ", path, ": no pixels in ", images.shape());
  check(c == 1 || c == 3, "write_image_grid ", path, ": images must have 1 or 3 channels, got ", c);
  check(o.columns > 0 && o.padding >= 0 && o.scale > 0, "write_image_grid ", path,
        ": need columns > 0, padding >= 0, scale > 0");
  const index_t cols = std::min(o.columns, n), rows = (n + cols - 1) / cols;
  const index_t cell_w = w * o.scale, cell_h = h * o.scale;
  const index_t width = cols * cell_w + (cols + 1) * o.padding, height = rows * cell_h + (rows + 1) * o.padding;
  auto to_byte = [](float v) {
    return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 1.0f) * 255.0f));
  };
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width * height * c), to_byte(o.background));
  for (index_t i = 0; i < n; ++i) {
    const index_t x0 = o.padding + (i % cols) * (cell_w + o.padding), y0 = o.padding + (i / cols) * (cell_h + o.padding);
    for (index_t ch = 0; ch < c; ++ch)
      for (index_t y = 0; y < cell_h; ++y)
        for (index_t x = 0; x < cell_w; ++x) {
          const float v = images[((i * c + ch) * h + y / o.scale) * w + x / o.scale];
          check(!std::isnan(v), "write_image_grid ", path, ": image ", i, " has a NaN pixel");
          pixels[static_cast<std::size_t>(((y0 + y) * width + x0 + x) * c + ch)] = to_byte(v);
        }
  }
  write_png(path, pixels.data(), width, height, static_cast<int>(c));
}

}  // namespace invar::io
