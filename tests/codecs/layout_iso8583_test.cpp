// Tests for the ISO 8583 layout: exact bytes, round trips, every malformed case, config errors.
#define BOOST_TEST_MODULE layout_iso8583_test
#include <boost/test/unit_test.hpp>

#include "allocation_counter.hpp"
#include "codecs/layout_impl.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

using namespace dragoman::codecs;
namespace json = boost::json;
using namespace test_support;
using layouts::built;

namespace {

// The dictionary of profiles/iso8583-ascii.json (the npm iso_8583@2.6.7 formats, lib/formats.js).
const char* const npm_dictionary = R"({
  "mti_encoding": "ascii", "bitmap_encoding": "binary", "secondary_bitmap": "always",
  "length_encoding": "ascii", "numeric_encoding": "ascii",
  "fields": {
    "2": {"type": "n", "length": 19, "format": "llvar"}, "3": {"type": "n", "length": 6},
    "4": {"type": "n", "length": 12}, "7": {"type": "n", "length": 10},
    "11": {"type": "n", "length": 6}, "12": {"type": "n", "length": 6},
    "13": {"type": "n", "length": 4}, "32": {"type": "n", "length": 11, "format": "llvar"},
    "35": {"type": "z", "length": 37, "format": "llvar"}, "37": {"type": "ans", "length": 12},
    "38": {"type": "ans", "length": 6}, "39": {"type": "an", "length": 2},
    "41": {"type": "ans", "length": 8}, "48": {"type": "ans", "length": 999, "format": "lllvar"},
    "49": {"type": "n", "length": 3}, "52": {"type": "b", "length": 8},
    "54": {"type": "an", "length": 120, "format": "lllvar"}, "70": {"type": "n", "length": 3},
    "90": {"type": "n", "length": 42}
  }})";

// dictionary: the profile's "dictionary" value (or empty for none); fields: the message's list.
std::unique_ptr<built> build(std::string_view dictionary, std::string_view fields_json) {
  json::object profile;
  if (!dictionary.empty()) profile["dictionary"] = json::parse(dictionary);
  return layouts::build("{\"fields\":" + std::string(fields_json) + "}", "operations.t.request",
                        make_iso8583_layout, "ascii", std::move(profile));
}

// A message listing the given field numbers, each named f<number> (the MTI "mti").
std::string field_list(std::initializer_list<int> numbers) {
  std::string s = "[{\"field\":0,\"name\":\"mti\"}";
  for (int n : numbers)
    s += ",{\"field\":" + std::to_string(n) + ",\"name\":\"f" + std::to_string(n) + "\"}";
  return s + "]";
}

// Fills a record from {name, value} pairs.
record make_record(const built& b, const std::vector<std::pair<std::string, std::string>>& kv) {
  record r;
  r.reset(b.names.size());
  for (const auto& [k, v] : kv) r.set(b.index(k), v);
  return r;
}

// Every present field as "name=value;" in record order, for comparisons.
std::string dump(const built& b, const record& r) {
  std::string s;
  for (std::size_t i = 0; i < r.size(); ++i)
    if (r.has(i)) s += b.names[i] + "=" + std::string(r.get(i)) + ";";
  return s;
}

std::string dump(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string s;
  for (const auto& [k, v] : kv) s += k + "=" + v + ";";
  return s;
}

struct vector_case {
  const char* source;
  std::string dictionary;
  std::string fields;
  std::vector<std::pair<std::string, std::string>> values;  // in record order
  const char* payload_hex;                                  // without the framing
};

// Encodes values to exactly payload_hex, decodes it back to exactly values.
void check_vector(const vector_case& v) {
  BOOST_TEST_CONTEXT(v.source) {
    auto b = build(v.dictionary, v.fields);
    BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
    BOOST_TEST_REQUIRE(b->lay != nullptr);
    record r = make_record(*b, v.values);
    byte_buffer out;
    auto enc = b->lay->encode(r, out);
    BOOST_TEST_REQUIRE(enc.has_value(), (enc ? "" : enc.error().to_string()));
    BOOST_TEST(hex(out) == v.payload_hex);
    record back;
    back.reset(b->names.size());
    auto dec = b->lay->decode(unhex(v.payload_hex), back);
    BOOST_TEST_REQUIRE(dec.has_value(), (dec ? "" : dec.error().to_string()));
    BOOST_TEST(dump(*b, back) == dump(v.values));
  }
}

// Decodes payload_hex with the npm dictionary and a message listing `numbers`; returns the error.
codec_error decode_error(std::initializer_list<int> numbers, std::string_view payload_hex,
                         std::string dictionary = npm_dictionary) {
  auto b = build(dictionary, field_list(numbers));
  BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
  record r;
  r.reset(b->names.size());
  auto dec = b->lay->decode(unhex(payload_hex), r);
  BOOST_TEST_REQUIRE(!dec.has_value());
  BOOST_TEST(static_cast<int>(dec.error().code) == static_cast<int>(errc::malformed));
  return dec.error();
}

codec_error encode_error(std::initializer_list<int> numbers,
                         const std::vector<std::pair<std::string, std::string>>& values,
                         std::string dictionary = npm_dictionary) {
  auto b = build(dictionary, field_list(numbers));
  BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
  record r = make_record(*b, values);
  byte_buffer out;
  auto enc = b->lay->encode(r, out);
  BOOST_TEST_REQUIRE(!enc.has_value());
  BOOST_TEST(out.empty());  // nothing half-written
  return enc.error();
}

// Payloads produced by the npm codec iso_8583@2.6.7 (tests/peers/iso8583_codec.cjs encode, the
// 2-byte length prefix removed); the npm codec always sets bit 1 and writes 16 bitmap bytes.
const char* const npm_echo =
    "30383030"
    "8220000000800000"
    "0400000000000000"
    "30313031313230303030"
    "303030303031"
    "5445524d30303031"
    "333031";
const char* const npm_auth =
    "30313030"
    "f020000020801000"
    "0000000000000000"
    "3136"
    "34373631373339303031303130303130"
    "303030303030"
    "303030303030303031303030"
    "313233343536"
    "3337"
    "343736313733393030313031303031303d3232313232303131313433383034343030303030"
    "5445524d30303031"
    "0123456789abcdef";

BOOST_AUTO_TEST_CASE(npm_codec_vectors) {
  const std::vector<vector_case> cases = {
      {"npm iso_8583@2.6.7: 0800 echo with secondary-bitmap field 70",
       npm_dictionary,
       field_list({7, 11, 41, 70}),
       {{"mti", "0800"},
        {"f7", "0101120000"},
        {"f11", "000001"},
        {"f41", "TERM0001"},
        {"f70", "301"}},
       npm_echo},
      {"npm iso_8583@2.6.7: 0100 with n LLVAR, n fixed, z LLVAR track 2, ans, b",
       npm_dictionary,
       field_list({2, 3, 4, 11, 35, 41, 52}),
       {{"mti", "0100"},
        {"f2", "4761739001010010"},
        {"f3", "000000"},
        {"f4", "000000001000"},
        {"f11", "123456"},
        {"f35", "4761739001010010=22122011143804400000"},
        {"f41", "TERM0001"},
        {"f52", "0123456789abcdef"}},
       npm_auth},
      {"npm iso_8583@2.6.7: 0110 with an, ans fixed, ans and an LLLVAR",
       npm_dictionary,
       field_list({3, 4, 11, 37, 38, 39, 41, 48, 49, 54}),
       {{"mti", "0110"},
        {"f3", "000000"},
        {"f4", "000000009999"},
        {"f11", "000042"},
        {"f37", "000000000042"},
        {"f38", "A1B2C3"},
        {"f39", "51"},
        {"f41", "TERM0001"},
        {"f48", "KEY=VALUE;X:1"},
        {"f49", "840"},
        {"f54", "0001840C000000001000"}},
       "30313130b02000000e818400000000000000000030303030303030303030303030303939393930303030343230"
       "303030303030303030343241314232433335315445524d303030313031334b45593d56414c55453b583a313834"
       "303032303030303138343043303030303030303031303030"},
      {"npm iso_8583@2.6.7: 0400 with n LLVAR 32 and n fixed 42 (field 90)",
       npm_dictionary,
       field_list({2, 4, 11, 32, 41, 90}),
       {{"mti", "0400"},
        {"f2", "4761739001010010"},
        {"f4", "000000001000"},
        {"f11", "000007"},
        {"f32", "12345"},
        {"f41", "TERM0001"},
        {"f90", "010000012301011200000000012345000000000000"}},
       "30343030d020000100800000000000400000000031363437363137333930303130313030313030303030303030"
       "3031303030303030303037303531323334355445524d3030303130313030303030313233303130313132303030"
       "3030303030303132333435303030303030303030303030"},
  };
  for (const auto& c : cases) check_vector(c);
}

// ISO 8583:1987 section 4.3 (bit maps): bit 1 of the primary bitmap says a secondary bitmap
// follows; with "auto" it is written only when a field 65-128 is present.
BOOST_AUTO_TEST_CASE(secondary_bitmap_auto_follows_iso_8583_1987) {
  std::string dict = npm_dictionary;
  dict.replace(dict.find("\"always\""), 8, "\"auto\"");
  const std::vector<vector_case> cases = {
      {"ISO 8583:1987 4.3: fields 3 and 11 only, primary bitmap 2020000000000000",
       dict,
       field_list({3, 11, 70}),
       {{"mti", "0800"}, {"f3", "990000"}, {"f11", "000001"}},
       "30383030"
       "2020000000000000"
       "393930303030"
       "303030303031"},
      {"ISO 8583:1987 4.3: field 70 sets bit 1 and bit 70 (secondary byte 1, 0x04)",
       dict,
       field_list({3, 11, 70}),
       {{"mti", "0800"}, {"f3", "990000"}, {"f11", "000001"}, {"f70", "301"}},
       "30383030"
       "a020000000000000"
       "0400000000000000"
       "393930303030"
       "303030303031"
       "333031"},
  };
  for (const auto& c : cases) check_vector(c);
}

// Hand-assembled from the dictionary rules (docs/iso8583.md): BCD MTI, hex-ASCII bitmap, BCD LL
// lengths, packed digits (odd counts padded with a 0 nibble in front, or F behind for bcd_pad
// right), track 2's '=' as nibble D.
BOOST_AUTO_TEST_CASE(bcd_and_hex_bitmap_vectors) {
  const std::string dict = R"({
    "mti_encoding": "bcd", "bitmap_encoding": "hex", "length_encoding": "bcd",
    "numeric_encoding": "bcd",
    "fields": {
      "2": {"type": "n", "length": 19, "format": "llvar"}, "3": {"type": "n", "length": 6},
      "4": {"type": "n", "length": 12}, "22": {"type": "n", "length": 3},
      "35": {"type": "z", "length": 37, "format": "llvar", "bcd_pad": "right"},
      "41": {"type": "ans", "length": 8}
    }})";
  const std::vector<vector_case> cases = {
      {"hand-assembled: BCD MTI 0200, hex bitmap 7000000020800000, BCD LLVAR n and z",
       dict,
       field_list({2, 3, 4, 35, 41}),
       {{"mti", "0200"},
        {"f2", "4761739001010010"},
        {"f3", "000000"},
        {"f4", "000000001000"},
        {"f35", "4761739001010010=2212"},
        {"f41", "T1"}},
       "0200"
       "37303030303030303230383030303030"
       "16"
       "4761739001010010"
       "000000"
       "000000001000"
       "21"
       "47617390010100"
       "10d2212f"
       "5431202020202020"},
      {"hand-assembled: odd fixed n in BCD gets a leading 0 nibble (bit 22 = 0x04 in byte 3)",
       dict,
       field_list({22}),
       {{"mti", "0200"}, {"f22", "051"}},
       "0200"
       "30303030303430303030303030303030"
       "0051"},
  };
  for (const auto& c : cases) check_vector(c);
}

// Hand-assembled: EBCDIC MTI and digits, binary LL/LLL, EBCDIC LL, BCD LLL, cp037 text.
BOOST_AUTO_TEST_CASE(ebcdic_and_binary_length_vectors) {
  const std::string dict = R"({
    "mti_encoding": "ebcdic", "length_encoding": "binary", "numeric_encoding": "ebcdic",
    "charset": "ebcdic-cp037",
    "fields": {
      "2": {"type": "n", "length": 19, "format": "llvar", "numeric_encoding": "bcd",
            "bcd_pad": "left"},
      "3": {"type": "n", "length": 6},
      "32": {"type": "n", "length": 11, "format": "llvar", "length_encoding": "ebcdic"},
      "48": {"type": "ans", "length": 999, "format": "lllvar"},
      "54": {"type": "an", "length": 120, "format": "lllvar", "length_encoding": "bcd"},
      "60": {"type": "b", "length": 20, "format": "llvar"}
    }})";
  check_vector({"hand-assembled: EBCDIC MTI F0F1F0F0, binary/EBCDIC/BCD lengths, cp037 text",
                dict,
                field_list({2, 3, 32, 48, 54, 60}),
                {{"mti", "0100"},
                 {"f2", "123"},
                 {"f3", "000012"},
                 {"f32", "45"},
                 {"f48", "AB"},
                 {"f54", "C1"},
                 {"f60", "00ff"}},
                "f0f1f0f0"
                "6000000100010410"
                "030123"
                "f0f0f0f0f1f2"
                "f0f2f4f5"
                "0002c1c2"
                "0002c3f1"
                "0200ff"});
}

BOOST_AUTO_TEST_CASE(fixed_n_is_left_padded_with_zeros_and_decoded_as_written) {
  auto b = build(npm_dictionary, field_list({4, 11}));
  BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
  record r = make_record(*b, {{"mti", "0200"}, {"f4", "1000"}, {"f11", "7"}});
  byte_buffer out;
  BOOST_TEST_REQUIRE(b->lay->encode(r, out).has_value());
  BOOST_TEST(hex(out).substr(40) ==
             "303030303030303031303030"
             "303030303037");
  record back;
  back.reset(b->names.size());
  BOOST_TEST_REQUIRE(b->lay->decode(out, back).has_value());
  BOOST_TEST(back.get(b->index("f4")) == "000000001000");
  BOOST_TEST(back.get(b->index("f11")) == "000007");
}

BOOST_AUTO_TEST_CASE(fixed_text_is_right_padded_with_spaces_and_trimmed_on_decode) {
  auto b = build(npm_dictionary, field_list({38, 41}));
  BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
  record r = make_record(*b, {{"mti", "0110"}, {"f38", "AB 1"}, {"f41", "T1"}});
  byte_buffer out;
  BOOST_TEST_REQUIRE(b->lay->encode(r, out).has_value());
  BOOST_TEST(hex(out).substr(40) ==
             "414220312020"
             "5431202020202020");
  record back;
  back.reset(b->names.size());
  BOOST_TEST_REQUIRE(b->lay->decode(out, back).has_value());
  BOOST_TEST(back.get(b->index("f38")) == "AB 1");
  BOOST_TEST(back.get(b->index("f41")) == "T1");
}

BOOST_AUTO_TEST_CASE(empty_llvar_round_trips) {
  check_vector({"hand-assembled: an empty LLVAR is length 00",
                npm_dictionary,
                field_list({2}),
                {{"mti", "0100"}, {"f2", ""}},
                "30313030"
                "c000000000000000"
                "0000000000000000"
                "3030"});
}

BOOST_AUTO_TEST_CASE(fields_not_in_the_message_are_decoded_and_skipped) {
  // The npm 0100 vector, read by a message that lists only the MTI, STAN and terminal id.
  auto b = build(npm_dictionary, field_list({11, 41}));
  BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
  record r;
  r.reset(b->names.size());
  auto dec = b->lay->decode(unhex(npm_auth), r);
  BOOST_TEST_REQUIRE(dec.has_value(), (dec ? "" : dec.error().to_string()));
  BOOST_TEST(dump(*b, r) == "mti=0100;f11=123456;f41=TERM0001;");
}

BOOST_AUTO_TEST_CASE(absent_fields_stay_absent) {
  auto b = build(npm_dictionary, field_list({2, 11, 39, 41}));
  BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
  record r;
  r.reset(b->names.size());
  BOOST_TEST_REQUIRE(b->lay->decode(unhex(npm_echo), r).has_value());
  BOOST_TEST(!r.has(b->index("f2")));
  BOOST_TEST(!r.has(b->index("f39")));
  BOOST_TEST(r.get(b->index("f11")) == "000001");
}

// --- encode errors: invalid_field naming the record field ------------------------------------

BOOST_AUTO_TEST_CASE(encode_n_longer_than_its_length) {
  auto e = encode_error({4}, {{"mti", "0200"}, {"f4", "1234567890123"}});
  BOOST_TEST(static_cast<int>(e.code) == static_cast<int>(errc::invalid_field));
  BOOST_TEST(e.to_string() == "f4: is 13 digits, longer than its length 12 (field 4)");
}

BOOST_AUTO_TEST_CASE(encode_n_with_non_digits) {
  auto e = encode_error({4}, {{"mti", "0200"}, {"f4", "12.50"}});
  BOOST_TEST(e.to_string() == "f4: must be digits only (field 4)");
}

BOOST_AUTO_TEST_CASE(encode_llvar_longer_than_its_maximum) {
  auto e = encode_error({2}, {{"mti", "0200"}, {"f2", "12345678901234567890"}});
  BOOST_TEST(e.to_string() == "f2: is 20 digits, longer than its maximum 19 (field 2)");
}

BOOST_AUTO_TEST_CASE(encode_an_with_punctuation) {
  auto e = encode_error({39}, {{"mti", "0210"}, {"f39", "0-"}});
  BOOST_TEST(e.to_string() == "f39: must be letters, digits and spaces only (type an) (field 39)");
}

BOOST_AUTO_TEST_CASE(encode_ans_longer_than_its_length) {
  auto e = encode_error({41}, {{"mti", "0200"}, {"f41", "TERMINAL9"}});
  BOOST_TEST(e.to_string() == "f41: is 9 characters, longer than its length 8 (field 41)");
}

BOOST_AUTO_TEST_CASE(encode_ans_with_a_control_character) {
  auto e = encode_error({48}, {{"mti", "0200"}, {"f48", "a\nb"}});
  BOOST_TEST(e.to_string() == "f48: must not contain control characters (field 48)");
}

BOOST_AUTO_TEST_CASE(encode_b_not_hex) {
  auto e = encode_error({52}, {{"mti", "0200"}, {"f52", "0123456789abcdeg"}});
  BOOST_TEST(e.to_string() == "f52: must be hex digits in pairs (raw bytes) (field 52)");
}

BOOST_AUTO_TEST_CASE(encode_b_of_the_wrong_length) {
  auto e = encode_error({52}, {{"mti", "0200"}, {"f52", "0123"}});
  BOOST_TEST(e.to_string() == "f52: is 2 bytes, must be exactly 8 (16 hex digits) (field 52)");
}

BOOST_AUTO_TEST_CASE(encode_z_with_letters) {
  auto e = encode_error({35}, {{"mti", "0200"}, {"f35", "4761D2212"}});
  BOOST_TEST(e.to_string() == "f35: must be digits and '=' (track 2 data) (field 35)");
}

BOOST_AUTO_TEST_CASE(encode_without_an_mti) {
  auto e = encode_error({11}, {{"f11", "000001"}});
  BOOST_TEST(static_cast<int>(e.code) == static_cast<int>(errc::missing_field));
  BOOST_TEST(e.to_string() == "mti: is required (field 0, the MTI)");
}

BOOST_AUTO_TEST_CASE(encode_a_bad_mti) {
  auto e = encode_error({11}, {{"mti", "01000"}, {"f11", "000001"}});
  BOOST_TEST(e.to_string() == "mti: must be 4 digits (field 0, the MTI)");
}

// --- malformed input: each its own case, naming the field and the offset ----------------------

BOOST_AUTO_TEST_CASE(malformed_short_mti) {
  auto e = decode_error({11}, "303130");
  BOOST_TEST(e.to_string() ==
             "mti: truncated: the MTI needs 4 bytes, 3 left (field 0 at offset 0)");
}

BOOST_AUTO_TEST_CASE(malformed_mti_not_digits) {
  auto e = decode_error({11},
                        "30313a30"
                        "0000000000000000");
  BOOST_TEST(e.to_string() == "mti: not a digit (field 0 at offset 2)");
}

BOOST_AUTO_TEST_CASE(malformed_short_primary_bitmap) {
  auto e = decode_error({11},
                        "30383030"
                        "82200000");
  BOOST_TEST(e.to_string() ==
             "bitmap: truncated: the primary bitmap needs 8 bytes, 4 left (field 1 at offset 4)");
}

BOOST_AUTO_TEST_CASE(malformed_short_secondary_bitmap) {
  auto e = decode_error({11},
                        "30383030"
                        "8220000000800000"
                        "0400");
  BOOST_TEST(
      e.to_string() ==
      "bitmap: truncated: the secondary bitmap needs 8 bytes, 2 left (field 1 at offset 12)");
}

BOOST_AUTO_TEST_CASE(malformed_hex_bitmap_not_hex) {
  auto e =
      decode_error({11},
                   "30383030"
                   "30303230303030303030303030303047",
                   R"({"bitmap_encoding": "hex", "fields": {"11": {"type": "n", "length": 6}}})");
  BOOST_TEST(e.to_string() == "bitmap: bad bitmap: not a hex digit (field 1 at offset 19)");
}

BOOST_AUTO_TEST_CASE(malformed_field_not_in_dictionary) {
  // Bit 5 (0x08 in byte 0) is set: field 5 is not in the npm dictionary.
  auto e = decode_error({11},
                        "30383030"
                        "0800000000000000");
  BOOST_TEST(e.where == "field 5");
  BOOST_TEST(e.message ==
             "bad bitmap: field 5 is present but not in the dictionary (field 5 at "
             "offset 12)");
}

BOOST_AUTO_TEST_CASE(malformed_bad_length_digits) {
  auto e = decode_error({2},
                        "30313030"
                        "4000000000000000"
                        "3a36"
                        "34373631");
  BOOST_TEST(e.to_string() == "f2: bad length digits (field 2 at offset 12)");
}

BOOST_AUTO_TEST_CASE(malformed_length_over_the_maximum) {
  auto e = decode_error({2},
                        "30313030"
                        "4000000000000000"
                        "3230"
                        "3437363137333930303130313030313030303030");
  BOOST_TEST(e.to_string() == "f2: length 20 exceeds the maximum 19 (field 2 at offset 12)");
}

BOOST_AUTO_TEST_CASE(malformed_truncated_length) {
  auto e = decode_error({2},
                        "30313030"
                        "4000000000000000"
                        "31");
  BOOST_TEST(e.to_string() ==
             "f2: truncated: the length needs 2 bytes, 1 left (field 2 at offset 12)");
}

BOOST_AUTO_TEST_CASE(malformed_truncated_value) {
  auto e = decode_error({2},
                        "30313030"
                        "4000000000000000"
                        "3136"
                        "3437363137");
  BOOST_TEST(e.to_string() ==
             "f2: truncated: the value needs 16 bytes, 5 left (field 2 at offset 14)");
}

BOOST_AUTO_TEST_CASE(malformed_non_digit_in_n) {
  auto e = decode_error({11},
                        "30383030"
                        "0020000000000000"
                        "303030203031");
  BOOST_TEST(e.to_string() == "f11: not a digit (field 11 at offset 15)");
}

BOOST_AUTO_TEST_CASE(malformed_skipped_field_named_by_number) {
  // Field 11 is on the wire but not in the message: it is still checked, and named by number.
  auto e = decode_error({41},
                        "30383030"
                        "0020000000000000"
                        "303030203031");
  BOOST_TEST(e.to_string() == "field 11: not a digit (field 11 at offset 15)");
}

BOOST_AUTO_TEST_CASE(malformed_bad_bcd_digit) {
  const std::string dict =
      R"({"numeric_encoding": "bcd", "fields": {"3": {"type": "n", "length": 6}}})";
  auto e = decode_error({3},
                        "30323030"
                        "2000000000000000"
                        "00a000",
                        dict);
  BOOST_TEST(e.to_string() == "f3: bad BCD digit nibble (field 3 at offset 13)");
}

BOOST_AUTO_TEST_CASE(malformed_bad_bcd_pad_nibble) {
  const std::string dict =
      R"({"numeric_encoding": "bcd", "fields": {"22": {"type": "n", "length": 3}}})";
  auto e = decode_error({22},
                        "30323030"
                        "0000040000000000"
                        "5051",
                        dict);
  BOOST_TEST(e.to_string() == "f22: bad BCD pad nibble (field 22 at offset 12)");
}

BOOST_AUTO_TEST_CASE(malformed_bad_bcd_length) {
  const std::string dict =
      R"({"length_encoding": "bcd", "fields": {"2": {"type": "n", "length": 19, "format": "llvar"}}})";
  auto e = decode_error({2},
                        "30323030"
                        "4000000000000000"
                        "1a",
                        dict);
  BOOST_TEST(e.to_string() == "f2: bad length digits (field 2 at offset 12)");
}

BOOST_AUTO_TEST_CASE(malformed_trailing_bytes) {
  auto e = decode_error({7, 11, 41, 70}, std::string(npm_echo) + "3030");
  BOOST_TEST(e.to_string() == "2 unexpected bytes after the last field at offset 47");
}

BOOST_AUTO_TEST_CASE(malformed_every_truncation) {
  // Each strict prefix of a valid message is malformed, never read past its end.
  auto b = build(npm_dictionary, field_list({2, 3, 4, 11, 35, 41, 52}));
  const byte_buffer full = unhex(npm_auth);
  record r;
  for (std::size_t n = 0; n < full.size(); ++n) {
    r.reset(b->names.size());
    auto dec = b->lay->decode(byte_view(full).first(n), r);
    BOOST_TEST_CONTEXT("prefix of " << n << " bytes") {
      BOOST_TEST_REQUIRE(!dec.has_value());
      BOOST_TEST(static_cast<int>(dec.error().code) == static_cast<int>(errc::malformed));
    }
  }
}

// --- configuration errors, with paths ----------------------------------------------------------

struct config_case {
  const char* what;
  std::string dictionary;
  std::string fields;
  const char* error;
};

BOOST_AUTO_TEST_CASE(config_errors_have_paths) {
  const std::string f = R"("fields": {"2": {"type": "n", "length": 19, "format": "llvar"}})";
  const std::string two = R"([{"field": 0, "name": "mti"}, {"field": 2, "name": "pan"}])";
  const std::vector<config_case> cases = {
      {"no dictionary", "", two, "dictionary: is required by the iso8583 layout"},
      {"unknown field number", R"({"fields": {"200": {"type": "n", "length": 3}}})", two,
       "dictionary.fields.200: unknown field number, must be 2 to 128"},
      {"not a number", R"({"fields": {"x2": {"type": "n", "length": 3}}})", two,
       "dictionary.fields.x2: unknown field number, must be 2 to 128"},
      {"field 1 in the dictionary", R"({"fields": {"1": {"type": "b", "length": 8}}})", two,
       "dictionary.fields.1: fields 0 (MTI) and 1 (secondary bitmap) are built in; define 2 to "
       "128"},
      {"llvar over 99", R"({"fields": {"2": {"type": "n", "length": 100, "format": "llvar"}}})",
       two, "dictionary.fields.2.length: must be <= 99 for an llvar field"},
      {"lllvar over 999",
       R"({"fields": {"2": {"type": "ans", "length": 1000, "format": "lllvar"}}})", two,
       "dictionary.fields.2.length: must be <= 999"},
      {"b field of length 0", R"({"fields": {"2": {"type": "b", "length": 0}}})", two,
       "dictionary.fields.2.length: must be > 0"},
      {"unknown type", R"({"fields": {"2": {"type": "x", "length": 3}}})", two,
       "dictionary.fields.2.type: unknown value \"x\", must be one of n, an, ans, b, z"},
      {"missing type", R"({"fields": {"2": {"length": 3}}})", two,
       "dictionary.fields.2.type: is required (n, an, ans, b or z)"},
      {"unknown format", R"({"fields": {"2": {"type": "n", "length": 3, "format": "lvar"}}})", two,
       "dictionary.fields.2.format: unknown value \"lvar\", must be one of fixed, llvar, lllvar"},
      {"missing length", R"({"fields": {"2": {"type": "n"}}})", two,
       "dictionary.fields.2.length: is required"},
      {"numeric encoding on text",
       R"({"fields": {"2": {"type": "ans", "length": 3, "numeric_encoding": "bcd"}}})", two,
       "dictionary.fields.2.numeric_encoding: applies only to n and z fields"},
      {"bcd_pad without bcd",
       R"({"fields": {"2": {"type": "n", "length": 3, "bcd_pad": "right"}}})", two,
       "dictionary.fields.2.bcd_pad: applies only to n and z fields in bcd"},
      {"length_encoding on a fixed field",
       R"({"fields": {"2": {"type": "n", "length": 3, "length_encoding": "bcd"}}})", two,
       "dictionary.fields.2.length_encoding: applies only to llvar and lllvar fields"},
      {"typo in a field", R"({"fields": {"2": {"type": "n", "length": 3, "lenght": 4}}})", two,
       "dictionary.fields.2.lenght: unknown key"},
      {"bad mti encoding", "{\"mti_encoding\": \"hex\", " + f + "}", two,
       "dictionary.mti_encoding: unknown value \"hex\", must be one of ascii, ebcdic, bcd"},
      {"bad bitmap encoding", "{\"bitmap_encoding\": \"bcd\", " + f + "}", two,
       "dictionary.bitmap_encoding: unknown value \"bcd\", must be one of binary, hex"},
      {"bad secondary bitmap", "{\"secondary_bitmap\": \"never\", " + f + "}", two,
       "dictionary.secondary_bitmap: unknown value \"never\", must be one of auto, always"},
      {"bad length encoding", "{\"length_encoding\": \"hex\", " + f + "}", two,
       "dictionary.length_encoding: unknown value \"hex\", must be one of ascii, ebcdic, bcd, "
       "binary"},
      {"unknown charset", "{\"charset\": \"klingon\", " + f + "}", two,
       "dictionary.charset: unknown charset \"klingon\", must be one of "},
      {"message field not in the dictionary", "{" + f + "}",
       R"([{"field": 0, "name": "mti"}, {"field": 3, "name": "pc"}])",
       "operations.t.request.fields[1].field: field 3 is not in dictionary.fields"},
      {"message field 1", "{" + f + "}",
       R"([{"field": 0, "name": "mti"}, {"field": 1, "name": "bm"}])",
       "operations.t.request.fields[1].field: field 1 is the secondary bitmap, written from the "
       "fields present"},
      {"message field twice", "{" + f + "}",
       R"([{"field": 0, "name": "mti"}, {"field": 2, "name": "a"}, {"field": 2, "name": "b"}])",
       "operations.t.request.fields[2].field: field 2 is already mapped by fields[1]"},
      {"message field over 128", "{" + f + "}",
       R"([{"field": 0, "name": "mti"}, {"field": 129, "name": "a"}])",
       "operations.t.request.fields[1].field: must be <= 128"},
      {"message field without a number", "{" + f + "}",
       R"([{"field": 0, "name": "mti"}, {"name": "a"}])",
       "operations.t.request.fields[1].field: is required"},
      {"message without an MTI", "{" + f + "}", R"([{"field": 2, "name": "pan"}])",
       "operations.t.request.fields: must include the MTI: { \"field\": 0, \"name\": \"mti\" }"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      auto b = build(c.dictionary, c.fields);
      BOOST_TEST(b->lay == nullptr);
      bool found = false;
      for (const auto& e : b->diag.errors())
        if (e.rfind(c.error, 0) == 0) found = true;
      BOOST_TEST(found, "expected \"" << c.error << "\" in:\n" << b->errors());
    }
  }
}

BOOST_AUTO_TEST_CASE(dictionary_errors_are_reported_once_per_profile) {
  // Every message of a profile reads the same dictionary: its mistakes are listed once.
  diagnostics diag;
  const json::value profile =
      json::parse(R"({"dictionary": {"fields": {"2": {"type": "q", "length": 3}}}})");
  const json::value msg = json::parse(R"({"fields": [{"field": 0, "name": "mti"}]})");
  for (int k = 0; k < 3; ++k) {
    config_object m(msg.as_object(), "operations.t.request", diag);
    std::vector<config_object> fields;
    fields.emplace_back(msg.at("fields").at(0).as_object(), "operations.t.request.fields[0]", diag);
    std::vector<std::string> names{"mti"};
    layout_context ctx{m, fields, names, find_charset("ascii"), profile.as_object()};
    BOOST_TEST(make_iso8583_layout(ctx) == nullptr);
  }
  BOOST_TEST(diag.errors().size() == 1u);
}

BOOST_AUTO_TEST_CASE(describe_reports_the_dictionary) {
  auto b = build(npm_dictionary, field_list({2, 52}));
  BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
  const json::object d = b->lay->describe();
  BOOST_TEST(d.at("type").as_string() == "iso8583");
  BOOST_TEST(d.at("secondary_bitmap").as_string() == "always");
  const json::object f2 = b->lay->describe_field(1);
  BOOST_TEST(f2.at("field").to_number<std::int64_t>() == 2);
  BOOST_TEST(f2.at("format").as_string() == "llvar");
  BOOST_TEST(f2.at("max_length").to_number<std::int64_t>() == 19);
  const json::object f52 = b->lay->describe_field(2);
  BOOST_TEST(f52.at("type").as_string() == "b");
  BOOST_TEST(f52.at("length").to_number<std::int64_t>() == 8);
}

BOOST_AUTO_TEST_CASE(steady_state_allocates_nothing) {
  auto b = build(npm_dictionary, field_list({2, 3, 4, 11, 35, 41, 52}));
  BOOST_TEST_REQUIRE(b->diag.ok(), b->errors());
  const byte_buffer wire = unhex(npm_auth);
  record in;
  in.reset(b->names.size());
  BOOST_TEST_REQUIRE(b->lay->decode(wire, in).has_value());
  record r;
  byte_buffer out;
  bool ok = true;
  // Warm up: the record's strings and the buffer reach their sizes once.
  r.reset(b->names.size());
  ok = ok && b->lay->decode(wire, r).has_value();
  out.clear();
  ok = ok && b->lay->encode(in, out).has_value();
  const std::size_t before = allocation_counter::allocations.load();
  for (int k = 0; k < 1000; ++k) {
    r.reset(b->names.size());
    ok = ok && b->lay->decode(wire, r).has_value();
    out.clear();
    ok = ok && b->lay->encode(in, out).has_value();
  }
  const std::size_t during = allocation_counter::allocations.load() - before;
  BOOST_TEST(ok);
  BOOST_TEST(during == 0u);
  BOOST_TEST(out == wire);
}

}  // namespace
