#pragma once
/// \file datasets.hpp
/// The data sets the command-line tools know by name: fashion-mnist (1 x 28 x 28), cifar10 and
/// cifar100 (3 x 32 x 32), each from its default folder or RunConfig::data_dir.

#include <filesystem>
#include <string>

#include "common/run_config.hpp"
#include "invar/core/error.hpp"
#include "invar/data/cifar.hpp"
#include "invar/data/idx.hpp"

namespace invar::apps {

struct Datasets {
  data::ImageSet train, test;
  std::string dir;  ///< where they were read from
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

/// Loads the configured data set (the first train_images / test_images images when > 0).
inline Datasets load_datasets(const RunConfig& c) {
  Datasets d;
  d.dir = c.data_dir.empty() ? default_dir(c.dataset) : c.data_dir;
  const index_t train_limit = c.train_images > 0 ? c.train_images : -1;
  const index_t test_limit = c.test_images > 0 ? c.test_images : -1;
  if (c.dataset == "fashion-mnist") {
    d.train = data::load_fashion_mnist(d.dir, true, train_limit);
    d.test = data::load_fashion_mnist(d.dir, false, test_limit);
  } else if (c.dataset == "cifar10") {
    d.train = data::load_cifar10(d.dir, true, train_limit);
    d.test = data::load_cifar10(d.dir, false, test_limit);
  } else if (c.dataset == "cifar100") {
    d.train = data::load_cifar100(d.dir, true, train_limit);
    d.test = data::load_cifar100(d.dir, false, test_limit);
  } else {
    throw Error("unknown data set '" + c.dataset + "' (expected fashion-mnist, cifar10 or cifar100)");
  }
  return d;
}

}  // namespace invar::apps
