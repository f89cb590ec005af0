// invar_fuzz_readers: the readers' fuzz loop (tests/fuzz/reader_fuzz.hpp) for as many cases as
// asked, and the seed corpus for other fuzzers (libFuzzer, AFL):
//   build/release/tests/invar_fuzz_readers --cases 100000 [--seed S] [--reader idx-gz]
//   build/release/tests/invar_fuzz_readers --write-corpus tests/fuzz/corpus
// Exit status 0 when every case returned or threw invar::Error; 1 otherwise (the failures listed).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/reader_fuzz.hpp"

int main(int argc, char** argv) {
  long cases = 10000;
  std::uint64_t seed = 1;
  std::string only, corpus;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--cases") cases = std::atol(argv[i + 1]);
    else if (a == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--reader") only = argv[i + 1];
    else if (a == "--write-corpus") corpus = argv[i + 1];
    else {
      std::fprintf(stderr, "invar_fuzz_readers: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  const auto dir = std::filesystem::temp_directory_path() / ("invar-fuzz-" + std::to_string(::getpid()));
  int failed = 0;
  for (const auto& r : invar::fuzz::readers()) {
    if (!only.empty() && r.name != only) continue;
    if (!corpus.empty()) {
      std::filesystem::create_directories(std::filesystem::path(corpus) / r.name);
      invar::fuzz::write_bytes((std::filesystem::path(corpus) / r.name / ("seed-" + r.file_name)).string(), r.seed);
      continue;
    }
    const auto c = invar::fuzz::fuzz_reader(r, cases, seed, dir / r.name);
    std::printf("%-11s %8ld cases  %8ld accepted  %8ld refused  %zu failures\n", r.name.c_str(), c.cases, c.accepted,
                c.refused, c.failures.size());
    for (const auto& f : c.failures) std::printf("  FAILURE %s\n", f.c_str());
    failed += c.failures.empty() ? 0 : 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return failed ? 1 : 0;
}
