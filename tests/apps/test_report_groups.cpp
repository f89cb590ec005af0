// invar-report's seed groups without training anything (apps/report/discovery.hpp, groups.hpp):
// run folders at depth 1 and 2 (`<objective>/seed-<s>/`) in the report's order, names, grouping by
// the configuration without its seed (not by folder), and the statistics of a group's numbers
// (mean, sample standard deviation, n, every seed's value; undefined seeds and a single seed).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "report/discovery.hpp"
#include "report/groups.hpp"
#include "support/error_message.hpp"
#include "support/temp_dir.hpp"

TEST_SUITE_BEGIN("apps");

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace invar::apps::reporting;

/// A run folder as invar-train writes it, as far as discovery looks: config.json and a checkpoint
/// file (not read here).
void report_groups_fake_run(const fs::path& folder, const std::string& objective, std::uint64_t seed, long epochs = 2) {
  fs::create_directories(folder);
  invar::apps::RunConfig c;
  c.objective = objective;
  c.seed = seed;
  c.epochs = epochs;
  std::ofstream(folder / "config.json") << json(c).dump(2);
  std::ofstream(folder / "checkpoint.invar") << "not read by discovery";
}

std::vector<std::string> report_groups_names(const std::vector<RunInput>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs) out.push_back(r.name);
  return out;
}

}  // namespace

TEST_CASE("invar-report discovery: seed-<s> folders at depth 2, in order, grouped by configuration without the seed") {
  invar::test::TempDir dir("report-groups");
  const fs::path out = dir.path / "runs";
  report_groups_fake_run(out / "mixed" / "seed-10", "mixed", 10);
  report_groups_fake_run(out / "mixed" / "seed-2", "mixed", 2);
  report_groups_fake_run(out / "baseline" / "seed-3", "baseline", 3);
  report_groups_fake_run(out / "baseline" / "seed-1", "baseline", 1);
  report_groups_fake_run(out / "invariance", "invariance", 1);  // one seed: depth 1, as before
  fs::create_directories(out / "notes");                          // not a run: ignored

  const auto runs = collect_runs({out.string()});
  CHECK(report_groups_names(runs) == std::vector<std::string>{"baseline/seed-1", "baseline/seed-3", "invariance",
                                                              "mixed/seed-2", "mixed/seed-10"});
  CHECK(runs[0].label == "baseline");
  CHECK(runs[2].label == "invariance");
  const auto groups = group_runs(runs);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].name == "baseline");
  CHECK(groups[0].runs == std::vector<std::size_t>{0, 1});
  CHECK(groups[1].name == "invariance");
  CHECK(groups[1].runs == std::vector<std::size_t>{2});
  CHECK(groups[2].name == "mixed");
  CHECK(groups[2].runs == std::vector<std::size_t>{3, 4});  // seed 2 before seed 10
  CHECK(has_seed_groups(groups));

  // The objective folder itself expands to its seeds; one seed folder alone is a run.
  const auto one = collect_runs({(out / "mixed").string()});
  CHECK(report_groups_names(one) == std::vector<std::string>{"mixed/seed-2", "mixed/seed-10"});
  CHECK(group_runs(one).front().name == "mixed");
  const auto single = collect_runs({(out / "baseline" / "seed-3").string()});
  CHECK(report_groups_names(single) == std::vector<std::string>{"baseline/seed-3"});
  CHECK_FALSE(has_seed_groups(group_runs(single)));

  // Without seed folders the report is as before: one group per run, named as the run.
  const auto plain = group_runs(collect_runs({(out / "invariance").string()}));
  REQUIRE(plain.size() == 1);
  CHECK(plain.front().name == "invariance");
  CHECK_FALSE(has_seed_groups(plain));
}

TEST_CASE("invar-report discovery: only runs that differ in nothing but the seed are grouped") {
  invar::test::TempDir dir("report-groups-identity");
  const fs::path a = dir.path / "a", b = dir.path / "b", c = dir.path / "c";
  report_groups_fake_run(a / "baseline", "baseline", 1);
  report_groups_fake_run(b / "baseline", "baseline", 2);              // another seed: grouped with a's
  report_groups_fake_run(c / "baseline", "baseline", 3, /*epochs=*/5);  // another configuration: its own
  const auto runs = collect_runs({a.string(), b.string(), c.string()});
  CHECK(report_groups_names(runs) == std::vector<std::string>{"a/baseline", "b/baseline", "c/baseline"});
  const auto groups = group_runs(runs);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].runs == std::vector<std::size_t>{0, 1});
  CHECK(groups[0].name != groups[1].name);
  CHECK(groups[1].runs == std::vector<std::size_t>{2});

  // The same configuration and seed twice (a copy) is not a group of seeds: each run on its own.
  const fs::path d = dir.path / "d";
  report_groups_fake_run(d / "baseline", "baseline", 1);
  const auto copies = group_runs(collect_runs({a.string(), d.string()}));
  REQUIRE(copies.size() == 2);
  CHECK(copies[0].runs.size() == 1);
  CHECK_FALSE(has_seed_groups(copies));

  CHECK_ERROR_CONTAINS(collect_runs({dir.file("missing")}), "is not a folder");
  fs::create_directories(dir.path / "empty" / "seed-1");
  CHECK_ERROR_CONTAINS(collect_runs({dir.file("empty")}), "seed-<s> folders");
}

TEST_CASE("invar-report groups: mean, sample standard deviation, n and every seed's value of each measure") {
  auto run = [](std::uint64_t seed, double accuracy, json score, const std::string& iterations) {
    json r;
    r["name"] = "baseline/seed-" + std::to_string(seed);
    r["folder"] = "runs/baseline/seed-" + std::to_string(seed);
    r["config"] = {{"objective", "baseline"}, {"seed", seed}};
    r["linear_probe"] = {{"train_images", 1000}, {"test_accuracy", accuracy}, {"stop_reason", iterations}};
    r["layers"] = {{"images", 200}, {"taps", json::array({{{"tap", "hidden2"}, {"invariance_score", score}}})}};
    if (score.is_null()) r["layers"]["taps"][0]["undefined"] = {{"invariance_score", "dead layer"}};
    r["pca"] = {{"explained_variance_ratio", {0.5 + 0.1 * double(seed), 0.2}}};
    return r;
  };
  const json g = group_json("baseline", {run(1, 0.80, 0.9, "gradient tolerance"), run(2, 0.86, nullptr, "gradient tolerance"),
                                         run(3, 0.83, 0.7, "max_iterations")});
  CHECK(g["name"] == "baseline");
  CHECK(g["seeds"] == json({1, 2, 3}));
  CHECK(g["runs"] == json({"baseline/seed-1", "baseline/seed-2", "baseline/seed-3"}));
  CHECK_FALSE(g["config"].contains("seed"));
  CHECK_FALSE(g.contains("folder"));

  const json& acc = g["linear_probe"]["test_accuracy"];
  CHECK(acc["n"] == 3);
  CHECK(acc["values"] == json({0.80, 0.86, 0.83}));
  CHECK(acc["mean"].get<double>() == doctest::Approx(0.83).epsilon(1e-14));
  CHECK(acc["std"].get<double>() == doctest::Approx(0.03).epsilon(1e-12));  // sample std: sqrt((0.0009 * 2) / 2)
  CHECK_FALSE(acc.contains("undefined"));
  CHECK(is_statistic(acc));
  CHECK(mean_of(acc) == acc["mean"].get<double>());
  // Settings stay as they are when every seed agrees, and list each seed's value otherwise.
  CHECK(g["linear_probe"]["train_images"] == 1000);
  CHECK(g["linear_probe"]["stop_reason"] == json({"gradient tolerance", "gradient tolerance", "max_iterations"}));
  CHECK(g["layers"]["taps"][0]["tap"] == "hidden2");

  // A seed where the measure is undefined: left out of mean and std, named with its reason.
  const json& score = g["layers"]["taps"][0]["invariance_score"];
  CHECK(score["n"] == 2);
  CHECK(score["values"] == json({0.9, nullptr, 0.7}));
  CHECK(score["mean"].get<double>() == doctest::Approx(0.8).epsilon(1e-14));
  CHECK(score["std"].get<double>() == doctest::Approx(std::sqrt(0.02)).epsilon(1e-12));
  CHECK(score["undefined"] == "seed 2: dead layer");
  CHECK_FALSE(g["layers"]["taps"][0].contains("undefined"));

  // Arrays of measures: one statistic per element.
  CHECK(g["pca"]["explained_variance_ratio"][0]["mean"].get<double>() == doctest::Approx(0.7).epsilon(1e-14));
  CHECK(g["pca"]["explained_variance_ratio"][1]["std"].get<double>() < 1e-15);

  // One seed: no spread; every seed undefined: no mean either.
  const json one = statistic({json(0.5)}, {""}, {"7"});
  CHECK(one["mean"] == 0.5);
  CHECK(one["std"].is_null());
  CHECK(one["undefined"].get<std::string>().find("the spread needs two") != std::string::npos);
  const json none = statistic({json(nullptr), json(nullptr)}, {"constant", "constant"}, {"1", "2"});
  CHECK(none["n"] == 0);
  CHECK(none["mean"].is_null());
  CHECK(none["undefined"] == "every seed: constant");
  CHECK(std::isnan(mean_of(none)));
}

TEST_SUITE_END();
