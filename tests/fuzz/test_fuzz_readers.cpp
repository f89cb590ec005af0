// Every reader of outside files survives 2,000 mutated inputs: it returns or throws invar::Error,
// never anything else, never a crash (the CI runs this under ASan + UBSan). tests/fuzz/reader_fuzz.hpp
// has the mutations; docs/reliability.md the figures of the long run. The seeds are also kept in
// tests/fuzz/corpus/ (regenerate: invar_fuzz_readers --write-corpus tests/fuzz/corpus).
#include <doctest/doctest.h>

#include "fuzz/reader_fuzz.hpp"
#include "support/temp_dir.hpp"

TEST_SUITE_BEGIN("fuzz");

TEST_CASE("fuzz: the npy, IDX (plain, with a limit, gzipped), CIFAR-10 and checkpoint readers survive 2,000 mutated inputs each") {
  invar::test::TempDir dir("fuzz");
  for (const auto& r : invar::fuzz::readers()) {
    CAPTURE(r.name);
    r.read([&] {  // the seed itself is valid
      const auto p = (dir.path / "seed" / r.name);
      std::filesystem::create_directories(p);
      invar::fuzz::write_bytes((p / r.file_name).string(), r.seed);
      return (p / r.file_name).string();
    }());
    // The seed corpus kept in the repository for other fuzzers (libFuzzer, AFL) is this seed, and valid.
    const auto kept = std::filesystem::path(INVAR_SOURCE_DIR) / "tests/fuzz/corpus" / r.name / ("seed-" + r.file_name);
    CHECK(invar::fuzz::file_bytes(kept.string()) == r.seed);
    const auto c = invar::fuzz::fuzz_reader(r, 2000, /*seed=*/20261206, dir.path / r.name);
    MESSAGE(r.name << ": " << c.cases << " cases, " << c.accepted << " accepted, " << c.refused << " refused with invar::Error");
    for (const auto& f : c.failures) FAIL_CHECK(f);
    CHECK(c.cases == 2000);
    CHECK(c.refused > 0);
  }
}
