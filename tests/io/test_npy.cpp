// .npy files: the header bytes checked by hand against the NumPy format 1.0 specification, round
// trips of float / double / int64 in 1-d and 2-d, and strict reading (wrong magic, version,
// dtype, fortran order, truncated or overlong data) with errors that name the file; a failed
// write leaves no file behind.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/io/npy.hpp"
#include "support/error_message.hpp"
#include "support/random.hpp"
#include "support/temp_dir.hpp"

using namespace invar;
using Bytes = std::vector<unsigned char>;

TEST_SUITE_BEGIN("io");

namespace {

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// A hand-made .npy file: magic, version, uint16 length, the dict padded to 64 with '\n'.
Bytes make_npy(const std::string& dict, const Bytes& data, unsigned char major = 1, unsigned char minor = 0) {
  std::string h = dict;
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string all = std::string("\x93NUMPY") + char(major) + char(minor) + char(h.size() & 0xFF) + char(h.size() >> 8) + h;
  Bytes b(all.begin(), all.end());
  for (unsigned char v : data) b.push_back(v);
  return b;
}

template <class T>
Bytes le_bytes(const std::vector<T>& v) {
  Bytes b;
  for (T x : v) {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, &x, sizeof(T));  // the test machines are little-endian (checked below)
    b.insert(b.end(), raw, raw + sizeof(T));
  }
  return b;
}

}  // namespace

TEST_CASE("write_npy: the header bytes follow NumPy format 1.0") {
  static_assert(std::endian::native == std::endian::little, "these byte-level checks assume a little-endian host");
  test::TempDir dir;
  Tensor<float> x(Shape{3, 4});
  for (index_t i = 0; i < 12; ++i) x[i] = float(i) * 0.5f - 1.0f;
  const auto path = dir.file("x.npy");
  io::write_npy(path, x);
  const Bytes b = read_bytes(path);
  REQUIRE(b.size() > 10);
  CHECK(b[0] == 0x93);
  CHECK(std::string(b.begin() + 1, b.begin() + 6) == "NUMPY");
  CHECK(b[6] == 1);
  CHECK(b[7] == 0);
  const std::size_t header_len = std::size_t(b[8]) | (std::size_t(b[9]) << 8);
  CHECK((10 + header_len) % 64 == 0);
  CHECK(header_len == 118);  // 10 + 59 characters of dict + '\n' = 70, padded to 128 (as numpy.save)
  REQUIRE(b.size() == 10 + header_len + 12 * sizeof(float));
  const std::string dict(b.begin() + 10, b.begin() + 10 + std::ptrdiff_t(header_len));
  const std::string expected = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  CHECK(dict.substr(0, expected.size()) == expected);
  CHECK(dict.back() == '\n');
  for (std::size_t i = expected.size(); i + 1 < dict.size(); ++i) CHECK(dict[i] == ' ');
  for (index_t i = 0; i < 12; ++i) {
    float v;
    std::memcpy(&v, b.data() + 10 + header_len + std::size_t(i) * 4, 4);
    CHECK(v == x[i]);
  }

  // 1-d: "(N,)"; double and int64 descriptors.
  Tensor<double> v(Shape{5});
  io::write_npy(dir.file("v.npy"), v);
  const Bytes bv = read_bytes(dir.file("v.npy"));
  const std::size_t lv = std::size_t(bv[8]) | (std::size_t(bv[9]) << 8);
  CHECK((10 + lv) % 64 == 0);
  CHECK(std::string(bv.begin() + 10, bv.begin() + 10 + std::ptrdiff_t(lv)).rfind(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", 0) == 0);
  Tensor<index_t> ids(Shape{2, 1});
  io::write_npy(dir.file("ids.npy"), ids);
  const Bytes bi = read_bytes(dir.file("ids.npy"));
  CHECK(std::string(bi.begin() + 10, bi.end()).rfind("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }", 0) ==
        0);
  CHECK(dir.listing() == std::vector<std::string>{"ids.npy", "v.npy", "x.npy"});  // no temporary file left
}

TEST_CASE("write_npy / read_npy round trip float, double and int64 in 1-d and 2-d") {
  test::TempDir dir;
  const auto f2 = test::random_tensor<float>(Shape{7, 3}, 1, -1e3, 1e3);
  const auto d1 = test::random_tensor<double>(Shape{11}, 2);
  const auto d2 = test::random_tensor<double>(Shape{4, 5}, 3);
  Tensor<float> f1(Shape{6});
  f1[0] = std::numeric_limits<float>::infinity();
  f1[1] = -0.0f;
  f1[2] = std::numeric_limits<float>::denorm_min();
  f1[3] = 3.5f;
  const auto i1 = test::random_indices(9, 1000, 4);
  Tensor<index_t> i2(Shape{3, 2});
  for (index_t i = 0; i < 6; ++i) i2[i] = (i - 3) * (std::int64_t(1) << 40);
  Tensor<float> empty(Shape{0, 4});

  auto same = [](const auto& a, const auto& b) {
    REQUIRE(a.shape() == b.shape());
    for (index_t i = 0; i < a.numel(); ++i) CHECK(std::memcmp(&a[i], &b[i], sizeof(a[i])) == 0);  // bit for bit
  };
  io::write_npy(dir.file("f2.npy"), f2);
  same(io::read_npy<float>(dir.file("f2.npy")), f2);
  io::write_npy(dir.file("f1.npy"), f1.view());
  same(io::read_npy<float>(dir.file("f1.npy")), f1);
  io::write_npy(dir.file("d1.npy"), d1);
  same(io::read_npy<double>(dir.file("d1.npy")), d1);
  io::write_npy(dir.file("d2.npy"), d2);
  same(io::read_npy<double>(dir.file("d2.npy")), d2);
  io::write_npy(dir.file("i1.npy"), i1);
  same(io::read_npy<index_t>(dir.file("i1.npy")), i1);
  io::write_npy(dir.file("i2.npy"), i2);
  same(io::read_npy<index_t>(dir.file("i2.npy")), i2);
  io::write_npy(dir.file("empty.npy"), empty);
  same(io::read_npy<float>(dir.file("empty.npy")), empty);
  Tensor<double> scalar(Shape{});
  scalar[0] = -2.25;
  io::write_npy(dir.file("scalar.npy"), scalar);
  const Bytes bs = read_bytes(dir.file("scalar.npy"));
  CHECK(std::string(bs.begin() + 10, bs.end()).rfind("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 0) == 0);
  same(io::read_npy<double>(dir.file("scalar.npy")), scalar);
  const auto f4 = test::random_tensor<float>(Shape{2, 3, 2, 2}, 7);
  io::write_npy(dir.file("f4.npy"), f4);
  same(io::read_npy<float>(dir.file("f4.npy")), f4);

  // A file written by hand (as NumPy writes it) reads back; overwriting replaces it.
  write_bytes(dir.file("hand.npy"),
              make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", le_bytes<double>({1, 2, 3, 4})));
  const auto hand = io::read_npy<double>(dir.file("hand.npy"));
  CHECK(hand.shape() == Shape{2, 2});
  CHECK(hand(1, 0) == 3.0);
  io::write_npy(dir.file("hand.npy"), d1);
  same(io::read_npy<double>(dir.file("hand.npy")), d1);
  // Other key orders, double quotes and version 2.0 (4-byte length) are valid too.
  std::string h2 = "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<i8\"}";
  while ((12 + h2.size() + 1) % 64 != 0) h2 += ' ';
  h2 += '\n';
  Bytes v2 = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, static_cast<unsigned char>(h2.size()), 0, 0, 0};
  v2.insert(v2.end(), h2.begin(), h2.end());
  const Bytes payload = le_bytes<std::int64_t>({-5, 0, 7});
  v2.insert(v2.end(), payload.begin(), payload.end());
  write_bytes(dir.file("v2.npy"), v2);
  const auto r2 = io::read_npy<index_t>(dir.file("v2.npy"));
  CHECK(r2.shape() == Shape{3});
  CHECK(r2[0] == -5);
  CHECK(r2[2] == 7);
}

TEST_CASE("read_npy rejects malformed files, naming the file and the problem") {
  test::TempDir dir;
  const auto good = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", le_bytes<float>({1, 2, 3, 4, 5, 6}));
  auto put = [&](const std::string& name, const Bytes& b) {
    write_bytes(dir.file(name), b);
    return dir.file(name);
  };
  REQUIRE(io::read_npy<float>(put("good.npy", good)).numel() == 6);

  Bytes magic = good;
  magic[1] = 'X';
  const auto pm = put("magic.npy", magic);
  CHECK_ERROR_CONTAINS(io::read_npy<float>(pm), "magic");
  CHECK_ERROR_CONTAINS(io::read_npy<float>(pm), pm);
  CHECK_ERROR_CONTAINS(io::read_npy<float>(put("short.npy", Bytes{0x93, 'N', 'U'})), "magic");

  Bytes version = good;
  version[6] = 4;
  CHECK_ERROR_CONTAINS(io::read_npy<float>(put("version.npy", version)), "format version 4.0");

  CHECK_ERROR_CONTAINS(io::read_npy<double>(put("dtype.npy", good)), "dtype '<f4', expected '<f8'");
  CHECK_ERROR_CONTAINS(io::read_npy<index_t>(dir.file("dtype.npy")), "expected '<i8'");
  const auto big = make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", Bytes(24, 0));
  CHECK_ERROR_CONTAINS(io::read_npy<float>(put("big.npy", big)), "dtype '>f4'");

  const auto fortran = make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", Bytes(24, 0));
  CHECK_ERROR_CONTAINS(io::read_npy<float>(put("fortran.npy", fortran)), "Fortran order");

  const Bytes truncated(good.begin(), good.end() - 3);
  const auto pt = put("truncated.npy", truncated);
  CHECK_ERROR_CONTAINS(io::read_npy<float>(pt), "truncated");
  CHECK_ERROR_CONTAINS(io::read_npy<float>(pt), pt);
  Bytes header_cut(good.begin(), good.begin() + 40);
  CHECK_ERROR_CONTAINS(io::read_npy<float>(put("header_cut.npy", header_cut)), "truncated");
  Bytes longer = good;
  longer.push_back(0);
  CHECK_ERROR_CONTAINS(io::read_npy<float>(put("longer.npy", longer)), "1 unexpected bytes");

  CHECK_ERROR_CONTAINS(io::read_npy<float>(put("nokey.npy", make_npy("{'descr': '<f4', 'shape': (6,), }", Bytes(24, 0)))),
                       "lacks one of");
  CHECK_ERROR_CONTAINS(
      io::read_npy<float>(put("badshape.npy", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", {}))),
      "non-negative integers");
  CHECK_ERROR_CONTAINS(io::read_npy<float>(dir.file("missing.npy")), "no such file");
  CHECK_ERROR_CONTAINS(io::read_npy<float>(dir.path.string()), "directory");
}

TEST_CASE("write_npy: a failed write leaves no file and no temporary behind, and keeps the old file") {
  test::TempDir dir;
  const auto x = test::random_tensor<float>(Shape{4, 4}, 5);
  // The target is a directory: the final rename fails after the data were written.
  std::filesystem::create_directory(dir.file("taken.npy"));
  CHECK_ERROR_CONTAINS(io::write_npy(dir.file("taken.npy"), x), "taken.npy");
  CHECK(dir.listing() == std::vector<std::string>{"taken.npy"});
  CHECK(std::filesystem::is_directory(dir.file("taken.npy")));
  // A missing directory: nothing is created.
  CHECK_ERROR_CONTAINS(io::write_npy(dir.file("nope/x.npy"), x), "nope/x.npy");
  CHECK(dir.listing() == std::vector<std::string>{"taken.npy"});
  // An existing file keeps its contents when the new write fails before the rename (the
  // directory is made read-only, so the temporary file cannot be created).
  io::write_npy(dir.file("old.npy"), x);
  const Bytes before = read_bytes(dir.file("old.npy"));
  std::filesystem::permissions(dir.path, std::filesystem::perms::owner_write, std::filesystem::perm_options::remove);
  const bool writable = std::ofstream(dir.file("probe")).good();  // root ignores permissions
  const auto y = test::random_tensor<float>(Shape{2, 2}, 6);
  if (!writable) CHECK_THROWS_AS(io::write_npy(dir.file("old.npy"), y), Error);
  std::filesystem::permissions(dir.path, std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  if (!writable) {
    CHECK(read_bytes(dir.file("old.npy")) == before);
    CHECK(dir.listing() == std::vector<std::string>{"old.npy", "taken.npy"});
  }
}

TEST_SUITE_END();
