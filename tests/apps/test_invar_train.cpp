// invar-train, the main command, as a user runs it: a run killed for real (SIGKILL) after its
// first epoch and resumed equals the uninterrupted run bit for bit; the default run meets the
// acceptance figures on Fashion-MNIST; bad input ends with a message that names the problem.
// Needs the invar-train executable (INVAR_TRAIN_EXE, set by tests/CMakeLists.txt when the tools
// are built) and Fashion-MNIST; skipped without them.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/core/config.hpp"
#include "invar/data/idx.hpp"
#include "invar/io/safetensors.hpp"
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

/// Every file under `dir` with its contents and modification time: equal snapshots mean that
/// nothing was written there.
std::map<std::string, std::pair<std::string, std::filesystem::file_time_type>> snapshot(const std::string& dir) {
  std::map<std::string, std::pair<std::string, std::filesystem::file_time_type>> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[e.path().string()] = {read_all(e.path().string()), e.last_write_time()};
  return files;
}

/// result.json without its timings: the numbers a rerun must reproduce.
nlohmann::json result_numbers(const std::string& path) {
  auto j = read_json(path);
  j.erase("train_seconds");
  j.erase("seconds_per_epoch");
  return j;
}

/// A small CIFAR-10 folder: `per_batch` records in each training batch, 3 in the test batch.
void write_small_cifar10(const std::string& dir, long per_batch) {
  std::filesystem::create_directories(dir);
  auto write = [](const std::string& path, long n, long first) {
    std::string bytes;
    std::uint32_t state = 12345u + static_cast<std::uint32_t>(first);
    for (long i = 0; i < n; ++i) {
      bytes.push_back(static_cast<char>((first + i) % 10));
      for (long j = 0; j < 3072; ++j) {
        state = state * 1664525u + 1013904223u;  // varied pixels: images with features of their own
        bytes.push_back(static_cast<char>(state >> 24));
      }
    }
    std::ofstream(path, std::ios::binary) << bytes;
  };
  for (int b = 1; b <= 5; ++b) write(dir + "/data_batch_" + std::to_string(b) + ".bin", per_batch, b * per_batch);
  write(dir + "/test_batch.bin", 20, 0);
}

/// A 3-epoch mixed run of a small MLP on 2048 images, one thread: the fault tests' run.
std::vector<std::string> short_mixed_run() {
  return {exe, "--objective", "mixed", "--train-images", "2048", "--test-images", "100", "--mlp-hidden", "32",
          "--epochs", "3", "-K", "8", "-M", "4", "--score-images", "20", "--probe", "never", "--threads", "1", "-q"};
}

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

TEST_CASE("invar-train: SIGKILL at 20 points of a run, every resume ends bit-identical, each epoch logged once") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-kills");
  const std::vector<std::string> args = {exe, "--objective", "mixed", "--train-images", "4096", "--test-images", "100",
                                         "--mlp-hidden", "64", "--epochs", "4", "-K", "8", "-M", "4", "--score-images",
                                         "20", "--probe", "never", "--threads", "1", "-q"};
  // The reference run, timed: when its run folder appears (the data are loaded) and when it ends.
  const std::string full = dir.file("full");
  double started = 0, seconds = 0;
  {
    const auto t0 = std::chrono::steady_clock::now();
    invar::test::Subprocess run(with(args, {"--out", full}), dir.file("full.txt"));
    while (run.running() && !std::filesystem::exists(full + "/mixed/config.json"))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    started = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(run.exit_code() == 0);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const std::string reference = read_all(full + "/mixed/checkpoint.invar");
  REQUIRE(!reference.empty());
  std::map<std::string, int> stages;  // where the kills landed: how far the run had come
  const int points = 20;
  for (int k = 0; k < points; ++k) {
    CAPTURE(k);
    const std::string out = dir.file("k" + std::to_string(k));
    {
      // Two kills while the data load, the others spread over the training.
      const double at = k < 2 ? started * (k + 1) / 3 : started + (seconds - started) * (k - 1.5) / (points - 2);
      invar::test::Subprocess run(with(args, {"--out", out}), dir.file("k.txt"));
      std::this_thread::sleep_for(std::chrono::duration<double>(at));
      run.kill_now();
      const int code = run.exit_code();
      std::string stage;
      if (code == 0) stage = "finished";
      else if (!std::filesystem::exists(out + "/mixed/config.json")) stage = "before any run file";
      else stage = std::to_string(count_lines(out + "/mixed/log.jsonl")) + " epochs logged";
      ++stages[stage];
    }
    REQUIRE(invar::test::run_process(with(args, {"--out", out, "--resume"}), dir.file("resumed.txt")) == 0);
    CHECK(read_all(out + "/mixed/checkpoint.invar") == reference);
    std::ifstream log(out + "/mixed/log.jsonl");
    std::vector<long> epochs;
    for (std::string line; std::getline(log, line);) epochs.push_back(nlohmann::json::parse(line)["epoch"].get<long>());
    CHECK(epochs == std::vector<long>{1, 2, 3, 4});
    for (const auto& e : std::filesystem::directory_iterator(out + "/mixed"))
      CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
    std::filesystem::remove_all(out);
  }
  std::string where;
  for (const auto& [stage, n] : stages) where += "\n  " + stage + ": " + std::to_string(n);
  MESSAGE(points << " kills over a " << seconds << " s run (data loaded after " << started << " s), each resumed:" << where);
  CHECK(stages.size() >= 2);  // the kills landed at more than one stage (timing varies with the machine's load)
}

TEST_CASE("invar-train: a full disk at each of the run's writes stops it with a clear error, and the resume is exact") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-full");
  const std::vector<std::string> args = short_mixed_run();
  const std::string full = dir.file("full");
  REQUIRE(invar::test::run_process(with(args, {"--out", full}), dir.file("full.txt")) == 0);
  const std::string reference = read_all(full + "/mixed/checkpoint.invar");
  const auto config_bytes = std::filesystem::file_size(full + "/mixed/config.json");
  const auto log_bytes = std::filesystem::file_size(full + "/mixed/log.jsonl");
  const auto checkpoint_bytes = reference.size();
  REQUIRE(checkpoint_bytes > log_bytes);
  // Every file limited to N bytes (a disk that fills up), N from below config.json to just below the
  // checkpoint: the first write past N fails (config.json, a log line or a checkpoint).
  const std::vector<std::pair<std::string, std::uint64_t>> limits = {
      {"config.json", config_bytes / 2},      {"log line 1", config_bytes + 1},
      {"log line 2", log_bytes / 3 + 10},     {"log line 3", 2 * log_bytes / 3 + 10},
      {"checkpoint", checkpoint_bytes - 100}};
  int cases = 0;
  for (const auto& [what, limit] : limits) {
    CAPTURE(what);
    const std::string out = dir.file("full-" + std::to_string(cases++));
    const int rc = invar::test::run_process_with_file_limit(with(args, {"--out", out}), dir.file("limited.txt"), limit);
    const std::string output = read_all(dir.file("limited.txt"));
    std::filesystem::remove(dir.file("limited.txt"));
    INFO(output);
    CHECK(rc == 1);  // a clear error, not a crash
    CHECK(output.find("File too large") != std::string::npos);
    // Nothing lost: the resume (room again) ends with the uninterrupted run's checkpoint and log.
    REQUIRE(invar::test::run_process(with(args, {"--out", out, "--resume"}), dir.file("resumed.txt")) == 0);
    CHECK(read_all(out + "/mixed/checkpoint.invar") == reference);
    std::ifstream log(out + "/mixed/log.jsonl");
    std::vector<long> epochs;
    for (std::string line; std::getline(log, line);) epochs.push_back(nlohmann::json::parse(line)["epoch"].get<long>());
    CHECK(epochs == std::vector<long>{1, 2, 3});
    for (const auto& e : std::filesystem::directory_iterator(out + "/mixed"))
      CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  }
  MESSAGE(cases << " file-size limits (full disk) from below config.json to below the checkpoint: each run stopped "
                   "with a clear error and resumed exactly");
}

TEST_CASE("invar-train: a read-only run folder stops a run with a clear error, and the resume is exact") {
  if (!can_run()) return;
  if (!invar::test::permissions_can_bind()) {
    MESSAGE("skipped: running as root where a child cannot lose root's override of file permissions (no user "
            "namespaces), so a read-only folder cannot be made");
    return;
  }
  invar::test::TempDir dir("invar-train-read-only");
  const std::vector<std::string> args = short_mixed_run();
  const invar::test::ChildLimits as_user{.permissions_bind = true};
  const std::string full = dir.file("full");
  REQUIRE(invar::test::run_process(with(args, {"--out", full}), dir.file("full.txt"), as_user) == 0);
  const std::string reference = read_all(full + "/mixed/checkpoint.invar");
  namespace fs = std::filesystem;
  int cases = 0;

  // 1. The folder to hold the run cannot be made: refused before anything is written.
  {
    const std::string parent = dir.file("locked");
    fs::create_directories(parent);
    fs::permissions(parent, invar::test::read_only_folder);
    const int rc = invar::test::run_process(with(args, {"--out", parent + "/run"}), dir.file("locked.txt"), as_user);
    const std::string output = read_all(dir.file("locked.txt"));
    INFO(output);
    CHECK(rc == 2);
    CHECK(output.find("Permission denied") != std::string::npos);
    CHECK(output.find(parent + "/run") != std::string::npos);
    CHECK(std::count(output.begin(), output.end(), '\n') == 1);
    CHECK(fs::is_empty(parent));
    fs::permissions(parent, fs::perms::owner_all, fs::perm_options::add);
    ++cases;
  }

  // 2. The run folder becomes read-only while the run works (the run paused right after its first
  // log line, before that epoch's checkpoint is renamed into place): a clear error, and nothing of
  // the finished epochs is lost.
  const std::string out = dir.file("run");
  {
    invar::test::Subprocess run(with(args, {"--out", out}), dir.file("run.txt"), as_user);
    while (run.running() && !(fs::exists(out + "/mixed/log.jsonl") && count_lines(out + "/mixed/log.jsonl") >= 1))
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    run.pause();
    const bool paused_in_time = fs::exists(out + "/mixed/log.jsonl");
    fs::permissions(out + "/mixed", invar::test::read_only_folder);
    run.resume();
    const int rc = run.exit_code();
    const std::string output = read_all(dir.file("run.txt"));
    INFO(output);
    REQUIRE(paused_in_time);
    CHECK(rc == 1);
    CHECK(output.find("Permission denied") != std::string::npos);
    CHECK(output.find(out + "/mixed") != std::string::npos);
    ++cases;
  }

  // 3. A resume into the folder while it is still read-only: refused, the folder left as it was.
  {
    const auto before = snapshot(out + "/mixed");
    const int rc = invar::test::run_process(with(args, {"--out", out, "--resume"}), dir.file("again.txt"), as_user);
    const std::string output = read_all(dir.file("again.txt"));
    INFO(output);
    CHECK((rc == 1 || rc == 2));
    CHECK(output.find("Permission denied") != std::string::npos);
    const auto after = snapshot(out + "/mixed");
    for (const auto& [file, content] : after)
      CHECK_MESSAGE((before.count(file) && before.at(file) == content), file);
    CHECK(after.size() == before.size());
    ++cases;
  }

  // Writable again: the resume ends with the uninterrupted run's checkpoint and log.
  fs::permissions(out + "/mixed", fs::perms::owner_all, fs::perm_options::add);
  REQUIRE(invar::test::run_process(with(args, {"--out", out, "--resume"}), dir.file("resumed.txt"), as_user) == 0);
  CHECK(read_all(out + "/mixed/checkpoint.invar") == reference);
  std::ifstream log(out + "/mixed/log.jsonl");
  std::vector<long> epochs;
  for (std::string line; std::getline(log, line);) epochs.push_back(nlohmann::json::parse(line)["epoch"].get<long>());
  CHECK(epochs == std::vector<long>{1, 2, 3});
  for (const auto& e : fs::directory_iterator(out + "/mixed"))
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  MESSAGE(cases << " read-only cases (folder not creatable, made read-only mid-run, resumed while read-only): each "
                   "stopped with a clear error, and the resume was exact");
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

TEST_CASE("invar-train: bad input is refused with exit status 2 and one line naming the problem, no file written") {
  if (!can_run(/*need_data=*/false)) return;
  invar::test::TempDir dir("invar-train-errors");
  auto fails_with = [&](int status, const std::vector<std::string>& args, const std::string& text) {
    const std::string log = dir.file("log.txt");
    std::filesystem::remove(log);
    const int rc = invar::test::run_process(with({exe, "--out", dir.file("out"), "-q"}, args), log);
    const std::string output = read_all(log);
    INFO("output: " << output);
    CHECK(rc == status);  // 2: refused before any file was touched (every case here)
    CHECK(output.find(text) != std::string::npos);
    CHECK(std::count(output.begin(), output.end(), '\n') == 1);
    CHECK(!std::filesystem::exists(dir.file("out")));  // refused before any file was written
  };
  fails_with(2, {"--data", dir.file("nowhere")}, "no CIFAR-10, CIFAR-100 or Fashion-MNIST files found");
  fails_with(2, {"--objective", "baseline,supervised"}, "unknown objective preset 'supervised'");
  fails_with(2, {"--dataset", "cifar10", "--data", dir.path.string()}, "CIFAR-10");
  if (!can_run()) return;  // the rest is checked against the data
  fails_with(2, {"--mlp-hidden", "64,x"}, "'x' is not a positive width");
  fails_with(2, {"--taps", "conv1"}, "no tap 'conv1'");
  fails_with(2, {"--alpha", "0.7", "--beta", "0.7"}, "> 1");
  fails_with(2, {"--weights", "1,x"}, "'x' is neither a profile");
  fails_with(2, {"--weights", "1,2,3"}, "3 per-layer shares given for 2 taps");
  fails_with(2, {"-K", "5000", "--train-images", "2000"}, "-K/--seeds 5000: a batch needs K distinct training images "
                                                          "and there are 2000 (--train-images, --classes); give -K 2000 or less");
  fails_with(2, {"--sampler", "balanced", "-P", "20"}, "-P/--classes-per-batch 20");
}

TEST_CASE("invar-train: options refused against the data leave an existing run folder as it was (--overwrite too)") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-refuse-late");
  const std::string out = dir.file("out");
  const std::vector<std::string> args = {exe, "--objective", "baseline", "--train-images", "512", "--test-images",
                                         "100", "--mlp-hidden", "16", "--epochs", "1", "--score-images", "20",
                                         "--threads", "2", "-q", "--out", out};
  REQUIRE(invar::test::run_process(args, dir.file("first.txt")) == 0);
  const auto before = snapshot(out);
  CHECK(invar::test::run_process(with(args, {"--overwrite", "-K", "5000"}), dir.file("refused.txt")) == 2);
  const std::string text = read_all(dir.file("refused.txt"));
  INFO(text);
  CHECK(text.find("-K/--seeds 5000") != std::string::npos);
  CHECK(snapshot(out) == before);  // config.json included: --overwrite removed nothing
  // --resume with it: another configuration than the run's, refused first.
  CHECK(invar::test::run_process(with(args, {"--resume", "-K", "5000"}), dir.file("refused2.txt")) == 2);
  CHECK(snapshot(out) == before);
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
                                   dir.file("bad.txt")) == 2);
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
  CHECK(rc == 2);  // refused before any file was touched
  CHECK(read_all(dir.file("third.txt")).find("another configuration") != std::string::npos);
}

TEST_CASE("invar-train: --version names the library version and the git commit, --help shows the defaults") {
  if (!can_run(/*need_data=*/false)) return;
  invar::test::TempDir dir("invar-train-version");
  REQUIRE(invar::test::run_process({exe, "--version"}, dir.file("version.txt")) == 0);
  const std::string version = read_all(dir.file("version.txt"));
  INFO(version);
  const std::string expected = "invar-train " + std::to_string(INVAR_VERSION_MAJOR) + "." +
                               std::to_string(INVAR_VERSION_MINOR) + "." + std::to_string(INVAR_VERSION_PATCH) + " (git ";
  CHECK(version.rfind(expected, 0) == 0);
  CHECK(std::regex_search(version, std::regex(R"(\(git ([0-9a-f]{4,40}|unknown)\)\n$)")));

  REQUIRE(invar::test::run_process({exe, "--help-all"}, dir.file("help.txt")) == 0);
  const std::string help = read_all(dir.file("help.txt"));
  INFO(help);
  for (const char* shown : {"--objective TEXT (default baseline,mixed)", "--out TEXT (default runs/invar-train)",
                            "--epochs INT [1, 100000] (default 20)", "--momentum FLOAT [0, 0.999] (default 0.9)",
                            "--mlp-hidden TEXT (default 512,256)", "--alpha FLOAT [0, 1] (default preset)",
                            "--model TEXT {mlp,all-cnn,wrn} (default mlp)", "--config FILE", "--overwrite"})
    CHECK_MESSAGE(help.find(shown) != std::string::npos, shown);
}

TEST_CASE("invar-train: usage errors exit 2 with one line that states the valid range readably") {
  if (!can_run(/*need_data=*/false)) return;
  invar::test::TempDir dir("invar-train-usage");
  const std::string out = dir.file("out");
  for (const auto& [args, text] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--lr", "nan"}, "--lr: nan is not a finite number"},
           {{"--lr", "inf"}, "--lr: inf is not a finite number"},
           {{"--lr", "-1"}, "--lr: -1 is not in [0, 10]"},
           {{"--lr", "0.1x"}, "--lr: '0.1x' is not a number"},
           {{"--alpha", "1.5"}, "--alpha: 1.5 is not in [0, 1]"},
           {{"--momentum", "1"}, "--momentum: 1 is not in [0, 0.999]"},
           {{"--weight-decay", "-1e-300"}, "--weight-decay: -1e-300 is not in [0, 1]"},
           {{"--ratio", "0"}, "--ratio: 0 is not > 0"},
           {{"--width", "1e309"}, "--width: 1e309 is not a finite number"},
           {{"--epochs", "0"}, "--epochs: 0 is not in [1, 100000]"},
           {{"--epochs", "2.5"}, "--epochs: '2.5' is not a whole number"},
           {{"-K", "0"}, "--seeds: 0 is not >= 1"},
           {{"--train-images", "-5"}, "--train-images: -5 is not >= 0"},
           {{"--seed", "-1"}, "--seed: '-1' is not a whole number >= 0"},
           {{"--lr-milestones", "10,nan"}, "--lr-milestones: 'nan' in '10,nan' is not a finite number"},
           {{"--model", "resnet"}, "--model"},
           {{"--no-such-option"}, "--no-such-option"},
           {{"--resume", "--overwrite"}, "--resume excludes --overwrite"},
           {{"--config", dir.file("missing.json")}, "missing.json' is not a file"}}) {
    std::vector<std::string> argv = {exe, "--out", out};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = dir.file("log.txt");
    std::filesystem::remove(log);
    const int rc = invar::test::run_process(argv, log);
    const std::string output = read_all(log);
    INFO(args.front() << ": " << output);
    CHECK(rc == 2);
    CHECK(output.find(text) != std::string::npos);
    CHECK(std::count(output.begin(), output.end(), '\n') == 1);  // one line
    std::string without_paths = output;  // the temporary folder's name has long numbers
    for (std::size_t at; (at = without_paths.find(dir.path.string())) != std::string::npos;)
      without_paths.erase(at, dir.path.string().size());
    CHECK_FALSE(std::regex_search(without_paths, std::regex("[0-9]{20}")));  // no 300-digit doubles
  }
  CHECK_FALSE(std::filesystem::exists(out));  // nothing was written
}

TEST_CASE("invar-train: --config <run>/config.json reruns the run exactly, options on the command line win") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-rerun");
  const std::string first = dir.file("first"), again = dir.file("again"), longer = dir.file("longer");
  REQUIRE(invar::test::run_process({exe, "--objective", "mixed", "--train-images", "1024", "--test-images", "200",
                                    "--mlp-hidden", "32", "--epochs", "1", "--score-images", "50", "--lr", "0.07",
                                    "-K", "8", "-M", "4", "--seed", "7", "--threads", "2", "-q", "--out", first},
                                   dir.file("first.txt")) == 0);
  const std::string config = first + "/mixed/config.json";
  INFO(read_all(dir.file("first.txt")));
  REQUIRE(invar::test::run_process({exe, "--config", config, "--out", again, "--threads", "2", "-q"},
                                   dir.file("again.txt")) == 0);
  INFO(read_all(dir.file("again.txt")));
  CHECK(result_numbers(again + "/mixed/result.json") == result_numbers(first + "/mixed/result.json"));
  CHECK(read_all(again + "/mixed/checkpoint.invar") == read_all(first + "/mixed/checkpoint.invar"));
  CHECK(read_json(again + "/mixed/config.json") == read_json(config));
  CHECK_FALSE(std::filesystem::exists(again + "/baseline"));  // the run's objective only, not the default list

  // A run folder names its config.json; a flag on the command line wins over the file.
  REQUIRE(invar::test::run_process({exe, "--config", first + "/mixed", "--epochs", "2", "--out", longer, "--threads",
                                    "2", "-q"},
                                   dir.file("longer.txt")) == 0);
  const auto longer_config = read_json(longer + "/mixed/config.json");
  CHECK(longer_config["epochs"] == 2);
  CHECK(longer_config["lr"] == 0.07);
  CHECK(longer_config["k"] == 8);
  CHECK(longer_config["seed"] == 7);
  CHECK(count_lines(longer + "/mixed/log.jsonl") == 2);

  // A configuration file is checked as the command line is.
  std::ofstream(dir.file("bad-lr.json")) << R"({"lr": -5, "epochs": 1})";
  std::ofstream(dir.file("bad-key.json")) << R"({"learning_rate": 0.1})";
  std::ofstream(dir.file("bad-json.json")) << "{ epochs: 1";
  for (const auto& [file, text] : std::vector<std::pair<std::string, std::string>>{
           {"bad-lr.json", "--lr: -5 is not in [0, 10]"},
           {"bad-key.json", "unknown key 'learning_rate'"},
           {"bad-json.json", "is not valid JSON"}}) {
    INFO(file);
    CHECK(invar::test::run_process({exe, "--config", dir.file(file), "--out", dir.file("bad")}, dir.file("bad.txt")) == 2);
    CHECK(read_all(dir.file("bad.txt")).find(text) != std::string::npos);
  }
}

TEST_CASE("invar-train: a folder that holds a run is refused without --resume or --overwrite, and left as it was") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-refuse");
  const std::string out = dir.file("out");
  const std::vector<std::string> args = {exe, "--objective", "baseline", "--train-images", "512", "--test-images",
                                         "100", "--mlp-hidden", "16", "--epochs", "1", "--score-images", "20",
                                         "--threads", "2", "-q", "--out", out};
  REQUIRE(invar::test::run_process(args, dir.file("first.txt")) == 0);
  const auto before = snapshot(out);
  REQUIRE(before.size() >= 6);  // 4 run files, summary.json, the lock file

  CHECK(invar::test::run_process(args, dir.file("second.txt")) == 2);
  const std::string second = read_all(dir.file("second.txt"));
  INFO(second);
  CHECK(second.find("'" + out + "/baseline' already holds a run") != std::string::npos);
  CHECK(second.find("--resume") != std::string::npos);
  CHECK(second.find("--overwrite") != std::string::npos);
  CHECK(std::count(second.begin(), second.end(), '\n') == 1);
  CHECK(snapshot(out) == before);

  // --resume of another configuration: refused before anything is written.
  CHECK(invar::test::run_process(with(args, {"--resume", "--epochs", "2", "--lr", "0.2"}), dir.file("third.txt")) == 2);
  const std::string third = read_all(dir.file("third.txt"));
  INFO(third);
  CHECK(third.find("another configuration") != std::string::npos);
  CHECK(third.find("epochs: 2 given, 1 there") != std::string::npos);
  CHECK(third.find("lr: 0.2 given, 0.0 there") != std::string::npos);
  CHECK(snapshot(out) == before);

  // --overwrite replaces the run: one run's log, not two mixed.
  REQUIRE(invar::test::run_process(with(args, {"--overwrite", "--epochs", "2"}), dir.file("fourth.txt")) == 0);
  CHECK(count_lines(out + "/baseline/log.jsonl") == 2);
  CHECK(read_json(out + "/baseline/result.json")["epochs"] == 2);
  CHECK(read_json(out + "/baseline/config.json")["epochs"] == 2);
}

TEST_CASE("invar-train: a second process into a folder in use is refused, and the lock goes with its process") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-lock");
  const std::string out = dir.file("out"), lock = out + "/invar-train.lock";
  // A run long enough to be running still when the second process comes (killed below).
  invar::test::Subprocess first({exe, "--objective", "baseline", "--train-images", "20000", "--test-images", "200",
                                 "--epochs", "1000", "--score-images", "20", "--threads", "2", "-q", "--out", out},
                                dir.file("first.txt"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (!(std::filesystem::exists(out + "/baseline/config.json") && read_all(lock).rfind("pid ", 0) == 0) &&
         first.running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  INFO("first: " << read_all(dir.file("first.txt")));
  REQUIRE(first.running());
  const std::string holder = read_all(lock).substr(0, read_all(lock).find('\n'));  // "pid <first's pid>"

  for (const auto& extra : std::vector<std::vector<std::string>>{{}, {"--resume"}, {"--overwrite"}}) {
    const int rc = invar::test::run_process(
        with({exe, "--objective", "baseline", "--train-images", "200", "--epochs", "1", "-q", "--out", out}, extra),
        dir.file("second.txt"));
    const std::string second = read_all(dir.file("second.txt"));
    INFO(second);
    CHECK(rc == 2);
    CHECK(second.find("'" + out + "' is in use by another invar-train (" + holder + ")") != std::string::npos);
    std::filesystem::remove(dir.file("second.txt"));
  }
  CHECK(first.running());
  CHECK(read_json(out + "/baseline/config.json")["epochs"] == 1000);  // still the first's run

  // Killed for real, the first process leaves no lock behind: the folder is free again.
  first.kill_now();
  CHECK(first.exit_code() == -SIGKILL);
  REQUIRE(invar::test::run_process({exe, "--objective", "baseline", "--train-images", "200", "--test-images", "100",
                                    "--epochs", "1", "--score-images", "20", "--threads", "2", "-q", "--overwrite",
                                    "--out", out},
                                   dir.file("third.txt")) == 0);
  CHECK(count_lines(out + "/baseline/log.jsonl") == 1);
}

TEST_CASE("invar-train: a CIFAR file of another size than the standard is named in a warning, an empty one fails") {
  if (!can_run(/*need_data=*/false)) return;
  invar::test::TempDir dir("invar-train-cifar");
  const std::string data = dir.file("cifar");
  write_small_cifar10(data, 8);  // 8 records a batch instead of 10000
  const std::vector<std::string> args = {exe, "--data", data, "--model", "mlp", "--mlp-hidden", "8", "--objective",
                                         "baseline", "-K", "4", "-M", "2", "--epochs", "1", "--score-images", "4",
                                         "--threads", "2", "-q"};
  const int rc = invar::test::run_process(with(args, {"--out", dir.file("out")}), dir.file("log.txt"));
  const std::string output = read_all(dir.file("log.txt"));
  INFO(output);
  REQUIRE(rc == 0);
  for (const char* f : {"data_batch_1.bin", "data_batch_5.bin", "test_batch.bin"})
    CHECK(output.find("invar-train: warning: CIFAR-10 file '" + data + "/" + f + "' holds") != std::string::npos);
  CHECK(output.find("data_batch_3.bin' holds 8 records, not the standard 10000") != std::string::npos);

  std::ofstream(data + "/data_batch_2.bin", std::ios::trunc).flush();  // empty
  CHECK(invar::test::run_process(with(args, {"--out", dir.file("out2")}), dir.file("log2.txt")) == 2);
  const std::string failed = read_all(dir.file("log2.txt"));
  INFO(failed);
  CHECK(failed.find("CIFAR-10 file '" + data + "/data_batch_2.bin' is empty (0 records)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.file("out2")));  // refused before anything was written
}

TEST_CASE("invar-train: --export safetensors writes the trained weights with PyTorch's names, atomically") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-export");
  const std::vector<std::string> base = {exe, "--mlp-hidden", "32", "--train-images", "300", "--test-images", "100",
                                         "--epochs", "1", "--objective", "baseline", "--score-images", "20",
                                         "--threads", "2", "-q"};
  REQUIRE(invar::test::run_process(with(base, {"--export", "safetensors", "--out", dir.file("with")}),
                                   dir.file("log.txt")) == 0);
  const auto st = invar::io::Safetensors::load(dir.file("with") + "/baseline/model.safetensors");
  const auto names = st.names();
  CHECK(std::find(names.begin(), names.end(), "fc1.weight") != names.end());
  const auto w = st.get<float>("fc1.weight");
  CHECK(w.shape() == invar::Shape{32, 784});  // out x in, as torch.nn.Linear
  for (const float v : w) REQUIRE(std::isfinite(v));
  CHECK(st.metadata().at("objective") == "baseline");
  // Without the flag no file; an unknown format is a usage error.
  REQUIRE(invar::test::run_process(with(base, {"--out", dir.file("without")}), dir.file("log2.txt")) == 0);
  CHECK(!std::filesystem::exists(dir.file("without") + "/baseline/model.safetensors"));
  CHECK(invar::test::run_process(with(base, {"--export", "onnx", "--out", dir.file("bad")}), dir.file("log3.txt")) == 2);
}

TEST_CASE("invar-train: --seed 1,2 trains each objective once per seed into <objective>/seed-<s>/, anticollapse included") {
  if (!can_run()) return;
  invar::test::TempDir dir("invar-train-seeds");
  const std::string out = dir.file("out");
  const std::vector<std::string> args = {exe, "--objective", "invariance,anticollapse", "--seed", "1,2",
                                         "--train-images", "1024", "--test-images", "200", "--mlp-hidden", "32,16",
                                         "--epochs", "1", "--score-images", "100", "--probe-images", "512",
                                         "--out", out, "-q"};
  const int rc = invar::test::run_process(args, dir.file("output.txt"));
  const std::string printed = read_all(dir.file("output.txt"));
  INFO("output: " << printed);
  REQUIRE(rc == 0);
  const auto summary = read_json(out + "/summary.json");
  REQUIRE(summary["runs"].size() == 4);
  CHECK(summary["seeds"] == nlohmann::json::array({1, 2}));
  for (const char* objective : {"invariance", "anticollapse"})
    for (int seed : {1, 2}) {
      const std::string run = out + "/" + objective + "/seed-" + std::to_string(seed);
      CAPTURE(run);
      CHECK(read_json(run + "/config.json")["seed"] == seed);
      const auto result = read_json(run + "/result.json");
      CHECK(result["seed"] == seed);
      CHECK(result["pc1_share"].is_number());
      CHECK(result["effective_rank"].is_number());
      // The collapse monitor and the penalties are in every log line.
      std::ifstream log(run + "/log.jsonl");
      std::string line;
      REQUIRE(std::getline(log, line));
      const auto j = nlohmann::json::parse(line);
      CHECK(j["collapse"]["tap"] == "hidden2");
      CHECK(j["train_penalties"].size() == (std::string(objective) == "anticollapse" ? 6u : 0u));
    }
  // Two seeds differ (they are different runs), and the table gives each objective's mean and spread.
  CHECK(read_json(out + "/invariance/seed-1/result.json")["invariance_score"] !=
        read_json(out + "/invariance/seed-2/result.json")["invariance_score"]);
  CHECK(printed.find("anticollapse 2 seeds: accuracy") != std::string::npos);
  // A seed given twice is refused before anything is written.
  invar::test::TempDir again("invar-train-seeds-twice");
  CHECK(invar::test::run_process({exe, "--seed", "3,3", "--out", again.file("out"), "-q"}, again.file("o.txt")) == 2);
  CHECK(read_all(again.file("o.txt")).find("--seed: a seed is given twice") != std::string::npos);
  CHECK(!std::filesystem::exists(again.file("out") + "/baseline"));
}
