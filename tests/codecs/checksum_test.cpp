// Tests for the checksum stage: published check values, placement round trips, errors and config.
#define BOOST_TEST_MODULE checksum_test
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/data/monomorphic.hpp>

#include "codecs/checksum.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace bdata = boost::unit_test::data;
namespace json = boost::json;
using namespace dragoman::codecs;

namespace {

const std::string check_input = "123456789";  // the catalogue's standard check message

// Bit-at-a-time CRC straight from the catalogue's parameters (width, poly, init, refin/refout,
// xorout): an independent second implementation for the table-driven ones.
std::uint32_t crc_bitwise(byte_view data, int width, std::uint32_t poly, std::uint32_t init,
                          bool reflected, std::uint32_t xorout) {
  const std::uint32_t top = 1u << (width - 1);
  const std::uint32_t mask = width == 32 ? 0xFFFFFFFFu : (1u << width) - 1;
  auto reflect = [](std::uint32_t v, int bits) {
    std::uint32_t r = 0;
    for (int i = 0; i < bits; ++i) r |= ((v >> i) & 1u) << (bits - 1 - i);
    return r;
  };
  std::uint32_t crc = init;
  for (byte b0 : data) {
    const std::uint32_t b = reflected ? reflect(b0, 8) : b0;
    crc ^= b << (width - 8);
    for (int k = 0; k < 8; ++k) crc = (crc & top) ? ((crc << 1) ^ poly) & mask : (crc << 1) & mask;
  }
  if (reflected) crc = reflect(crc, width);
  return (crc ^ xorout) & mask;
}

std::uint32_t reference(std::string_view name, byte_view data) {
  if (name == "crc16-modbus") return crc_bitwise(data, 16, 0x8005, 0xFFFF, true, 0);
  if (name == "crc16-ccitt-false") return crc_bitwise(data, 16, 0x1021, 0xFFFF, false, 0);
  if (name == "crc16-xmodem") return crc_bitwise(data, 16, 0x1021, 0x0000, false, 0);
  if (name == "crc32") return crc_bitwise(data, 32, 0x04C11DB7, 0xFFFFFFFF, true, 0xFFFFFFFF);
  std::uint32_t x = 0, s = 0;
  for (byte b : data) {
    x ^= b;
    s += b;
  }
  return name == "lrc" ? x : s & 0xFF;
}

struct check_vector {
  const char* algorithm;
  std::string input;
  std::uint32_t value;
  const char* source;
};
std::ostream& operator<<(std::ostream& os, const check_vector& v) {
  return os << v.algorithm << " of \"" << v.input << "\"";
}

const check_vector check_vectors[] = {
    // CRC RevEng catalogue (reveng.sourceforge.io/crc-catalogue), "check" = CRC of "123456789".
    {"crc16-modbus", check_input, 0x4B37, "CRC RevEng catalogue, CRC-16/MODBUS"},
    {"crc16-ccitt-false", check_input, 0x29B1,
     "CRC RevEng catalogue, CRC-16/IBM-3740 (alias CRC-16/CCITT-FALSE)"},
    {"crc16-xmodem", check_input, 0x31C3, "CRC RevEng catalogue, CRC-16/XMODEM"},
    {"crc32", check_input, 0xCBF43926, "CRC RevEng catalogue, CRC-32/ISO-HDLC"},
    // The empty message leaves init ^ xorout (follows from the catalogue parameters).
    {"crc16-modbus", "", 0xFFFF, "init 0xFFFF, no xorout"},
    {"crc16-ccitt-false", "", 0xFFFF, "init 0xFFFF, no xorout"},
    {"crc16-xmodem", "", 0x0000, "init 0, no xorout"},
    {"crc32", "", 0x00000000, "init and xorout 0xFFFFFFFF"},
    // By hand: 0x31..0x39 XOR: the high nibble 3 occurs 9 times (odd) -> 0x30; 1^2^..^9 = 1.
    {"lrc", check_input, 0x31, "by hand"},
    // By hand: 0x31 + ... + 0x39 = 9 * 0x30 + 45 = 477 = 0x1DD -> 0xDD.
    {"sum256", check_input, 0xDD, "by hand"},
    {"lrc", "", 0x00, "by hand"},
    {"sum256", "", 0x00, "by hand"},
    // By hand: STX-less "A" ETX: 0x41 ^ 0x03 = 0x42; 0xFF + 0x01 wraps to 0x00.
    {"lrc", "A\x03", 0x42, "by hand"},
    {"sum256", "\xFF\x01", 0x00, "by hand"},
    {"lrc", "\xFF\x0F", 0xF0, "by hand"},
};

// The error text of a failed result, for test messages (which Boost.Test builds even on success).
template <class R>
std::string why(const R& r) {
  return r.has_value() ? std::string() : r.error().to_string();
}

json::object parse_object(std::string_view text) {
  return json::parse(text).as_object();
}

std::unique_ptr<checksum_stage> make(std::string_view text, diagnostics& diag) {
  const json::object obj = parse_object(text);
  config_object cfg(obj, "checksum", diag);
  return make_checksum(cfg);
}

std::unique_ptr<checksum_stage> make_ok(std::string_view text) {
  diagnostics diag;
  auto stage = make(text, diag);
  BOOST_TEST_REQUIRE(diag.ok(), text << ": " << (diag.ok() ? "" : diag.errors().front()));
  BOOST_TEST_REQUIRE(stage != nullptr);
  return stage;
}

// The errors a configuration produces, one per line.
std::string config_errors(std::string_view text) {
  diagnostics diag;
  auto stage = make(text, diag);
  BOOST_TEST(!stage, text << " built a stage");
  std::string all;
  for (const auto& e : diag.errors()) all += e + "\n";
  return all;
}

byte_buffer bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

byte_buffer applied(const checksum_stage& stage, std::string_view payload) {
  byte_buffer b = bytes(payload);
  auto r = stage.apply(b);
  BOOST_TEST_REQUIRE(r.has_value(), why(r));
  return b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(algorithms)

BOOST_DATA_TEST_CASE(published_and_hand_computed_values, bdata::make(check_vectors), v) {
  const checksum_algorithm* a = find_checksum(v.algorithm);
  BOOST_TEST_REQUIRE(a != nullptr);
  BOOST_TEST(a->compute(as_bytes(v.input)) == v.value, v.source);
}

BOOST_AUTO_TEST_CASE(widths) {
  BOOST_TEST(find_checksum("lrc")->width == 1u);
  BOOST_TEST(find_checksum("sum256")->width == 1u);
  BOOST_TEST(find_checksum("crc16-modbus")->width == 2u);
  BOOST_TEST(find_checksum("crc16-ccitt-false")->width == 2u);
  BOOST_TEST(find_checksum("crc16-xmodem")->width == 2u);
  BOOST_TEST(find_checksum("crc32")->width == 4u);
  BOOST_TEST(find_checksum("crc16") == nullptr);
  BOOST_TEST(find_checksum("CRC32") == nullptr);
  BOOST_TEST(checksum_names().size() == 6u);
}

// Table-driven against bit-at-a-time on random data of every length up to 300 bytes.
BOOST_DATA_TEST_CASE(tables_agree_with_bitwise_reference, bdata::make(checksum_names()), name) {
  std::mt19937 rng(12345);
  byte_buffer data;
  for (int len = 0; len <= 300; ++len) {
    BOOST_TEST(find_checksum(name)->compute(data) == reference(name, data), name << " len " << len);
    data.push_back(static_cast<byte>(rng()));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(placement)

// Exact wire bytes of the check message under each placement option.
BOOST_AUTO_TEST_CASE(modbus_defaults_to_low_byte_first) {
  auto stage = make_ok(R"({"type":"crc16-modbus"})");
  BOOST_TEST(applied(*stage, check_input) == bytes(check_input + "\x37\x4B"),
             boost::test_tools::per_element());
  auto big = make_ok(R"({"type":"crc16-modbus","byte_order":"big"})");
  BOOST_TEST(applied(*big, check_input) == bytes(check_input + "\x4B\x37"),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(others_default_to_big_endian) {
  auto stage = make_ok(R"({"type":"crc32"})");
  BOOST_TEST(applied(*stage, check_input) == bytes(check_input + "\xCB\xF4\x39\x26"),
             boost::test_tools::per_element());
  auto little = make_ok(R"({"type":"crc32","byte_order":"little"})");
  BOOST_TEST(applied(*little, check_input) == bytes(check_input + "\x26\x39\xF4\xCB"),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(hex_encoding_is_upper_case_ascii) {
  auto stage = make_ok(R"({"type":"crc32","encoding":"hex"})");
  BOOST_TEST(as_chars(applied(*stage, check_input)) == "123456789CBF43926");
  auto little = make_ok(R"({"type":"crc16-ccitt-false","encoding":"hex","byte_order":"little"})");
  BOOST_TEST(as_chars(applied(*little, check_input)) == "123456789B129");
  auto sum = make_ok(R"({"type":"sum256","encoding":"hex"})");
  BOOST_TEST(as_chars(applied(*sum, check_input)) == "123456789DD");
}

BOOST_AUTO_TEST_CASE(position_start_prepends) {
  auto stage = make_ok(R"({"type":"lrc","position":"start"})");
  BOOST_TEST(as_chars(applied(*stage, check_input)) == "1123456789");  // LRC 0x31 is '1'
  auto x = make_ok(R"({"type":"crc16-xmodem","position":"start"})");
  BOOST_TEST(applied(*x, check_input) == bytes("\x31\xC3" + check_input),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(covers_from_skips_a_header) {
  auto stage = make_ok(R"({"type":"crc32","covers_from":3,"encoding":"hex"})");
  // CRC-32 of "123456789" again, behind a 3-byte header that is not covered.
  BOOST_TEST(as_chars(applied(*stage, "HDR" + check_input)) == "HDR123456789CBF43926");
  auto v = stage->verify(as_bytes("XYZ123456789CBF43926"));  // header changes go unnoticed
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST(as_chars(*v) == "XYZ123456789");
}

struct combination {
  std::string name, encoding, order, position;
  int covers_from;
  // In describe() order, so the round trip through describe() can compare text.
  std::string config() const {
    return R"({"type":")" + name + R"(","byte_order":")" + order + R"(","encoding":")" + encoding +
           R"(","covers_from":)" + std::to_string(covers_from) + R"(,"position":")" + position +
           "\"}";
  }
};
std::ostream& operator<<(std::ostream& os, const combination& c) {
  return os << c.config();
}

std::vector<combination> all_combinations() {
  std::vector<combination> all;
  for (auto name : checksum_names())
    for (const char* encoding : {"binary", "hex"})
      for (const char* order : {"big", "little"})
        for (const char* position : {"end", "start"})
          for (int covers_from : {0, 3})
            all.push_back({std::string(name), encoding, order, position, covers_from});
  return all;
}

BOOST_DATA_TEST_CASE(every_combination_round_trips, bdata::make(all_combinations()), combo) {
  const auto& [name, encoding, order, position, covers_from] = combo;
  const std::string config = combo.config();
  BOOST_TEST_CONTEXT(config) {
    auto stage = make_ok(config);
    const std::size_t width = find_checksum(name)->width;
    const std::size_t check_length = encoding == "hex" ? 2 * width : width;
    for (std::string payload :
         {std::string("HDR"), "HDR" + check_input, std::string("HDR\x00\xFF\x7F\x80", 7)}) {
      const byte_buffer wire = applied(*stage, payload);
      BOOST_TEST_REQUIRE(wire.size() == payload.size() + check_length);
      // The check value sits where configured and holds the covered bytes' value.
      const std::size_t body_at = position == "start" ? check_length : 0;
      BOOST_TEST(as_chars(byte_view(wire).subspan(body_at, payload.size())) == payload);
      auto r = stage->verify(wire);
      BOOST_TEST_REQUIRE(r.has_value(), why(r));
      BOOST_TEST(as_chars(*r) == payload);
      BOOST_TEST(r->data() == wire.data() + body_at);  // a view into the input, not a copy
      // Any single flipped bit in a covered byte is caught (every algorithm here detects those).
      for (std::size_t i = 0; i < wire.size(); ++i) {
        const bool in_header = i >= body_at && i < body_at + static_cast<std::size_t>(covers_from);
        byte_buffer bad = wire;
        bad[i] ^= 0x01;
        auto b = stage->verify(bad);
        BOOST_TEST(b.has_value() == in_header, "flipped byte " << i);
      }
    }
    BOOST_TEST(json::serialize(stage->describe()) == config);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(mismatch_shows_expected_and_received) {
  auto stage = make_ok(R"({"type":"crc32","encoding":"hex"})");
  auto r = stage->verify(as_bytes("123456789CBF43927"));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == errc::checksum_mismatch);
  BOOST_TEST(r.error().where == "checksum");
  BOOST_TEST(r.error().message == "crc32 mismatch: expected CBF43926, received CBF43927");
}

BOOST_AUTO_TEST_CASE(swapped_bytes_get_a_hint) {
  auto stage = make_ok(R"({"type":"crc16-modbus","byte_order":"big"})");
  auto r = stage->verify(bytes(check_input + "\x37\x4B"));  // sent low byte first
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message ==
             "crc16-modbus mismatch: expected 4B37, received 374B (the bytes are swapped: check "
             "byte_order)");
}

BOOST_AUTO_TEST_CASE(hex_is_accepted_in_lower_case) {
  auto stage = make_ok(R"({"type":"crc32","encoding":"hex"})");
  auto r = stage->verify(as_bytes("123456789cbf43926"));
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(as_chars(*r) == check_input);
}

BOOST_AUTO_TEST_CASE(non_hex_check_value_is_malformed) {
  auto stage = make_ok(R"({"type":"crc16-xmodem","encoding":"hex"})");
  auto r = stage->verify(as_bytes("12345678931G3"));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == errc::malformed);
  BOOST_TEST(r.error().message == "crc16-xmodem check value \"31G3\" is not 4 hex digits");
}

BOOST_AUTO_TEST_CASE(shorter_than_the_check_value_is_malformed) {
  auto stage = make_ok(R"({"type":"crc16-modbus"})");
  auto r = stage->verify(as_bytes("1"));
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == errc::malformed);
  BOOST_TEST(r.error().message ==
             "payload is 1 byte, shorter than the 2-byte crc16-modbus check value");
  BOOST_TEST(!stage->verify(byte_view{}).has_value());
  // Exactly the check value over an empty payload is fine.
  auto empty = stage->verify(as_bytes("\xFF\xFF"));
  BOOST_TEST_REQUIRE(empty.has_value());
  BOOST_TEST(empty->empty());

  auto hex = make_ok(R"({"type":"crc32","encoding":"hex","covers_from":2})");
  auto h = hex->verify(as_bytes("CBF43926"));
  BOOST_TEST_REQUIRE(!h.has_value());
  BOOST_TEST(h.error().message ==
             "payload is 8 bytes, shorter than the 8-byte crc32 check value plus covers_from 2");
}

BOOST_AUTO_TEST_CASE(apply_refuses_a_payload_shorter_than_covers_from) {
  auto stage = make_ok(R"({"type":"lrc","covers_from":4})");
  byte_buffer b = bytes("abc");
  auto r = stage->apply(b);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().code == errc::malformed);
  BOOST_TEST(r.error().message == "payload is 3 bytes, shorter than covers_from 4");
  BOOST_TEST(as_chars(b) == "abc");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(describe_shows_effective_defaults) {
  BOOST_TEST(
      json::serialize(make_ok(R"({"type":"crc16-modbus"})")->describe()) ==
      R"({"type":"crc16-modbus","byte_order":"little","encoding":"binary","covers_from":0,"position":"end"})");
  BOOST_TEST(
      json::serialize(make_ok(R"({"type":"sum256"})")->describe()) ==
      R"({"type":"sum256","byte_order":"big","encoding":"binary","covers_from":0,"position":"end"})");
}

struct bad_config {
  const char* json;
  const char* errors;
};
std::ostream& operator<<(std::ostream& os, const bad_config& c) {
  return os << c.json;
}

const bad_config bad_configs[] = {
    {R"({})", "checksum.type: is required\n"},
    {R"({"type":"crc99"})",
     "checksum.type: unknown checksum \"crc99\", must be one of lrc, crc16-modbus, "
     "crc16-ccitt-false, crc16-xmodem, crc32, sum256\n"},
    {R"({"type":"crc16-ccitt"})",
     "checksum.type: unknown checksum \"crc16-ccitt\", must be one of lrc, crc16-modbus, "
     "crc16-ccitt-false, crc16-xmodem, crc32, sum256 (\"crc16-ccitt\" is ambiguous: "
     "crc16-ccitt-false starts from FFFF, crc16-xmodem from 0000)\n"},
    {R"({"type":32})", "checksum.type: must be a string\n"},
    {R"({"type":"crc32","byte_ordr":"big"})", "checksum.byte_ordr: unknown key\n"},
    {R"({"type":"crc32","byte_order":"middle"})",
     "checksum.byte_order: unknown value \"middle\", must be one of big, little\n"},
    {R"({"type":"crc32","encoding":"ascii"})",
     "checksum.encoding: unknown value \"ascii\", must be one of binary, hex, decimal\n"},
    {R"({"type":"crc32","position":"middle"})",
     "checksum.position: unknown value \"middle\", must be one of end, start\n"},
    {R"({"type":"crc32","covers_from":-1})", "checksum.covers_from: must be >= 0\n"},
    {R"({"type":"crc32","covers_from":"2"})", "checksum.covers_from: must be an integer\n"},
    {R"({"type":"nope","extra":1})",
     "checksum.type: unknown checksum \"nope\", must be one of lrc, crc16-modbus, "
     "crc16-ccitt-false, crc16-xmodem, crc32, sum256\nchecksum.extra: unknown key\n"},
};

BOOST_DATA_TEST_CASE(bad_configs_name_the_path, bdata::make(bad_configs), c) {
  BOOST_TEST(config_errors(c.json) == c.errors);
}

BOOST_AUTO_TEST_CASE(whole_value_helper) {
  diagnostics diag;
  BOOST_TEST(make_checksum(json::value("none"), "checksum", diag) == nullptr);
  BOOST_TEST(diag.ok());

  auto crc = make_checksum(json::value("crc32"), "checksum", diag);
  BOOST_TEST_REQUIRE(crc != nullptr);
  BOOST_TEST(diag.ok());
  BOOST_TEST(
      json::serialize(crc->describe()) ==
      R"({"type":"crc32","byte_order":"big","encoding":"binary","covers_from":0,"position":"end"})");

  const json::value obj = json::parse(R"({"type":"lrc","encoding":"hex"})");
  auto lrc = make_checksum(obj, "checksum", diag);
  BOOST_TEST_REQUIRE(lrc != nullptr);
  BOOST_TEST(as_chars(applied(*lrc, check_input)) == "12345678931");

  BOOST_TEST(make_checksum(json::value("crc99"), "checksum", diag) == nullptr);
  BOOST_TEST(make_checksum(json::value(7), "profile.checksum", diag) == nullptr);
  BOOST_TEST_REQUIRE(diag.errors().size() == 2u);
  BOOST_TEST(diag.errors()[0] ==
             "checksum: unknown checksum \"crc99\", must be one of lrc, crc16-modbus, "
             "crc16-ccitt-false, crc16-xmodem, crc32, sum256");
  BOOST_TEST(diag.errors()[1] ==
             "profile.checksum: must be \"none\", a checksum name or an object with \"type\"");
}

BOOST_AUTO_TEST_SUITE_END()
