#pragma once
// Fuzzing the readers of files invar is given (docs/reliability.md): .npy, IDX (plain and
// gzipped), CIFAR binary batches and checkpoints. A deterministic mutation loop: from a seed file
// of each kind (valid, built here and kept in tests/fuzz/corpus/), each case applies 1 to 4
// mutations (bit flips, special bytes, 32-bit boundary values, cuts, appended or repeated
// chunks; for gzip also mutations of the content before compression, which reach the parser
// behind the checksum), writes the result to a file and hands it to the reader. A case passes
// when the reader returns or throws invar::Error; anything else (another exception, a crash, a
// sanitizer report) fails. The tests run 2,000 cases per reader (under ASan + UBSan in CI);
// tests/fuzz/fuzz_readers_main.cpp runs any number.

#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/core/random.hpp"
#include "invar/data/cifar.hpp"
#include "invar/data/idx.hpp"
#include "invar/io/npy.hpp"
#include "invar/nn/models/mlp.hpp"
#include "invar/optim/sgd.hpp"
#include "invar/train/checkpoint.hpp"

namespace invar::fuzz {

using Bytes = std::vector<unsigned char>;

inline Bytes file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

/// gzip of `raw` (one member, as gzip(1) writes it).
inline Bytes gzip(const Bytes& raw) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&z, uLong(raw.size())) + 32);
  z.next_in = const_cast<unsigned char*>(raw.data());
  z.avail_in = uInt(raw.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

/// Applies 1 to 4 random mutations to `b`.
inline void mutate(Bytes& b, Rng& rng) {
  const int n = 1 + int(rng.below(4));
  for (int m = 0; m < n; ++m) {
    const auto at = [&] { return b.empty() ? std::size_t(0) : std::size_t(rng.below(b.size())); };
    switch (rng.below(8)) {
      case 0:  // a bit flip
        if (!b.empty()) b[at()] ^= static_cast<unsigned char>(1u << rng.below(8));
        break;
      case 1: {  // a special byte
        static const unsigned char special[] = {0x00, 0x01, 0x7F, 0x80, 0xFF, 0x1F, 0x8B, 0x08};
        if (!b.empty()) b[at()] = special[rng.below(sizeof special)];
        break;
      }
      case 2: {  // a 32-bit boundary value, big- or little-endian (extents, lengths, counts)
        static const std::uint32_t values[] = {0u, 1u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 0x0000FFFFu, 60000u, 3072u};
        const std::uint32_t v = values[rng.below(sizeof values / sizeof values[0])];
        const bool big = rng.below(2) == 0;
        const std::size_t p = at();
        for (std::size_t k = 0; k < 4 && p + k < b.size(); ++k)
          b[p + k] = static_cast<unsigned char>(big ? v >> (8 * (3 - k)) : v >> (8 * k));
        break;
      }
      case 3:  // cut
        b.resize(at());
        break;
      case 4: {  // append random bytes
        const std::size_t k = 1 + rng.below(64);
        for (std::size_t i = 0; i < k; ++i) b.push_back(static_cast<unsigned char>(rng.below(256)));
        break;
      }
      case 5: {  // repeat a chunk
        if (b.empty()) break;
        const std::size_t p = at(), len = std::min<std::size_t>(1 + rng.below(128), b.size() - p);
        const Bytes chunk(b.begin() + std::ptrdiff_t(p), b.begin() + std::ptrdiff_t(p + len));
        b.insert(b.begin() + std::ptrdiff_t(at()), chunk.begin(), chunk.end());
        break;
      }
      case 6: {  // delete a chunk
        if (b.empty()) break;
        const std::size_t p = at(), len = std::min<std::size_t>(1 + rng.below(64), b.size() - p);
        b.erase(b.begin() + std::ptrdiff_t(p), b.begin() + std::ptrdiff_t(p + len));
        break;
      }
      default:  // a random byte
        if (!b.empty()) b[at()] = static_cast<unsigned char>(rng.below(256));
    }
  }
}

/// One reader: its name, its valid seed file, and how to read a file of its kind.
struct Reader {
  std::string name;
  Bytes seed;     // the valid file the cases start from
  Bytes content;  // for a gzip file: what it compresses (cases mutate it too, then compress)
  std::function<void(const std::string& path)> read;
  std::string file_name = "input";  // the name the reader expects (CIFAR: test_batch.bin)
  bool fix_crc = false;  // an archive: recompute its trailing CRC-32, so that the parser behind it is reached
};

/// The readers with their seeds. `dir` holds the files the cases write.
inline std::vector<Reader> readers() {
  std::vector<Reader> out;
  {  // .npy: a 3 x 4 float32 array
    const std::string tmp = (std::filesystem::temp_directory_path() / ("invar-fuzz-seed-" + std::to_string(::getpid()) + ".npy")).string();
    Tensor<float> t(Shape{3, 4});
    for (index_t i = 0; i < t.numel(); ++i) t[i] = 0.5f * float(i);
    io::write_npy(tmp, t.view());
    out.push_back({"npy", file_bytes(tmp), {}, [](const std::string& p) { (void)io::read_npy<float>(p); }});
    std::filesystem::remove(tmp);
  }
  Bytes idx = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 5};
  for (int i = 0; i < 60; ++i) idx.push_back(static_cast<unsigned char>(i * 37));
  out.push_back({"idx", idx, {}, [](const std::string& p) { (void)data::read_idx(p); }});
  out.push_back({"idx-limit", idx, {}, [](const std::string& p) { (void)data::read_idx(p, 2); }});
  out.push_back({"idx-gz", gzip(idx), idx, [](const std::string& p) { (void)data::read_idx(p); }});
  {  // CIFAR-10: two records of a test batch
    Bytes cifar;
    for (int r = 0; r < 2; ++r) {
      cifar.push_back(static_cast<unsigned char>(r * 7 % 10));
      for (int i = 0; i < 3072; ++i) cifar.push_back(static_cast<unsigned char>((i * 13 + r) & 0xFF));
    }
    Reader c{"cifar10", cifar, {},
             [](const std::string& p) {
               std::vector<std::string> warnings;  // another record count than the standard: a warning, kept quiet
               (void)data::load_cifar10(std::filesystem::path(p).parent_path().string(), /*train=*/false, -1, &warnings);
             },
             "test_batch.bin"};
    out.push_back(c);
  }
  {  // a checkpoint of a 4-3-2 MLP with SGD momentum state
    const std::string tmp = (std::filesystem::temp_directory_path() / ("invar-fuzz-seed-" + std::to_string(::getpid()) + ".invar")).string();
    auto model = nn::make_mlp<float>({4, 3, 2}, nn::MlpOptions{}.with_seed(1));
    optim::Sgd<float> sgd(optim::SgdOptions(0.1).with_momentum(0.9));
    auto params = model.parameters();
    for (auto* p : params)
      for (auto& g : p->grad) g = 0.25f;
    sgd.step(params);
    train::save_checkpoint(tmp, model, sgd, train::TrainingState{1, 4, 7, R"({"model":"mlp"})"});
    auto load = [](const std::string& p) {
      auto m = nn::make_mlp<float>({4, 3, 2});
      optim::Sgd<float> s(optim::SgdOptions(0.1).with_momentum(0.9));
      (void)train::load_checkpoint(p, m, s);
    };
    out.push_back({"checkpoint", file_bytes(tmp), {}, load});
    Reader fixed{"ckpt-crc", file_bytes(tmp), {}, load};
    fixed.fix_crc = true;
    out.push_back(fixed);
    std::filesystem::remove(tmp);
  }
  return out;
}

/// The file a case writes from its mutated bytes: for an archive whose parser hides behind a
/// CRC (fix_crc), the trailing CRC-32 of everything before it recomputed (little-endian).
inline Bytes as_file(const Reader& r, Bytes b) {
  if (r.fix_crc && b.size() >= 4) {
    const auto crc = static_cast<std::uint32_t>(crc32(0L, b.data(), static_cast<uInt>(b.size() - 4)));
    for (std::size_t k = 0; k < 4; ++k) b[b.size() - 4 + k] = static_cast<unsigned char>(crc >> (8 * k));
  }
  return b;
}

/// How a reader met one input.
enum class Outcome { accepted, refused };

/// Writes `b` to `path` and reads it with `r`: accepted (it returned) or refused (it threw
/// invar::Error); any other exception propagates, as the failure it is.
inline Outcome read_case(const Reader& r, const Bytes& b, const std::string& path) {
  write_bytes(path, b);
  try {
    r.read(path);
    return Outcome::accepted;
  } catch (const Error&) {
    return Outcome::refused;
  }
}

/// What a run of cases found.
struct FuzzCounts {
  long cases = 0, accepted = 0, refused = 0;
  std::vector<std::string> failures;  // cases that threw something other than invar::Error
};

/// Runs `cases` mutated inputs of `r` (seed `seed`) through its reader, files in `dir`.
inline FuzzCounts fuzz_reader(const Reader& r, long cases, std::uint64_t seed, const std::filesystem::path& dir) {
  FuzzCounts c;
  Rng rng = Rng::keyed(seed, {0xF022, std::hash<std::string>{}(r.name)});
  std::filesystem::create_directories(dir);
  const std::string path = (dir / r.file_name).string();
  for (long k = 0; k < cases; ++k) {
    Bytes b;
    if (!r.content.empty() && rng.below(2) == 0) {  // mutate what is compressed: past the CRC, into the parser
      b = r.content;
      mutate(b, rng);
      b = gzip(b);
    } else {
      b = r.seed;
      mutate(b, rng);
    }
    ++c.cases;
    try {
      (read_case(r, as_file(r, std::move(b)), path) == Outcome::accepted ? c.accepted : c.refused) += 1;
    } catch (const std::exception& e) {
      c.failures.push_back(r.name + " case " + std::to_string(k) + ": " + e.what());
    }
  }
  return c;
}

}  // namespace invar::fuzz
