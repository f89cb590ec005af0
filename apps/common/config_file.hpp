#pragma once
/// \file config_file.hpp
/// A run's config.json read back as command-line options, through CLI11's own configuration
/// files (`app.set_config("--config")` with this formatter): each key becomes the option of the
/// same name (`lr_schedule` -> `--lr-schedule`, `k` -> `--seeds`, ...), options given on the
/// command line win (CLI11 fills only options the command line left empty), and every value
/// goes through the option's validators. `invar-train --config runs/x/mixed/config.json --out
/// runs/y` therefore trains the same run again, and `--config ... --epochs 40` a longer one.
///
/// Keys whose value equals RunConfig's default are left out (they change nothing, and some
/// defaults are sentinels that the options refuse: alpha -1 means "the preset's"). An unknown
/// key is an error naming it and the file.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <istream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "common/run_config.hpp"

namespace invar::apps {

/// The command-line option of a config.json key (without the leading dashes).
inline std::string option_of_config_key(const std::string& key) {
  if (key == "data_dir") return "data";
  if (key == "k") return "seeds";
  if (key == "m") return "augmentations";
  if (key == "p") return "classes-per-batch";
  if (key == "q") return "seeds-per-class";
  std::string name = key;
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

/// CLI11's configuration formatter for config.json files. `config_option` is the --config
/// option (its value names the file in messages).
class RunConfigFile : public CLI::Config {
 public:
  explicit RunConfigFile(const CLI::Option* config_option) : option_(config_option) {}

  std::string to_config(const CLI::App*, bool, bool, std::string) const override {
    return "";  // invar-train writes config.json itself, from its RunConfig
  }

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string file = option_ != nullptr && option_->count() > 0 ? option_->as<std::string>() : "config file";
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>());
    } catch (const nlohmann::json::exception& e) {
      throw CLI::ConfigError("'" + file + "' is not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw CLI::ConfigError("'" + file + "' is not a run configuration (a JSON object)");
    const nlohmann::json defaults = RunConfig{};
    std::vector<CLI::ConfigItem> items;
    for (const auto& [key, value] : j.items()) {
      if (!defaults.contains(key))
        throw CLI::ConfigError("'" + file + "': unknown key '" + key + "' (not a key of invar-train's config.json)");
      if (value == defaults[key] && key != "objective") continue;  // --objective's default is a list
      CLI::ConfigItem item;
      item.name = option_of_config_key(key);
      if (value.is_string()) item.inputs = {value.get<std::string>()};
      else if (value.is_number() || value.is_boolean()) item.inputs = {value.dump()};
      else
        throw CLI::ConfigError("'" + file + "': the value of '" + key + "' is neither a string nor a number");
      items.push_back(std::move(item));
    }
    return items;
  }

 private:
  const CLI::Option* option_;
};

/// Adds `--config FILE` to `app`, reading a run's config.json (or the config.json in a folder).
inline CLI::Option* add_config_option(CLI::App& app) {
  auto* opt = app.set_config("--config", "",
                             "read the options of a run from its config.json (or a run folder holding one); options "
                             "given on the command line win");
  opt->transform(CLI::Validator(
      [](std::string& path) -> std::string {
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) path = (std::filesystem::path(path) / "config.json").string();
        if (!std::filesystem::is_regular_file(path, ec)) return "'" + path + "' is not a file";
        return "";
      },
      ""));
  opt->type_name("FILE");
  app.config_formatter(std::make_shared<RunConfigFile>(opt));
  return opt;
}

}  // namespace invar::apps
