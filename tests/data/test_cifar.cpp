#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "support/error_message.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "invar/cpu.hpp"
#include "invar/data/cifar.hpp"

namespace fs = std::filesystem;
using invar::index_t;
using invar::data::ImageSet;
using invar::test::TempDir;
using Bytes = std::vector<unsigned char>;

namespace {

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  REQUIRE(out.good());
}

/// The pixel byte of image `global` (its index over the whole split) at channel c, row y,
/// column x: distinct per image, channel and position, covering 0 and 255.
unsigned char pixel(index_t global, index_t c, index_t y, index_t x) {
  return static_cast<unsigned char>((global * 37 + c * 101 + y * 7 + x * 3) % 256);
}

/// `count` records starting at image `first`: the label bytes, then R, G, B planes row-major.
Bytes records(index_t first, index_t count, const std::vector<Bytes>& label_bytes) {
  Bytes out;
  for (index_t i = 0; i < count; ++i) {
    for (unsigned char b : label_bytes[static_cast<std::size_t>(i)]) out.push_back(b);
    for (index_t c = 0; c < 3; ++c)
      for (index_t y = 0; y < 32; ++y)
        for (index_t x = 0; x < 32; ++x) out.push_back(pixel(first + i, c, y, x));
  }
  return out;
}

index_t label10(index_t global) { return (global * 3 + 1) % 10; }
index_t fine100(index_t global) { return (global * 41 + 7) % 100; }
index_t coarse20(index_t global) { return (global * 13 + 5) % 20; }

/// A CIFAR-10 directory: data_batch_b.bin holds b + 1 records (2..6, 20 in all), test_batch.bin 3.
void write_cifar10(const TempDir& dir) {
  index_t first = 0;
  for (index_t b = 1; b <= 5; ++b) {
    std::vector<Bytes> labels;
    for (index_t i = 0; i <= b; ++i) labels.push_back({static_cast<unsigned char>(label10(first + i))});
    write_file(dir.file("data_batch_" + std::to_string(b) + ".bin"), records(first, b + 1, labels));
    first += b + 1;
  }
  std::vector<Bytes> labels;
  for (index_t i = 0; i < 3; ++i) labels.push_back({static_cast<unsigned char>(label10(1000 + i))});
  write_file(dir.file("test_batch.bin"), records(1000, 3, labels));
}

/// A CIFAR-100 directory: train.bin holds 7 records, test.bin 2 (images numbered from 500).
void write_cifar100(const TempDir& dir) {
  for (const auto& [name, first, count] : {std::tuple{"train.bin", index_t{0}, index_t{7}},
                                           std::tuple{"test.bin", index_t{500}, index_t{2}}}) {
    std::vector<Bytes> labels;
    for (index_t i = 0; i < count; ++i)
      labels.push_back(
          {static_cast<unsigned char>(coarse20(first + i)), static_cast<unsigned char>(fine100(first + i))});
    write_file(dir.file(name), records(first, count, labels));
  }
}

/// Checks that `set` holds images first, first + 1, ... with the pixel values of records().
void check_pixels(const ImageSet& set, index_t first) {
  REQUIRE(set.images.rank() == 4);
  CHECK(set.images.dim(1) == 3);
  CHECK(set.images.dim(2) == 32);
  CHECK(set.images.dim(3) == 32);
  bool all_equal = true;
  for (index_t i = 0; i < set.images.dim(0); ++i)
    for (index_t c = 0; c < 3; ++c)
      for (index_t y = 0; y < 32; ++y)
        for (index_t x = 0; x < 32; ++x)
          all_equal = all_equal && set.images(i, c, y, x) == static_cast<float>(pixel(first + i, c, y, x)) / 255.0f;
  CHECK(all_equal);
}

/// The loaders with their warnings collected and dropped: the synthetic files are small on
/// purpose (the warnings have their own tests).
ImageSet quiet_cifar10(const std::string& dir, bool train, index_t limit = -1) {
  std::vector<std::string> warnings;
  return invar::data::load_cifar10(dir, train, limit, &warnings);
}
ImageSet quiet_cifar100(const std::string& dir, bool train, index_t limit = -1) {
  std::vector<std::string> warnings;
  return invar::data::load_cifar100(dir, train, limit, &warnings);
}

/// What `fn` writes to stderr (file descriptor 2), through a temporary file.
std::string stderr_of(const std::string& file, const auto& fn) {
  std::fflush(stderr);
  std::cerr.flush();
  const int saved = ::dup(2);
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(saved >= 0);
  REQUIRE(fd >= 0);
  ::dup2(fd, 2);
  ::close(fd);
  fn();
  std::cerr.flush();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Bytes read_cifar_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_SUITE("data") {

TEST_CASE("CIFAR-10 training batches load in order with values labels and the standard names") {
  TempDir dir("cifar10");
  write_cifar10(dir);
  const ImageSet set = quiet_cifar10(dir.path.string(), true);
  REQUIRE(set.size() == 20);
  CHECK(set.images.shape() == invar::Shape{20, 3, 32, 32});
  check_pixels(set, 0);
  for (index_t i = 0; i < 20; ++i) CHECK(set.labels[i] == label10(i));
  CHECK(set.class_names == invar::data::cifar10_class_names());
  CHECK(set.class_names[3] == "cat");
  CHECK(set.coarse_labels.numel() == 0);
  CHECK(set.coarse_class_names.empty());

  // Spot checks in the right channel and position: image 5 (record 2 of data_batch_2.bin), green, (4, 9).
  CHECK(set.images(5, 1, 4, 9) == static_cast<float>(pixel(5, 1, 4, 9)) / 255.0f);
  CHECK(set.images(19, 2, 31, 31) == static_cast<float>(pixel(19, 2, 31, 31)) / 255.0f);
}

TEST_CASE("CIFAR-10 bytes 0 and 255 map to exactly 0 and 1") {
  TempDir dir("cifar10");
  write_cifar10(dir);
  Bytes rec(3073, 0);
  rec[0] = 9;
  rec[1] = 255;                // red (0, 0)
  rec[1 + 1024 + 33] = 128;    // green (1, 1)
  rec[1 + 2048 + 1023] = 255;  // blue (31, 31)
  write_file(dir.file("test_batch.bin"), rec);
  const ImageSet set = quiet_cifar10(dir.path.string(), false);
  REQUIRE(set.size() == 1);
  CHECK(set.labels[0] == 9);
  CHECK(set.images(0, 0, 0, 0) == 1.0f);
  CHECK(set.images(0, 0, 0, 1) == 0.0f);
  CHECK(set.images(0, 1, 1, 1) == 128.0f / 255.0f);
  CHECK(set.images(0, 2, 31, 31) == 1.0f);
  CHECK(set.images(0, 1, 31, 31) == 0.0f);
}

TEST_CASE("CIFAR-10 test batch and class names from batches.meta.txt") {
  TempDir dir("cifar10");
  write_cifar10(dir);
  write_text(dir.file("batches.meta.txt"), "a0\na1\n\na2\r\na3  \na4\na5\na6\na7\na8\nplane 9\n\n");
  const ImageSet set = quiet_cifar10(dir.path.string(), false);
  REQUIRE(set.size() == 3);
  check_pixels(set, 1000);
  for (index_t i = 0; i < 3; ++i) CHECK(set.labels[i] == label10(1000 + i));
  REQUIRE(set.class_names.size() == 10);
  CHECK(set.class_names[0] == "a0");
  CHECK(set.class_names[2] == "a2");
  CHECK(set.class_names[3] == "a3");
  CHECK(set.class_names[9] == "plane 9");

  write_text(dir.file("batches.meta.txt"), "a\nb\nc\n");
  CHECK_ERROR_CONTAINS(quiet_cifar10(dir.path.string(), false), "batches.meta.txt' lists 3 names");
}

TEST_CASE("CIFAR-10 limit keeps the first images across batches") {
  TempDir dir("cifar10");
  write_cifar10(dir);
  for (index_t limit : {0, 1, 2, 3, 9, 20}) {
    CAPTURE(limit);
    const ImageSet set = quiet_cifar10(dir.path.string(), true, limit);
    REQUIRE(set.size() == limit);
    CHECK(set.images.shape() == invar::Shape{limit, 3, 32, 32});
    check_pixels(set, 0);
    for (index_t i = 0; i < limit; ++i) CHECK(set.labels[i] == label10(i));
  }
  // More than there is: everything.
  CHECK(quiet_cifar10(dir.path.string(), true, 1000).size() == 20);
  CHECK(quiet_cifar10(dir.path.string(), false, 1000).size() == 3);
  CHECK_ERROR_CONTAINS(quiet_cifar10(dir.path.string(), true, -2), "limit must be -1 (all) or >= 0");
}

TEST_CASE("CIFAR-10 truncated batch names the file and the cut record") {
  TempDir dir("cifar10");
  write_cifar10(dir);
  const std::string path = dir.file("data_batch_3.bin");  // 4 records
  Bytes bytes = read_cifar_file(path);
  bytes.resize(2 * 3073 + 100);
  write_file(path, bytes);
  const std::string msg = invar::test::error_of([&] { quiet_cifar10(dir.path.string(), true); });
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("is truncated") != std::string::npos);
  CHECK(msg.find("record 2 is cut after 100 of its 3073 bytes") != std::string::npos);
  // A limit does not hide it.
  CHECK_ERROR_CONTAINS(quiet_cifar10(dir.path.string(), true, 1), "record 2 is cut");
  // The test set is separate and still loads.
  CHECK(quiet_cifar10(dir.path.string(), false).size() == 3);

  // Cut inside the first record.
  write_file(dir.file("test_batch.bin"), Bytes(5, 1));
  CHECK_ERROR_CONTAINS(quiet_cifar10(dir.path.string(), false), "record 0 is cut after 5 of its 3073");
}

TEST_CASE("CIFAR-10 label byte 10 is an error naming the file record and value") {
  TempDir dir("cifar10");
  write_cifar10(dir);
  const std::string path = dir.file("test_batch.bin");
  Bytes bytes = read_cifar_file(path);
  bytes[2 * 3073] = 10;  // record 2
  write_file(path, bytes);
  const std::string msg = invar::test::error_of([&] { quiet_cifar10(dir.path.string(), false); });
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("label 10 of record 2 is out of range 0-9") != std::string::npos);
  // A limit that stops before the bad record does not read it.
  CHECK(quiet_cifar10(dir.path.string(), false, 2).size() == 2);
}

TEST_CASE("CIFAR-10 missing directory or file is an error naming it") {
  TempDir dir("cifar10");
  const std::string missing = dir.file("nowhere");
  CHECK_ERROR_CONTAINS(quiet_cifar10(missing, true), "'" + missing + "' does not exist");
  CHECK_ERROR_CONTAINS(quiet_cifar10(missing, true), "INVAR_CIFAR10_DIR");
  write_cifar10(dir);
  CHECK_ERROR_CONTAINS(quiet_cifar10(dir.file("test_batch.bin"), true), "is not a directory");
  fs::remove(dir.file("data_batch_4.bin"));
  CHECK_ERROR_CONTAINS(quiet_cifar10(dir.path.string(), true),
                       "CIFAR-10 file '" + dir.file("data_batch_4.bin") + "' does not exist");
  // Even when a limit would not need it.
  CHECK_ERROR_CONTAINS(quiet_cifar10(dir.path.string(), true, 1), "data_batch_4.bin' does not exist");
  fs::remove(dir.file("test_batch.bin"));
  CHECK_ERROR_CONTAINS(quiet_cifar10(dir.path.string(), false), "test_batch.bin' does not exist");
}

TEST_CASE("CIFAR-100 loads fine and coarse labels values and names") {
  TempDir dir("cifar100");
  write_cifar100(dir);
  const ImageSet train = quiet_cifar100(dir.path.string(), true);
  REQUIRE(train.size() == 7);
  CHECK(train.images.shape() == invar::Shape{7, 3, 32, 32});
  check_pixels(train, 0);
  REQUIRE(train.coarse_labels.numel() == 7);
  for (index_t i = 0; i < 7; ++i) {
    CHECK(train.labels[i] == fine100(i));
    CHECK(train.coarse_labels[i] == coarse20(i));
  }
  REQUIRE(train.class_names.size() == 100);
  REQUIRE(train.coarse_class_names.size() == 20);
  CHECK(train.class_names == invar::data::cifar100_class_names());
  CHECK(train.class_names[0] == "apple");
  CHECK(train.class_names[99] == "worm");
  CHECK(train.coarse_class_names[0] == "aquatic_mammals");
  CHECK(train.coarse_class_names[19] == "vehicles_2");

  const ImageSet test = quiet_cifar100(dir.path.string(), false);
  REQUIRE(test.size() == 2);
  check_pixels(test, 500);
  CHECK(test.labels[1] == fine100(501));
  CHECK(test.coarse_labels[1] == coarse20(501));

  const ImageSet few = quiet_cifar100(dir.path.string(), true, 3);
  REQUIRE(few.size() == 3);
  CHECK(few.coarse_labels.numel() == 3);
  check_pixels(few, 0);
  CHECK(quiet_cifar100(dir.path.string(), true, 100).size() == 7);

  // Names files, when present.
  std::string fine, coarse;
  for (int i = 0; i < 100; ++i) fine.append("f").append(std::to_string(i)).append("\n");
  for (int i = 0; i < 20; ++i) coarse.append("c").append(std::to_string(i)).append("\n\n");
  write_text(dir.file("fine_label_names.txt"), fine);
  write_text(dir.file("coarse_label_names.txt"), coarse);
  const ImageSet named = quiet_cifar100(dir.path.string(), false);
  CHECK(named.class_names[42] == "f42");
  CHECK(named.coarse_class_names[19] == "c19");
  write_text(dir.file("coarse_label_names.txt"), fine);
  CHECK_ERROR_CONTAINS(quiet_cifar100(dir.path.string(), false),
                       "coarse_label_names.txt' lists 100 names; expected 20");
}

TEST_CASE("CIFAR-100 errors name the file and the record") {
  TempDir dir("cifar100");
  write_cifar100(dir);
  const std::string path = dir.file("train.bin");
  const Bytes good = read_cifar_file(path);

  Bytes bad = good;
  bad[3 * 3074 + 1] = 100;  // fine label of record 3
  write_file(path, bad);
  std::string msg = invar::test::error_of([&] { quiet_cifar100(dir.path.string(), true); });
  INFO(msg);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("fine label 100 of record 3 is out of range 0-99") != std::string::npos);

  bad = good;
  bad[4 * 3074] = 20;  // coarse label of record 4
  write_file(path, bad);
  CHECK_ERROR_CONTAINS(quiet_cifar100(dir.path.string(), true),
                       "coarse label 20 of record 4 is out of range 0-19");

  bad = good;
  bad.resize(6 * 3074 + 3073);  // record 6 lacks its last byte
  write_file(path, bad);
  msg = invar::test::error_of([&] { quiet_cifar100(dir.path.string(), true); });
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("record 6 is cut after 3073 of its 3074 bytes") != std::string::npos);

  fs::remove(dir.file("test.bin"));
  CHECK_ERROR_CONTAINS(quiet_cifar100(dir.path.string(), false),
                       "CIFAR-100 file '" + dir.file("test.bin") + "' does not exist");
  CHECK_ERROR_CONTAINS(quiet_cifar100(dir.file("nowhere"), false), "INVAR_CIFAR100_DIR");
}

TEST_CASE("CIFAR files that are not the standard size are named in warnings, an empty one is an error") {
  TempDir dir("cifar10");
  write_cifar10(dir);  // 2..6 records per training batch, 3 in the test batch: none is the standard 10000
  std::vector<std::string> warnings;
  CHECK(invar::data::load_cifar10(dir.path.string(), true, -1, &warnings).size() == 20);
  REQUIRE(warnings.size() == 5);
  for (int b = 1; b <= 5; ++b) {
    const std::string& w = warnings[std::size_t(b - 1)];
    INFO(w);
    CHECK(w.find("'" + dir.file("data_batch_" + std::to_string(b) + ".bin") + "'") != std::string::npos);
    CHECK(w.find("holds " + std::to_string(b + 1) + " records, not the standard 10000") != std::string::npos);
  }
  // A limit reads less but still checks (and names) every file of the split.
  warnings.clear();
  CHECK(invar::data::load_cifar10(dir.path.string(), true, 1, &warnings).size() == 1);
  CHECK(warnings.size() == 5);

  // A file of the standard size gives no warning (sparse: 10000 zero records, label 0).
  fs::resize_file(dir.file("test_batch.bin"), 10000 * 3073);
  warnings.clear();
  CHECK(invar::data::load_cifar10(dir.path.string(), false, 2, &warnings).size() == 2);
  CHECK(warnings.empty());

  // Without a list, the warning goes to stderr.
  write_file(dir.file("test_batch.bin"), records(1000, 3, {{1}, {2}, {3}}));
  const std::string err = stderr_of(dir.file("stderr.txt"), [&] { invar::data::load_cifar10(dir.path.string(), false); });
  INFO(err);
  CHECK(err.find("warning") != std::string::npos);
  CHECK(err.find(dir.file("test_batch.bin") + "' holds 3 records, not the standard 10000") != std::string::npos);

  // An empty batch is an error naming it, whatever the limit (the run would lose 10000 images).
  write_file(dir.file("data_batch_2.bin"), {});
  for (const index_t limit : {index_t{-1}, index_t{1}}) {
    CAPTURE(limit);
    const std::string msg = invar::test::error_of([&] { quiet_cifar10(dir.path.string(), true, limit); });
    INFO(msg);
    CHECK(msg.find("CIFAR-10 file '" + dir.file("data_batch_2.bin") + "' is empty (0 records)") != std::string::npos);
  }

  // CIFAR-100: train.bin's standard is 50000, test.bin's 10000.
  TempDir dir100("cifar100");
  write_cifar100(dir100);
  warnings.clear();
  CHECK(invar::data::load_cifar100(dir100.path.string(), true, -1, &warnings).size() == 7);
  CHECK(invar::data::load_cifar100(dir100.path.string(), false, -1, &warnings).size() == 2);
  REQUIRE(warnings.size() == 2);
  CHECK(warnings[0].find("train.bin' holds 7 records, not the standard 50000") != std::string::npos);
  CHECK(warnings[1].find("test.bin' holds 2 records, not the standard 10000") != std::string::npos);
  write_file(dir100.file("test.bin"), {});
  CHECK_ERROR_CONTAINS(quiet_cifar100(dir100.path.string(), false),
                       "CIFAR-100 file '" + dir100.file("test.bin") + "' is empty (0 records)");
}

TEST_CASE("CIFAR default directories follow the environment") {
  const char* saved10 = std::getenv("INVAR_CIFAR10_DIR");
  const char* saved100 = std::getenv("INVAR_CIFAR100_DIR");
  const std::string keep10 = saved10 ? saved10 : "", keep100 = saved100 ? saved100 : "";
  ::setenv("INVAR_CIFAR10_DIR", "/some/where", 1);
  ::setenv("INVAR_CIFAR100_DIR", "/else/where", 1);
  CHECK(invar::data::default_cifar10_dir() == "/some/where");
  CHECK(invar::data::default_cifar100_dir() == "/else/where");
  ::setenv("INVAR_CIFAR10_DIR", "", 1);
  ::unsetenv("INVAR_CIFAR100_DIR");
  CHECK(invar::data::default_cifar10_dir() == "../shared/data/cifar-10-batches-bin");
  CHECK(invar::data::default_cifar100_dir() == "../shared/data/cifar-100-binary");
  if (saved10) ::setenv("INVAR_CIFAR10_DIR", keep10.c_str(), 1); else ::unsetenv("INVAR_CIFAR10_DIR");
  if (saved100) ::setenv("INVAR_CIFAR100_DIR", keep100.c_str(), 1); else ::unsetenv("INVAR_CIFAR100_DIR");
}

TEST_CASE("CIFAR-10 real data set when present") {
  std::string dir;
  if (const char* env = std::getenv("INVAR_CIFAR10_DIR"); env != nullptr && *env != '\0') {
    dir = env;
  } else {
#ifdef INVAR_SOURCE_DIR
    dir = std::string(INVAR_SOURCE_DIR) + "/../shared/data/cifar-10-batches-bin";
#else
    dir = invar::data::default_cifar10_dir();
#endif
  }
  if (!INVAR_REQUIRE_FILE(dir + "/test_batch.bin", "CIFAR-10 (binary version; set INVAR_CIFAR10_DIR)")) return;
  const auto start = std::chrono::steady_clock::now();
  const ImageSet test = invar::data::load_cifar10(dir, false);
  const ImageSet train = invar::data::load_cifar10(dir, true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("loaded CIFAR-10 (60000 images) in ", seconds, " s");

  REQUIRE(train.size() == 50000);
  REQUIRE(test.size() == 10000);
  CHECK(train.images.shape() == invar::Shape{50000, 3, 32, 32});
  CHECK(test.images.shape() == invar::Shape{10000, 3, 32, 32});
  CHECK(test.labels[0] == 3);
  REQUIRE(test.class_names.size() == 10);
  CHECK(test.class_names[3] == "cat");
  CHECK(train.class_names == invar::data::cifar10_class_names());

  std::vector<index_t> train_counts(10, 0), test_counts(10, 0);
  for (index_t i = 0; i < train.size(); ++i) ++train_counts[static_cast<std::size_t>(train.labels[i])];
  for (index_t i = 0; i < test.size(); ++i) ++test_counts[static_cast<std::size_t>(test.labels[i])];
  CHECK(train_counts == std::vector<index_t>(10, 5000));
  CHECK(test_counts == std::vector<index_t>(10, 1000));

  for (const ImageSet* set : {&train, &test}) {
    float lo = 1.0f, hi = 0.0f;
    for (float v : set->images) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    CHECK(lo >= 0.0f);
    CHECK(hi <= 1.0f);
    CHECK(hi > 0.5f);  // not all black
  }
}

}  // TEST_SUITE("data")
