// invar-train, the main command, as a user runs it: a run killed for real (SIGKILL) after its
// first epoch and resumed equals the uninterrupted run bit for bit; the default run meets the
// acceptance figures on Fashion-MNIST; bad input ends with a message that names the problem.
// Needs the invar-train executable (INVAR_TRAIN_EXE, set by tests/CMakeLists.txt when the tools
// are built) and Fashion-MNIST; skipped without them.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/data/idx.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

TEST_SUITE_BEGIN("apps");

namespace {

#ifdef INVAR_TRAIN_EXE
const std::string exe = INVAR_TRAIN_EXE;
#else
const std::string exe;
#endif

bool can_run(bool need_data = true) {
  if (exe.empty()) {
    MESSAGE("skipped: invar-train is not built in this configuration (apps off)");
    return false;
  }
  const std::string dir = invar::data::default_fashion_mnist_dir();
  if (need_data && !std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(std::filesystem::path(dir) / "train-images-idx3-ubyte")) {
    MESSAGE("skipped: Fashion-MNIST not found in " << dir);
    return false;
  }
  return true;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

long count_lines(const std::string& path) {
  const std::string s = read_all(path);
  return static_cast<long>(std::count(s.begin(), s.end(), '\n'));
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_all(path)); }

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("invar-train: a run killed (SIGKILL) after epoch 1 and resumed equals the uninterrupted run") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-kill");
  const std::vector<std::string> args = {exe,          "--objective",   "mixed",        "--train-images", "20000",
                                         "--test-images", "500",        "--mlp-hidden", "256",            "--epochs",
                                         "3",            "--score-images", "200",        "--threads",      "2",
                                         "-q"};
  const std::string full = dir.file("full"), killed = dir.file("killed");
  REQUIRE(invar::test::run_process(with(args, {"--out", full}), dir.file("full.txt")) == 0);

  {
    invar::test::Subprocess run(with(args, {"--out", killed}), dir.file("killed.txt"));
    const std::string log = killed + "/mixed/log.jsonl";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (count_lines(log) < 1 && run.running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    run.kill_now();
    INFO("output of the killed run: " << read_all(dir.file("killed.txt")));
    REQUIRE(run.exit_code() == -SIGKILL);  // killed, not finished
    const long epochs_logged = count_lines(log);
    REQUIRE(epochs_logged >= 1);
    REQUIRE(epochs_logged < 3);  // the kill came before the end
    MESSAGE("killed after " << epochs_logged << " logged epoch(s)");
  }
  REQUIRE(invar::test::run_process(with(args, {"--out", killed, "--resume"}), dir.file("resumed.txt")) == 0);

  // The same model, optimiser state and training state, byte for byte, and the same evaluation.
  const std::string a = read_all(full + "/mixed/checkpoint.invar"), b = read_all(killed + "/mixed/checkpoint.invar");
  REQUIRE(!a.empty());
  CHECK(a == b);
  const auto ra = read_json(full + "/mixed/result.json"), rb = read_json(killed + "/mixed/result.json");
  CHECK(ra["accuracy"] == rb["accuracy"]);
  CHECK(ra["invariance_score"] == rb["invariance_score"]);
  CHECK(ra["epochs"] == 3);
}

TEST_CASE("invar-train: the default run on Fashion-MNIST (baseline >= 85 %, mixed more invariant at M = 8)") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-default");
  const std::string out = dir.file("out");
  const int rc = invar::test::run_process({exe, "--out", out, "-q"}, dir.file("output.txt"));
  INFO("output: " << read_all(dir.file("output.txt")));
  REQUIRE(rc == 0);
  const auto summary = read_json(out + "/summary.json");
  REQUIRE(summary["runs"].size() == 2);
  const auto& base = summary["runs"][0];
  const auto& mixed = summary["runs"][1];
  REQUIRE(base["objective"] == "baseline");
  REQUIRE(mixed["objective"] == "mixed");
  CHECK(summary["config"]["m"] == 8);
  const double acc_b = base["accuracy"], acc_m = mixed["accuracy"];
  const double s_b = base["invariance_score"], s_m = mixed["invariance_score"];
  MESSAGE("baseline: accuracy " << acc_b << ", invariance score " << s_b << ", " << base["train_seconds"] << " s");
  MESSAGE("mixed:    accuracy " << acc_m << ", invariance score " << s_m << ", " << mixed["train_seconds"] << " s");
  CHECK(acc_b >= 0.85);
  CHECK(s_m > s_b);
  CHECK(std::abs(acc_m - acc_b) <= 0.02);
}

TEST_CASE("invar-train: bad input ends with exit status 1 and a message naming the problem") {
  if (!can_run(/*need_data=*/false)) return;
  invar::test::TempDir dir("invar-train-errors");
  auto fails_with = [&](const std::vector<std::string>& args, const std::string& text) {
    const std::string log = dir.file("log.txt");
    std::filesystem::remove(log);
    const int rc = invar::test::run_process(with({exe, "--out", dir.file("out"), "-q"}, args), log);
    const std::string output = read_all(log);
    INFO("output: " << output);
    CHECK(rc != 0);
    CHECK(output.find(text) != std::string::npos);
  };
  fails_with({"--data", dir.file("nowhere")}, "no CIFAR-10, CIFAR-100 or Fashion-MNIST files found");
  fails_with({"--objective", "baseline,supervised"}, "unknown objective preset 'supervised'");
  fails_with({"--model", "resnet"}, "--model");
  fails_with({"--mlp-hidden", "64,x"}, "'x' is not a positive width");
  fails_with({"--taps", "conv1"}, "no tap 'conv1'");
  fails_with({"--dataset", "cifar10", "--data", dir.path.string()}, "CIFAR-10");
  fails_with({"--alpha", "0.7", "--beta", "0.7"}, "> 1");
  fails_with({"--weights", "1,x"}, "'x' is neither a profile");
  fails_with({"--weights", "1,2,3"}, "3 per-layer shares given for 2 taps");
}

TEST_CASE("invar-train: --classes trains on a subset of the classes, relabelled (the binary task)") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-classes");
  // Trouser vs Sneaker, by index and by name: the same run.
  for (const std::string classes : {"1,7", "Trouser,Sneaker"}) {
    const std::string out = dir.file(classes == "1,7" ? "by-index" : "by-name");
    REQUIRE(invar::test::run_process({exe, "--classes", classes, "--mlp-hidden", "32", "--train-images", "600",
                                      "--test-images", "200", "--epochs", "1", "--objective", "baseline",
                                      "--score-images", "50", "--threads", "2", "-q", "--out", out},
                                     dir.file("log.txt")) == 0);
    const auto result = read_json(out + "/baseline/result.json");
    CHECK(result["test_accuracy"].get<double>() >= 0.95);  // an easy pair
    CHECK(read_json(out + "/baseline/config.json")["classes"] == classes);
  }
  CHECK(read_json(dir.file("by-index") + "/baseline/result.json")["test_accuracy"] ==
        read_json(dir.file("by-name") + "/baseline/result.json")["test_accuracy"]);
  for (const auto& [classes, text] : std::vector<std::pair<std::string, std::string>>{
           {"1", "at least two classes"}, {"1,99", "'99' is neither a class name nor a class index"},
           {"1,1", "class 1 is given twice"}, {"Trouser,Sock", "'Sock' is neither"}}) {
    INFO(classes);
    CHECK(invar::test::run_process({exe, "--classes", classes, "--epochs", "1", "--train-images", "100", "-q", "--out",
                                    dir.file("bad")},
                                   dir.file("bad.txt")) == 1);
    CHECK(read_all(dir.file("bad.txt")).find(text) != std::string::npos);
  }
}

TEST_CASE("invar-train: resuming under another configuration is refused") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-config");
  const std::vector<std::string> args = {exe, "--objective", "baseline", "--train-images", "2048", "--test-images",
                                         "200", "--mlp-hidden", "32", "--epochs", "1", "--score-images", "50",
                                         "--out", dir.file("out"), "-q"};
  REQUIRE(invar::test::run_process(args, dir.file("first.txt")) == 0);
  CHECK(invar::test::run_process(with(args, {"--resume"}), dir.file("second.txt")) == 0);  // same: fine
  const int rc = invar::test::run_process(with(args, {"--resume", "--lr", "0.3"}), dir.file("third.txt"));
  CHECK(rc == 1);
  CHECK(read_all(dir.file("third.txt")).find("another configuration") != std::string::npos);
}
