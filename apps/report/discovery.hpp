#pragma once
/// \file discovery.hpp
/// invar-report's first step: the runs named on the command line, and their seed groups. A run
/// folder (config.json and checkpoint.invar, as invar-train writes them) is taken as given; an
/// output folder of invar-train stands for the run folders in it, at depth 1 (`<objective>/`, one
/// seed) or 2 (`<objective>/seed-<s>/`, invar-train --seed 1,2,3), in the paper's order
/// (baseline, invariance, mixed, authors, then by name; seeds in increasing order). Names are made
/// unique for figures and files.
///
/// Seed groups: runs whose config.json identity (RunConfig::identity) differs only in "seed" are
/// one model trained from several seeds; the report shows their numbers as mean and spread. A
/// group is named after its objective folder (the parent of `seed-<s>/`, or the run folder
/// itself). Runs of the same configuration and the same seed (a copy) are not a seed group: each
/// stays on its own. A run without such a partner is a group of one, shown as today.

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
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
  std::string label;  ///< its objective folder's name: the name of its seed group
  RunConfig config;
};

/// Runs that differ only in their seed (file comment): indices into the run list, by seed.
struct RunGroup {
  std::string name;
  std::vector<std::size_t> runs;
};

inline bool is_run_folder(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p / "config.json", ec) && fs::is_regular_file(p / "checkpoint.invar", ec);
}

/// The seed of a folder named `seed-<s>` (invar-train with several seeds), or false.
inline bool seed_folder(const std::string& name, std::uint64_t& seed) {
  const std::string prefix = "seed-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  const auto r = std::from_chars(begin, end, seed);
  return r.ec == std::errc() && r.ptr == end;
}

/// Rank of a run folder's name in the report's order (the paper's: baseline, invariance, mixed).
inline int objective_rank(const std::string& name) {
  static const std::vector<std::string> order{"baseline", "invariance", "mixed", "authors"};
  const auto it = std::find(order.begin(), order.end(), name);
  return it == order.end() ? int(order.size()) : int(it - order.begin());
}

/// Report order of two run folders found in one output folder: by objective folder (the paper's
/// order, then by name), then seed folders by their seed as a number (seed-2 before seed-10).
inline bool report_order(const fs::path& a, const fs::path& b) {
  std::uint64_t sa = 0, sb = 0;
  const bool seeded_a = seed_folder(a.filename().string(), sa), seeded_b = seed_folder(b.filename().string(), sb);
  const std::string oa = (seeded_a ? a.parent_path() : a).filename().string();
  const std::string ob = (seeded_b ? b.parent_path() : b).filename().string();
  const int ra = objective_rank(oa), rb = objective_rank(ob);
  if (ra != rb) return ra < rb;
  if (oa != ob) return oa < ob;
  if (seeded_a != seeded_b) return !seeded_a;
  if (seeded_a && sa != sb) return sa < sb;
  return a.filename() < b.filename();
}

/// The run folders of an output folder: its sub-folders that are runs, and the runs one level
/// below those (`<objective>/seed-<s>/`).
inline std::vector<fs::path> runs_below(const fs::path& p) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(p, ec)) {
    if (!entry.is_directory()) continue;
    if (is_run_folder(entry.path())) {
      found.push_back(entry.path());
      continue;
    }
    std::error_code ec2;
    for (const auto& inner : fs::directory_iterator(entry.path(), ec2))
      if (inner.is_directory() && is_run_folder(inner.path())) found.push_back(inner.path());
  }
  std::sort(found.begin(), found.end(), report_order);
  return found;
}

/// The runs named on the command line: run folders as given, output folders expanded into their
/// run folders (file comment).
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
      found = runs_below(p);
      check(!found.empty(), "'", path, "' holds no run: expected config.json and checkpoint.invar in it, in its "
                            "sub-folders (an invar-train output folder) or in their seed-<s> folders");
    }
    for (const auto& f : found) {
      RunInput r;
      r.folder = f.string();
      const fs::path folder = f.has_filename() ? f : f.parent_path();  // "runs/baseline/" names baseline
      std::uint64_t seed = 0;
      const bool seeded = seed_folder(folder.filename().string(), seed);
      r.label = (seeded ? folder.parent_path() : folder).filename().string();
      r.name = seeded ? r.label + "/" + folder.filename().string() : folder.filename().string();
      const json j = apps::read_json_file((f / "config.json").string());
      try {
        r.config = j.get<RunConfig>();
      } catch (const json::exception& e) {
        throw Error("'" + (f / "config.json").string() + "' is not a run configuration: " + e.what());
      }
      runs.push_back(std::move(r));
    }
  }
  // Names label figures and files: make them unique with the parent folder's name (every one of
  // the runs that share a name, so the counts come first).
  std::vector<std::ptrdiff_t> same(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i)
    same[i] = std::count_if(runs.begin(), runs.end(), [&](const RunInput& o) { return o.name == runs[i].name; });
  for (std::size_t i = 0; i < runs.size(); ++i) {
    auto& r = runs[i];
    if (same[i] > 1) {
      fs::path folder(r.folder);
      if (!folder.has_filename()) folder = folder.parent_path();
      std::uint64_t seed = 0;
      if (seed_folder(folder.filename().string(), seed)) folder = folder.parent_path();
      r.name = folder.parent_path().filename().string() + "/" + r.name;
    }
  }
  for (std::size_t i = 0; i < runs.size(); ++i)
    for (std::size_t j = i + 1; j < runs.size(); ++j)
      check(runs[i].name != runs[j].name, "the run '", runs[i].name, "' is given twice");
  return runs;
}

/// The seed groups of `runs` (file comment), in the order of their first run; each group's runs
/// by increasing seed.
inline std::vector<RunGroup> group_runs(const std::vector<RunInput>& runs) {
  std::vector<std::string> keys;
  std::map<std::string, std::vector<std::size_t>> by_key;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    json identity = runs[i].config.identity();
    identity.erase("seed");
    const std::string key = identity.dump();
    if (!by_key.count(key)) keys.push_back(key);
    by_key[key].push_back(i);
  }
  std::vector<RunGroup> groups;
  for (const auto& key : keys) {
    auto members = by_key.at(key);
    std::set<std::uint64_t> seeds;
    for (const auto i : members) seeds.insert(runs[i].config.seed);
    if (seeds.size() < members.size()) {  // the same configuration and seed twice: not seeds of one model
      for (const auto i : members) groups.push_back({runs[i].name, {i}});
      continue;
    }
    std::sort(members.begin(), members.end(),
              [&](std::size_t a, std::size_t b) { return runs[a].config.seed < runs[b].config.seed; });
    groups.push_back({members.size() == 1 ? runs[members[0]].name : runs[members[0]].label, members});
  }
  // Group names label figures, tables and report.json. Two groups of one objective folder name
  // (the same objective trained for different epochs in two output folders, say) are told apart
  // by the output folder: a group of one by its run's (unique) name, a larger one as
  // "<output folder>/<objective>".
  std::vector<std::string> names;
  for (const auto& g : groups) {
    const auto same = std::count_if(groups.begin(), groups.end(), [&](const RunGroup& o) { return o.name == g.name; });
    if (same == 1 || g.runs.size() == 1) {
      names.push_back(same == 1 ? g.name : runs[g.runs.front()].name);
      continue;
    }
    fs::path objective(runs[g.runs.front()].folder);
    if (!objective.has_filename()) objective = objective.parent_path();
    objective = objective.parent_path();  // <output folder>/<objective>/seed-<s>
    names.push_back(objective.parent_path().filename().string() + "/" + g.name);
  }
  for (std::size_t i = 0; i < groups.size(); ++i) groups[i].name = names[i];
  for (std::size_t i = 0; i < groups.size(); ++i)
    for (std::size_t j = i + 1; j < groups.size(); ++j)
      check(groups[i].name != groups[j].name, "two groups of runs are both named '", groups[i].name,
            "': give their output folders different names");
  return groups;
}

/// Whether any group holds more than one run: the report then shows means and spreads.
inline bool has_seed_groups(const std::vector<RunGroup>& groups) {
  return std::any_of(groups.begin(), groups.end(), [](const RunGroup& g) { return g.runs.size() > 1; });
}

/// Checks that every run was trained on the same data set (the figures share its class names).
inline void check_same_dataset(const std::vector<RunInput>& runs) {
  for (const auto& r : runs)
    check(r.config.dataset == runs.front().config.dataset, "runs on different data sets: '", runs.front().name,
          "' on ", runs.front().config.dataset, ", '", r.name, "' on ", r.config.dataset);
}

}  // namespace invar::apps::reporting
