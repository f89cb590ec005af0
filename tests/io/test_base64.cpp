// base64_encode: the test vectors of RFC 4648 section 10, the two last characters of the alphabet,
// the output length, and every byte value at every position of a 3-byte group round-tripped
// through an independent decoder (an explicit 256-entry lookup table built from character ranges,
// strict about padding and about the unused bits of the last character).
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/io/base64.hpp"

using namespace invar;

TEST_SUITE_BEGIN("io");

namespace {

/// value of each character in the base64 alphabet, -1 for characters outside it.
std::array<int, 256> base64_decode_table_for_test() {
  std::array<int, 256> t{};
  t.fill(-1);
  for (int c = 'A'; c <= 'Z'; ++c) t[std::size_t(c)] = c - 'A';
  for (int c = 'a'; c <= 'z'; ++c) t[std::size_t(c)] = 26 + (c - 'a');
  for (int c = '0'; c <= '9'; ++c) t[std::size_t(c)] = 52 + (c - '0');
  t[std::size_t('+')] = 62;
  t[std::size_t('/')] = 63;
  return t;
}

/// Strict RFC 4648 decoding: length a multiple of 4, '=' only as the last one or two characters,
/// unused bits of the last data character zero (canonical encoding). nullopt for anything else.
std::optional<std::vector<std::uint8_t>> base64_decode_for_test(const std::string& s) {
  static const std::array<int, 256> table = base64_decode_table_for_test();
  if (s.size() % 4 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < s.size(); i += 4) {
    const bool last = i + 4 == s.size();
    int pad = 0;
    if (last && s[i + 3] == '=') pad = s[i + 2] == '=' ? 2 : 1;
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      int d = 0;
      if (k < 4 - std::size_t(pad)) {
        d = table[static_cast<unsigned char>(s[i + k])];
        if (d < 0) return std::nullopt;  // '=' in the middle, or a foreign character
      }
      v = (v << 6) | std::uint32_t(d);
    }
    if (pad == 2 && (v & 0xFFFF) != 0) return std::nullopt;
    if (pad == 1 && (v & 0xFF) != 0) return std::nullopt;
    out.push_back(std::uint8_t(v >> 16));
    if (pad < 2) out.push_back(std::uint8_t((v >> 8) & 0xFF));
    if (pad < 1) out.push_back(std::uint8_t(v & 0xFF));
  }
  return out;
}

std::string base64_encode_string_for_test(const std::string& s) {
  return io::base64_encode(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

}  // namespace

TEST_CASE("io::base64_encode matches the test vectors of RFC 4648") {
  CHECK(base64_encode_string_for_test("") == "");
  CHECK(base64_encode_string_for_test("f") == "Zg==");
  CHECK(base64_encode_string_for_test("fo") == "Zm8=");
  CHECK(base64_encode_string_for_test("foo") == "Zm9v");
  CHECK(base64_encode_string_for_test("foob") == "Zm9vYg==");
  CHECK(base64_encode_string_for_test("fooba") == "Zm9vYmE=");
  CHECK(base64_encode_string_for_test("foobar") == "Zm9vYmFy");
  CHECK(io::base64_encode(nullptr, 0) == "");
}

TEST_CASE("io::base64_encode uses + and / for 62 and 63 and pads with =") {
  const unsigned char a[] = {0xFB, 0xFF};  // 111110 111111 1111(00)
  CHECK(io::base64_encode(a, 2) == "+/8=");
  const unsigned char b[] = {0xFF};  // 111111 11(0000)
  CHECK(io::base64_encode(b, 1) == "/w==");
  const unsigned char c[] = {0x00, 0x00, 0x00};
  CHECK(io::base64_encode(c, 3) == "AAAA");
  const unsigned char d[] = {0xFF, 0xFF, 0xFF};
  CHECK(io::base64_encode(d, 3) == "////");
  const unsigned char e[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8B};  // sextets 0, 1, 2, ..., 11
  CHECK(io::base64_encode(e, 9) == "ABCDEFGHIJKL");
}

TEST_CASE("io::base64_encode round-trips every byte value at every position of a group") {
  // Each byte value once at offset 0, 1 and 2 of a 3-byte group, and at the end of inputs of
  // every length modulo 3 (padding 0, 1 and 2).
  for (std::size_t prefix = 0; prefix < 3; ++prefix) {
    std::vector<std::uint8_t> data(prefix, 0x5A);
    for (int v = 0; v < 256; ++v) data.push_back(std::uint8_t(v));
    for (std::size_t extra = 0; extra < 3; ++extra) {
      std::vector<std::uint8_t> input = data;
      for (std::size_t k = 0; k < extra; ++k) input.push_back(std::uint8_t(0xA5 + k));
      const std::string encoded = io::base64_encode(input.data(), input.size());
      INFO("prefix ", prefix, ", extra ", extra);
      CHECK(encoded.size() == (input.size() + 2) / 3 * 4);
      const auto decoded = base64_decode_for_test(encoded);
      REQUIRE(decoded.has_value());
      CHECK(*decoded == input);
    }
  }
  // Single bytes: two characters and "==".
  for (int v = 0; v < 256; ++v) {
    const unsigned char byte = static_cast<unsigned char>(v);
    const std::string encoded = io::base64_encode(&byte, 1);
    REQUIRE(encoded.size() == 4);
    CHECK(encoded.substr(2) == "==");
    const auto decoded = base64_decode_for_test(encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == std::vector<std::uint8_t>{byte});
  }
}

TEST_CASE("io::base64_encode round-trips random data of every length up to 100") {
  std::mt19937 rng(20240607);
  for (std::size_t n = 0; n <= 100; ++n) {
    std::vector<std::uint8_t> input(n);
    for (auto& b : input) b = std::uint8_t(rng() & 0xFF);
    const std::string encoded = io::base64_encode(input.data(), input.size());
    INFO("length ", n);
    CHECK(encoded.size() == (n + 2) / 3 * 4);
    const auto decoded = base64_decode_for_test(encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == input);
  }
}

TEST_CASE("io::base64 test decoder rejects non-canonical input") {
  // The decoder the round trips rely on must be able to say no.
  CHECK_FALSE(base64_decode_for_test("Zg=").has_value());
  CHECK_FALSE(base64_decode_for_test("Zh==").has_value());  // unused bits set
  CHECK_FALSE(base64_decode_for_test("Z=g=").has_value());
  CHECK_FALSE(base64_decode_for_test("Zm9*").has_value());
  CHECK(base64_decode_for_test("Zm9v") == std::optional<std::vector<std::uint8_t>>(std::vector<std::uint8_t>{'f', 'o', 'o'}));
}

TEST_SUITE_END();
