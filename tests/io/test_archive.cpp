#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/error_message.hpp"
#include "support/temp_dir.hpp"
#include "invar/cpu.hpp"
#include "invar/io/archive.hpp"
#include "support/random.hpp"

namespace fs = std::filesystem;
using invar::index_t;
using invar::Shape;
using invar::Tensor;
using invar::io::Archive;
using invar::io::DType;
using Bytes = std::vector<unsigned char>;

using invar::test::TempDir;

namespace {


Bytes read_archive_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// Recomputes the trailing CRC-32 after a deliberate patch, so that a later check fires.
void reseal(Bytes& b) {
  const std::uint32_t crc = invar::io::crc32_of(b.data(), b.size() - 4);
  std::memcpy(b.data() + b.size() - 4, &crc, 4);
}

template <class T>
bool same_archive_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && (a.numel() == 0 || std::memcmp(a.data(), b.data(), a.bytes()) == 0);
}


/// Text with a NUL byte and UTF-8 (e with acute accent): stored as bytes, returned as they were.
const std::string kModelText("mlp\0with a NUL and \xC3\xA9", sizeof("mlp\0with a NUL and \xC3\xA9") - 1);

/// One entry of each kind, in an order that is not alphabetical.
Archive sample() {
  Archive ar;
  auto w = invar::test::random_tensor<float>(Shape{3, 4}, 1);
  w[0] = -0.0f;
  w[1] = std::numeric_limits<float>::infinity();
  w[2] = std::numeric_limits<float>::denorm_min();
  std::uint32_t nan_bits = 0x7FC01234u;  // a NaN with a payload: bits must survive
  std::memcpy(&w[3], &nan_bits, 4);
  ar.put("z.weight", w);
  ar.put("b.bias", invar::test::random_tensor<double>(Shape{4}, 2));
  Tensor<index_t> ids(Shape{2, 1, 3});
  ids[0] = std::numeric_limits<index_t>::min();
  ids[1] = std::numeric_limits<index_t>::max();
  ids[2] = -1;
  ar.put("m.ids", ids);
  ar.put("empty", Tensor<float>(Shape{0, 5}));
  ar.put("rank8", invar::test::random_tensor<double>(Shape{1, 2, 1, 2, 1, 2, 1, 2}, 3));
  ar.put_scalar("lr", 0.1);
  ar.put_scalar("epoch", 12);
  ar.put_scalar("resumed", true);
  ar.put_text("model", kModelText);
  ar.put_text("note", "");
  return ar;
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("Crc32 matches the standard check value, in one piece or many") {
    CHECK(invar::io::crc32_of("123456789", 9) == 0xCBF43926u);
    invar::io::Crc32 crc;
    crc.update("1234", 4).update("", 0).update("56789", 5);
    CHECK(crc.value() == 0xCBF43926u);
  }

  TEST_CASE("Archive round trip of every type is bit-exact and keeps the order") {
    TempDir dir;
    const Archive ar = sample();
    ar.save(dir.file("a.invar"));
    CHECK(dir.listing() == std::vector<std::string>{"a.invar"});  // no temporary file left
    CHECK(fs::file_size(dir.file("a.invar")) == ar.file_size());
    CHECK(read_archive_file(dir.file("a.invar")) == ar.to_bytes());

    const Archive back = Archive::load(dir.file("a.invar"));
    CHECK(back == ar);
    CHECK(back.source() == dir.file("a.invar"));
    CHECK(back.names() == std::vector<std::string>{"z.weight", "b.bias", "m.ids", "empty", "rank8", "lr", "epoch",
                                                    "resumed", "model", "note"});
    CHECK(same_archive_bits(back.get<float>("z.weight"), ar.get<float>("z.weight")));
    CHECK(same_archive_bits(back.get<double>("b.bias"), invar::test::random_tensor<double>(Shape{4}, 2)));
    CHECK(same_archive_bits(back.get<double>("rank8"), invar::test::random_tensor<double>(Shape{1, 2, 1, 2, 1, 2, 1, 2}, 3)));
    const auto ids = back.get<index_t>("m.ids");
    CHECK(ids.shape() == Shape{2, 1, 3});
    CHECK(ids[0] == std::numeric_limits<index_t>::min());
    CHECK(ids[1] == std::numeric_limits<index_t>::max());
    CHECK(ids[2] == -1);
    CHECK(back.get<float>("empty").shape() == Shape{0, 5});
    CHECK(back.scalar("lr") == 0.1);
    CHECK(back.scalar<index_t>("epoch") == 12);
    CHECK(back.scalar<int>("epoch") == 12);
    CHECK(back.scalar<bool>("resumed"));
    CHECK(back.text("model") == kModelText);
    CHECK(back.text("note").empty());
    CHECK(back.dtype("model") == DType::text);
    CHECK(back.dtype("epoch") == DType::int64);
    CHECK(back.shape("lr") == Shape{});
    CHECK(back.contains("lr"));
    CHECK_FALSE(back.contains("LR"));

    const Archive none;
    none.save(dir.file("empty.invar"));
    CHECK(fs::file_size(dir.file("empty.invar")) == 28);
    CHECK(Archive::load(dir.file("empty.invar")).empty());
  }

  TEST_CASE("Archive::put accepts tensors and views, and replaces an entry in place") {
    Archive ar;
    auto t = invar::test::random_tensor<float>(Shape{2, 3}, 4);
    const Tensor<double> c = invar::test::random_tensor<double>(Shape{5}, 5);
    ar.put("tensor", t);
    ar.put("const", c);
    ar.put("view", t.view());
    ar.put("const view", invar::ConstView<float>(t.data(), Shape{6}));
    ar.put_scalar("step", std::int64_t{7});
    CHECK(ar.names() == std::vector<std::string>{"tensor", "const", "view", "const view", "step"});
    ar.put("const", Tensor<index_t>(Shape{1}));  // same name, another type: same position
    ar.put_scalar("tensor", 2.5f);
    CHECK(ar.names() == std::vector<std::string>{"tensor", "const", "view", "const view", "step"});
    CHECK(ar.dtype("const") == DType::int64);
    CHECK(ar.scalar("tensor") == 2.5);
    CHECK(ar.get<float>("const view").shape() == Shape{6});
    CHECK(ar.size() == 5);
    CHECK_ERROR_CONTAINS(ar.put("", t), "name is empty");
    CHECK_ERROR_CONTAINS(ar.put_scalar("big", std::numeric_limits<std::uint64_t>::max()), "does not fit in int64");
  }

  TEST_CASE("Archive::get converts float32 and float64 on request, int64 only as index_t") {
    Archive ar;
    const auto f = invar::test::random_tensor<float>(Shape{3, 2}, 6);
    const auto d = invar::test::random_tensor<double>(Shape{4}, 7);
    ar.put("f", f);
    ar.put("d", d);
    ar.put("i", Tensor<index_t>(Shape{2}));
    ar.put_scalar("s", 3.5);

    const auto fd = ar.get<double>("f");
    CHECK(fd.shape() == f.shape());
    for (index_t i = 0; i < f.numel(); ++i) CHECK(fd[i] == static_cast<double>(f[i]));
    const auto df = ar.get<float>("d");
    for (index_t i = 0; i < d.numel(); ++i) CHECK(df[i] == static_cast<float>(d[i]));
    const auto s = ar.get<float>("s");  // a scalar reads as a rank-0 tensor
    CHECK(s.shape() == Shape{});
    CHECK(s[0] == 3.5f);
    CHECK(same_archive_bits(ar.get<float>("f"), f));
    CHECK(same_archive_bits(ar.get<double>("d"), d));
    CHECK(ar.get<index_t>("i").shape() == Shape{2});
  }

  TEST_CASE("Archive lookups: missing names list the entries, type mismatches name both types") {
    Archive ar;
    ar.put("f", Tensor<float>(Shape{3, 2}));
    ar.put("i", Tensor<index_t>(Shape{2}));
    ar.put_text("t", "hello");
    ar.put_scalar("s", 3);
    ar.put_scalar("x", 1.5);
    CHECK_ERROR_CONTAINS(ar.get<float>("g"), "no entry 'g' in the archive; it holds: f, i, t, s, x");
    CHECK_ERROR_CONTAINS(Archive{}.text("g"), "it is empty");
    CHECK_ERROR_CONTAINS(ar.get<float>("i"), "holds int64 [2]; read it with get<index_t>()");
    CHECK_ERROR_CONTAINS(ar.get<index_t>("f"), "holds float32 [3, 2]; read it with get<float>() or get<double>()");
    CHECK_ERROR_CONTAINS(ar.get<double>("t"), "holds text (5 bytes); read it with text()");
    CHECK_ERROR_CONTAINS(ar.text("f"), "not text");
    CHECK_ERROR_CONTAINS(ar.scalar("f"), "holds float32 [3, 2], not a scalar");
    CHECK_ERROR_CONTAINS(ar.scalar<index_t>("x"), "holds a float64 scalar; read it with scalar<double>()");
    CHECK(ar.scalar("s") == 3.0);  // int64 reads as a real
    CHECK(ar.get<index_t>("s").shape() == Shape{});
    ar.put_scalar("huge", std::int64_t{1} << 40);
    CHECK_ERROR_CONTAINS(ar.scalar<int>("huge"), "does not fit in the requested integer type");
    CHECK_ERROR_CONTAINS(ar.scalar<bool>("s"), "not 0 or 1");
  }

  TEST_CASE("Archive file layout, byte by byte") {
    Archive ar;
    ar.put_scalar("a", 5);
    const Bytes b = ar.to_bytes();
    // header: magic, version 1, 1 entry, 43 bytes in all
    const Bytes expected_head = {'I', 'N', 'V', 'A', 'R', 'C', 'K', 0, 1, 0, 0, 0, 1, 0, 0, 0, 43, 0, 0, 0, 0, 0, 0, 0,
                                 // entry: name length 1, "a", type 3 (int64), rank 0, value 5
                                 1, 0, 0, 0, 'a', 3, 0, 5, 0, 0, 0, 0, 0, 0, 0};
    REQUIRE(b.size() == 43);
    CHECK(Bytes(b.begin(), b.begin() + 39) == expected_head);
    std::uint32_t crc = 0;
    std::memcpy(&crc, b.data() + 39, 4);
    CHECK(crc == invar::io::crc32_of(b.data(), 39));
  }

  TEST_CASE("Archive::load refuses files of a newer or unknown version, before the checksum") {
    Bytes b = sample().to_bytes();
    b[8] = 2;  // format version 2
    Bytes unsealed = b;
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b, "v2.invar"),
                         "'v2.invar' has format version 2, newer than this build of invar reads (version 1)");
    CHECK_ERROR_CONTAINS(Archive::from_bytes(unsealed, "v2.invar"), "format version 2");
    b[8] = 0;
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "format version 0, which no invar release wrote");
    b[8] = 1;
    b[11] = 1;  // 2^24 + 1
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "format version 16777217");
  }

  TEST_CASE("Archive::load reports truncation with the offset") {
    const Bytes full = sample().to_bytes();
    const std::size_t n = full.size();
    CHECK_ERROR_CONTAINS(Archive::from_bytes(Bytes{}, "x"), "'x' is empty (0 bytes)");
    for (std::size_t cut : {std::size_t{5}, std::size_t{8}, std::size_t{11}, std::size_t{12}, std::size_t{23},
                            std::size_t{24}, std::size_t{40}, n / 2, n - 5, n - 1}) {
      CAPTURE(cut);
      const Bytes part(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(cut));
      CHECK_ERROR_CONTAINS(Archive::from_bytes(part, "x"), "'x' is truncated at offset " + std::to_string(cut));
    }
    Bytes longer = full;
    longer.push_back(0);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(longer, "x"), "1 unexpected bytes after offset " + std::to_string(n));
  }

  TEST_CASE("Archive::load detects every flipped byte") {
    const Archive ar = sample();
    const Bytes good = ar.to_bytes();
    int caught = 0;
    for (std::size_t at = 0; at < good.size(); ++at) {
      Bytes b = good;
      b[at] ^= 0x10;
      const std::string msg = invar::test::error_of([&] { (void)Archive::from_bytes(b, "f"); });
      const char* expected = at < 8    ? "not an invar parameter file"
                             : at < 12 ? "format version"
                             : at < 16 ? "checksum mismatch: file altered or corrupt"
                             : at < 24 ? "file size"
                                       : "checksum mismatch: file altered or corrupt";
      if (msg.find(expected) != std::string::npos) {
        ++caught;
      } else {
        INFO("byte ", at, ": ", msg);
        CHECK(false);
      }
    }
    CHECK(caught == static_cast<int>(good.size()));
  }

  TEST_CASE("Archive::load checks sizes even when the checksum matches: never a huge allocation") {
    Archive ar;
    ar.put("w", Tensor<float>(Shape{2, 3}));
    const Bytes good = ar.to_bytes();
    // entry at 24: name length (4), "w", type at 29, rank at 30, extents at 31 and 39, data at 47
    Bytes b = good;
    b[30] = 9;
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "has rank 9, more than the maximum 8");
    b = good;
    b[36] = 0x10;  // extent 0 = 2 + 2^44
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "would extend beyond the end of the file");
    b = good;
    b[38] = 0x80;  // extent 0 negative
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "negative extent");
    b = good;
    b[29] = 7;
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "unknown type code 7");
    b = good;
    b[24] = 0xFF;  // name length 255
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "malformed at offset 28");
    b = good;
    b[24] = 0;
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "a name of 0 bytes");
    b = good;
    b[12] = b[13] = b[14] = b[15] = 0xFF;  // 4294967295 entries
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "malformed at offset 71");
    b = good;
    b[12] = 0;  // 0 entries: the bytes of the one entry are left over
    reseal(b);
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "47 bytes after the last of its 0 entries");
    b = good;
    b[16] = 27;  // a declared size below the minimum
    CHECK_ERROR_CONTAINS(Archive::from_bytes(b), "less than the 28 of an empty file");
  }

  TEST_CASE("Archive::load: missing files, directories and files of other kinds") {
    TempDir dir;
    CHECK_ERROR_CONTAINS(Archive::load(dir.file("nope.invar")), "'" + dir.file("nope.invar") + "': no such file");
    CHECK_ERROR_CONTAINS(Archive::load(dir.path.string()), "it is a directory");
    write_all(dir.file("empty"), {});
    CHECK_ERROR_CONTAINS(Archive::load(dir.file("empty")), "is empty (0 bytes): not an invar parameter file");
    write_all(dir.file("png"), {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0});
    CHECK_ERROR_CONTAINS(Archive::load(dir.file("png")),
                         "is not an invar parameter file: it starts with bytes 89 50 4E 47 0D 0A 1A 0A");
    write_all(dir.file("short"), {'I', 'N', 'V'});
    CHECK_ERROR_CONTAINS(Archive::load(dir.file("short")), "truncated at offset 3");
    Bytes flipped = sample().to_bytes();
    flipped[100] ^= 1;
    write_all(dir.file("flipped"), flipped);
    CHECK_ERROR_CONTAINS(Archive::load(dir.file("flipped")), "checksum mismatch: file altered or corrupt");
  }

  TEST_CASE("Archive::save is atomic: failures name the path and leave the old file and no temporary") {
    TempDir dir;
    const Archive ar = sample();

    CHECK_ERROR_CONTAINS(ar.save(dir.file("missing/a.invar")), "cannot save '" + dir.file("missing/a.invar") + "'");
    CHECK_ERROR_CONTAINS(ar.save(dir.file("missing/a.invar")), "No such file or directory");
    CHECK(dir.listing().empty());

    // The target is a directory: the rename fails, the temporary file goes, the directory stays.
    fs::create_directory(dir.file("taken"));
    CHECK_ERROR_CONTAINS(ar.save(dir.file("taken")), "cannot save '" + dir.file("taken") + "'");
    CHECK(dir.listing() == std::vector<std::string>{"taken"});
    CHECK(fs::is_directory(dir.file("taken")));

    // A good file survives a failed overwrite (its temporary path is blocked)...
    Archive old;
    old.put_scalar("version", 1);
    old.save(dir.file("good.invar"));
    const std::string temp = dir.file("good.invar") + ".tmp." + std::to_string(::getpid());
    fs::create_directory(temp);
    CHECK_ERROR_CONTAINS(ar.save(dir.file("good.invar")), "cannot create the temporary file");
    CHECK(Archive::load(dir.file("good.invar")) == old);
    fs::remove(temp);

    // ... and a write that dies before commit (an exception, a crash) leaves it as it was.
    {
      invar::io::AtomicFile file(dir.file("good.invar"));
      CHECK(file.temp_path() == temp);
      const Bytes junk(1000, 0xAB);
      file.write(junk.data(), junk.size());
      CHECK(fs::exists(temp));
    }
    CHECK_FALSE(fs::exists(temp));
    CHECK(Archive::load(dir.file("good.invar")) == old);

    // A successful save replaces it.
    ar.save(dir.file("good.invar"));
    CHECK(Archive::load(dir.file("good.invar")) == ar);
    CHECK(dir.listing() == std::vector<std::string>{"good.invar", "taken"});

    if (::geteuid() != 0) {  // root writes anywhere: the permission check is then meaningless
      fs::create_directory(dir.file("ro"));
      fs::permissions(dir.file("ro"), fs::perms::owner_read | fs::perms::owner_exec);
      CHECK_ERROR_CONTAINS(ar.save(dir.file("ro/a.invar")), "Permission denied");
      fs::permissions(dir.file("ro"), fs::perms::owner_all);
    } else {
      MESSAGE("running as root: the read-only directory case is skipped");
    }
  }
}
