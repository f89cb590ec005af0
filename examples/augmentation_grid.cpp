// Writes a PNG grid of augmented images so a person can look at what a scheme does: one row per
// image, the original first, then M augmentations drawn exactly as training draws them
// (Rng::keyed(seed, {epoch, step, image, augmentation}), the key of data::assemble_batch).
//
//   build/release/examples/augmentation_grid [--data fashion-mnist|cifar10] [--dir DIR]
//       [--scheme light|heavier] [--draw truncated_normal|uniform] [--no-flip]
//       [--images 8] [--augmentations 8] [--scale 3] [--seed 1] [--out augmentation_grid.png]
// Without the data set it exits 77 (skipped; an error under INVAR_REQUIRE_DATA=1).
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <invar/cpu.hpp>
#include <invar/data/augment/schemes.hpp>
#include <invar/data/cifar.hpp>
#include <invar/data/idx.hpp>
#include <invar/io/png.hpp>

#include "data_or_skip.hpp"

int main(int argc, char** argv) {
  using namespace invar;
  CLI::App app{"invar: a grid of augmented images (PNG), one row per image: the original, then its augmentations"};
  std::string data = "fashion-mnist", dir, scheme = "heavier", draw = "truncated_normal", out = "augmentation_grid.png";
  index_t images = 8, augmentations = 8, scale = 3;
  std::uint64_t seed = 1;
  bool no_flip = false;
  app.add_option("--data", data, "data set: fashion-mnist or cifar10")->check(CLI::IsMember({"fashion-mnist", "cifar10"}));
  app.add_option("--dir", dir, "data directory (default: the data set's default location)");
  app.add_option("--scheme", scheme, "augmentation scheme")->check(CLI::IsMember({"light", "heavier"}));
  app.add_option("--draw", draw, "how parameters are drawn")->check(CLI::IsMember({"truncated_normal", "uniform"}));
  app.add_flag("--no-flip", no_flip, "heavier scheme without the horizontal flip (the authors' current config)");
  app.add_option("--images", images, "images (rows)")->check(CLI::Range(1, 256));
  app.add_option("--augmentations", augmentations, "augmentations per image (columns after the original)")
      ->check(CLI::Range(1, 64));
  app.add_option("--scale", scale, "pixel magnification")->check(CLI::Range(1, 16));
  app.add_option("--seed", seed, "seed of the draws");
  app.add_option("--out", out, "output PNG file");
  CLI11_PARSE(app, argc, argv);
  const bool cifar = data == "cifar10";
  if (dir.empty()) dir = cifar ? data::default_cifar10_dir() : data::default_fashion_mnist_dir();
  if (cifar ? !example::has_file(dir, "test_batch.bin") : !example::has_file(dir, "t10k-images-idx3-ubyte", true))
    return example::missing_data("augmentation_grid", cifar ? "CIFAR-10 (binary version)" : "Fashion-MNIST", dir);

  try {
    const data::ImageSet set =
        cifar ? data::load_cifar10(dir, false, images) : data::load_fashion_mnist(dir, false, images);
    const auto how = draw == "uniform" ? data::augment::Draw::uniform : data::augment::Draw::truncated_normal;
    const auto aug = scheme == "light"
                         ? data::augment::light(data::augment::LightOptions{}.with_draw(how))
                         : data::augment::heavier(
                               data::augment::HeavierOptions{}.with_draw(how).with_horizontal_flip(!no_flip));
    const index_t n = set.images.dim(0), c = set.images.dim(1), h = set.images.dim(2), w = set.images.dim(3);
    const index_t cols = augmentations + 1, pixels = c * h * w;
    Tensor<float> grid(Shape{n * cols, c, h, w});
    for (index_t i = 0; i < n; ++i) {
      const float* src = set.images.data() + i * pixels;
      std::copy(src, src + pixels, grid.data() + (i * cols) * pixels);
      for (index_t m = 0; m < augmentations; ++m) {
        Rng rng = Rng::keyed(seed, {0, 0, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(m)});
        aug.apply(src, grid.data() + (i * cols + 1 + m) * pixels, c, h, w, rng);
      }
    }
    io::write_image_grid(out, grid, io::ImageGridOptions{}.with_columns(cols).with_scale(scale));
    std::printf("%s: %lld images x (original + %lld augmentations), scheme %s (%s), written to %s\n", data.c_str(),
                static_cast<long long>(n), static_cast<long long>(augmentations), aug.describe().c_str(), draw.c_str(),
                out.c_str());
  } catch (const Error& e) {
    std::fprintf(stderr, "augmentation_grid: %s\n", e.what());
    return 1;
  }
  return 0;
}
