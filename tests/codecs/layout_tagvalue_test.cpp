// Tests for the tag=value layout and the stages a FIX dialect builds from it: the text length
// stage (BodyLength 9), the decimal checksum (CheckSum 10), the tag_value framing; repeating
// groups, data fields holding the separator, words for codes, unknown tags kept, required tags,
// and precise errors for a bad checksum, a wrong body length and broken fields.
#define BOOST_TEST_MODULE layout_tagvalue_test
#include <boost/test/unit_test.hpp>

#include "codecs/pipeline.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <string>

using namespace dragoman::codecs;
namespace json = boost::json;
using namespace test_support;

namespace {

// A small FIX-like dialect with '|' as the separator, so that expected bytes read plainly.
const char* const profile_text = R"({
  "name": "tv",
  "framing": {"type": "tag_value", "start": "8=", "separator": "|", "length_prefix": "9=",
              "trailer_prefix": "10="},
  "length": {"prefix": "9=", "separator": "|", "after_fields": 1},
  "checksum": {"type": "sum256", "encoding": "decimal", "digits": 3, "prefix": "10=", "suffix": "|"},
  "layout": "tag_value",
  "dictionary": {"separator": "|", "header_order": [8, 9, 35], "stage_tags": [9, 10],
                 "enums": {"side": {"buy": "1", "sell": "2"}}},
  "correlation": {"mode": "field", "field": "cl_ord_id"},
  "operations": {
    "order": {
      "request": {
        "match": {"msg_type": "D"},
        "fields": [
          {"tag": 8, "name": "begin", "value": "FIX.4.4"},
          {"tag": 35, "name": "msg_type", "value": "D"},
          {"tag": 11, "as": "cl_ord_id", "required": true},
          {"tag": 453, "as": "parties", "json": "array",
           "group": [{"tag": 448, "name": "party_id"}, {"tag": 452, "name": "party_role", "json": "number"},
                     {"tag": 802, "name": "subs", "group": [{"tag": 523, "name": "sub_id"}]}]},
          {"tag": 54, "as": "side", "enum": "side", "required": true},
          {"tag": 95, "as": "raw_data_length"},
          {"tag": 96, "as": "raw_data", "length_from": "raw_data_length"},
          {"tag": 38, "as": "order_qty", "json": "number"},
          {"type": "unknown_tags", "as": "extra", "json": "array"}
        ]
      },
      "reply": {
        "match": {"msg_type": "8"},
        "fields": [
          {"tag": 8, "name": "begin", "value": "FIX.4.4"},
          {"tag": 35, "name": "msg_type", "value": "8"},
          {"tag": 11, "as": "cl_ord_id", "required": true},
          {"tag": 39, "as": "ord_status", "enum": {"new": "0", "filled": "2"}, "required": true},
          {"type": "unknown_tags", "as": "extra", "json": "array"}
        ]
      }
    }
  }
})";

std::shared_ptr<const profile> load() {
  auto out = compile_profile(profile_text);
  BOOST_TEST_REQUIRE(out.errors.empty(), listed(out.errors));
  return out.compiled;
}

// The frame a well-behaved FIX engine writes for this body (everything after "9=N|").
std::string frame_of(std::string_view body) {
  std::string head = "8=FIX.4.4|9=" + std::to_string(body.size()) + "|";
  std::string all = head + std::string(body);
  unsigned sum = 0;
  for (unsigned char c : all) sum += c;
  char check[8];
  std::snprintf(check, sizeof check, "%03u", sum % 256);
  return all + "10=" + check + "|";
}

std::string encode(const profile& p, std::string_view request_json) {
  counter_generation_context gen(p);
  record r;
  auto mapped = map_request(p.operations[0].request, json::parse(request_json).as_object(), gen, r);
  BOOST_TEST_REQUIRE(mapped.has_value(), error_text(mapped));
  byte_buffer payload, out;
  auto res = encode_message(p, p.operations[0].request, r, payload, out);
  BOOST_TEST_REQUIRE(res.has_value(), error_text(res));
  return std::string(as_chars(out));
}

codec_error encode_error(const profile& p, std::string_view request_json) {
  counter_generation_context gen(p);
  record r;
  auto mapped = map_request(p.operations[0].request, json::parse(request_json).as_object(), gen, r);
  if (!mapped) return mapped.error();
  byte_buffer payload, out;
  auto res = encode_message(p, p.operations[0].request, r, payload, out);
  BOOST_TEST_REQUIRE(!res.has_value());
  return res.error();
}

json::object decode(const profile& p, std::string_view frame, bool reply = true) {
  record r;
  auto d = decode_payload(p, as_bytes(frame), r, decode_preference::replies_first);
  BOOST_TEST_REQUIRE(d.has_value(), error_text(d));
  BOOST_TEST(d->is_reply == reply);
  return map_reply(*d->msg, r, true);
}

codec_error decode_error(const profile& p, std::string_view frame, bool reply = true) {
  record r;
  auto d =
      decode_payload(p, as_bytes(frame), r,
                     reply ? decode_preference::replies_first : decode_preference::requests_first,
                     &p.operations[0]);
  BOOST_TEST_REQUIRE(!d.has_value());
  return d.error();
}

}  // namespace

BOOST_AUTO_TEST_CASE(encode_computes_body_length_and_checksum) {
  auto p = load();
  const std::string got = encode(*p, R"({"cl_ord_id": "A1", "side": "buy", "order_qty": 100})");
  BOOST_TEST(got == frame_of("35=D|11=A1|54=1|38=100|"));
  // The checksum FIX engines compute, by hand: the sum of every byte before "10=", modulo 256.
  BOOST_TEST(got.substr(got.size() - 7) ==
             frame_of("35=D|11=A1|54=1|38=100|").substr(got.size() - 7));
}

BOOST_AUTO_TEST_CASE(words_and_raw_codes) {
  auto p = load();
  BOOST_TEST(encode(*p, R"({"cl_ord_id": "A1", "side": "2"})") == frame_of("35=D|11=A1|54=2|"));
  const codec_error e = encode_error(*p, R"({"cl_ord_id": "A1", "side": "short"})");
  BOOST_TEST(e.where == "side");
  BOOST_TEST(e.message == "\"short\" is none of buy, sell (nor their codes)");
  auto reply = decode(*p, frame_of("35=8|11=A1|39=2|"));
  BOOST_TEST(reply.at("ord_status").as_string() == "filled");
  // A code the profile has no word for comes through as it is.
  reply = decode(*p, frame_of("35=8|11=A1|39=C|"));
  BOOST_TEST(reply.at("ord_status").as_string() == "C");
}

BOOST_AUTO_TEST_CASE(repeating_groups_round_trip) {
  auto p = load();
  const char* req = R"({"cl_ord_id": "A1", "side": "buy", "parties": [
      {"party_id": "DESK", "party_role": 11, "subs": [{"sub_id": "x"}, {"sub_id": "y"}]},
      {"party_id": "TRADER"}]})";
  const std::string got = encode(*p, req);
  const std::string body = "35=D|11=A1|453=2|448=DESK|452=11|802=2|523=x|523=y|448=TRADER|54=1|";
  BOOST_TEST(got == frame_of(body));
  // Decoded as a request (the peer's): entries come back as objects, numbers as numbers.
  record r;
  auto d = decode_payload(*p, as_bytes(got), r, decode_preference::requests_first);
  BOOST_TEST_REQUIRE(d.has_value(), error_text(d));
  auto back = map_reply(*d->msg, r, true);
  BOOST_TEST(json::serialize(back.at("parties")) ==
             R"([{"party_id":"DESK","party_role":11,"subs":[{"sub_id":"x"},{"sub_id":"y"}]},)"
             R"({"party_id":"TRADER"}])");
  // A count that promises more entries than follow.
  const codec_error e = decode_error(*p, frame_of("35=D|11=A1|453=2|448=DESK|54=1|"), false);
  BOOST_TEST(e.message.find("declares 2 entries; entry 2 must start with tag 448, found tag 54") !=
                 std::string::npos,
             e.to_string());
  // An entry without its first field.
  const codec_error missing = encode_error(*p, R"({"cl_ord_id": "A1", "side": "buy",
      "parties": [{"party_role": 3}]})");
  BOOST_TEST(missing.where == "parties[0].party_id");
}

BOOST_AUTO_TEST_CASE(data_fields_carry_the_separator) {
  auto p = load();
  const std::string got = encode(*p, R"({"cl_ord_id": "A1", "side": "buy", "raw_data": "a|b=c"})");
  BOOST_TEST(got == frame_of("35=D|11=A1|54=1|95=5|96=a|b=c|"));
  record r;
  auto d = decode_payload(*p, as_bytes(got), r, decode_preference::requests_first);
  BOOST_TEST_REQUIRE(d.has_value(), error_text(d));
  BOOST_TEST(map_reply(*d->msg, r, true).at("raw_data").as_string() == "a|b=c");
  // Anywhere else the separator is refused.
  const codec_error e = encode_error(*p, R"({"cl_ord_id": "A|1", "side": "buy"})");
  BOOST_TEST(e.where == "cl_ord_id");
  BOOST_TEST(e.message == "must not contain the separator \"|\"");
}

BOOST_AUTO_TEST_CASE(unknown_tags_are_kept_not_dropped) {
  auto p = load();
  auto reply = decode(*p, frame_of("35=8|11=A1|5001=x|39=0|58=hello|"));
  BOOST_TEST(json::serialize(reply.at("extra")) ==
             R"([{"tag":5001,"value":"x"},{"tag":58,"value":"hello"}])");
  // And sent back out the same way.
  BOOST_TEST(
      encode(*p, R"({"cl_ord_id": "A1", "side": "buy", "extra": [{"tag": 5001, "value": "x"}]})") ==
      frame_of("35=D|11=A1|54=1|5001=x|"));
}

BOOST_AUTO_TEST_CASE(bad_checksum_is_rejected_with_a_clear_error) {
  auto p = load();
  std::string frame = frame_of("35=8|11=A1|39=0|");
  const std::string good = frame.substr(frame.size() - 4, 3);
  const std::string bad = good == "000" ? "001" : "000";
  frame.replace(frame.size() - 4, 3, bad);
  const codec_error e = decode_error(*p, frame);
  BOOST_TEST(to_string(e.code) == to_string(errc::checksum_mismatch));
  BOOST_TEST(e.where == "checksum");
  BOOST_TEST(e.message == "sum256 mismatch: expected " + good + ", received " + bad);
  // A trailer that is not three digits.
  std::string garbled = frame_of("35=8|11=A1|39=0|");
  garbled.replace(garbled.size() - 4, 3, "1x3");
  BOOST_TEST(decode_error(*p, garbled).message ==
             "sum256 check value \"10=1x3|\" is not its prefix and suffix around 3 decimal digits");
}

BOOST_AUTO_TEST_CASE(wrong_body_length_is_rejected) {
  auto p = load();
  std::string all = "8=FIX.4.4|9=99|35=8|11=A1|39=0|";
  unsigned sum = 0;
  for (unsigned char c : all) sum += c;
  char check[8];
  std::snprintf(check, sizeof check, "%03u", sum % 256);
  const codec_error e = decode_error(*p, all + "10=" + check + "|");
  BOOST_TEST(e.where == "length");
  BOOST_TEST(e.message == "length field says 99 bytes, 16 follow it");
}

BOOST_AUTO_TEST_CASE(header_order_and_required_tags) {
  auto p = load();
  // 35 must come third.
  std::string body = "11=A1|35=8|39=0|";
  codec_error e = decode_error(*p, frame_of(body));
  BOOST_TEST(e.message.find("field 3 must be tag 35, found tag 11") != std::string::npos,
             e.to_string());
  e = decode_error(*p, frame_of("35=8|11=A1|"));
  BOOST_TEST(e.message.find("required tag 39 (ord_status) is missing") != std::string::npos,
             e.to_string());
  e = decode_error(*p, frame_of("35=8|11=A1|39=0|11=A2|"));
  BOOST_TEST(e.message.find("tag 11 (cl_ord_id) repeated") != std::string::npos, e.to_string());
  e = decode_error(*p, frame_of("35=8|11=A1|39=|"));
  BOOST_TEST(e.message.find("tag 39 at offset") != std::string::npos, e.to_string());
  BOOST_TEST(e.message.find("has an empty value") != std::string::npos, e.to_string());
  e = decode_error(*p, frame_of("35=8|11=A1|x9=0|"));
  BOOST_TEST(e.message.find("is not a tag number") != std::string::npos, e.to_string());
}

BOOST_AUTO_TEST_CASE(framing_finds_frames_by_their_length) {
  auto p = load();
  const std::string a = frame_of("35=8|11=A1|39=0|");
  const std::string b = frame_of("35=8|11=A2|96=x|39=2|");
  framers::expect_frames(*p->framing, a + b, {a, b});
  // Garbage before a frame is skipped once and the frame still found.
  auto d = framers::feed(*p->framing, "xx|" + a, {});
  BOOST_TEST(d.frames == std::vector<std::string>{a}, boost::test_tools::per_element());
  BOOST_TEST(d.skips.size() == 1u);
}

BOOST_AUTO_TEST_CASE(configuration_mistakes) {
  auto bad = [](std::string text, std::string_view from, std::string_view to,
                const std::string& expected) {
    text.replace(text.find(from), from.size(), to);
    auto out = compile_profile(text);
    BOOST_TEST((std::find(out.errors.begin(), out.errors.end(), expected) != out.errors.end()),
               "expected \"" << expected << "\" among:" << listed(out.errors));
  };
  const std::string base = profile_text;
  bad(base, R"("enum": "side")", R"("enum": "sides")",
      "operations.order.request.fields[4].enum: no enumeration \"sides\" in the profile's "
      "dictionary.enums");
  bad(base, R"("length_from": "raw_data_length")", R"("length_from": "nothing")",
      "operations.order.request.fields[6].length_from: no field \"nothing\" before this one");
  bad(base, R"({"tag": 38, "as": "order_qty")", R"({"tag": 11, "as": "order_qty")",
      "operations.order.request.fields[7].tag: tag 11 is already \"cl_ord_id\"");
  bad(base, R"({"tag": 38, "as": "order_qty")", R"({"tag": 9, "as": "order_qty")",
      "operations.order.request.fields[7].tag: tag 9 is written by a stage "
      "(dictionary.stage_tags)");
  bad(base, R"("type": "sum256")", R"("type": "crc32")",
      "checksum.digits: crc32 values reach 4294967295: 3 digits are too few");
}
