// invar's safetensors files read from outside invar, by tests/io/check_safetensors.py:
//  - with python3 + numpy: both files parsed independently, every tensor byte for byte the
//    parameter file's (required in CI: INVAR_REQUIRE_DATA=1 turns a missing numpy into a failure);
//  - with python3-torch: docs/export.md's torch modules load the files and give invar's logits
//    (optional: skipped without torch, even in CI).
// The interpreter: $INVAR_PYTHON if set, else /usr/bin/python3 (where Debian's python3-numpy and
// python3-torch install), else python3 on the PATH; the first that has numpy.
#include <doctest/doctest.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/io/npy.hpp"
#include "invar/nn/parameter_io.hpp"
#include "invar/nn/safetensors_export.hpp"
#include "io/safetensors_models.hpp"
#include "support/skip.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using namespace invar;

TEST_SUITE_BEGIN("io");

namespace {

std::string st_source_dir() {
#ifdef INVAR_SOURCE_DIR
  return INVAR_SOURCE_DIR;
#else
  return ".";
#endif
}

/// Candidate interpreters, in order of preference.
std::vector<std::string> st_pythons() {
  std::vector<std::string> out;
  if (const char* p = std::getenv("INVAR_PYTHON"); p != nullptr && *p != '\0') return {p};
  std::error_code ec;
  if (std::filesystem::exists("/usr/bin/python3", ec)) out.push_back("/usr/bin/python3");
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      const auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / "python3";
      if (std::filesystem::exists(candidate, ec) && candidate.string() != "/usr/bin/python3") {
        out.push_back(candidate.string());
        break;
      }
    }
  }
  return out;
}

std::string st_read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct PythonRun {
  int rc = 77;  // nothing ran: as "numpy missing"
  std::string python, log;
};

/// Runs check_safetensors.py with the first interpreter that has numpy (exit 77: try the next).
PythonRun st_run_check(const std::vector<std::string>& args, const test::TempDir& dir, const std::string& tag) {
  PythonRun run;
  for (const auto& python : st_pythons()) {
    const std::string log = dir.file(tag + ".log");
    std::filesystem::remove(log);
    std::vector<std::string> argv = {python, st_source_dir() + "/tests/io/check_safetensors.py"};
    argv.insert(argv.end(), args.begin(), args.end());
    run.python = python;
    try {
      run.rc = test::run_process(argv, log);
      run.log = st_read_text(log);
    } catch (const std::exception& e) {  // cannot start it: as missing
      run.rc = 77;
      run.log = e.what();
    }
    if (run.rc != 77) break;
  }
  return run;
}

/// One model's files: safetensors, parameter file, an input batch and invar's logits on it; returns
/// its entry of fixtures.json.
template <class Model>
std::string st_write_fixture(const test::TempDir& dir, const std::string& name, const std::string& builder,
                             Model& model, const Shape& input_shape, std::uint64_t seed) {
  nn::save_safetensors(model, dir.file(name + ".safetensors"));
  nn::save_parameters(model, dir.file(name + ".invar"));
  const auto x = test::random_tensor<float>(input_shape, seed, 0.0, 1.0);  // images in [0, 1]
  model.set_training(false);
  model.forward(x);
  io::write_npy(dir.file(name + "_x.npy"), x);
  io::write_npy(dir.file(name + "_logits.npy"), model.output());
  return "{\"name\": \"" + name + "\", \"safetensors\": \"" + name + ".safetensors\", \"checkpoint\": \"" + name +
         ".invar\", \"builder\": \"" + builder + "\", \"input\": \"" + name + "_x.npy\", \"logits\": \"" + name +
         "_logits.npy\"}";
}

/// Every architecture, in the variants whose names or layers differ.
void st_write_fixtures(const test::TempDir& dir) {
  std::vector<std::string> entries;
  {
    auto m = test::export_mlp();
    entries.push_back(st_write_fixture(dir, "mlp", "invar_mlp([12, 7, 5, 3])", m, Shape{5, 3, 2, 2}, 1));
  }
  {
    auto m = test::export_mlp(false);
    entries.push_back(st_write_fixture(dir, "mlp_no_bias", "invar_mlp([12, 7, 5, 3], bias=False)", m, Shape{4, 12}, 2));
  }
  {
    auto m = test::export_all_cnn();
    entries.push_back(st_write_fixture(dir, "all_cnn", "invar_all_cnn(in_channels=3, classes=4, width=1 / 16)", m,
                                       Shape{3, 3, 12, 12}, 3));
  }
  {
    auto m = test::export_all_cnn(nn::TopConvPadding::valid, false);
    entries.push_back(st_write_fixture(
        dir, "all_cnn_valid_no_bn",
        "invar_all_cnn(in_channels=3, classes=4, width=1 / 16, top_padding='valid', batch_norm=False)", m,
        Shape{3, 3, 12, 12}, 4));
  }
  {
    auto m = test::export_wrn(nn::ResidualShortcut::average_pool_zero_pad);
    entries.push_back(st_write_fixture(dir, "wrn_zero_pad", "invar_wide_resnet(depth=10, widen=1, classes=4)", m,
                                       Shape{2, 3, 8, 8}, 5));
  }
  {
    auto m = test::export_wrn(nn::ResidualShortcut::projection);
    entries.push_back(st_write_fixture(dir, "wrn_projection",
                                       "invar_wide_resnet(depth=10, widen=1, classes=4, shortcut='projection')", m,
                                       Shape{2, 3, 8, 8}, 6));
  }
  std::string json = "[\n";
  for (std::size_t i = 0; i < entries.size(); ++i) json += "  " + entries[i] + (i + 1 < entries.size() ? ",\n" : "\n");
  io::write_file_atomically(dir.file("fixtures.json"), json + "]\n");
}

}  // namespace

TEST_CASE("safetensors: numpy reads the exported files byte for byte as the parameter files (python3-numpy)") {
  test::TempDir dir("safetensors-numpy");
  st_write_fixtures(dir);
  const auto run = st_run_check({"numpy", dir.path.string()}, dir, "numpy");
  if (run.rc == 77) {
    INVAR_SKIP_TEST("python3 with numpy not found (Debian package python3-numpy; or set INVAR_PYTHON)");
    return;
  }
  if (run.rc == 0) MESSAGE(run.python, ": ", run.log);
  else FAIL_CHECK(run.python << " exited with " << run.rc << ":\n" << run.log);

  // The check sees a difference: one flipped bit in the last value of the MLP's file.
  {
    std::fstream f(dir.file("mlp.safetensors"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-1, std::ios::end);
    const char last = static_cast<char>(f.get());
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(last ^ 0x01));
  }
  const auto corrupt = st_run_check({"numpy", dir.path.string()}, dir, "numpy-corrupt");
  INFO(corrupt.log);
  CHECK(corrupt.rc == 1);
  CHECK(corrupt.log.find("mlp: fc3.bias: the bytes differ") != std::string::npos);
}

TEST_CASE("safetensors: the torch modules of docs/export.md give invar's logits (python3-torch, optional)") {
  test::TempDir dir("safetensors-torch");
  st_write_fixtures(dir);
  const auto run = st_run_check({"torch", dir.path.string(), st_source_dir() + "/docs/export.md"}, dir, "torch");
  if (run.rc == 77) {
    INVAR_SKIP_OPTIONAL("python3 with numpy and torch not found (Debian package python3-torch)");
    return;
  }
  if (run.rc == 0) MESSAGE(run.python, ": ", run.log);
  else FAIL_CHECK(run.python << " exited with " << run.rc << ":\n" << run.log);
}

TEST_SUITE_END();
