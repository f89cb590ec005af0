// invar-report end to end, as a user runs it: two small Fashion-MNIST runs (baseline and
// invariance-only) trained by invar-train, then the report on their folder. Every SVG parses as
// XML, the HTML references only files that exist, every JSON number is finite, and the PC1 share,
// the linear probe's accuracy and the classifier's accuracy in the JSON equal a recomputation from
// the checkpoints with the library alone. Collapsed models (a dead and a rank-1 top layer) still
// give a whole report, with their undefined numbers null and explained. Runs of two seeds
// (`<objective>/seed-<s>/`) are shown as a group: mean, spread, n and every seed's value. Bad
// input ends with a message naming the problem.
// Needs invar-train and invar-report (INVAR_TRAIN_EXE, INVAR_REPORT_EXE) and Fashion-MNIST.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <tinyxml2.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <thread>
#include <utility>
#include <set>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/analysis/features.hpp"
#include "invar/analysis/linear_probe.hpp"
#include "invar/analysis/pca.hpp"
#include "invar/data/idx.hpp"
#include "invar/io/archive.hpp"
#include "invar/losses/softmax_cross_entropy.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/train/checkpoint.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

TEST_SUITE_BEGIN("apps");

namespace {

namespace fs = std::filesystem;

#if defined(INVAR_TRAIN_EXE) && defined(INVAR_REPORT_EXE)
const std::string report_train_exe = INVAR_TRAIN_EXE;
const std::string report_exe = INVAR_REPORT_EXE;
#else
const std::string report_train_exe, report_exe;
#endif

bool report_can_run() {
  if (report_exe.empty()) {
    MESSAGE("skipped: invar-report is not built in this configuration (apps off)");
    return false;
  }
  const fs::path dir = invar::data::default_fashion_mnist_dir();
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz") && !fs::exists(dir / "train-images-idx3-ubyte")) {
    MESSAGE("skipped: Fashion-MNIST not found in " << dir.string());
    return false;
  }
  return true;
}

std::string report_read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Every number in `j` is finite and nothing is null; `where` names the first offender.
bool report_all_finite(const nlohmann::json& j, std::string& where, const std::string& at = "") {
  if (j.is_null()) return where = at + " is null", false;
  if (j.is_number_float() && !std::isfinite(j.get<double>())) return where = at + " is not finite", false;
  if (j.is_object())
    for (const auto& [k, v] : j.items())
      if (!report_all_finite(v, where, at + "/" + k)) return false;
  if (j.is_array())
    for (std::size_t i = 0; i < j.size(); ++i)
      if (!report_all_finite(j[i], where, at + "/" + std::to_string(i))) return false;
  return true;
}

/// The places of the nulls in a run's JSON, and whether each has its reason (the "undefined" object
/// beside it, under the same key; an array's elements share the array's reason).
void report_nulls(const nlohmann::json& j, std::vector<std::string>& nulls, std::vector<std::string>& unexplained,
                  const std::string& at = "", const nlohmann::json* reasons = nullptr, const std::string& key = "") {
  if (j.is_null()) {
    nulls.push_back(at);
    if (reasons == nullptr || !reasons->contains(key) || !(*reasons)[key].is_string() ||
        (*reasons)[key].get<std::string>().empty())
      unexplained.push_back(at);
  }
  if (j.is_object()) {
    const nlohmann::json* why = j.contains("undefined") ? &j["undefined"] : nullptr;
    for (const auto& [k, v] : j.items())
      if (k != "undefined") report_nulls(v, nulls, unexplained, at + "/" + k, why, k);
  }
  if (j.is_array())
    for (std::size_t i = 0; i < j.size(); ++i) report_nulls(j[i], nulls, unexplained, at + "/" + std::to_string(i), reasons, key);
}

/// Each SVG in <out>/figures parses as XML; returns their names.
std::set<std::string> report_parse_figures(const std::string& out) {
  std::set<std::string> svgs;
  for (const auto& e : fs::directory_iterator(fs::path(out) / "figures")) {
    if (e.path().extension() != ".svg") continue;
    svgs.insert("figures/" + e.path().filename().string());
    tinyxml2::XMLDocument doc;
    INFO(e.path().string());
    CHECK(doc.LoadFile(e.path().string().c_str()) == tinyxml2::XML_SUCCESS);
  }
  return svgs;
}

// The runs' settings: small enough for a few seconds, large enough that the probe is not trivial.
const std::vector<std::string> report_train_args = {
    "--mlp-hidden", "64,32", "--train-images", "2000", "--test-images", "400", "--epochs",  "2", "--objective",
    "baseline,invariance", "--probe-images", "1000", "--score-images", "200", "--threads", "2", "-q"};
const std::vector<std::string> report_args = {"--probe-images", "1000", "--per-class", "20", "--layer-images", "200",
                                              "--tsne-images", "300", "--threads", "2", "-q", "--robustness",
                                              "--attack-images", "100", "--pgd-iterations", "10"};

/// Trains one baseline run for one epoch into `runs` (runs/baseline): what the fault tests report on.
void train_one_baseline(const invar::test::TempDir& dir, const std::string& runs) {
  std::vector<std::string> train = {report_train_exe, "--out", runs};
  train.insert(train.end(), report_train_args.begin(), report_train_args.end());
  *std::find(train.begin(), train.end(), "baseline,invariance") = "baseline";
  *std::find(train.begin(), train.end(), "2") = "1";  // one epoch
  REQUIRE(invar::test::run_process(train, dir.file("train.txt")) == 0);
}

/// A small report of runs/baseline into `out`.
std::vector<std::string> small_report(const std::string& runs, const std::string& out, const std::string& per_class) {
  return {report_exe, runs + "/baseline", "--out", out, "--per-class", per_class, "--probe-images", "500",
          "--layer-images", "100", "--tsne-images", "100", "--threads", "2", "-q"};
}

}  // namespace

TEST_CASE("invar-report: the report of two Fashion-MNIST runs parses and its numbers recompute") {
  if (!report_can_run()) return;
  invar::test::TempDir dir("invar-report");
  const std::string runs = dir.file("runs"), out = dir.file("report");
  std::vector<std::string> train = {report_train_exe, "--out", runs};
  train.insert(train.end(), report_train_args.begin(), report_train_args.end());
  REQUIRE(invar::test::run_process(train, dir.file("train.txt")) == 0);
  std::vector<std::string> rep = {report_exe, runs, "--out", out};
  rep.insert(rep.end(), report_args.begin(), report_args.end());
  const int status = invar::test::run_process(rep, dir.file("report.txt"));
  INFO(report_read_file(dir.file("report.txt")));
  REQUIRE(status == 0);

  // Every SVG parses as XML and is a drawing with text on it (axes, titles, labels).
  std::set<std::string> svgs;
  for (const auto& e : fs::directory_iterator(fs::path(out) / "figures")) {
    if (e.path().extension() != ".svg") continue;
    svgs.insert("figures/" + e.path().filename().string());
    tinyxml2::XMLDocument doc;
    INFO(e.path().string());
    REQUIRE(doc.LoadFile(e.path().string().c_str()) == tinyxml2::XML_SUCCESS);
    const auto* root = doc.RootElement();
    REQUIRE(root != nullptr);
    CHECK(std::string(root->Name()) == "svg");
    CHECK(root->FirstChildElement("text") != nullptr);
  }
  for (const char* f : {"accuracy", "pca", "rdm", "invariance_score", "cka", "tsne", "robustness"})
    CHECK(svgs.count(std::string("figures/") + f + ".svg") == 1);

  // The HTML references only files that exist, all inside the folder, and shows every figure.
  const std::string html = report_read_file(out + "/report.html");
  const std::regex ref(R"re((?:src|href)="([^"]*)")re");
  std::set<std::string> referenced;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[1];
    INFO(target);
    CHECK(target.find("://") == std::string::npos);
    CHECK(fs::is_regular_file(fs::path(out) / target));
    referenced.insert(target);
  }
  CHECK(referenced == svgs);
  CHECK(html.find("<script") == std::string::npos);

  // Every JSON number is finite (no NaN written as null either).
  const auto j = nlohmann::json::parse(report_read_file(out + "/report.json"));
  std::string where;
  CHECK_MESSAGE(report_all_finite(j, where), where);
  REQUIRE(j["runs"].size() == 2);
  CHECK(j["runs"][0]["name"] == "baseline");
  CHECK(j["runs"][1]["name"] == "invariance");

  // Recompute from the checkpoints with the library alone.
  const auto test = invar::data::load_fashion_mnist(invar::data::default_fashion_mnist_dir(), false, 400);
  const auto probe_set = invar::data::load_fashion_mnist(invar::data::default_fashion_mnist_dir(), true, 1000);
  for (const auto& r : j["runs"]) {
    const std::string name = r["name"];
    INFO(name);
    auto model = invar::nn::make_mlp<float>({784, 64, 32, 10}, invar::nn::MlpOptions{}.with_seed(1));
    invar::train::load_checkpoint_model(runs + "/" + name + "/checkpoint.invar", model);
    CHECK(r["top_tap"] == "hidden2");
    const auto test_features = invar::analysis::extract_features(model, test.images, "hidden2");
    const auto train_features = invar::analysis::extract_features(model, probe_set.images, "hidden2");
    CHECK(r["pca"]["pc1_share"].get<double>() == doctest::Approx(invar::analysis::pc1_share(test_features)).epsilon(1e-12));
    const auto probe = invar::analysis::fit_linear_probe(train_features, probe_set.labels);
    CHECK(r["linear_probe"]["test_accuracy"].get<double>() == probe.accuracy(test_features, test.labels));

    const auto result = nlohmann::json::parse(report_read_file(runs + "/" + name + "/result.json"));
    // The top layer's score equals invar-train's: the same 200 images and augmentation draws.
    const auto& layers = r["layers"]["taps"];
    REQUIRE(layers.size() == 2);  // hidden1, hidden2
    CHECK(layers.back()["tap"] == "hidden2");
    CHECK(layers.back()["invariance_score"].get<double>() ==
          doctest::Approx(result["invariance_score"].get<double>()).epsilon(1e-12));
    if (name == "baseline") {
      REQUIRE(r["classifier_trained"] == true);
      model.forward(test.images.view());
      const auto v = invar::softmax_cross_entropy(model.output(), test.labels.view(), invar::no_gradient);
      CHECK(r["classifier_accuracy"].get<double>() == doctest::Approx(double(v.correct) / 400.0).epsilon(1e-12));
      CHECK(r["classifier_accuracy"].get<double>() == doctest::Approx(result["test_accuracy"].get<double>()));
    } else {
      CHECK(r["classifier_trained"] == false);
      CHECK_FALSE(r.contains("classifier_accuracy"));
      CHECK(r["linear_probe"]["test_accuracy"].get<double>() == doctest::Approx(result["probe_accuracy"].get<double>()));
    }
    CHECK(r["rdm"]["images"] == 200);  // 20 per class
    CHECK(r["tsne"]["images"] == 300);

    // Robustness: the attacked model is the classifier or, without one, backbone + linear probe;
    // the clean accuracy on the first 100 images equals the probe's or the classifier's there.
    const auto& rb = r["robustness"];
    CHECK(rb["attacked"] == (name == "baseline" ? "classifier" : "linear probe"));
    REQUIRE(rb["fgsm"].size() == 9);
    REQUIRE(rb["pgd"]["points"].size() == 3);
    const auto first = test.images.view().slice_rows(0, 100);
    const auto first_labels = test.labels.view().slice_rows(0, 100);
    if (name == "baseline") {
      model.forward(first);
      const auto v = invar::softmax_cross_entropy(model.output(), first_labels, invar::no_gradient);
      CHECK(rb["clean_accuracy"].get<double>() == doctest::Approx(double(v.correct) / 100.0));
    } else {
      const auto f = invar::analysis::extract_features(model, first, "hidden2");
      CHECK(rb["clean_accuracy"].get<double>() == doctest::Approx(probe.accuracy(f, first_labels)));
    }
    // PGD at epsilon 0.3 leaves almost nothing; PGD is at least as strong as FGSM at 0.03.
    CHECK(rb["pgd"]["points"][2]["epsilon"].get<double>() == 0.3);
    CHECK(rb["pgd"]["points"][2]["accuracy"].get<double>() <= 0.05);
    CHECK(rb["pgd"]["points"][1]["accuracy"].get<double>() <= rb["fgsm"][6]["accuracy"].get<double>());
  }
  REQUIRE(j["transfer"].size() == 2);
  CHECK(j["transfer"][0]["substitute"] == "baseline");
  CHECK(j["transfer"][0]["target"] == "invariance");
}

TEST_CASE("invar-report: collapsed models (dead and rank-1 top layers) give a whole report, undefined numbers marked") {
  if (!report_can_run()) return;
  invar::test::TempDir dir("invar-report-collapse");
  // One small invariance-only run; its top hidden layer is then made dead (every unit 0 for every
  // image) or rank 1 (unit 0 alone, 0 for about 3/4 of the images): the features an
  // invariance-only objective collapses to, without training that long.
  const std::string trained = dir.file("trained");
  std::vector<std::string> train = {report_train_exe, "--out", trained};
  train.insert(train.end(), report_train_args.begin(), report_train_args.end());
  *std::find(train.begin(), train.end(), "baseline,invariance") = "invariance";
  *(std::find(train.begin(), train.end(), "--epochs") + 1) = "1";
  REQUIRE(invar::test::run_process(train, dir.file("train.txt")) == 0);
  const std::string runs = dir.file("collapsed");
  const auto test = invar::data::load_fashion_mnist(invar::data::default_fashion_mnist_dir(), false, 400);
  for (const std::string name : {"dead", "rank1"}) {
    fs::create_directories(runs);
    fs::copy(trained + "/invariance", runs + "/" + name, fs::copy_options::recursive);
    const std::string path = runs + "/" + name + "/checkpoint.invar";
    auto archive = invar::io::Archive::load(path);
    auto w = archive.get<float>("model/fc2.weight");  // [32, 64]: hidden1 -> hidden2
    auto b = archive.get<float>("model/fc2.bias");
    if (name == "rank1") {
      // Unit 0 as trained, shifted so that it is 0 for the images below its 75th percentile.
      auto model = invar::nn::make_mlp<float>({784, 64, 32, 10}, invar::nn::MlpOptions{}.with_seed(1));
      invar::train::load_checkpoint_model(path, model);
      const auto h1 = invar::analysis::extract_features(model, test.images, "hidden1");
      std::vector<float> z;
      for (invar::index_t i = 0; i < h1.dim(0); ++i) {
        float v = b[0];
        for (invar::index_t k = 0; k < 64; ++k) v += w(0, k) * h1(i, k);
        z.push_back(v);
      }
      std::nth_element(z.begin(), z.begin() + 300, z.end());
      b[0] -= z[300];
    }
    for (invar::index_t u = name == "rank1" ? 1 : 0; u < 32; ++u) {
      for (invar::index_t k = 0; k < 64; ++k) w(u, k) = 0;
      b[u] = -1;
    }
    archive.put("model/fc2.weight", w.view());
    archive.put("model/fc2.bias", b.view());
    archive.save(path);
  }

  const std::string out = dir.file("report");
  std::vector<std::string> rep = {report_exe, runs, "--out", out};
  rep.insert(rep.end(), report_args.begin(), report_args.end());
  const int status = invar::test::run_process(rep, dir.file("report.txt"));
  INFO(report_read_file(dir.file("report.txt")));
  REQUIRE(status == 0);
  REQUIRE(fs::is_regular_file(out + "/report.html"));
  CHECK(report_parse_figures(out).size() == 7);

  const auto j = nlohmann::json::parse(report_read_file(out + "/report.json"));
  REQUIRE(j["runs"].size() == 2);
  const auto& dead = j["runs"][0];
  const auto& rank1 = j["runs"][1];
  REQUIRE(dead["name"] == "dead");
  REQUIRE(rank1["name"] == "rank1");
  // Every null has its reason, and the nulls are exactly the numbers that are undefined.
  for (const auto* r : {&dead, &rank1}) {
    std::vector<std::string> nulls, unexplained;
    report_nulls(*r, nulls, unexplained);
    INFO((*r)["name"]);
    CHECK(unexplained.empty());
    // dead: PCA (10 ratios, PC1 share, effective rank), RDM (2 means), hidden2 (score, 3 CKA); rank1: none
    CHECK(nulls.size() == ((*r)["name"] == "dead" ? 10u + 2u + 2u + 4u : 0u));
  }
  // Dead: no variance, no correlation, no score or CKA at hidden2; hidden1 as usual.
  CHECK(dead["pca"]["pc1_share"].is_null());
  CHECK(dead["pca"]["effective_rank"].is_null());
  CHECK(dead["pca"]["explained_variance_ratio"][0].is_null());
  CHECK(dead["pca"]["undefined"]["pc1_share"].get<std::string>().find("total variance 0") != std::string::npos);
  CHECK(dead["rdm"]["constant_rows"] == 200);
  CHECK(dead["rdm"]["within_class"].is_null());
  CHECK(dead["rdm"]["between_class"].is_null());
  const auto& dl = dead["layers"]["taps"];
  REQUIRE(dl.size() == 2);
  CHECK(dl[0]["tap"] == "hidden1");
  for (const char* key : {"invariance_score", "cka_linear", "cka_linear_debiased", "cka_rbf"}) {
    CHECK(dl[0][key].is_number());
    CHECK(dl[1][key].is_null());
    CHECK(dl[1]["undefined"][key].get<std::string>().find("the same features") != std::string::npos);
  }
  // The probes see nothing: they predict the most frequent class of the 1000 training images.
  const auto probe_set = invar::data::load_fashion_mnist(invar::data::default_fashion_mnist_dir(), true, 1000);
  std::vector<int> train_count(10, 0), test_count(10, 0);
  for (invar::index_t i = 0; i < 1000; ++i) ++train_count[std::size_t(probe_set.labels[i])];
  for (invar::index_t i = 0; i < 400; ++i) ++test_count[std::size_t(test.labels[i])];
  const int most = *std::max_element(train_count.begin(), train_count.end());
  std::set<double> majority;  // the test accuracy of predicting one of the most frequent classes
  for (std::size_t c = 0; c < 10; ++c)
    if (train_count[c] == most) majority.insert(double(test_count[c]) / 400.0);
  CHECK(majority.count(dead["linear_probe"]["test_accuracy"].get<double>()) == 1);
  CHECK(majority.count(dead["mlp_probe"]["test_accuracy"].get<double>()) == 1);
  CHECK(std::isfinite(dead["tsne"]["kl_divergence"].get<double>()));
  // Attacks have no gradient to follow through a dead layer: the accuracy stays the clean one.
  const auto& rb = dead["robustness"];
  for (const auto& p : rb["fgsm"]) CHECK(p["accuracy"] == rb["clean_accuracy"]);
  for (const auto& p : rb["pgd"]["points"]) CHECK(p["accuracy"] == rb["clean_accuracy"]);

  // Rank 1: one direction of variance, the dead images' correlations undefined, the rest defined.
  CHECK(rank1["pca"]["pc1_share"].get<double>() == doctest::Approx(1.0).epsilon(1e-9));
  CHECK(rank1["pca"]["effective_rank"].get<double>() == doctest::Approx(1.0).epsilon(1e-9));
  CHECK_FALSE(rank1["pca"].contains("undefined"));
  const int constant = rank1["rdm"]["constant_rows"].get<int>();
  CHECK(constant > 100);
  CHECK(constant < 200);
  CHECK(rank1["rdm"]["within_class"].get<double>() == doctest::Approx(0.0).scale(1e-6));  // all perfectly correlated
  for (const char* key : {"invariance_score", "cka_linear", "cka_rbf"}) CHECK(rank1["layers"]["taps"][1][key].is_number());

  // The page marks them: "undefined" cells, the reasons under the table, the grey cells noted.
  const std::string html = report_read_file(out + "/report.html");
  CHECK(html.find(">undefined<") != std::string::npos);
  CHECK(html.find("dead, PC1 share and effective rank: undefined: every feature of &apos;hidden2&apos; is constant") != std::string::npos);
  CHECK(html.find("grey") != std::string::npos);
  const std::string pca_svg = report_read_file(out + "/figures/pca.svg");
  CHECK(pca_svg.find("dead (undefined)") != std::string::npos);
}

TEST_CASE("invar-report: runs of two seeds form a group shown as mean, spread and every seed's value") {
  if (!report_can_run()) return;
  invar::test::TempDir dir("invar-report-seeds");
  // invar-train --seed 1,2 writes <out>/<objective>/seed-<s>/; here two runs of one seed each,
  // moved into that layout, and one invariance-only run of seed 1 at <out>/invariance.
  const std::string out_runs = dir.file("runs");
  for (const std::string seed : {"1", "2"}) {
    std::vector<std::string> train = {report_train_exe, "--out", dir.file("seed" + seed), "--seed", seed};
    train.insert(train.end(), report_train_args.begin(), report_train_args.end());
    *(std::find(train.begin(), train.end(), "--epochs") + 1) = "1";
    if (seed == "2") *std::find(train.begin(), train.end(), "baseline,invariance") = "baseline";
    REQUIRE(invar::test::run_process(train, dir.file("train.txt")) == 0);
    fs::create_directories(out_runs + "/baseline");
    fs::rename(dir.file("seed" + seed) + "/baseline", out_runs + "/baseline/seed-" + seed);
  }
  fs::rename(dir.file("seed1") + "/invariance", out_runs + "/invariance");
  const std::string out = dir.file("report");
  std::vector<std::string> rep = {report_exe, out_runs, "--out", out, "--fgsm-epsilons", "0.03,0.3", "--pgd-epsilons",
                                  "0.03"};
  rep.insert(rep.end(), report_args.begin(), report_args.end());
  *(std::find(rep.begin(), rep.end(), "--attack-images") + 1) = "50";
  const int status = invar::test::run_process(rep, dir.file("report.txt"));
  INFO(report_read_file(dir.file("report.txt")));
  REQUIRE(status == 0);
  CHECK(report_parse_figures(out).size() == 7);

  const auto j = nlohmann::json::parse(report_read_file(out + "/report.json"));
  REQUIRE(j["runs"].size() == 3);
  CHECK(j["runs"][0]["name"] == "baseline/seed-1");
  CHECK(j["runs"][1]["name"] == "baseline/seed-2");
  CHECK(j["runs"][2]["name"] == "invariance");
  CHECK(j["runs"][1]["config"]["seed"] == 2);
  REQUIRE(j["groups"].size() == 2);
  const auto& g = j["groups"][0];
  CHECK(g["name"] == "baseline");
  CHECK(g["seeds"] == nlohmann::json({1, 2}));
  CHECK(g["runs"] == nlohmann::json({"baseline/seed-1", "baseline/seed-2"}));
  CHECK_FALSE(g["config"].contains("seed"));
  // Each measure: mean, sample std, n and the seeds' values, equal to the runs' own numbers.
  auto check_stat = [&](const nlohmann::json& stat, const nlohmann::json& a, const nlohmann::json& b) {
    REQUIRE(stat.is_object());
    const double x = a.get<double>(), y = b.get<double>();
    CHECK(stat["n"] == 2);
    CHECK(stat["values"] == nlohmann::json({x, y}));
    CHECK(stat["mean"].get<double>() == doctest::Approx((x + y) / 2).epsilon(1e-14));
    CHECK(stat["std"].get<double>() == doctest::Approx(std::abs(x - y) / std::sqrt(2.0)).epsilon(1e-12));
  };
  const auto& r1 = j["runs"][0];
  const auto& r2 = j["runs"][1];
  check_stat(g["classifier_accuracy"], r1["classifier_accuracy"], r2["classifier_accuracy"]);
  check_stat(g["linear_probe"]["test_accuracy"], r1["linear_probe"]["test_accuracy"], r2["linear_probe"]["test_accuracy"]);
  check_stat(g["mlp_probe"]["test_accuracy"], r1["mlp_probe"]["test_accuracy"], r2["mlp_probe"]["test_accuracy"]);
  check_stat(g["pca"]["pc1_share"], r1["pca"]["pc1_share"], r2["pca"]["pc1_share"]);
  check_stat(g["pca"]["effective_rank"], r1["pca"]["effective_rank"], r2["pca"]["effective_rank"]);
  check_stat(g["rdm"]["within_class"], r1["rdm"]["within_class"], r2["rdm"]["within_class"]);
  for (std::size_t l = 0; l < 2; ++l)
    for (const char* key : {"invariance_score", "cka_linear", "cka_linear_debiased", "cka_rbf"})
      check_stat(g["layers"]["taps"][l][key], r1["layers"]["taps"][l][key], r2["layers"]["taps"][l][key]);
  check_stat(g["robustness"]["clean_accuracy"], r1["robustness"]["clean_accuracy"], r2["robustness"]["clean_accuracy"]);
  check_stat(g["robustness"]["fgsm"][0]["accuracy"], r1["robustness"]["fgsm"][0]["accuracy"],
             r2["robustness"]["fgsm"][0]["accuracy"]);
  CHECK(g["robustness"]["fgsm"][0]["epsilon"] == 0.03);
  CHECK(g["layers"]["taps"][1]["tap"] == "hidden2");
  // A group of one seed beside it: its value, no spread, and why.
  const auto& one = j["groups"][1];
  CHECK(one["name"] == "invariance");
  CHECK(one["linear_probe"]["test_accuracy"]["n"] == 1);
  CHECK(one["linear_probe"]["test_accuracy"]["std"].is_null());
  CHECK(one["linear_probe"]["test_accuracy"]["mean"] == j["runs"][2]["linear_probe"]["test_accuracy"]);
  // Transfer between groups, over the pairs of their runs (baseline against itself: its two seeds).
  bool within = false;
  for (const auto& t : j["transfer_groups"])
    if (t["substitute"] == "baseline" && t["target"] == "baseline") {
      within = true;
      CHECK(t["pairs"].size() == 2);
      CHECK(t["pgd_accuracy"]["n"] == 2);
    }
  CHECK(within);

  // The page: "mean ± std % (2 seeds)" from the same numbers; per-model figures say which seed.
  const std::string html = report_read_file(out + "/report.html");
  const auto& lp = g["linear_probe"]["test_accuracy"];
  char expected[96];
  std::snprintf(expected, sizeof expected, "%.2f ± %.2f %% (2 seeds)", 100 * lp["mean"].get<double>(),
                100 * lp["std"].get<double>());
  CHECK_MESSAGE(html.find(expected) != std::string::npos, expected);
  CHECK(html.find("(1 seed)") != std::string::npos);
  CHECK(report_read_file(out + "/figures/rdm.svg").find("baseline (seed 1 of 2)") != std::string::npos);
  CHECK(report_read_file(out + "/figures/tsne.svg").find("baseline (seed 1 of 2)") != std::string::npos);
}

TEST_CASE("invar-report: bad input ends with exit status 2 (refused) or 1 (failed while working), naming the problem") {
  if (!report_can_run()) return;
  invar::test::TempDir dir("invar-report-bad");
  auto expect_failure = [&](const std::vector<std::string>& args, const std::string& text, int status = 2) {
    std::vector<std::string> argv = {report_exe, "--per-class", "20"};  // the 400 test images have 32 of some class
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = dir.file("log.txt");
    fs::remove(log);
    CHECK(invar::test::run_process(argv, log) == status);
    const std::string output = report_read_file(log);
    INFO(output);
    CHECK(output.find(text) != std::string::npos);
  };
  expect_failure({dir.file("missing")}, "is not a folder");
  fs::create_directories(dir.file("empty"));
  expect_failure({dir.file("empty"), "--out", dir.file("out")}, "holds no run");

  // A run whose checkpoint was cut short: the message names the file.
  const std::string runs = dir.file("runs");
  std::vector<std::string> train = {report_train_exe, "--out", runs};
  train.insert(train.end(), report_train_args.begin(), report_train_args.end());
  *std::find(train.begin(), train.end(), "baseline,invariance") = "baseline";  // one run is enough here
  REQUIRE(invar::test::run_process(train, dir.file("train.txt")) == 0);
  const std::string checkpoint = runs + "/baseline/checkpoint.invar";
  fs::resize_file(checkpoint, fs::file_size(checkpoint) / 2);
  expect_failure({runs + "/baseline", "--out", dir.file("out")}, "checkpoint.invar", 1);  // found while working
  CHECK_FALSE(fs::exists(dir.file("out") + "/report.json"));

  // A configuration that is not one.
  fs::create_directories(dir.file("odd"));
  std::ofstream(dir.file("odd") + "/config.json") << "{\"epochs\": \"many\"}";
  fs::copy_file(checkpoint, dir.file("odd") + "/checkpoint.invar");
  expect_failure({dir.file("odd"), "--out", dir.file("out")}, "is not a run configuration");
}

TEST_CASE("invar-report: sizes the data cannot give are refused before any analysis, exit 2, nothing written") {
  if (!report_can_run()) return;
  invar::test::TempDir dir("invar-report-sizes");
  const std::string runs = dir.file("runs");
  train_one_baseline(dir, runs);
  auto refused = [&](const std::vector<std::string>& args, const std::string& text) {
    std::vector<std::string> argv = {report_exe, runs + "/baseline", "--out", dir.file("out"), "-q", "--threads", "2"};
    argv.insert(argv.end(), args.begin(), args.end());
    fs::remove(dir.file("log.txt"));
    CHECK(invar::test::run_process(argv, dir.file("log.txt")) == 2);
    const std::string output = report_read_file(dir.file("log.txt"));
    INFO(output);
    CHECK(output.find(text) != std::string::npos);
    CHECK(std::count(output.begin(), output.end(), '\n') == 1);
    CHECK(!fs::exists(dir.file("out")));  // refused before the probes (nothing written)
  };
  // 400 test images: the class with the fewest has fewer than 100 (Fashion-MNIST's first 400).
  refused({"--per-class", "100"}, "--per-class 100: the test set (400 images) has only ");
  refused({"--per-class", "100"}, "; give --per-class ");
  refused({"--per-class", "20", "--tsne-images", "20"}, "--tsne-images 20: t-SNE (perplexity 30) needs at least 32 test images, and 20 are used");
  refused({"--per-class", "20", "--layer-images", "3"}, "--layer-images: 3 is not in [4, ");  // a usage error already
}

TEST_CASE("invar-report: killed at 10 points, a report leaves the previous one whole, and the next one tidies up") {
  if (!report_can_run()) return;
  invar::test::TempDir dir("invar-report-kill");
  const std::string runs = dir.file("runs"), out = dir.file("out");
  train_one_baseline(dir, runs);
  auto report = [&](const std::string& per_class) { return small_report(runs, out, per_class); };
  const auto t0 = std::chrono::steady_clock::now();
  REQUIRE(invar::test::run_process(report("20"), dir.file("first.txt")) == 0);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto listing = [&](const std::string& folder) {  // every file below `folder` with its bytes
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(folder))
      if (e.is_regular_file()) files[fs::relative(e.path(), folder).string()] = report_read_file(e.path().string());
    return files;
  };
  const auto before = listing(out);
  REQUIRE(before.count("report.json"));
  auto siblings = [&] {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(dir.path))
      if (e.path().filename().string().rfind("out.", 0) == 0) found.push_back(e.path().filename().string());
    return found;
  };
  CHECK(siblings().empty());
  int killed = 0;
  for (int k = 0; k < 10; ++k) {  // killed at 10 points spread over the report's run time
    CAPTURE(k);
    invar::test::Subprocess p(report("10"), dir.file("killed.txt"));
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds * (k + 0.5) / 10));
    p.kill_now();
    killed += p.exit_code() == -SIGKILL;
    const auto now = listing(out);
    // Whole: the previous report, or (killed after the swap) the complete new one.
    CHECK((now == before || (now.count("report.json") && now.size() == before.size())));
  }
  MESSAGE("10 reports killed at points over " << seconds << " s; " << killed << " were still running");
  CHECK(killed >= 5);  // most kills came while it ran (timing varies with the machine's load)
  // The next report replaces the folder whole and removes the dead processes' staging folders.
  REQUIRE(invar::test::run_process(report("10"), dir.file("second.txt")) == 0);
  CHECK(nlohmann::json::parse(report_read_file(out + "/report.json"))["report"]["options"]["per_class"] == 10);
  CHECK(siblings().empty());
}

TEST_CASE("invar-report: a full disk stops a report with a clear error and leaves the previous report whole") {
  if (!report_can_run()) return;
  invar::test::TempDir dir("invar-report-full");
  const std::string runs = dir.file("runs"), out = dir.file("out");
  train_one_baseline(dir, runs);
  const std::vector<std::string> report = small_report(runs, out, "10");
  REQUIRE(invar::test::run_process(report, dir.file("first.txt")) == 0);
  const std::string before = report_read_file(out + "/report.json");
  int cases = 0;
  for (const std::uint64_t limit : {std::uint64_t(512), std::uint64_t(8) << 10, std::uint64_t(64) << 10}) {
    CAPTURE(limit);
    fs::remove(dir.file("limited.txt"));
    const int rc = invar::test::run_process_with_file_limit(report, dir.file("limited.txt"), limit);
    const std::string output = report_read_file(dir.file("limited.txt"));
    INFO(output);
    CHECK(rc == 1);
    CHECK(output.find("File too large") != std::string::npos);
    CHECK(report_read_file(out + "/report.json") == before);
    for (const auto& e : fs::directory_iterator(dir.path))  // no staging folder left behind
      CHECK(e.path().filename().string().rfind("out.", 0) != 0);
    ++cases;
  }
  MESSAGE(cases << " file-size limits (full disk): each report stopped with a clear error, the previous one whole");
}

TEST_CASE("invar-report: a read-only folder stops a report with a clear error and leaves the previous report whole") {
  if (!report_can_run()) return;
  if (!invar::test::permissions_can_bind()) {
    MESSAGE("skipped: running as root where a child cannot lose root's override of file permissions (no user "
            "namespaces), so a read-only folder cannot be made");
    return;
  }
  invar::test::TempDir dir("invar-report-read-only");
  const std::string runs = dir.file("runs"), reports = dir.file("reports"), out = reports + "/out";
  train_one_baseline(dir, runs);
  const std::vector<std::string> report = small_report(runs, out, "10");
  const invar::test::ChildLimits as_user{.permissions_bind = true};
  REQUIRE(invar::test::run_process(report, dir.file("first.txt"), as_user) == 0);
  const std::string before = report_read_file(out + "/report.json");
  int cases = 0;
  // The folder that holds the report, read-only: the new report cannot be built beside the old one.
  fs::permissions(reports, invar::test::read_only_folder);
  {
    const int rc = invar::test::run_process(report, dir.file("replace.txt"), as_user);
    const std::string output = report_read_file(dir.file("replace.txt"));
    INFO(output);
    CHECK(rc == 2);  // refused before any analysis
    CHECK(output.find("Permission denied") != std::string::npos);
    CHECK(output.find(reports) != std::string::npos);
    CHECK(report_read_file(out + "/report.json") == before);
    CHECK(std::distance(fs::directory_iterator(reports), fs::directory_iterator()) == 1);  // out alone
    ++cases;
  }
  // A new report into a read-only folder: refused, nothing made.
  {
    std::vector<std::string> fresh = report;
    *std::find(fresh.begin(), fresh.end(), out) = reports + "/new";
    const int rc = invar::test::run_process(fresh, dir.file("new.txt"), as_user);
    const std::string output = report_read_file(dir.file("new.txt"));
    INFO(output);
    CHECK(rc == 2);
    CHECK(output.find("Permission denied") != std::string::npos);
    CHECK_FALSE(fs::exists(reports + "/new"));
    ++cases;
  }
  // Writable again: the report replaces the old one.
  fs::permissions(reports, fs::perms::owner_all, fs::perm_options::add);
  REQUIRE(invar::test::run_process(report, dir.file("again.txt"), as_user) == 0);
  CHECK(fs::exists(out + "/report.json"));
  MESSAGE(cases << " read-only cases (replacing a report, a new report): each stopped with a clear error, "
                   "the previous report whole");
}

TEST_CASE("invar-report: --version, defaults in --help, usage errors exit 2 with one readable line") {
  if (report_exe.empty()) {
    MESSAGE("skipped: invar-report is not built in this configuration (apps off)");
    return;
  }
  invar::test::TempDir dir("invar-report-usage");
  REQUIRE(invar::test::run_process({report_exe, "--version"}, dir.file("version.txt")) == 0);
  const std::string version = report_read_file(dir.file("version.txt"));
  INFO(version);
  CHECK(std::regex_search(version, std::regex(R"(^invar-report \d+\.\d+\.\d+ \(git ([0-9a-f]{4,40}|unknown)\)\n$)")));

  REQUIRE(invar::test::run_process({report_exe, "--help"}, dir.file("help.txt")) == 0);
  const std::string help = report_read_file(dir.file("help.txt"));
  INFO(help);
  for (const char* shown : {"--out TEXT (default runs/invar-report)", "--per-class INT [2, 100000] (default 100)",
                            "--pgd-step FLOAT > 0 (default 0.01)", "--rdm-metric TEXT {correlation,squared-euclidean} "
                                                                   "(default correlation)"})
    CHECK_MESSAGE(help.find(shown) != std::string::npos, shown);
  CHECK(help.find("{false}") == std::string::npos);

  fs::create_directories(dir.file("runs"));
  for (const auto& [args, text] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{}, "runs is required"},
           {{dir.file("runs"), "--pgd-step", "nan"}, "--pgd-step: nan is not a finite number"},
           {{dir.file("runs"), "--pgd-step", "0"}, "--pgd-step: 0 is not > 0"},
           {{dir.file("runs"), "--transfer-epsilon", "inf"}, "--transfer-epsilon: inf is not a finite number"},
           {{dir.file("runs"), "--per-class", "1"}, "--per-class: 1 is not in [2, 100000]"},
           {{dir.file("runs"), "--fgsm-epsilons", "0.1,-1"}, "--fgsm-epsilons: -1 in '0.1,-1' is not >= 0"},
           {{dir.file("runs"), "--frobnicate"}, "--frobnicate"}}) {
    std::vector<std::string> argv = {report_exe, "--out", dir.file("out")};
    argv.insert(argv.end(), args.begin(), args.end());
    const int rc = invar::test::run_process(argv, dir.file("log.txt"));
    const std::string output = report_read_file(dir.file("log.txt"));
    fs::remove(dir.file("log.txt"));
    INFO(output);
    CHECK(rc == 2);
    CHECK(output.rfind("invar-report: ", 0) == 0);
    CHECK(output.find(text) != std::string::npos);
    CHECK(std::count(output.begin(), output.end(), '\n') == 1);
  }
  CHECK_FALSE(fs::exists(dir.file("out")));
}

TEST_SUITE_END();
