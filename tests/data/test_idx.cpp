#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support/error_message.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "invar/cpu.hpp"
#include "invar/data/idx.hpp"

namespace fs = std::filesystem;
using invar::index_t;
using Bytes = std::vector<unsigned char>;

using invar::test::TempDir;

namespace {


/// An IDX file of unsigned bytes: magic 0x0000 08 <rank>, big-endian extents, data.
Bytes idx_bytes(const std::vector<std::uint32_t>& dims, const Bytes& data, unsigned type = 0x08) {
  Bytes out = {0, 0, static_cast<unsigned char>(type), static_cast<unsigned char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<unsigned char>(d >> shift));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void write_plain(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

Bytes read_idx_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// 3 images of 2 x 4 with distinct bytes (0, 7, 14, ... covering 0 and 255) and their labels.
const std::vector<std::uint32_t> kImageDims = {3, 2, 4};
Bytes image_data() {
  Bytes d(24);
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<unsigned char>(i * 11);
  d[23] = 255;
  return d;
}
const Bytes kLabels = {0, 9, 4};


}  // namespace

TEST_SUITE("data") {
  TEST_CASE("read_idx reads plain and gzipped files exactly") {
    TempDir dir;
    const Bytes file = idx_bytes(kImageDims, image_data());
    write_plain(dir.file("img"), file);
    write_gz(dir.file("img.gz"), file);
    for (const char* name : {"img", "img.gz"}) {
      CAPTURE(name);
      const auto a = invar::data::read_idx(dir.file(name));
      CHECK(a.dims == std::vector<index_t>{3, 2, 4});
      CHECK(a.declared_records == 3);
      CHECK(a.records() == 3);
      CHECK(a.type_code == 0x08);
      CHECK(a.numel() == 24);
      CHECK(a.data == std::vector<std::uint8_t>(file.begin() + 16, file.end()));

      const auto first = invar::data::read_idx(dir.file(name), 2);
      CHECK(first.dims == std::vector<index_t>{2, 2, 4});
      CHECK(first.declared_records == 3);
      CHECK(first.data == std::vector<std::uint8_t>(file.begin() + 16, file.begin() + 32));
      CHECK(invar::data::read_idx(dir.file(name), 0).data.empty());
      CHECK(invar::data::read_idx(dir.file(name), 99).records() == 3);
    }
  }

  TEST_CASE("read_idx handles any dimension count") {
    TempDir dir;
    write_gz(dir.file("one.gz"), idx_bytes({5}, {1, 2, 3, 4, 5}));
    CHECK(invar::data::read_idx(dir.file("one.gz")).dims == std::vector<index_t>{5});
    Bytes d(2 * 1 * 2 * 3);
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<unsigned char>(200 + i);
    write_plain(dir.file("four"), idx_bytes({2, 1, 2, 3}, d));
    const auto a = invar::data::read_idx(dir.file("four"));
    CHECK(a.dims == std::vector<index_t>{2, 1, 2, 3});
    CHECK(a.data == std::vector<std::uint8_t>(d.begin(), d.end()));
    write_plain(dir.file("empty"), idx_bytes({0, 28, 28}, {}));
    CHECK(invar::data::read_idx(dir.file("empty")).dims == std::vector<index_t>{0, 28, 28});
  }

  TEST_CASE("load_idx_pair scales images to [0, 1] as N x 1 x H x W and keeps labels") {
    TempDir dir;
    const Bytes img = image_data();
    write_gz(dir.file("i.gz"), idx_bytes(kImageDims, img));
    write_plain(dir.file("l"), idx_bytes({3}, kLabels));
    const auto set = invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l"));
    CHECK(set.images.shape() == invar::Shape{3, 1, 2, 4});
    CHECK(set.labels.shape() == invar::Shape{3});
    CHECK(set.size() == 3);
    CHECK(set.class_names.empty());
    bool exact = true;
    for (index_t i = 0; i < 24; ++i)
      exact = exact && set.images[i] == static_cast<float>(img[static_cast<std::size_t>(i)]) / 255.0f;
    CHECK(exact);
    CHECK(set.images(0, 0, 0, 0) == 0.0f);
    CHECK(set.images(2, 0, 1, 3) == 1.0f);
    CHECK(set.labels[0] == 0);
    CHECK(set.labels[1] == 9);
    CHECK(set.labels[2] == 4);

    const auto two = invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l"), 2);
    CHECK(two.images.shape() == invar::Shape{2, 1, 2, 4});
    CHECK(two.labels.shape() == invar::Shape{2});
    CHECK(two.labels[1] == 9);
    CHECK(invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l"), 0).size() == 0);

    const auto named = invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l"), -1,
                                                  invar::data::fashion_mnist_class_names());
    CHECK(named.class_names.size() == 10);
    CHECK(named.class_names[9] == "Ankle boot");
  }

  TEST_CASE("read_idx: missing, wrong magic, unsupported type, truncated files give clear errors") {
    TempDir dir;
    const Bytes good = idx_bytes(kImageDims, image_data());
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("nope.gz")), "does not exist");
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("nope.gz")), "nope.gz");
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.path.string()), "is a directory");

    Bytes magic = good;
    magic[0] = 0x1f;
    write_plain(dir.file("magic"), magic);
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("magic")), "not an IDX file: bad magic 0x1F 0x00 0x08 0x03");

    write_gz(dir.file("float.gz"), idx_bytes({2}, {0, 0, 0, 0, 0, 0, 0, 0}, 0x0D));
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("float.gz")), "unsupported element type 0x0D (float32)");

    Bytes rank0 = {0, 0, 8, 0};
    write_plain(dir.file("rank0"), rank0);
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("rank0")), "0 dimensions");

    write_plain(dir.file("empty"), {});
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("empty")), "needs 4 magic bytes, the file has 0");

    write_plain(dir.file("short-header"), Bytes(good.begin(), good.begin() + 10));
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("short-header")), "12 bytes of extents), the file has 6");

    Bytes cut(good.begin(), good.end() - 4);
    write_plain(dir.file("cut"), cut);
    write_gz(dir.file("cut.gz"), cut);
    for (const char* name : {"cut", "cut.gz"}) {
      CAPTURE(name);
      CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file(name)), "promises 24 data bytes");
      CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file(name)), "the file has only 20");
      // With a record limit the rest of the file is still read and checked (issue 23): refused too.
      CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file(name), 2), "the file has only 20");
    }

    // A header declaring more records than the file holds, and one declaring fewer.
    write_gz(dir.file("more.gz"), idx_bytes({4, 2, 4}, image_data()));
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("more.gz")), "promises 32 data bytes");
    write_gz(dir.file("fewer.gz"), idx_bytes({2, 2, 4}, image_data()));
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("fewer.gz")), "wrong record count");

    // A header promising terabytes: an error, not an allocation.
    write_plain(dir.file("huge"), idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, image_data()));
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("huge")), "absurd extents");
    write_plain(dir.file("big"), idx_bytes({60000, 1000, 1000}, image_data()));
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("big")), "the file has only 24");
  }

  TEST_CASE("read_idx: corrupt and cut gzip streams give errors") {
    TempDir dir;
    Bytes big(4000);
    std::mt19937 rng(3);
    for (auto& b : big) b = static_cast<unsigned char>(rng() % 7);  // compressible, but not trivially
    write_gz(dir.file("ok.gz"), idx_bytes({40, 10, 10}, big));
    const Bytes gz = read_idx_file(dir.file("ok.gz"));
    REQUIRE(gz.size() > 40);
    CHECK(invar::data::read_idx(dir.file("ok.gz")).data == std::vector<std::uint8_t>(big.begin(), big.end()));

    Bytes crc = gz;  // the gzip trailer: CRC32 of the data, then its length
    crc[crc.size() - 8] ^= 0xFF;
    write_plain(dir.file("crc.gz"), crc);
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("crc.gz")), "corrupt gzip data");

    for (std::size_t at : {gz.size() / 2, gz.size() / 3, std::size_t{20}}) {
      CAPTURE(at);
      Bytes flipped = gz;
      flipped[at] ^= 0x5A;
      write_plain(dir.file("flip.gz"), flipped);
      CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("flip.gz")), "flip.gz");
    }

    write_plain(dir.file("cut.gz"), Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2)));
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("cut.gz")), "gzip stream ends early");
    write_plain(dir.file("cut-trailer.gz"), Bytes(gz.begin(), gz.end() - 3));
    CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("cut-trailer.gz")), "gzip stream ends early");
  }

  TEST_CASE("read_idx checks the gzip trailer and the end of the stream whatever record limit is asked") {
    TempDir dir;
    Bytes big(4000);
    std::mt19937 rng(5);
    for (auto& b : big) b = static_cast<unsigned char>(rng() % 5);
    write_gz(dir.file("ok.gz"), idx_bytes({40, 10, 10}, big));
    const Bytes gz = read_idx_file(dir.file("ok.gz"));
    for (const invar::index_t limit : {invar::index_t(-1), invar::index_t(0), invar::index_t(3), invar::index_t(40)}) {
      CAPTURE(limit);
      CHECK(invar::data::read_idx(dir.file("ok.gz"), limit).records() == (limit < 0 ? 40 : limit));
      for (std::size_t cut = 1; cut <= 8; ++cut) {  // inside the 8-byte trailer (CRC-32, then the length)
        CAPTURE(cut);
        write_plain(dir.file("cut.gz"), Bytes(gz.begin(), gz.end() - static_cast<std::ptrdiff_t>(cut)));
        CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("cut.gz"), limit), "gzip stream ends early");
      }
      for (std::size_t at : {gz.size() - 8, gz.size() - 5, gz.size() - 4, gz.size() - 1}) {  // CRC, then length
        CAPTURE(at);
        Bytes bad = gz;
        bad[at] ^= 0x01;
        write_plain(dir.file("bad.gz"), bad);
        CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("bad.gz"), limit), "corrupt gzip data");
      }
      Bytes garbage = gz;
      garbage.push_back('x');
      write_plain(dir.file("garbage.gz"), garbage);
      CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("garbage.gz"), limit), "has 1 bytes after the end of its gzip stream");
      Bytes twice = gz;
      twice.insert(twice.end(), gz.begin(), gz.end());
      write_plain(dir.file("twice.gz"), twice);
      CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("twice.gz"), limit), "after the end of its gzip stream");
      // Plain files carry no checksum; their length is still checked beyond the limit.
      Bytes plain = idx_bytes({40, 10, 10}, big);
      plain.push_back(0);
      write_plain(dir.file("plain-long"), plain);
      CHECK_ERROR_CONTAINS(invar::data::read_idx(dir.file("plain-long"), limit), "1 bytes after the 4000 data bytes");
    }
  }

  TEST_CASE("load_idx_pair: count mismatch, wrong ranks and out-of-range labels") {
    TempDir dir;
    write_gz(dir.file("i.gz"), idx_bytes(kImageDims, image_data()));
    write_gz(dir.file("l2.gz"), idx_bytes({2}, {1, 2}));
    CHECK_ERROR_CONTAINS(invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l2.gz")),
                         "image and label counts differ");
    CHECK_ERROR_CONTAINS(invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l2.gz"), 1), "holds 3 images");
    CHECK_ERROR_CONTAINS(invar::data::load_idx_pair(dir.file("i.gz"), dir.file("i.gz")), "expected 1 (count)");
    CHECK_ERROR_CONTAINS(invar::data::load_idx_pair(dir.file("l2.gz"), dir.file("l2.gz")), "expected 3");
    CHECK_ERROR_CONTAINS(invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l2.gz"), -7), "limit");

    write_gz(dir.file("l12.gz"), idx_bytes({3}, {1, 12, 2}));
    CHECK(invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l12.gz")).labels[1] == 12);  // no names: any byte
    CHECK_ERROR_CONTAINS(invar::data::load_idx_pair(dir.file("i.gz"), dir.file("l12.gz"), -1,
                                                    invar::data::fashion_mnist_class_names()),
                         "label 12 of record 1 is out of range 0-9");
  }

  TEST_CASE("load_fashion_mnist: file names, the uncompressed fallback, the directory override, errors") {
    TempDir dir;
    Bytes img(2 * 28 * 28, 128);
    write_plain(dir.file("t10k-images-idx3-ubyte"), idx_bytes({2, 28, 28}, img));
    write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes({2}, {3, 8}));
    const auto set = invar::data::load_fashion_mnist(dir.path.string(), false);
    CHECK(set.images.shape() == invar::Shape{2, 1, 28, 28});
    CHECK(set.labels[1] == 8);
    CHECK(set.class_names[set.labels[1]] == "Bag");
    CHECK(set.class_names[0] == "T-shirt/top");

    CHECK_ERROR_CONTAINS(invar::data::load_fashion_mnist(dir.path.string(), true),
                         "train-images-idx3-ubyte.gz' (or without .gz) not found");
    CHECK_ERROR_CONTAINS(invar::data::load_fashion_mnist(dir.file("missing")), "INVAR_FASHION_MNIST");

    write_gz(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes({2}, {3, 10}));
    CHECK_ERROR_CONTAINS(invar::data::load_fashion_mnist(dir.path.string(), false),
                         "label 10 of record 1 is out of range 0-9 for Fashion-MNIST");
    write_gz(dir.file("train-images-idx3-ubyte.gz"), idx_bytes(kImageDims, image_data()));
    write_gz(dir.file("train-labels-idx1-ubyte.gz"), idx_bytes({3}, kLabels));
    CHECK_ERROR_CONTAINS(invar::data::load_fashion_mnist(dir.path.string(), true), "expected 28 x 28");

    const char* old = std::getenv("INVAR_FASHION_MNIST");
    const std::string saved = old ? old : "";
    ::setenv("INVAR_FASHION_MNIST", dir.path.c_str(), 1);
    CHECK(invar::data::default_fashion_mnist_dir() == dir.path.string());
    ::setenv("INVAR_FASHION_MNIST", "", 1);
    CHECK(invar::data::default_fashion_mnist_dir() == "/usr/share/datasets/fashion-mnist");
    if (old) ::setenv("INVAR_FASHION_MNIST", saved.c_str(), 1);
    else ::unsetenv("INVAR_FASHION_MNIST");
  }

  TEST_CASE("load_fashion_mnist reads the installed test set") {
    const std::string dir = "/usr/share/datasets/fashion-mnist";
    if (!INVAR_REQUIRE_FILE(dir + "/t10k-images-idx3-ubyte.gz", "Fashion-MNIST (Debian package dataset-fashion-mnist)"))
      return;
    const auto set = invar::data::load_fashion_mnist(dir, false);
    REQUIRE(set.images.shape() == invar::Shape{10000, 1, 28, 28});
    REQUIRE(set.labels.shape() == invar::Shape{10000});
    float lo = 1.0f, hi = 0.0f;
    for (float x : set.images) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    CHECK(lo == 0.0f);
    CHECK(hi == 1.0f);
    std::vector<int> per_class(10, 0);
    bool in_range = true;
    for (index_t y : set.labels) {
      in_range = in_range && y >= 0 && y < 10;
      if (y >= 0 && y < 10) ++per_class[static_cast<std::size_t>(y)];
    }
    CHECK(in_range);
    CHECK(per_class == std::vector<int>(10, 1000));
    CHECK(set.class_names.size() == 10);

    const auto few = invar::data::load_fashion_mnist(dir, false, 5);  // only the first records are read
    CHECK(few.images.shape() == invar::Shape{5, 1, 28, 28});
    CHECK(std::equal(few.images.begin(), few.images.end(), set.images.begin()));
    CHECK(std::equal(few.labels.begin(), few.labels.end(), set.labels.begin()));
  }
}
