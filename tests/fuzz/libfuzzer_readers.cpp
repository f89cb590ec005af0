// invar_libfuzzer_readers: the readers of outside files under libFuzzer (clang's coverage-guided
// fuzzer; the fuzz preset builds it with ASan + UBSan). One binary for every reader, picked by the
// environment variable INVAR_FUZZ_READER: npy, idx, idx-limit, idx-gz, cifar10, checkpoint,
// ckpt-crc (tests/fuzz/reader_fuzz.hpp), or idx-gz-content (the input is what the gzip file
// compresses: the harness compresses it, so that mutations reach the parser behind the CRC).
// An input passes when the reader returns or throws invar::Error; anything else aborts, and
// libFuzzer keeps the input. scripts/fuzz.sh runs every reader (docs/reliability.md):
//   INVAR_FUZZ_READER=idx-gz build/fuzz/tests/invar_libfuzzer_readers -runs=100000 new/ tests/fuzz/corpus/idx-gz
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "fuzz/reader_fuzz.hpp"

namespace {

struct Target {
  invar::fuzz::Reader reader;
  bool compress = false;  // idx-gz-content: gzip the input first
  std::string path;       // the file each input is written to
};

std::unique_ptr<Target> target;

std::string reader_names(const std::vector<invar::fuzz::Reader>& readers) {
  std::string names;
  for (const auto& r : readers) names += (names.empty() ? "" : ", ") + r.name;
  for (const auto& r : readers)
    if (!r.content.empty()) names += ", " + r.name + "-content";
  return names;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* chosen = std::getenv("INVAR_FUZZ_READER");
  auto readers = invar::fuzz::readers();
  const std::string name = chosen ? chosen : "";
  for (auto& r : readers) {
    const bool content = !r.content.empty() && name == r.name + "-content";
    if (name != r.name && !content) continue;
    const auto dir = std::filesystem::temp_directory_path() / ("invar-libfuzzer-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    target = std::make_unique<Target>(Target{r, content, (dir / r.file_name).string()});
    std::atexit([] {
      std::error_code ec;
      if (target) std::filesystem::remove_all(std::filesystem::path(target->path).parent_path(), ec);
    });
    return 0;
  }
  std::fprintf(stderr, "invar_libfuzzer_readers: set INVAR_FUZZ_READER to one of: %s%s%s\n",
               reader_names(readers).c_str(), chosen ? " (not " : "", chosen ? (name + ")").c_str() : "");
  std::exit(2);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  invar::fuzz::Bytes b(data, data + size);
  if (target->compress) b = invar::fuzz::gzip(b);
  try {
    (void)invar::fuzz::read_case(target->reader, invar::fuzz::as_file(target->reader, std::move(b)), target->path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "invar_libfuzzer_readers: %s threw an exception other than invar::Error: %s\n",
                 target->reader.name.c_str(), e.what());
    std::abort();
  }
  return 0;
}
