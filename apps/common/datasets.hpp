#pragma once
/// \file datasets.hpp
/// The data sets the command-line tools know by name: fashion-mnist (1 x 28 x 28), cifar10 and
/// cifar100 (3 x 32 x 32), each from its default folder or RunConfig::data_dir.

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "common/run_config.hpp"
#include "invar/cpu.hpp"
#include "invar/core/error.hpp"
#include "invar/data/cifar.hpp"
#include "invar/data/class_subset.hpp"
#include "invar/data/idx.hpp"

namespace invar::apps {

struct Datasets {
  data::ImageSet train, test;
  std::string dir;                    ///< where they were read from
  std::vector<std::string> warnings;  ///< about the files (a CIFAR file of another size than the standard); the tools print them
};

/// The data set a folder holds, from its files: "cifar10" (data_batch_1.bin), "cifar100"
/// (train.bin and test.bin), "fashion-mnist" (train-images-idx3-ubyte[.gz]); empty if none.
inline std::string detect_dataset(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path d(dir);
  if (fs::is_regular_file(d / "data_batch_1.bin", ec)) return "cifar10";
  if (fs::is_regular_file(d / "train.bin", ec) && fs::is_regular_file(d / "test.bin", ec)) return "cifar100";
  if (fs::is_regular_file(d / "train-images-idx3-ubyte.gz", ec) || fs::is_regular_file(d / "train-images-idx3-ubyte", ec))
    return "fashion-mnist";
  return "";
}

inline std::string default_dir(const std::string& dataset) {
  if (dataset == "fashion-mnist") return data::default_fashion_mnist_dir();
  if (dataset == "cifar10") return data::default_cifar10_dir();
  if (dataset == "cifar100") return data::default_cifar100_dir();
  throw Error("unknown data set '" + dataset + "' (expected fashion-mnist, cifar10 or cifar100)");
}

/// The class indices of `spec` ("1,5" or "automobile,dog", mixed allowed) among `names`.
inline std::vector<index_t> parse_classes(const std::string& spec, const std::vector<std::string>& names) {
  std::vector<index_t> out;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    check(!item.empty(), "--classes: empty item in '", spec, "'");
    const auto named = std::find(names.begin(), names.end(), item);
    if (named != names.end()) {
      out.push_back(static_cast<index_t>(named - names.begin()));
      continue;
    }
    std::size_t used = 0;
    long v = -1;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check(used == item.size() && v >= 0 && v < static_cast<long>(names.size()), "--classes: '", item,
          "' is neither a class name nor a class index 0..", names.size() - 1);
    out.push_back(v);
  }
  check(out.size() >= 2, "--classes: give at least two classes, got '", spec, "'");
  return out;
}

/// Loads the configured data set (the first train_images / test_images images when > 0; of the
/// kept classes only, when `classes` is given: the limits count images of those classes).
inline Datasets load_datasets(const RunConfig& c) {
  Datasets d;
  d.dir = c.data_dir.empty() ? default_dir(c.dataset) : c.data_dir;
  // With a class subset the limits apply after the subset, so everything is read first.
  const index_t train_limit = c.train_images > 0 && c.classes.empty() ? c.train_images : -1;
  const index_t test_limit = c.test_images > 0 && c.classes.empty() ? c.test_images : -1;
  if (c.dataset == "fashion-mnist") {
    d.train = data::load_fashion_mnist(d.dir, true, train_limit);
    d.test = data::load_fashion_mnist(d.dir, false, test_limit);
  } else if (c.dataset == "cifar10") {
    d.train = data::load_cifar10(d.dir, true, train_limit, &d.warnings);
    d.test = data::load_cifar10(d.dir, false, test_limit, &d.warnings);
  } else if (c.dataset == "cifar100") {
    d.train = data::load_cifar100(d.dir, true, train_limit, &d.warnings);
    d.test = data::load_cifar100(d.dir, false, test_limit, &d.warnings);
  } else {
    throw Error("unknown data set '" + c.dataset + "' (expected fashion-mnist, cifar10 or cifar100)");
  }
  if (!c.classes.empty()) {
    const auto kept = parse_classes(c.classes, d.train.class_names);
    d.train = data::keep_classes(d.train, kept);
    d.test = data::keep_classes(d.test, kept);
    auto first = [](data::ImageSet& s, long n) {
      if (n <= 0 || n >= s.size()) return;
      data::ImageSet t;
      t.images = Tensor<float>::copy_of(s.images.view().slice_rows(0, n));
      t.labels = Tensor<index_t>::copy_of(s.labels.view().slice_rows(0, n));
      t.class_names = s.class_names;
      if (s.coarse_labels.numel() == s.size())
        t.coarse_labels = Tensor<index_t>::copy_of(s.coarse_labels.view().slice_rows(0, n));
      t.coarse_class_names = s.coarse_class_names;
      s = std::move(t);
    };
    first(d.train, c.train_images);
    first(d.test, c.test_images);
  }
  return d;
}

}  // namespace invar::apps
