// Tests for the fixed layout: exact bytes per field type, decode back, malformed input, config.
#define BOOST_TEST_MODULE layout_fixed_test
#include <boost/test/unit_test.hpp>

#include "codecs/layout.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

using namespace dragoman::codecs;
namespace json = boost::json;
using namespace test_support;
using layouts::built;

namespace {

std::unique_ptr<built> build(std::string_view message_json, const char* type = "fixed",
                             const char* default_charset = "ascii") {
  return layouts::build(message_json, "operations.t.request", type, default_charset);
}

std::unique_ptr<built> build_field(std::string_view charset, std::string_view field_json) {
  std::string m = "{\"charset\":\"" + std::string(charset) + "\",\"fields\":[{\"name\":\"f\"," +
                  std::string(field_json.substr(1));
  m += "]}";
  return build(m);
}

// The one-field message decodes the wire (hex) to exactly `decoded` (nullptr: absent).
void expect_field_decodes(const built& b, const char* wire, const char* decoded) {
  record back;
  back.reset(1);
  auto dec = b.lay->decode(unhex(wire), back);
  BOOST_REQUIRE_MESSAGE(dec.has_value(), error_text(dec));
  BOOST_TEST(back.has(0) == (decoded != nullptr));
  if (decoded) BOOST_TEST(back.get(0) == decoded);
}

struct field_vector {
  const char* source;
  const char* charset;
  const char* field;    // the field's JSON without the name
  const char* value;    // nullptr: absent
  const char* wire;     // hex
  const char* decoded;  // canonical text back; nullptr: absent
};

const field_vector field_vectors[] = {
    // alpha
    {"ASCII (ANSI X3.4-1986) letters", "ascii", R"({"length":4})", "BALQ", "42414c51", "BALQ"},
    {"IBM CCSID 037 code page: B=C2 A=C1 L=D3 Q=D8", "ebcdic-cp037", R"({"length":4})", "BALQ",
     "c2c1d3d8", "BALQ"},
    {"alpha is left aligned, padded with spaces", "ascii", R"({"length":4})", "AB", "41422020",
     "AB"},
    {"align right", "ascii", R"({"length":4,"align":"right"})", "AB", "20204142", "AB"},
    {"pad override", "ascii", R"({"length":4,"pad":"*"})", "AB", "41422a2a", "AB"},
    {"absent alpha is all pad, decodes as empty", "ascii", R"({"length":3})", nullptr, "202020",
     ""},
    {"CCSID 037 space is 40", "ebcdic-cp037", R"({"length":3})", "A", "c14040", "A"},
    {"utf8 width counts bytes (RFC 3629: e-acute is C3 A9)", "utf8", R"({"length":4})", "n\xc3\xa9",
     "6ec3a920", "n\xc3\xa9"},
    {"latin1 (ISO 8859-1) e-acute is E9", "latin1", R"({"length":3})", "n\xc3\xa9", "6ee920",
     "n\xc3\xa9"},
    {"field charset overrides the message's", "ascii", R"({"length":2,"charset":"ebcdic-cp037"})",
     "AB", "c1c2", "AB"},
    // numeric (COBOL PIC 9(n)V9(d) DISPLAY)
    {"brief: 12.5 with 2 decimals in 8 = 00001250", "ascii",
     R"({"length":8,"type":"numeric","decimals":2})", "12.5", "3030303031323530", "12.50"},
    {"numeric integer, zero filled: an identifier keeps its width", "ascii",
     R"({"length":6,"type":"numeric"})", "42", "303030303432", "000042"},
    {"IBM CCSID 037 digits F0-F9", "ebcdic-cp037", R"({"length":4,"type":"numeric"})", "42",
     "f0f0f4f2", "0042"},
    {"absent numeric is zeros", "ascii", R"({"length":3,"type":"numeric","decimals":1})", nullptr,
     "303030", "0.0"},
    {"numeric with space pad", "ascii", R"({"length":5,"type":"numeric","pad":" "})", "42",
     "2020203432", "42"},
    {"numeric left aligned space pad", "ascii",
     R"({"length":5,"type":"numeric","pad":" ","align":"left"})", "42", "3432202020", "42"},
    // zoned (IBM Enterprise COBOL zoned decimal, SIGN TRAILING overpunch)
    {"IBM zoned: -12.50, 5 digits, 2 decimals in cp037 = F0 F1 F2 F5 D0", "ebcdic-cp037",
     R"({"length":5,"type":"zoned","signed":true,"decimals":2})", "-12.50", "f0f1f2f5d0", "-12.50"},
    {"IBM zoned: +1234 = F1 F2 F3 C4", "ebcdic-cp037",
     R"({"length":4,"type":"zoned","signed":true})", "1234", "f1f2f3c4", "1234"},
    {"IBM zoned: -1234 = F1 F2 F3 D4", "ebcdic-cp037",
     R"({"length":4,"type":"zoned","signed":true})", "-1234", "f1f2f3d4", "-1234"},
    {"IBM zoned unsigned: F zone = plain digits", "ebcdic-cp037", R"({"length":4,"type":"zoned"})",
     "42", "f0f0f4f2", "0042"},
    {"IBM zoned: +0 with 2 decimals = F0 F0 C0", "ebcdic-cp037",
     R"({"length":3,"type":"zoned","signed":true,"decimals":2})", "0", "f0f0c0", "0.00"},
    {"overpunch as ASCII text: -1234 ends in M", "ascii",
     R"({"length":4,"type":"zoned","signed":true})", "-1234", "3132334d", "-1234"},
    {"overpunch as ASCII text: +10 ends in {", "ascii",
     R"({"length":3,"type":"zoned","signed":true})", "10", "30317b", "10"},
    {"overpunch as ASCII text: -10 ends in }", "ascii",
     R"({"length":3,"type":"zoned","signed":true})", "-10", "30317d", "-10"},
    // packed (IBM Enterprise COBOL packed decimal, COMP-3)
    {"IBM packed: +1234 in 3 bytes = 01 23 4C", "ascii",
     R"({"length":3,"type":"packed","signed":true})", "1234", "01234c", "1234"},
    {"IBM packed: -1234 in 3 bytes = 01 23 4D", "ascii",
     R"({"length":3,"type":"packed","signed":true})", "-1234", "01234d", "-1234"},
    {"IBM packed: unsigned 1234 = 01 23 4F", "ascii", R"({"length":3,"type":"packed"})", "1234",
     "01234f", "01234"},
    {"IBM packed: -12.50 with 2 decimals = 01 25 0D", "ebcdic-cp037",
     R"({"length":3,"type":"packed","signed":true,"decimals":2})", "-12.50", "01250d", "-12.50"},
    {"IBM packed: +7 in 1 byte = 7C", "ascii", R"({"length":1,"type":"packed","signed":true})",
     "+7", "7c", "7"},
    {"absent packed is signed zero 00 0C", "ascii", R"({"length":2,"type":"packed","signed":true})",
     nullptr, "000c", "0"},
    // binary (two's complement, COBOL COMP-5 / BINARY)
    {"big-endian 258 = 01 02", "ascii", R"({"length":2,"type":"binary"})", "258", "0102", "258"},
    {"little-endian 258 = 02 01", "ascii", R"({"length":2,"type":"binary","byte_order":"little"})",
     "258", "0201", "258"},
    {"two's complement -2 in 2 bytes = FF FE", "ascii",
     R"({"length":2,"type":"binary","signed":true})", "-2", "fffe", "-2"},
    {"two's complement -1 in 4 bytes", "ascii", R"({"length":4,"type":"binary","signed":true})",
     "-1", "ffffffff", "-1"},
    {"2^64-1 in 8 bytes", "ascii", R"({"length":8,"type":"binary"})", "18446744073709551615",
     "ffffffffffffffff", "18446744073709551615"},
    {"-2^63 in 8 bytes", "ascii", R"({"length":8,"type":"binary","signed":true})",
     "-9223372036854775808", "8000000000000000", "-9223372036854775808"},
    {"-129 in 3 bytes little-endian = 7F FF FF", "ascii",
     R"({"length":3,"type":"binary","signed":true,"byte_order":"little"})", "-129", "7fffff",
     "-129"},
    {"binary with implied decimals: 12.34 = 1234 = 04 D2", "ascii",
     R"({"length":2,"type":"binary","decimals":2})", "12.34", "04d2", "12.34"},
    // hex
    {"raw bytes padded with 00", "ascii", R"({"length":4,"type":"hex"})", "0a1b", "0a1b0000",
     "0a1b0000"},
    {"raw bytes right aligned with pad_byte 255", "ascii",
     R"({"length":3,"type":"hex","align":"right","pad_byte":255})", "0A1B", "ff0a1b", "ff0a1b"},
    {"absent hex is all pad bytes", "ascii", R"({"length":2,"type":"hex"})", nullptr, "0000",
     "0000"},
};

}  // namespace

BOOST_AUTO_TEST_CASE(field_vectors_encode_and_decode) {
  for (const auto& v : field_vectors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build_field(v.charset, v.field);
      BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
      record r;
      r.reset(1);
      if (v.value) r.set(0, v.value);
      byte_buffer out;
      auto enc = b->lay->encode(r, out);
      BOOST_REQUIRE_MESSAGE(enc.has_value(), error_text(enc));
      BOOST_TEST(hex(out) == v.wire);
      expect_field_decodes(*b, v.wire, v.decoded);
    }
  }
}

namespace {
struct decode_vector {
  const char* source;
  const char* charset;
  const char* field;
  const char* wire;
  const char* decoded;  // nullptr: absent
};

const decode_vector decode_vectors[] = {
    {"zoned decode accepts plain digits as positive", "ebcdic-cp037",
     R"({"length":4,"type":"zoned","signed":true})", "f1f2f3f4", "1234"},
    {"zoned of spaces is absent (hosts send spaces for no value)", "ebcdic-cp037",
     R"({"length":3,"type":"zoned","signed":true})", "404040", nullptr},
    {"numeric of spaces is absent", "ascii", R"({"length":3,"type":"numeric"})", "202020", nullptr},
    {"IBM Principles of Operation: F is a valid plus sign in a signed field", "ascii",
     R"({"length":2,"type":"packed","signed":true})", "123f", "123"},
    {"IBM Principles of Operation: B is minus", "ascii",
     R"({"length":2,"type":"packed","signed":true})", "123b", "-123"},
    {"IBM Principles of Operation: A is plus", "ascii",
     R"({"length":2,"type":"packed","signed":true})", "123a", "123"},
    {"packed negative zero reads as 0", "ascii",
     R"({"length":2,"type":"packed","signed":true,"decimals":1})", "000d", "0.0"},
    {"unsigned zoned accepts a C zone", "ebcdic-cp037", R"({"length":2,"type":"zoned"})", "f1c2",
     "12"},
    {"issue #11: a trace keeps its leading zero", "ebcdic-cp037",
     R"({"length":6,"type":"numeric"})", "f0f7f0f9f4f9", "070949"},
    {"issue #11: an amount is canonical", "ebcdic-cp037",
     R"({"length":6,"type":"numeric","decimals":2})", "f0f0f1f2f5f0", "12.50"},
    {"digits canonical overrides an identifier", "ascii",
     R"({"length":6,"type":"numeric","digits":"canonical"})", "303730393439", "70949"},
    {"digits as_written overrides an amount", "ascii",
     R"({"length":6,"type":"zoned","signed":true,"decimals":2,"digits":"as_written"})",
     "30303132357d", "-0012.50"},
    {"as_written packed keeps all 2n-1 digits", "ascii", R"({"length":2,"type":"packed"})", "007f",
     "007"},
    {"right aligned alpha strips leading pad only", "ascii", R"({"length":4,"align":"right"})",
     "20412042", "A B"},
    {"left aligned alpha keeps leading spaces", "ascii", R"({"length":4})", "20412020", " A"},
};
}  // namespace

BOOST_AUTO_TEST_CASE(decode_only_vectors) {
  for (const auto& v : decode_vectors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build_field(v.charset, v.field);
      BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
      expect_field_decodes(*b, v.wire, v.decoded);
    }
  }
}

// The reply of the DESIGN.md sketch profile, in EBCDIC as an IBM host sends it.
constexpr const char* balance_reply = R"({
  "charset": "ebcdic-cp037",
  "fields": [
    { "name": "tx_code", "length": 4 },
    { "name": "trace",   "length": 6, "type": "numeric" },
    { "name": "result",  "length": 2 },
    { "name": "balance", "length": 13, "type": "zoned", "signed": true, "decimals": 2 }
  ]})";

BOOST_AUTO_TEST_CASE(whole_record_round_trip) {
  auto b = build(balance_reply);
  BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
  record r;
  r.reset(4);
  r.set(0, "BALR");
  r.set(1, "123");
  r.set(2, "00");
  r.set(3, "-1234.56");
  byte_buffer out = {0xAA};  // encode appends
  BOOST_REQUIRE(b->lay->encode(r, out).has_value());
  // B A L R = C2 C1 D3 D9; 000123; 00; 0000000123456 with D zone on the last digit.
  BOOST_TEST(hex(out) ==
             "aa"
             "c2c1d3d9"
             "f0f0f0f1f2f3"
             "f0f0"
             "f0f0f0f0f0f0f0f1f2f3f4f5d6");
  out.erase(out.begin());
  record back;
  back.reset(4);
  BOOST_REQUIRE(b->lay->decode(out, back).has_value());
  BOOST_TEST(back.get(0) == "BALR");
  BOOST_TEST(back.get(1) == "000123");  // an identifier: digits as written
  BOOST_TEST(back.get(2) == "00");
  BOOST_TEST(back.get(3) == "-1234.56");

  BOOST_TEST(
      json::serialize(b->lay->describe()) ==
      R"({"type":"fixed","length":25,"charset":"ebcdic-cp037","pad":" ","allow_trailing":false})");
  auto f3 = b->lay->describe_field(3);
  BOOST_TEST(f3.at("offset").as_uint64() == 12u);
  BOOST_TEST(f3.at("length").as_uint64() == 13u);
  BOOST_TEST(f3.at("type").as_string() == "zoned");
  BOOST_TEST(f3.at("signed").as_bool());
  BOOST_TEST(f3.at("decimals").as_int64() == 2);
  auto f0 = b->lay->describe_field(0);
  BOOST_TEST(
      json::serialize(f0) ==
      R"({"length":4,"type":"alpha","offset":0,"align":"left","pad":" ","charset":"ebcdic-cp037"})");
}

namespace {
struct encode_error_vector {
  const char* source;
  const char* charset;
  const char* field;
  const char* value;
  errc code;
  const char* message;
};

const encode_error_vector encode_errors[] = {
    {"brief: too long", "ascii", R"({"length":12})", "ABCDEFGHIJKLMNO", errc::invalid_field,
     "is 15 characters, longer than its width 12"},
    {"numeric letters", "ascii", R"({"length":4,"type":"numeric"})", "12a", errc::invalid_field,
     "must be numeric"},
    {"numeric rejects a sign", "ascii", R"({"length":4,"type":"numeric"})", "-5",
     errc::invalid_field, "must not have a sign (the field is unsigned)"},
    {"numeric rejects more decimals", "ascii", R"({"length":6,"type":"numeric","decimals":2})",
     "1.234", errc::invalid_field, "has more than the 2 decimals allowed"},
    {"numeric integer rejects a fraction", "ascii", R"({"length":6,"type":"numeric"})", "1.5",
     errc::invalid_field, "must be a whole number (the field has no decimals)"},
    {"numeric too many digits", "ascii", R"({"length":4,"type":"numeric","decimals":1})", "1000",
     errc::invalid_field, "out of range: at most 3 digits before the decimal point"},
    {"zoned too many digits", "ebcdic-cp037", R"({"length":3,"type":"zoned","signed":true})",
     "-1000", errc::invalid_field, "out of range: at most 3 digits before the decimal point"},
    {"unsigned zoned rejects a sign", "ebcdic-cp037", R"({"length":3,"type":"zoned"})", "-1",
     errc::invalid_field, "must not have a sign (the field is unsigned)"},
    {"packed 2 bytes hold 3 digits", "ascii", R"({"length":2,"type":"packed","signed":true})",
     "1234", errc::invalid_field, "out of range: at most 3 digits before the decimal point"},
    {"binary 1 byte unsigned max 255", "ascii", R"({"length":1,"type":"binary"})", "256",
     errc::invalid_field, "out of range for a 1-byte unsigned binary field"},
    {"binary 1 byte signed min -128", "ascii", R"({"length":1,"type":"binary","signed":true})",
     "-129", errc::invalid_field, "out of range for a 1-byte signed binary field"},
    {"binary 1 byte signed max 127", "ascii", R"({"length":1,"type":"binary","signed":true})",
     "128", errc::invalid_field, "out of range for a 1-byte signed binary field"},
    {"binary 8 bytes beyond 2^64-1", "ascii", R"({"length":8,"type":"binary"})",
     "18446744073709551616", errc::invalid_field,
     "out of range for a 8-byte unsigned binary field"},
    {"binary unsigned rejects a sign", "ascii", R"({"length":2,"type":"binary"})", "-1",
     errc::invalid_field, "must not have a sign (the field is unsigned)"},
    {"hex odd digits", "ascii", R"({"length":2,"type":"hex"})", "abc", errc::invalid_field,
     "must be hex digits in pairs (raw bytes)"},
    {"hex not hex", "ascii", R"({"length":2,"type":"hex"})", "zz", errc::invalid_field,
     "must be hex digits in pairs (raw bytes)"},
    {"hex too long", "ascii", R"({"length":1,"type":"hex"})", "0a0b", errc::invalid_field,
     "is 2 bytes, longer than its width 1"},
    {"ASCII has no e-acute", "ascii", R"({"length":4})", "n\xc3\xa9", errc::unmappable_char,
     nullptr},
    {"CCSID 037 has no euro sign", "ebcdic-cp037", R"({"length":4})", "\xe2\x82\xac",
     errc::unmappable_char, nullptr},
};
}  // namespace

BOOST_AUTO_TEST_CASE(encode_errors_name_the_field) {
  for (const auto& v : encode_errors) {
    BOOST_TEST_CONTEXT(v.source) {
      // A leading field proves nothing of a failed field is left behind in the output.
      std::string m = std::string("{\"charset\":\"") + v.charset +
                      "\",\"fields\":[{\"name\":\"lead\",\"length\":1},{\"name\":\"amount\"," +
                      (v.field + 1) + "]}";
      auto b = build(m);
      BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
      record r;
      r.reset(2);
      r.set(0, "X");
      r.set(1, v.value);
      byte_buffer out;
      auto enc = b->lay->encode(r, out);
      BOOST_REQUIRE(!enc.has_value());
      expect_codec_error(enc.error(), v.code, "amount", v.message);
      BOOST_TEST(out.size() <= 1u);
    }
  }
}

namespace {
struct decode_error_vector {
  const char* source;
  const char* message_json;
  const char* wire;
  const char* where;
  const char* message;  // nullptr: only the code and where are checked
};

const decode_error_vector decode_errors[] = {
    {"brief: short input names the first field that does not fit",
     R"({"fields":[{"name":"a","length":3},{"name":"b","length":30}]})",
     "414141"
     "202020202020202020202020202020202020202020202020202020",
     "b", "expected 33 bytes, got 30"},
    {"trailing bytes refused by default", R"({"fields":[{"name":"a","length":2}]})", "414141", "",
     "expected 2 bytes, got 3 (allow_trailing is false)"},
    {"brief: not a digit, offset counts from the payload start",
     R"({"fields":[{"name":"a","length":8},{"name":"n","length":4,"type":"numeric"}]})",
     "4141414141414141"
     "31324134",
     "n", "not a digit at offset 10"},
    {"zoned: a letter in a digit position",
     R"({"fields":[{"name":"z","length":3,"type":"zoned","signed":true}]})", "31413d", "z",
     "not a digit at offset 1"},
    {"zoned: last byte neither digit nor signed digit",
     R"({"fields":[{"name":"z","length":3,"type":"zoned","signed":true}]})", "313258", "z",
     "not a digit or signed digit at offset 2"},
    {"unsigned zoned: D zone",
     R"({"charset":"ebcdic-cp037","fields":[{"name":"z","length":2,"type":"zoned"}]})", "f1d2", "z",
     "negative sign in an unsigned field at offset 1"},
    {"packed: bad digit nibble",
     R"({"fields":[{"name":"p","length":3,"type":"packed","signed":true}]})", "0a234c", "p",
     "bad packed digit nibble in byte 0x0a at offset 0"},
    {"packed: bad sign nibble",
     R"({"fields":[{"name":"p","length":3,"type":"packed","signed":true}]})", "012345", "p",
     "bad packed sign nibble in byte 0x45 at offset 2"},
    {"packed: negative in an unsigned field",
     R"({"fields":[{"name":"p","length":2,"type":"packed"}]})", "123d", "p",
     "negative sign in an unsigned field at offset 1"},
    {"alpha: byte with no character in ASCII", R"({"fields":[{"name":"a","length":2}]})", "4180",
     "a", nullptr},
};
}  // namespace

BOOST_AUTO_TEST_CASE(malformed_inputs) {
  for (const auto& v : decode_errors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build(v.message_json);
      BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
      record r;
      r.reset(b->field_count);
      auto dec = b->lay->decode(unhex(v.wire), r);
      BOOST_REQUIRE(!dec.has_value());
      expect_codec_error(dec.error(), errc::malformed, v.where, v.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(allow_trailing_ignores_the_rest) {
  auto b = build(R"({"allow_trailing":true,"fields":[{"name":"a","length":2}]})");
  BOOST_REQUIRE(b->lay);
  record r;
  r.reset(1);
  BOOST_REQUIRE(b->lay->decode(unhex("41424344"), r).has_value());
  BOOST_TEST(r.get(0) == "AB");
}

namespace {
struct config_vector {
  const char* source;
  const char* message_json;
  const char* error;  // one of the reported lines, exactly
};

const config_vector config_errors[] = {
    {"length must be > 0", R"({"fields":[{"name":"a","length":0}]})",
     "operations.t.request.fields[0].length: must be > 0"},
    {"length is required", R"({"fields":[{"name":"a"}]})",
     "operations.t.request.fields[0].length: is required"},
    {"packed length <= 16 (31 digits)", R"({"fields":[{"name":"a","length":17,"type":"packed"}]})",
     "operations.t.request.fields[0].length: must be <= 16"},
    {"binary length 1..8", R"({"fields":[{"name":"a","length":9,"type":"binary"}]})",
     "operations.t.request.fields[0].length: must be <= 8"},
    {"decimals < digits (numeric)",
     R"({"fields":[{"name":"a","length":3,"type":"numeric","decimals":3}]})",
     "operations.t.request.fields[0].decimals: must be less than the field's 3 digits"},
    {"decimals < digits (packed: 2 bytes hold 3 digits)",
     R"({"fields":[{"name":"a","length":2,"type":"packed","decimals":3}]})",
     "operations.t.request.fields[0].decimals: must be less than the field's 3 digits"},
    {"decimals < digits (binary: 1 byte holds 3 digits)",
     R"({"fields":[{"name":"a","length":1,"type":"binary","decimals":3}]})",
     "operations.t.request.fields[0].decimals: must be less than the field's 3 digits"},
    {"field pad is one character", R"({"fields":[{"name":"a","length":2,"pad":"ab"}]})",
     "operations.t.request.fields[0].pad: must be one character"},
    {"message pad is one character", R"({"pad":"","fields":[{"name":"a","length":2}]})",
     "operations.t.request.pad: must be one character"},
    {"pad must exist in the charset", R"({"pad":"\u20ac","fields":[{"name":"a","length":2}]})",
     "operations.t.request.pad: \"\u20ac\" has no code in charset ascii"},
    {"unknown type lists the valid ones", R"({"fields":[{"name":"a","length":2,"type":"money"}]})",
     "operations.t.request.fields[0].type: unknown value \"money\", must be one of alpha, numeric, "
     "zoned, packed, binary, hex"},
    {"byte_order", R"({"fields":[{"name":"a","length":2,"type":"binary","byte_order":"middle"}]})",
     "operations.t.request.fields[0].byte_order: unknown value \"middle\", must be one of big, "
     "little"},
    {"align", R"({"fields":[{"name":"a","length":2,"align":"center"}]})",
     "operations.t.request.fields[0].align: unknown value \"center\", must be one of left, right"},
    {"pad_byte range", R"({"fields":[{"name":"a","length":2,"type":"hex","pad_byte":256}]})",
     "operations.t.request.fields[0].pad_byte: must be <= 255"},
    {"signed must be a boolean",
     R"({"fields":[{"name":"a","length":2,"type":"zoned","signed":"yes"}]})",
     "operations.t.request.fields[0].signed: must be true or false"},
    {"a key of another type is an unknown key (finish)",
     R"({"fields":[{"name":"a","length":2,"decimals":1}]})",
     "operations.t.request.fields[0].decimals: unknown key"},
    {"typo (finish)", R"({"fields":[{"name":"a","lenght":2}]})",
     "operations.t.request.fields[0].lenght: unknown key"},
};
}  // namespace

BOOST_AUTO_TEST_CASE(config_errors_have_paths) {
  for (const auto& v : config_errors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build(v.message_json);
      expect_error(*b, v.error);
    }
  }
}

BOOST_AUTO_TEST_CASE(unknown_charset_and_layout) {
  auto b = build(R"({"charset":"ebcdic","fields":[{"name":"a","length":2}]})");
  BOOST_TEST(!b->lay);
  BOOST_REQUIRE(!b->diag.errors().empty());
  BOOST_TEST(b->diag.errors()[0].rfind(
                 "operations.t.request.charset: unknown charset \"ebcdic\", must be one of ", 0) ==
             0u);
  auto x = build(R"({"fields":[]})", "xml");
  BOOST_TEST(!x->lay);
  BOOST_TEST(
      x->has_error("operations.t.request.layout: unknown layout \"xml\", must be one of fixed, "
                   "delimited, template, iso8583, binary, tag_value"));
  auto names = layout_names();
  BOOST_TEST(names.size() >= 2u);
  BOOST_TEST((std::find(names.begin(), names.end(), "fixed") != names.end()));
}

BOOST_AUTO_TEST_CASE(every_key_is_read) {
  auto b = build(R"({"charset":"ebcdic-cp037","pad":" ","allow_trailing":false,"fields":[
    {"name":"a","length":4,"type":"alpha","align":"left","pad":"_","charset":"ascii"},
    {"name":"n","length":4,"type":"numeric","decimals":1,"align":"right","pad":"0"},
    {"name":"z","length":4,"type":"zoned","signed":true,"decimals":1},
    {"name":"p","length":4,"type":"packed","signed":true,"decimals":1},
    {"name":"b","length":4,"type":"binary","signed":true,"decimals":1,"byte_order":"little"},
    {"name":"h","length":4,"type":"hex","align":"right","pad_byte":0}]})");
  BOOST_TEST(b->diag.ok(), b->errors());
  BOOST_TEST(b->lay);
}

// Encode and decode again into the same buffer and record, as a connection does: nothing of the
// previous message leaks into the next. (Its speed is measured by bench/codec_bench.cpp on
// acme-core, not asserted here.)
BOOST_AUTO_TEST_CASE(steady_state_reuses_buffers) {
  // A 40-byte record: encode + decode, reusing the output buffer and the record.
  auto b = build(R"({"charset":"ebcdic-cp037","fields":[
    {"name":"tx","length":4},
    {"name":"trace","length":6,"type":"numeric"},
    {"name":"account","length":12},
    {"name":"balance","length":13,"type":"zoned","signed":true,"decimals":2},
    {"name":"fee","length":5,"type":"packed","signed":true,"decimals":2}]})");
  BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
  record in;
  in.reset(5);
  in.set(0, "BALQ");
  in.set(1, "123456");
  in.set(2, "ACCT00012345");
  in.set(3, "-1234567.89");
  in.set(4, "12.50");
  byte_buffer out;
  record back;
  std::string first;
  for (int round = 0; round < 3; ++round) {
    out.clear();
    auto enc = b->lay->encode(in, out);
    BOOST_REQUIRE_MESSAGE(enc.has_value(), error_text(enc));
    back.reset(5);
    auto dec = b->lay->decode(out, back);
    BOOST_REQUIRE_MESSAGE(dec.has_value(), error_text(dec));
    if (round == 0) first = hex(out);
    BOOST_TEST(hex(out) == first);
  }
  BOOST_TEST(out.size() == 40u);
  BOOST_TEST(back.get(0) == "BALQ");
  BOOST_TEST(back.get(1) == "123456");
  BOOST_TEST(back.get(2) == "ACCT00012345");
  BOOST_TEST(back.get(3) == "-1234567.89");
  BOOST_TEST(back.get(4) == "12.50");
}
