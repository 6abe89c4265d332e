// Digits as written (issue #11): a decoded number that is an identifier (unsigned, no decimals)
// keeps every digit of the wire, an amount is canonical, a field's "digits" key overrides, and
// each layout with numbers says which in describe_field. Fixed, delimited (flat and segments),
// ISO 8583 and template; the simulator's echo is covered in bridge/simulator tests.
#define BOOST_TEST_MODULE digits_test
#include <boost/test/unit_test.hpp>

#include "codecs/decimal.hpp"
#include "codecs/layout.hpp"
#include "codecs/pipeline.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <string>

using namespace dragoman::codecs;
namespace json = boost::json;
using namespace test_support;
using layouts::built;

namespace {

std::unique_ptr<built> build(std::string_view message_json, const char* type) {
  return layouts::build(message_json, "operations.t.reply", type, "ascii");
}

// Encodes values (nullptr: absent), expects exactly `wire`, decodes it back to `decoded`.
void round_trip(const built& b, std::vector<const char*> values, std::string_view wire,
                std::vector<const char*> decoded) {
  BOOST_REQUIRE_MESSAGE(b.lay, b.errors());
  record r;
  r.reset(values.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i]) r.set(i, values[i]);
  byte_buffer out;
  auto enc = b.lay->encode(r, out);
  BOOST_REQUIRE_MESSAGE(enc.has_value(), error_text(enc));
  BOOST_TEST(std::string(as_chars(out)) == wire);
  record back;
  back.reset(decoded.size());
  auto dec = b.lay->decode(out, back);
  BOOST_REQUIRE_MESSAGE(dec.has_value(), error_text(dec));
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    BOOST_TEST_CONTEXT("field " << i) {
      BOOST_TEST(back.has(i) == (decoded[i] != nullptr));
      if (decoded[i]) BOOST_TEST(back.get(i) == decoded[i]);
    }
  }
}

std::string digits_of(const built& b, std::size_t i) {
  const json::object d = b.lay->describe_field(i);
  const json::value* v = d.if_contains("digits");
  return v && v->is_string() ? std::string(v->get_string()) : std::string("(none)");
}

}  // namespace

BOOST_AUTO_TEST_CASE(default_style_follows_sign_and_decimals) {
  using decimal::digits_style;
  BOOST_TEST((decimal::default_digits_style(false, 0) == digits_style::as_written));
  BOOST_TEST((decimal::default_digits_style(true, 0) == digits_style::canonical));
  BOOST_TEST((decimal::default_digits_style(false, 2) == digits_style::canonical));
}

BOOST_AUTO_TEST_CASE(append_digits_keeps_or_drops_leading_zeros) {
  using decimal::digits_style;
  auto as = [](std::string_view d, int dec, bool neg, digits_style s) {
    std::string out;
    decimal::append_digits(out, d, dec, neg, s);
    return out;
  };
  BOOST_TEST(as("000001", 0, false, digits_style::as_written) == "000001");
  BOOST_TEST(as("000001", 0, false, digits_style::canonical) == "1");
  BOOST_TEST(as("001250", 2, true, digits_style::as_written) == "-0012.50");
  BOOST_TEST(as("001250", 2, true, digits_style::canonical) == "-12.50");
  BOOST_TEST(as("0000", 0, true, digits_style::as_written) == "0000");  // no negative zero
  BOOST_TEST(decimal::written_integer_digits("-007.50") == 3u);
  BOOST_TEST(decimal::written_integer_digits(".5") == 0u);
}

BOOST_AUTO_TEST_CASE(fixed_fields_by_type) {
  auto b = build(R"({"fields":[
      {"name":"trace","length":6,"type":"numeric"},
      {"name":"amount","length":8,"type":"numeric","decimals":2},
      {"name":"zoned","length":4,"type":"zoned"},
      {"name":"packed","length":2,"type":"packed"},
      {"name":"balance","length":5,"type":"zoned","signed":true},
      {"name":"count","length":2,"type":"binary"}]})",
                 "fixed");
  round_trip(*b, {"70949", "12.5", "7", "12", "-42", "7"},
             std::string("070949000012500007") + "\x01\x2f" + "0004K" + std::string("\x00\x07", 2),
             {"070949", "12.50", "0007", "012", "-42", "7"});
  BOOST_TEST(digits_of(*b, 0) == "as_written");
  BOOST_TEST(digits_of(*b, 1) == "canonical");
  BOOST_TEST(digits_of(*b, 2) == "as_written");
  BOOST_TEST(digits_of(*b, 3) == "as_written");
  BOOST_TEST(digits_of(*b, 4) == "canonical");
  BOOST_TEST(digits_of(*b, 5) == "(none)");  // binary has no written digits
  BOOST_TEST(b->lay->describe_field(3).at("packed_digits").to_number<int>() == 3);
}

// A pad that is not '0' replaces leading zeros, except the ones an as_written value was written
// with: "0042" goes out as "  0042" and comes back as "0042".
BOOST_AUTO_TEST_CASE(fixed_space_padded_identifier_keeps_the_values_zeros) {
  auto b = build(R"({"fields":[
      {"name":"id","length":6,"type":"numeric","pad":" "},
      {"name":"n","length":6,"type":"numeric","pad":" ","digits":"canonical"}]})",
                 "fixed");
  round_trip(*b, {"0042", "0042"}, "  0042    42", {"0042", "42"});
  round_trip(*b, {"0", nullptr}, "     0     0", {"0", "0"});
}

BOOST_AUTO_TEST_CASE(fixed_digits_key_is_checked) {
  auto b = build(R"({"fields":[{"name":"n","length":4,"type":"numeric","digits":"verbatim"}]})",
                 "fixed");
  expect_error(*b,
               "operations.t.reply.fields[0].digits: unknown value \"verbatim\", must be one of "
               "as_written, canonical");
  auto c = build(R"({"fields":[{"name":"n","length":4,"type":"binary","digits":"as_written"}]})",
                 "fixed");
  expect_error(*c, "operations.t.reply.fields[0].digits: unknown key");
}

BOOST_AUTO_TEST_CASE(delimited_numbers) {
  auto b = build(R"({"separator":"|","fields":[
      {"name":"id","type":"numeric"},
      {"name":"amount","type":"numeric","decimals":2},
      {"name":"signed","type":"numeric","signed":true},
      {"name":"padded","type":"numeric","decimals":2,"digits":"as_written"},
      {"name":"implied","type":"numeric","decimals":2,"implied_decimals":true,
       "digits":"as_written"}]})",
                 "delimited");
  round_trip(*b, {"007", "012.5", "-05", "012.5", "012.5"}, "007|12.50|-5|012.50|01250",
             {"007", "12.50", "-5", "012.50", "012.50"});
  BOOST_TEST(digits_of(*b, 0) == "as_written");
  BOOST_TEST(digits_of(*b, 1) == "canonical");
  BOOST_TEST(digits_of(*b, 2) == "canonical");
  BOOST_TEST(digits_of(*b, 3) == "as_written");
}

BOOST_AUTO_TEST_CASE(segment_numbers) {
  auto b = build(R"({"separator":"|","segment_separator":"\r","segments":["HDR"],"fields":[
      {"name":"id","path":"HDR-1","type":"numeric"},
      {"name":"qty","path":"HDR-2","type":"numeric","digits":"canonical"}]})",
                 "delimited");
  round_trip(*b, {"0001", "0001"}, "HDR|0001|1\r", {"0001", "1"});
  BOOST_TEST(digits_of(*b, 0) == "as_written");
  BOOST_TEST(digits_of(*b, 1) == "canonical");
}

BOOST_AUTO_TEST_CASE(iso8583_and_template_numbers_are_as_written) {
  auto iso = compile_profile(R"({"name":"t","framing":{"type":"length_prefix",
      "length_field_length":2,"max_frame_length":100},
    "dictionary":{"fields":{"11":{"type":"n","length":6}}},
    "operations":{"o":{"request":{"layout":"iso8583","fields":[{"field":0,"name":"mti",
      "value":"0800"},{"field":11,"name":"stan"}]},
      "reply":{"layout":"iso8583","fields":[{"field":0,"name":"mti","value":"0810"}]}}}})");
  BOOST_REQUIRE_MESSAGE(iso.compiled, listed(iso.errors));
  const message_def& m = iso.compiled->operations.front().request;
  BOOST_TEST(m.codec->describe_field(1).at("digits").as_string() == "as_written");
  record r;
  r.reset(2);
  r.set(0, "0800");
  r.set(1, "42");
  byte_buffer out;
  BOOST_REQUIRE(m.codec->encode(r, out).has_value());
  record back;
  back.reset(2);
  BOOST_REQUIRE(m.codec->decode(out, back).has_value());
  BOOST_TEST(back.get(1) == "000042");

  auto t = build(R"({"template":"N {n}\r\n","fields":[{"name":"n","type":"number"}]})", "template");
  round_trip(*t, {"+007"}, "N +007\r\n", {"+007"});
  BOOST_TEST(digits_of(*t, 0) == "as_written");
}

// The README's walk-through: the generated trace decodes as it was written.
BOOST_AUTO_TEST_CASE(acme_trace_decodes_with_its_width) {
  auto out = load_profile(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json");
  BOOST_REQUIRE_MESSAGE(out.compiled, listed(out.errors));
  const profile& p = *out.compiled;
  const operation& op = *p.find_operation("balance");
  record r;
  r.reset(op.request.fields.size());
  r.set(0, "BALQ");
  r.set(1, "000001");
  r.set(2, "12345");
  byte_buffer payload;
  BOOST_REQUIRE(encode_payload(p, op.request, r, payload).has_value());
  record back;
  auto d = decode_payload(p, payload, back, decode_preference::requests_first);
  BOOST_REQUIRE(d.has_value());
  BOOST_TEST(json::serialize(map_reply(*d->msg, back, true)) ==
             R"({"tx_code":"BALQ","trace":"000001","account":"12345"})");
}
