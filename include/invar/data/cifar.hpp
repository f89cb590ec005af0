#pragma once
/// \file cifar.hpp
/// CIFAR-10 and CIFAR-100 (Krizhevsky, 2009) in their standard binary versions
/// (cifar-10-binary.tar.gz, cifar-100-binary.tar.gz), read into an ImageSet.
///
/// A file is a sequence of fixed-size records with no header:
///   CIFAR-10   1 label byte (0-9), then 3072 pixel bytes                     (3073 bytes)
///   CIFAR-100  1 coarse label byte (0-19), 1 fine label byte (0-99), then 3072 (3074 bytes)
/// The 3072 pixel bytes are the 32 x 32 red plane, then green, then blue, each row-major: exactly
/// the C x H x W layout of an ImageSet, so conversion is one pass of byte / 255.
///
/// Files are read with std::ifstream in one go (no zlib). Every problem (missing directory or
/// file, an empty file, a size that is not a whole number of records, a label out of range, a
/// names file with the wrong number of names) throws invar::Error naming the file and, for data,
/// the record. A file that holds another number of records than the standard one (10000 for
/// CIFAR-10's six files and CIFAR-100's test.bin, 50000 for CIFAR-100's train.bin) is read, and
/// named in a warning: into the caller's list when it passes one, else on stderr.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "invar/backend/cpu/threads.hpp"
#include "invar/core/config.hpp"
#include "invar/core/error.hpp"
#include "invar/core/tensor.hpp"
#include "invar/data/image_set.hpp"

namespace invar::data {

/// Pixel bytes of one CIFAR image: 3 channels x 32 x 32.
inline constexpr index_t cifar_image_bytes = 3 * 32 * 32;

/// The CIFAR-10 class names, label 0 to 9 (the order of batches.meta.txt).
inline std::vector<std::string> cifar10_class_names() {
  return {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}

/// The CIFAR-100 fine class names, label 0 to 99 (the order of fine_label_names.txt).
inline std::vector<std::string> cifar100_class_names() {
  return {"apple",       "aquarium_fish", "baby",         "bear",       "beaver",     "bed",         "bee",
          "beetle",      "bicycle",       "bottle",       "bowl",       "boy",        "bridge",      "bus",
          "butterfly",   "camel",         "can",          "castle",     "caterpillar", "cattle",     "chair",
          "chimpanzee",  "clock",         "cloud",        "cockroach",  "couch",      "crab",        "crocodile",
          "cup",         "dinosaur",      "dolphin",      "elephant",   "flatfish",   "forest",      "fox",
          "girl",        "hamster",       "house",        "kangaroo",   "keyboard",   "lamp",        "lawn_mower",
          "leopard",     "lion",          "lizard",       "lobster",    "man",        "maple_tree",  "motorcycle",
          "mountain",    "mouse",         "mushroom",     "oak_tree",   "orange",     "orchid",      "otter",
          "palm_tree",   "pear",          "pickup_truck", "pine_tree",  "plain",      "plate",       "poppy",
          "porcupine",   "possum",        "rabbit",       "raccoon",    "ray",        "road",        "rocket",
          "rose",        "sea",           "seal",         "shark",      "shrew",      "skunk",       "skyscraper",
          "snail",       "snake",         "spider",       "squirrel",   "streetcar",  "sunflower",   "sweet_pepper",
          "table",       "tank",          "telephone",    "television", "tiger",      "tractor",     "train",
          "trout",       "tulip",         "turtle",       "wardrobe",   "whale",      "willow_tree", "wolf",
          "woman",       "worm"};
}

/// The CIFAR-100 coarse class (superclass) names, label 0 to 19 (the order of coarse_label_names.txt).
inline std::vector<std::string> cifar100_coarse_class_names() {
  return {"aquatic_mammals",
          "fish",
          "flowers",
          "food_containers",
          "fruit_and_vegetables",
          "household_electrical_devices",
          "household_furniture",
          "insects",
          "large_carnivores",
          "large_man-made_outdoor_things",
          "large_natural_outdoor_scenes",
          "large_omnivores_and_herbivores",
          "medium_mammals",
          "non-insect_invertebrates",
          "people",
          "reptiles",
          "small_mammals",
          "trees",
          "vehicles_1",
          "vehicles_2"};
}

/// Where CIFAR-10 is looked for: $INVAR_CIFAR10_DIR when set and non-empty, else
/// "../shared/data/cifar-10-batches-bin", relative to the current working directory (the folder
/// cifar-10-binary.tar.gz extracts to, beside a checkout of this project).
inline std::string default_cifar10_dir() {
  const char* env = std::getenv("INVAR_CIFAR10_DIR");
  if (env != nullptr && *env != '\0') return env;
  return "../shared/data/cifar-10-batches-bin";
}

/// Where CIFAR-100 is looked for: $INVAR_CIFAR100_DIR when set and non-empty, else
/// "../shared/data/cifar-100-binary", relative to the current working directory (the folder
/// cifar-100-binary.tar.gz extracts to).
inline std::string default_cifar100_dir() {
  const char* env = std::getenv("INVAR_CIFAR100_DIR");
  if (env != nullptr && *env != '\0') return env;
  return "../shared/data/cifar-100-binary";
}

namespace detail {

/// What differs between CIFAR-10 and CIFAR-100 files.
struct CifarFormat {
  const char* dataset;     ///< "CIFAR-10" / "CIFAR-100", for messages
  const char* env_var;     ///< the variable that sets the default directory, for hints
  index_t label_bytes;     ///< 1 (label) or 2 (coarse label, fine label)
  index_t classes;         ///< 10 or 100 (the last label byte)
  index_t coarse_classes;  ///< 0 or 20 (the first label byte when label_bytes == 2)

  [[nodiscard]] index_t record_bytes() const { return label_bytes + cifar_image_bytes; }
};

inline void check_cifar_dir(const std::string& dir, const CifarFormat& fmt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  check(fs::exists(status), fmt.dataset, ": directory '", dir, "' does not exist; download the binary version of ",
        fmt.dataset, " and pass its directory or set ", fmt.env_var, " to it");
  check(fs::is_directory(status), fmt.dataset, ": '", dir, "' is not a directory");
}

/// The number of whole records in `path`, which must exist and hold a whole number of records,
/// at least one.
inline index_t cifar_file_records(const std::string& path, const CifarFormat& fmt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  check(fs::exists(status), fmt.dataset, " file '", path, "' does not exist");
  check(fs::is_regular_file(status), fmt.dataset, " file '", path, "' is not a regular file");
  const std::uintmax_t size = fs::file_size(path, ec);
  check(!ec, "cannot read the size of ", fmt.dataset, " file '", path, "': ", ec.message());
  const auto record = static_cast<std::uintmax_t>(fmt.record_bytes());
  const std::uintmax_t whole = size / record, rest = size % record;
  check(size > 0, fmt.dataset, " file '", path, "' is empty (0 records); it should hold records of ", record,
        " bytes: download the binary version of ", fmt.dataset, " again");
  check(rest == 0, fmt.dataset, " file '", path, "' is truncated: its ", size, " bytes hold ", whole,
        " whole records of ", record, " bytes, then record ", whole, " is cut after ", rest, " of its ", record,
        " bytes");
  return static_cast<index_t>(whole);
}

/// Class names from a text file (one a line; empty lines and trailing white space ignored)
/// when it exists, else `fallback`. A file must list exactly fallback.size() names.
inline std::vector<std::string> read_cifar_names(const std::string& path, std::vector<std::string> fallback,
                                                 const CifarFormat& fmt) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return fallback;
  check(fs::is_regular_file(path, ec), fmt.dataset, " names file '", path, "' is not a regular file");
  std::ifstream in(path);
  check(in.is_open(), "cannot open ", fmt.dataset, " names file '", path, "'");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const auto end = line.find_last_not_of(" \t\r\n\f\v");
    if (end == std::string::npos) continue;
    line.erase(end + 1);
    names.push_back(line);
  }
  check(!in.bad(), "cannot read ", fmt.dataset, " names file '", path, "'");
  check(names.size() == fallback.size(), fmt.dataset, " names file '", path, "' lists ", names.size(),
        " names; expected ", fallback.size(), " (one a line)");
  return names;
}

/// Reads the first records of `files` (all of them when limit is -1, else at most `limit` in all)
/// into an ImageSet. Sizes of all files are checked before anything is read; a file that does
/// not hold `standard_records` is named in a warning (into `warnings`, else on stderr).
inline ImageSet load_cifar_files(const std::vector<std::string>& files, const std::vector<index_t>& standard_records,
                                 index_t limit, const CifarFormat& fmt, std::vector<std::string>* warnings) {
  check(limit >= -1, fmt.dataset, ": limit must be -1 (all) or >= 0, got ", limit);
  std::vector<index_t> records;
  index_t total = 0;
  for (const auto& f : files) {
    records.push_back(cifar_file_records(f, fmt));
    total += records.back();
  }
  for (std::size_t f = 0; f < files.size(); ++f) {
    if (records[f] == standard_records[f]) continue;
    std::string w = std::string(fmt.dataset) + " file '" + files[f] + "' holds " + std::to_string(records[f]) +
                    " records, not the standard " + std::to_string(standard_records[f]) +
                    " (a partial or modified copy?)";
    if (warnings != nullptr) warnings->push_back(std::move(w));
    else std::cerr << "invar: warning: " << w << '\n';
  }
  const index_t n = limit < 0 ? total : std::min(limit, total);

  ImageSet set;
  set.images = Tensor<float>::uninitialized(Shape{n, 3, 32, 32});
  set.labels = Tensor<index_t>::uninitialized(Shape{n});
  const bool coarse = fmt.label_bytes == 2;
  if (coarse) set.coarse_labels = Tensor<index_t>::uninitialized(Shape{n});

  // A table of byte / 255 (correctly rounded, as in idx.hpp), 0 -> 0, 255 -> 1.
  float scale[256];
  for (int b = 0; b < 256; ++b) scale[b] = static_cast<float>(b) / 255.0f;

  const index_t rec_bytes = fmt.record_bytes();
  std::vector<unsigned char> buffer;
  index_t done = 0;
  for (std::size_t f = 0; f < files.size() && done < n; ++f) {
    const index_t take = std::min(records[f], n - done);
    if (take == 0) continue;
    const auto bytes = static_cast<std::size_t>(take * rec_bytes);
    buffer.resize(bytes);
    std::ifstream in(files[f], std::ios::binary);
    check(in.is_open(), "cannot open ", fmt.dataset, " file '", files[f], "'");
    in.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(bytes));
    check(static_cast<std::size_t>(in.gcount()) == bytes, "cannot read ", fmt.dataset, " file '", files[f],
          "': got ", in.gcount(), " of ", bytes, " bytes (did the file change while it was read?)");

    for (index_t r = 0; r < take; ++r) {
      const unsigned char* rec = buffer.data() + r * rec_bytes;
      const index_t fine = rec[fmt.label_bytes - 1];
      if (coarse) {
        const index_t c = rec[0];
        check(c < fmt.coarse_classes, fmt.dataset, " file '", files[f], "': coarse label ", c, " of record ", r,
              " is out of range 0-", fmt.coarse_classes - 1);
        check(fine < fmt.classes, fmt.dataset, " file '", files[f], "': fine label ", fine, " of record ", r,
              " is out of range 0-", fmt.classes - 1);
        set.coarse_labels[done + r] = c;
      } else {
        check(fine < fmt.classes, fmt.dataset, " file '", files[f], "': label ", fine, " of record ", r,
              " is out of range 0-", fmt.classes - 1);
      }
      set.labels[done + r] = fine;
    }
    float* dst = set.images.data() + done * cifar_image_bytes;
    const unsigned char* buf = buffer.data();
    cpu::parallel_for(take, cifar_image_bytes, [&](index_t begin, index_t end) {
      for (index_t r = begin; r < end; ++r) {
        const unsigned char* src = buf + r * rec_bytes + fmt.label_bytes;
        float* out = dst + r * cifar_image_bytes;
        for (index_t j = 0; j < cifar_image_bytes; ++j) out[j] = scale[src[j]];
      }
    });
    done += take;
  }
  return set;
}

}  // namespace detail

/// CIFAR-10's training set (data_batch_1.bin ... data_batch_5.bin, 50000 images, in that order)
/// or test set (test_batch.bin, 10000) from `dir`: images N x 3 x 32 x 32 (red, green, blue) in
/// [0, 1] (byte / 255), labels 0-9, class names from batches.meta.txt when present (one a line,
/// empty lines skipped; it must list 10), else cifar10_class_names().
///
/// `limit` -1 reads everything; `limit >= 0` keeps the first `limit` images and reads only
/// their bytes; a limit beyond what the files hold returns all of them. Whatever the limit, all
/// files of the split must exist and hold a whole number of 3073-byte records, at least one (a
/// file cut at a record boundary cannot be told from a smaller one: there is no header).
///
/// A file that does not hold the standard 10000 records is read all the same and named in a
/// warning, appended to `warnings` when given, else written to stderr.
inline ImageSet load_cifar10(const std::string& dir = default_cifar10_dir(), bool train = true, index_t limit = -1,
                             std::vector<std::string>* warnings = nullptr) {
  namespace fs = std::filesystem;
  const detail::CifarFormat fmt{"CIFAR-10", "INVAR_CIFAR10_DIR", 1, 10, 0};
  detail::check_cifar_dir(dir, fmt);
  std::vector<std::string> files;
  if (train) {
    for (int b = 1; b <= 5; ++b)
      files.push_back((fs::path(dir) / ("data_batch_" + std::to_string(b) + ".bin")).string());
  } else {
    files.push_back((fs::path(dir) / "test_batch.bin").string());
  }
  // Names first: a bad names file fails before the images are read.
  auto names = detail::read_cifar_names((fs::path(dir) / "batches.meta.txt").string(), cifar10_class_names(), fmt);
  ImageSet set = detail::load_cifar_files(files, std::vector<index_t>(files.size(), 10000), limit, fmt, warnings);
  set.class_names = std::move(names);
  return set;
}

/// CIFAR-100's training set (train.bin, 50000 images) or test set (test.bin, 10000) from `dir`:
/// images N x 3 x 32 x 32 in [0, 1], labels = the fine labels 0-99, coarse_labels = the
/// superclasses 0-19; class_names / coarse_class_names from fine_label_names.txt /
/// coarse_label_names.txt when present (they must list 100 / 20), else cifar100_class_names() /
/// cifar100_coarse_class_names(). `limit` and `warnings` as for load_cifar10 (records are 3074
/// bytes; the standard train.bin holds 50000, test.bin 10000).
inline ImageSet load_cifar100(const std::string& dir = default_cifar100_dir(), bool train = true,
                              index_t limit = -1, std::vector<std::string>* warnings = nullptr) {
  namespace fs = std::filesystem;
  const detail::CifarFormat fmt{"CIFAR-100", "INVAR_CIFAR100_DIR", 2, 100, 20};
  detail::check_cifar_dir(dir, fmt);
  auto fine_names =
      detail::read_cifar_names((fs::path(dir) / "fine_label_names.txt").string(), cifar100_class_names(), fmt);
  auto coarse_names =
      detail::read_cifar_names((fs::path(dir) / "coarse_label_names.txt").string(), cifar100_coarse_class_names(), fmt);
  ImageSet set = detail::load_cifar_files({(fs::path(dir) / (train ? "train.bin" : "test.bin")).string()},
                                          {train ? index_t{50000} : index_t{10000}}, limit, fmt, warnings);
  set.class_names = std::move(fine_names);
  set.coarse_class_names = std::move(coarse_names);
  return set;
}

}  // namespace invar::data
