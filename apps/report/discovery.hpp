#pragma once
/// \file discovery.hpp
/// invar-report's first step: the runs named on the command line. A run folder (config.json and
/// checkpoint.invar, as invar-train writes them) is taken as given; an output folder of
/// invar-train stands for the run folders in it, in the paper's order (baseline, invariance,
/// mixed, authors, then by name). Names are made unique for figures and files.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/json_file.hpp"
#include "common/run_config.hpp"
#include "invar/core/error.hpp"

namespace invar::apps::reporting {

using nlohmann::json;
namespace fs = std::filesystem;

/// One run to analyse: its folder and configuration.
struct RunInput {
  std::string name, folder;
  RunConfig config;
};

inline bool is_run_folder(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p / "config.json", ec) && fs::is_regular_file(p / "checkpoint.invar", ec);
}

/// Rank of a run folder's name in the report's order (the paper's: baseline, invariance, mixed).
inline int objective_rank(const std::string& name) {
  static const std::vector<std::string> order{"baseline", "invariance", "mixed", "authors"};
  const auto it = std::find(order.begin(), order.end(), name);
  return it == order.end() ? int(order.size()) : int(it - order.begin());
}

/// The runs named on the command line: run folders as given, output folders expanded into their
/// run folders (baseline, invariance, mixed, authors first, then by name).
inline std::vector<RunInput> collect_runs(const std::vector<std::string>& paths) {
  std::vector<RunInput> runs;
  for (const auto& path : paths) {
    const fs::path p(path);
    std::error_code ec;
    check(fs::is_directory(p, ec), "'", path, "' is not a folder (give invar-train run folders or output folders)");
    std::vector<fs::path> found;
    if (is_run_folder(p)) {
      found.push_back(p);
    } else {
      for (const auto& entry : fs::directory_iterator(p, ec))
        if (entry.is_directory() && is_run_folder(entry.path())) found.push_back(entry.path());
      std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
        const int ra = objective_rank(a.filename().string()), rb = objective_rank(b.filename().string());
        return ra != rb ? ra < rb : a.filename() < b.filename();
      });
      check(!found.empty(), "'", path, "' holds no run: expected config.json and checkpoint.invar in it or in its "
                            "sub-folders (an invar-train output folder)");
    }
    for (const auto& f : found) {
      RunInput r;
      r.folder = f.string();
      r.name = f.filename().string();
      const json j = apps::read_json_file((f / "config.json").string());
      try {
        r.config = j.get<RunConfig>();
      } catch (const json::exception& e) {
        throw Error("'" + (f / "config.json").string() + "' is not a run configuration: " + e.what());
      }
      runs.push_back(std::move(r));
    }
  }
  // Names label figures and files: make them unique with the parent folder's name.
  for (auto& r : runs) {
    const auto same = std::count_if(runs.begin(), runs.end(), [&](const RunInput& o) { return o.name == r.name; });
    if (same > 1) r.name = fs::path(r.folder).parent_path().filename().string() + "/" + r.name;
  }
  for (std::size_t i = 0; i < runs.size(); ++i)
    for (std::size_t j = i + 1; j < runs.size(); ++j)
      check(runs[i].name != runs[j].name, "the run '", runs[i].name, "' is given twice");
  return runs;
}

/// Checks that every run was trained on the same data set (the figures share its class names).
inline void check_same_dataset(const std::vector<RunInput>& runs) {
  for (const auto& r : runs)
    check(r.config.dataset == runs.front().config.dataset, "runs on different data sets: '", runs.front().name,
          "' on ", runs.front().config.dataset, ", '", r.name, "' on ", r.config.dataset);
}

}  // namespace invar::apps::reporting
