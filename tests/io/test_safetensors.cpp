// io::Safetensors (the format, byte by byte; round trips; every kind of corrupt or truncated
// file is an invar::Error naming the problem) and nn::save_safetensors / load_safetensors (the
// models' tensors under their PyTorch names and layouts).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "invar/cpu.hpp"
#include "invar/io/archive.hpp"
#include "invar/io/safetensors.hpp"
#include "invar/nn/parameter_io.hpp"
#include "invar/nn/safetensors_export.hpp"
#include "io/safetensors_models.hpp"
#include "support/error_message.hpp"
#include "support/temp_dir.hpp"

using namespace invar;
using invar::io::DType;
using invar::io::Safetensors;
using StBytes = std::vector<unsigned char>;

TEST_SUITE_BEGIN("io");

namespace {

/// An 8-byte length, `header` as given (no padding added), then `data_bytes` zero bytes.
StBytes st_raw_file(const std::string& header, std::size_t data_bytes) {
  StBytes b(8 + header.size() + data_bytes, 0);
  const std::uint64_t n = header.size();
  std::memcpy(b.data(), &n, 8);
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}

std::string st_error(const StBytes& b) {
  return test::error_of([&] { (void)Safetensors::from_bytes(b, "bad.safetensors"); });
}

template <class T>
Tensor<T> st_tensor(const Shape& shape, std::initializer_list<T> values) {
  Tensor<T> t(shape);
  index_t i = 0;
  for (T v : values) t[i++] = v;
  return t;
}

template <class T>
bool st_same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && (a.numel() == 0 || std::memcmp(a.data(), b.data(), a.bytes()) == 0);
}

StBytes st_read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return StBytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("safetensors file layout, byte by byte: length, JSON header, padding, 8-byte dtypes first") {
  Safetensors st;
  st.put("b", st_tensor<float>(Shape{2}, {1.5f, -2.0f}));
  st.put("a", st_tensor<double>(Shape{}, {3.0}));
  st.set_metadata("format", "pt");
  const std::string json =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";
  const std::size_t padded = (json.size() + 8 + 7) / 8 * 8 - 8;
  CHECK(st.header() == json + std::string(padded - json.size(), ' '));
  const StBytes bytes = st.to_bytes();
  REQUIRE(bytes.size() == 8 + padded + 16);
  CHECK(bytes.size() == st.file_size());
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n == padded);
  CHECK((8 + n) % 8 == 0);
  CHECK(std::string(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n)) == st.header());
  double a = 0;
  float b[2] = {};
  std::memcpy(&a, bytes.data() + 8 + n, 8);
  std::memcpy(b, bytes.data() + 8 + n + 8, 8);
  CHECK(a == 3.0);
  CHECK(b[0] == 1.5f);
  CHECK(b[1] == -2.0f);
  // put order is kept in memory; a loaded file lists its tensors in data order
  CHECK(st.names() == std::vector<std::string>{"b", "a"});
  const auto back = Safetensors::from_bytes(bytes);
  CHECK(back.names() == std::vector<std::string>{"a", "b"});
  CHECK(back == st);
  CHECK(back.to_bytes() == bytes);
  CHECK(back.metadata().at("format") == "pt");
  // no metadata: no "__metadata__" member
  Safetensors plain;
  plain.put("x", st_tensor<float>(Shape{1}, {1.0f}));
  CHECK(plain.header().rfind(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 0) == 0);
}

TEST_CASE("safetensors round trip: every dtype, rank 0 to 8, empty tensors, odd names, NaN payloads, -0") {
  Safetensors st;
  auto f = st_tensor<float>(Shape{2, 3}, {1.0f, -0.0f, std::numeric_limits<float>::infinity(), 1e-40f, 3.25f, 0.0f});
  std::uint32_t payload = 0x7FC01234u;
  std::memcpy(f.data() + 5, &payload, 4);  // a NaN with a payload
  st.put("conv1.weight", f);
  st.put("d", st_tensor<double>(Shape{1, 1, 1, 1, 1, 1, 1, 2}, {0.1, -7.5}));
  st.put("counter", st_tensor<index_t>(Shape{}, {-42}));
  st.put("empty", Tensor<float>(Shape{0, 3}));
  const std::string odd = "quote\" backslash\\ newline\n tab\t ctrl\x01 \xC3\xA9 \xE6\x97\xA5 /slash";
  st.put(odd, st_tensor<float>(Shape{1}, {5.0f}));
  st.set_metadata("note", "line\nbreak \"quoted\" \xC3\xA9");
  const auto bytes = st.to_bytes();
  const auto back = Safetensors::from_bytes(bytes);
  CHECK(back == st);
  CHECK(back.size() == 5);
  CHECK(back.contains(odd));
  CHECK(back.dtype("counter") == DType::int64);
  CHECK(back.shape("d") == Shape{1, 1, 1, 1, 1, 1, 1, 2});
  CHECK(back.shape("empty") == Shape{0, 3});
  CHECK(back.shape("counter").rank() == 0);
  CHECK(st_same_bits(back.get<float>("conv1.weight"), f));
  CHECK(back.get<index_t>("counter")[0] == -42);
  CHECK(back.get<double>(odd)[0] == 5.0);                   // F32 read as double
  CHECK(back.get<float>("d")[1] == -7.5f);                   // F64 read as float
  CHECK(back.metadata().at("note") == "line\nbreak \"quoted\" \xC3\xA9");
  const auto raw = back.bytes("conv1.weight");
  CHECK(raw.size() == 24);
  CHECK(std::memcmp(raw.data(), f.data(), 24) == 0);
  // the control characters are escaped in the header, which is pure JSON text
  CHECK(st.header().find("quote\\\" backslash\\\\ newline\\u000a tab\\u0009 ctrl\\u0001") != std::string::npos);
  // through a file
  test::TempDir dir;
  st.save(dir.file("w.safetensors"));
  CHECK(Safetensors::load(dir.file("w.safetensors")) == st);
  CHECK(st_read_file(dir.file("w.safetensors")) == bytes);
  CHECK(dir.listing() == std::vector<std::string>{"w.safetensors"});
}

TEST_CASE("safetensors lookups and puts: missing names, dtype mismatches, reserved and bad names") {
  Safetensors st;
  st.put("w", st_tensor<float>(Shape{1}, {1.0f}));
  st.put("n", st_tensor<index_t>(Shape{1}, {1}));
  CHECK_ERROR_CONTAINS(st.get<float>("v"), "no tensor 'v' in the safetensors data; it holds: w, n");
  CHECK_ERROR_CONTAINS(st.get<index_t>("w"), "is F32 [1]; read it with get<float>() or get<double>()");
  CHECK_ERROR_CONTAINS(st.get<float>("n"), "is I64 [1]; read it with get<index_t>()");
  CHECK_ERROR_CONTAINS(st.put("", Tensor<float>(Shape{1})), "name is empty");
  CHECK_ERROR_CONTAINS(st.put("__metadata__", Tensor<float>(Shape{1})), "reserved");
  CHECK_ERROR_CONTAINS(st.put("bad\xFF", Tensor<float>(Shape{1})), "not valid UTF-8");
  st.put("w", st_tensor<double>(Shape{2}, {1.0, 2.0}));  // replaced in place
  CHECK(st.names() == std::vector<std::string>{"w", "n"});
  CHECK(st.dtype("w") == DType::float64);
}

TEST_CASE("safetensors: a truncated file is an invar::Error at every length, as are trailing bytes") {
  Safetensors st;
  st.put("a", st_tensor<float>(Shape{3}, {1, 2, 3}));
  st.put("b", st_tensor<double>(Shape{2}, {4, 5}));
  st.set_metadata("format", "pt");
  const StBytes full = st.to_bytes();
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    const std::string msg = st_error(StBytes(full.begin(), full.begin() + std::ptrdiff_t(n)));
    CHECK(msg.find("'bad.safetensors' is not a valid safetensors file") != std::string::npos);
  }
  CHECK(st_error(StBytes()).find("truncated at offset 0: the file starts with an 8-byte header length") !=
        std::string::npos);
  CHECK(st_error(StBytes(full.begin(), full.begin() + 20)).find("truncated at offset 20") != std::string::npos);
  CHECK(st_error(StBytes(full.begin(), full.end() - 1)).find("reach beyond the data") != std::string::npos);
  StBytes longer = full;
  longer.push_back(0);
  CHECK(st_error(longer).find("1 bytes after the last tensor's data") != std::string::npos);
}

TEST_CASE("safetensors: corrupt headers are invar::Errors that name the problem") {
  const auto t = [](const std::string& name) { return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[1],"; };
  struct Case {
    StBytes bytes;
    std::string expected;
  };
  std::vector<Case> cases = {
      {[] {
         StBytes b = st_raw_file("{}", 0);
         const std::uint64_t n = 1000;
         std::memcpy(b.data(), &n, 8);
         return b;
       }(),
       "truncated at offset 10: its header length is 1000 bytes"},
      {[] {
         StBytes b = st_raw_file("{}", 0);
         const std::uint64_t n = std::uint64_t(1) << 40;
         std::memcpy(b.data(), &n, 8);
         return b;
       }(),
       "more than the 100000000 safetensors allows"},
      {st_raw_file(" {}", 0), "does not start with '{'"},
      {st_raw_file("[]", 0), "does not start with '{'"},
      {st_raw_file("{\"a\":", 0), "the JSON ends early"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x)", 4), "unexpected 'x' after the header"},
      {st_raw_file(R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", 2),
       "tensor 'a': dtype 'F16' is not one invar reads (F32, F64, I64)"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 12),
       "tensor 'a': data_offsets [0, 8] hold 8 bytes, its dtype F32 and shape need 12"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), "needs more bytes than the 8 bytes"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 4), "reach beyond the data"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4), "end before they begin"},
      {st_raw_file("{" + t("a") + R"("data_offsets":[0,4]},)" + t("b") + R"("data_offsets":[0,4]}})", 4),
       "tensors 'a' and 'b' overlap"},
      {st_raw_file("{" + t("a") + R"("data_offsets":[0,4]},)" + t("b") + R"("data_offsets":[8,12]}})", 12),
       "4 bytes of data at [4, 8) belong to no tensor (before 'b')"},
      {st_raw_file("{" + t("a") + R"("data_offsets":[0,4]}})", 8), "4 bytes after the last tensor's data"},
      {st_raw_file("{" + t("a") + R"("data_offsets":[0,4]},)" + t("a") + R"("data_offsets":[0,4]}})", 4),
       "the header names 'a' twice"},
      {st_raw_file(R"({"__metadata__":{"k":1}})", 0), "__metadata__ value of 'k' is not a string"},
      {st_raw_file(R"({"__metadata__":[]})", 0), "__metadata__ is not a JSON object"},
      {st_raw_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), "tensor 'a': missing 'dtype'"},
      {st_raw_file(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), "tensor 'a': missing 'shape'"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "tensor 'a': missing 'data_offsets'"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       "extent 0 of its shape is not a non-negative integer (-1)"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4), "integer (1.5)"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4),
       "integer (99999999999999999999)"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})", 4),
       "its shape needs more bytes than the 4 bytes of data"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", 4),
       "rank 9 is more than invar's maximum 8"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
       "data_offsets is not a pair of non-negative integers"},
      {st_raw_file(R"({"a":5})", 0), "tensor 'a': its entry is not a JSON object"},
      {st_raw_file(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4), "its dtype is not a string"},
      {st_raw_file("{\"a\x01\":{}}", 0), "a control character (\\x01) inside a string"},
      {st_raw_file(R"({"a\q":{}})", 0), "an unknown escape '\\q'"},
      {st_raw_file(R"({"\ud800":{}})", 0), "an unpaired surrogate"},
      {st_raw_file("{\"\xC3\":{}}", 0), "not valid UTF-8"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}})", 4), "leading zero"},
      {st_raw_file("{\"__metadata__\":" + std::string(40, '[') + std::string(40, ']') + "}", 0),
       "nested deeper than 32 levels"},
      {st_raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},})", 4),
       "expected a member name in quotes, found '}'"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.expected);
    const std::string msg = st_error(c.bytes);
    INFO("message: ", msg);
    CHECK(msg.find("'bad.safetensors' is not a valid safetensors file") != std::string::npos);
    CHECK(msg.find(c.expected) != std::string::npos);
  }
}

TEST_CASE("safetensors reads what other writers may write: whitespace, escapes, any member order") {
  const auto b = st_raw_file(
      "{ \"b\" : { \"data_offsets\" : [ 4 , 8 ] , \"shape\" : [ 1 ] , \"dtype\" : \"F32\", \"extra\": [null, true, "
      "false, -1.5e3, {}] } ,\n\t\"\\u00e9\\ud83d\\ude00\\/\" : {\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
      "\"__metadata__\": {} }   ",
      8);
  const auto st = Safetensors::from_bytes(b);
  CHECK(st.names() == std::vector<std::string>{"\xC3\xA9\xF0\x9F\x98\x80/", "b"});
  CHECK(st.metadata().empty());
}

TEST_CASE("safetensors save is atomic and names the path, load names missing files and directories") {
  test::TempDir dir;
  Safetensors st;
  st.put("w", st_tensor<float>(Shape{1}, {1.0f}));
  CHECK_ERROR_CONTAINS(st.save(dir.file("missing/w.safetensors")), "cannot save '" + dir.file("missing/w.safetensors"));
  CHECK(dir.listing().empty());
  st.save(dir.file("w.safetensors"));
  Safetensors other;
  other.put("v", st_tensor<float>(Shape{1}, {2.0f}));
  std::filesystem::create_directory(dir.file("w.safetensors.tmp." + std::to_string(::getpid())));  // blocks the temp file
  CHECK_THROWS_AS(other.save(dir.file("w.safetensors")), Error);
  CHECK(Safetensors::load(dir.file("w.safetensors")) == st);  // the old file, intact
  CHECK_ERROR_CONTAINS(Safetensors::load(dir.file("nope.safetensors")), "no such file");
  CHECK_ERROR_CONTAINS(Safetensors::load(dir.path.string()), "it is a directory");
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

namespace {

/// The tensors a model should export: its parameters, then its buffers, in order.
template <class Model>
std::vector<std::pair<std::string, Shape>> st_expected(Model& m) {
  std::vector<std::pair<std::string, Shape>> out;
  for (auto* p : m.parameters()) out.emplace_back(p->name, p->value.shape());
  for (auto& [name, b] : m.buffers()) out.emplace_back(name, b->shape());
  return out;
}

template <class Model>
void st_check_export(Model& m) {
  const Safetensors st = nn::to_safetensors(m);
  const auto expected = st_expected(m);
  REQUIRE(st.size() == expected.size());
  std::vector<std::string> names;
  for (const auto& [name, shape] : expected) {
    names.push_back(name);
    CAPTURE(name);
    REQUIRE(st.contains(name));
    CHECK(st.shape(name) == shape);
    CHECK(st.dtype(name) == DType::float32);
  }
  CHECK(st.names() == names);
  for (auto* p : m.parameters()) CHECK(st_same_bits(st.get<float>(p->name), p->value));
  for (auto& [name, b] : m.buffers()) CHECK(st_same_bits(st.get<float>(name), *b));
  CHECK(st.metadata().at("format") == "pt");
  CHECK(st.metadata().at("producer").rfind("invar ", 0) == 0);
  CHECK(st.metadata().at("model") == m.name());
}

}  // namespace

TEST_CASE("save_safetensors: the MLP's tensors under PyTorch's names and layouts (fc1.weight is out x in)") {
  auto m = test::export_mlp();
  st_check_export(m);
  const auto st = nn::to_safetensors(m, {{"dataset", "fashion-mnist"}, {"format", "pt"}});
  CHECK(st.names() == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"});
  CHECK(st.shape("fc1.weight") == Shape{7, 12});
  CHECK(st.shape("fc3.bias") == Shape{3});
  CHECK(st.metadata().at("dataset") == "fashion-mnist");
  auto no_bias = test::export_mlp(false);
  CHECK(nn::to_safetensors(no_bias).names() == std::vector<std::string>{"fc1.weight", "fc2.weight", "fc3.weight"});
}

TEST_CASE("save_safetensors: All-CNN-C's convolutions (OIHW) and batch norms with running statistics") {
  auto m = test::export_all_cnn();
  st_check_export(m);
  const auto st = nn::to_safetensors(m);
  CHECK(st.shape("conv1.weight") == Shape{6, 3, 3, 3});
  CHECK(st.shape("conv9.weight") == Shape{4, 12, 1, 1});
  for (const char* name : {"bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}) CHECK(st.contains(name));
  CHECK_FALSE(st.contains("conv1.bias"));  // batch norm's shift replaces it
  auto plain = test::export_all_cnn(nn::TopConvPadding::valid, false);
  st_check_export(plain);
  CHECK(nn::to_safetensors(plain).shape("conv1.bias") == Shape{6});
}

TEST_CASE("save_safetensors: Wide ResNet blocks (block1.bn1.weight, block2.shortcut.weight, bn, fc)") {
  for (auto shortcut : {nn::ResidualShortcut::average_pool_zero_pad, nn::ResidualShortcut::projection}) {
    CAPTURE(nn::to_string(shortcut));
    auto m = test::export_wrn(shortcut);
    st_check_export(m);
    const auto st = nn::to_safetensors(m);
    CHECK(st.shape("conv1.weight") == Shape{16, 3, 3, 3});
    CHECK(st.shape("block2.conv1.weight") == Shape{32, 16, 3, 3});
    CHECK(st.contains("block3.bn2.running_var"));
    CHECK(st.shape("fc.weight") == Shape{4, 64});
    CHECK(st.contains("bn.running_mean"));
    CHECK(st.contains("block2.shortcut.weight") == (shortcut == nn::ResidualShortcut::projection));
  }
}

TEST_CASE("load_safetensors: the way back gives the same logits, and missing, extra or misshapen tensors change nothing") {
  test::TempDir dir;
  auto m = test::export_all_cnn();
  nn::save_safetensors(m, dir.file("m.safetensors"));
  const auto x = test::random_tensor<float>(Shape{2, 3, 12, 12}, 5);
  m.set_training(false);
  m.forward(x);
  const Tensor<float> expected = Tensor<float>::copy_of(m.output());

  auto fresh = nn::make_all_cnn<float>(nn::AllCnnOptions{}.with_classes(4).with_width(1.0 / 16).with_seed(9));
  nn::load_safetensors(fresh, dir.file("m.safetensors"));
  fresh.set_training(false);
  fresh.forward(x);
  CHECK(st_same_bits(Tensor<float>::copy_of(fresh.output()), expected));

  // a double model reads the F32 file (converted), and writes F64
  auto wide = nn::make_all_cnn<double>(nn::AllCnnOptions{}.with_classes(4).with_width(1.0 / 16));
  nn::load_safetensors(wide, dir.file("m.safetensors"));
  CHECK(nn::to_safetensors(wide).dtype("conv1.weight") == DType::float64);

  auto st = nn::to_safetensors(m);
  const auto before = nn::to_safetensors(fresh).to_bytes();
  auto broken = st;
  broken.put("bn1.weight", Tensor<float>(Shape{7}));
  CHECK_ERROR_CONTAINS(nn::restore_safetensors(broken, fresh), "tensor 'bn1.weight' in the safetensors data has shape [7], all_cnn has [6]");
  broken = st;
  broken.put("conv10.weight", Tensor<float>(Shape{1}));
  CHECK_ERROR_CONTAINS(nn::restore_safetensors(broken, fresh), "has a tensor 'conv10.weight' that all_cnn does not have");
  broken = st;
  broken.put("bn1.running_var", Tensor<index_t>(Shape{6}));
  CHECK_ERROR_CONTAINS(nn::restore_safetensors(broken, fresh), "is I64");
  auto mlp = test::export_mlp();
  CHECK_ERROR_CONTAINS(nn::restore_safetensors(nn::to_safetensors(mlp), fresh), "has no tensor 'conv1.weight' for all_cnn");
  CHECK(nn::to_safetensors(fresh).to_bytes() == before);  // unchanged by every failed load
  // PyTorch's batch-norm counters are ignored
  broken = st;
  broken.put("bn1.num_batches_tracked", st_tensor<index_t>(Shape{}, {100}));
  CHECK_NOTHROW(nn::restore_safetensors(broken, fresh));
}

TEST_CASE("save_safetensors holds the same bytes as the model's parameter file (nn::save_parameters)") {
  test::TempDir dir;
  auto m = test::export_wrn(nn::ResidualShortcut::projection);
  nn::save_parameters(m, dir.file("m.invar"));
  nn::save_safetensors(m, dir.file("m.safetensors"));
  const auto ar = io::Archive::load(dir.file("m.invar"));
  const auto st = Safetensors::load(dir.file("m.safetensors"));
  std::size_t n = 0;
  for (const auto& name : ar.names()) {
    if (name.rfind("model/", 0) != 0) continue;
    ++n;
    const std::string key = name.substr(6);
    CAPTURE(key);
    REQUIRE(st.contains(key));
    CHECK(st.shape(key) == ar.shape(name));
    CHECK(st_same_bits(st.get<float>(key), ar.get<float>(name)));
  }
  CHECK(n == st.size());
}

TEST_SUITE_END();
