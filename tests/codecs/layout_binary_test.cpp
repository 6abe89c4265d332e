// Tests for the binary layout: integers of every size and byte order, bit fields, bitmaps,
// arrays sized by other fields and derived on encode, conditions, named values, precise errors on
// short, long and garbage input, configuration mistakes; the length-prefix framer with the length
// in the payload; and the shipped modbus-tcp profile through the whole pipeline, byte for byte.
#define BOOST_TEST_MODULE layout_binary_test
#include <boost/test/unit_test.hpp>

#include "codecs/layout.hpp"
#include "codecs/pipeline.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <memory>
#include <string>

using namespace dragoman::codecs;
namespace json = boost::json;
using namespace test_support;
using layouts::built;

namespace {

std::unique_ptr<built> build(std::string_view message_json) {
  return layouts::build(message_json, "operations.t.request", "binary", "ascii");
}

std::unique_ptr<built> must_build(std::string_view message_json) {
  auto b = build(message_json);
  BOOST_TEST_INFO("message " << message_json);
  BOOST_TEST(b->diag.ok(), b->errors());
  BOOST_REQUIRE(b->lay);
  return b;
}

void expect_config_error(std::string_view message_json, const std::string& expected) {
  auto b = build(message_json);
  BOOST_TEST_INFO("message " << message_json);
  BOOST_TEST(!b->lay);
  layouts::expect_error(*b, expected);
}

record fill(const built& b, std::string_view values_json) {
  record r;
  r.reset(b.field_count);
  const json::object values = json::parse(values_json).as_object();
  for (const auto& kv : values) r.set(b.index(kv.key()), std::string_view(kv.value().as_string()));
  return r;
}

std::string encode_hex(const built& b, std::string_view values_json) {
  record r = fill(b, values_json);
  byte_buffer out;
  auto res = b.lay->encode(r, out);
  BOOST_TEST_REQUIRE(res.has_value(), error_text(res));
  return to_hex(out);
}

codec_error encode_error(const built& b, std::string_view values_json) {
  record r = fill(b, values_json);
  byte_buffer out;
  auto res = b.lay->encode(r, out);
  BOOST_TEST_REQUIRE(!res.has_value());
  return res.error();
}

record decode_ok(const built& b, std::string_view hex_text) {
  record r;
  r.reset(b.field_count);
  auto res = b.lay->decode(unhex(hex_text), r);
  BOOST_TEST_REQUIRE(res.has_value(), error_text(res));
  return r;
}

codec_error decode_error(const built& b, std::string_view hex_text) {
  record r;
  r.reset(b.field_count);
  auto res = b.lay->decode(unhex(hex_text), r);
  BOOST_TEST_REQUIRE(!res.has_value());
  return res.error();
}

// Decodes hex and encodes the record again: the same bytes.
void round_trip(const built& b, std::string_view hex_text) {
  record r = decode_ok(b, hex_text);
  byte_buffer out;
  auto res = b.lay->encode(r, out);
  BOOST_TEST_REQUIRE(res.has_value(), error_text(res));
  BOOST_TEST(to_hex(out) == hex_text);
}

}  // namespace

BOOST_AUTO_TEST_CASE(integers_of_every_size_and_byte_order) {
  for (int size = 1; size <= 8; ++size) {
    for (const char* order : {"big", "little"}) {
      const std::string msg = R"({"fields":[{"name":"u","type":"uint","size":)" +
                              std::to_string(size) + R"(,"byte_order":")" + order +
                              R"("},{"name":"i","type":"int","size":)" + std::to_string(size) +
                              R"(,"byte_order":")" + order + R"("}]})";
      auto b = must_build(msg);
      // 1 and -2 in `size` bytes each.
      std::string one(2 * static_cast<std::size_t>(size), '0');
      std::string minus_two(2 * static_cast<std::size_t>(size), 'f');
      if (std::string(order) == "big") {
        one.back() = '1';
        minus_two.back() = 'e';
      } else {
        one[1] = '1';
        minus_two[1] = 'e';
      }
      BOOST_TEST(encode_hex(*b, R"({"u":"1","i":"-2"})") == one + minus_two);
      record r = decode_ok(*b, one + minus_two);
      BOOST_TEST(r.get(0) == "1");
      BOOST_TEST(r.get(1) == "-2");
      round_trip(*b, one + minus_two);
    }
  }
  auto b = must_build(R"({"fields":[{"name":"u","type":"uint","size":8},
                                     {"name":"i","type":"int","size":8}]})");
  BOOST_TEST(encode_hex(*b, R"({"u":"18446744073709551615","i":"-9223372036854775808"})") ==
             "ffffffffffffffff8000000000000000");
  record r = decode_ok(*b, "ffffffffffffffff7fffffffffffffff");
  BOOST_TEST(r.get(0) == "18446744073709551615");
  BOOST_TEST(r.get(1) == "9223372036854775807");
  // Leading zeros and a plus sign are accepted; absent is zero.
  BOOST_TEST(encode_hex(*b, R"({"u":"0042","i":"+7"})") == "000000000000002a0000000000000007");
  BOOST_TEST(encode_hex(*b, R"({})") == std::string(32, '0'));
}

BOOST_AUTO_TEST_CASE(integer_encode_errors_are_precise) {
  auto b = must_build(R"({"fields":[{"name":"u","type":"uint","size":2},
                                     {"name":"i","type":"int","size":1}]})");
  expect_codec_error(encode_error(*b, R"({"u":"65536"})"), errc::invalid_field, "u",
                     "out of range: 65536 is not in 0..65535");
  expect_codec_error(encode_error(*b, R"({"u":"-1"})"), errc::invalid_field, "u",
                     "out of range: -1 is not in 0..65535");
  expect_codec_error(encode_error(*b, R"({"i":"-129"})"), errc::invalid_field, "i",
                     "out of range: -129 is not in -128..127");
  expect_codec_error(encode_error(*b, R"({"u":"12a"})"), errc::invalid_field, "u",
                     "must be an integer, not \"12a\"");
  expect_codec_error(encode_error(*b, R"({"u":""})"), errc::invalid_field, "u",
                     "must be an integer, not \"\"");
  expect_codec_error(encode_error(*b, R"({"u":"99999999999999999999999"})"), errc::invalid_field,
                     "u", "out of range: 99999999999999999999999 is not in 0..65535");
}

BOOST_AUTO_TEST_CASE(short_long_and_garbage_input) {
  auto b = must_build(R"({"fields":[{"name":"a","type":"uint","size":2},
                                     {"name":"b","type":"uint","size":4}]})");
  expect_codec_error(decode_error(*b, "0001"), errc::malformed, "b",
                     "expected 4 bytes at offset 2, got 0");
  expect_codec_error(decode_error(*b, "00010000ff"), errc::malformed, "b",
                     "expected 4 bytes at offset 2, got 3");
  expect_codec_error(decode_error(*b, "00"), errc::malformed, "a",
                     "expected 2 bytes at offset 0, got 1");
  expect_codec_error(decode_error(*b, "000100000001ee"), errc::malformed, "",
                     "unexpected 1 bytes after the last field at offset 6");
  auto lenient = must_build(R"({"allow_trailing":true,"fields":[{"name":"a","type":"uint",
                                "size":2}]})");
  BOOST_TEST(decode_ok(*lenient, "0001ffff").get(0) == "1");
}

BOOST_AUTO_TEST_CASE(bit_fields_most_significant_first) {
  // Modbus's exception flag and function code share a byte: 0x83 is exception 1, function 3.
  auto b = must_build(R"({"fields":[{"name":"exception","type":"bits","bits":1},
                                     {"name":"function","type":"bits","bits":7},
                                     {"name":"hi","type":"bits","bits":4},
                                     {"name":"mid","type":"bits","bits":8},
                                     {"name":"lo","type":"bits","bits":4}]})");
  record r = decode_ok(*b, "83abcd");
  BOOST_TEST(r.get(0) == "1");
  BOOST_TEST(r.get(1) == "3");
  BOOST_TEST(r.get(2) == "10");
  BOOST_TEST(r.get(3) == "188");
  BOOST_TEST(r.get(4) == "13");
  round_trip(*b, "83abcd");
  BOOST_TEST(encode_hex(*b, R"({"function":"16","mid":"255"})") == "100ff0");
  expect_codec_error(encode_error(*b, R"({"function":"128"})"), errc::invalid_field, "function",
                     "out of range: 128 is not in 0..127");
  auto little = must_build(R"({"fields":[{"name":"a","type":"bits","bits":4,
      "byte_order":"little"},{"name":"b","type":"bits","bits":12}]})");
  BOOST_TEST(encode_hex(*little, R"({"a":"1","b":"2"})") == "0210");
}

BOOST_AUTO_TEST_CASE(bitmaps_are_lsb_first_and_counted) {
  // Modbus write_multiple_coils: quantity, byte count, then the coils LSB first.
  auto b = must_build(R"({"fields":[{"name":"count","type":"uint","size":2},
      {"name":"byte_count","type":"uint","size":1},
      {"name":"coils","type":"bitmap","count_from":"count","length_from":"byte_count",
       "json":"array"}]})");
  BOOST_TEST(encode_hex(*b, R"({"coils":"[true,false,true,true,false,false,false,false,true]"})") ==
             "0009020d01");
  BOOST_TEST(encode_hex(*b, R"({"coils":"[1,0,1]"})") == "00030105");
  BOOST_TEST(encode_hex(*b, R"({"coils":"[]"})") == "000000");
  record r = decode_ok(*b, "0009020d01");
  BOOST_TEST(r.get(2) == "[true,false,true,true,false,false,false,false,true]");
  BOOST_TEST(r.get(0) == "9");
  round_trip(*b, "0009020d01");
  // Bits past the count in the last byte are ignored; the count and byte count must agree.
  BOOST_TEST(decode_ok(*b, "00030107").get(2) == "[true,true,true]");
  expect_codec_error(decode_error(*b, "0009010d"), errc::malformed, "coils",
                     "byte_count 1 does not match count 9 (2 bytes)");
  expect_codec_error(decode_error(*b, "0010020d"), errc::malformed, "coils",
                     "expected 2 bytes at offset 3, got 1");
  expect_codec_error(encode_error(*b, R"({"coils":"[true,2]"})"), errc::invalid_field, "coils",
                     "element 2 must be true or false");
  expect_codec_error(encode_error(*b, R"({"coils":"{}"})"), errc::invalid_field, "coils",
                     "must be an array");
  // A count given by the caller must agree with the array.
  expect_codec_error(encode_error(*b, R"({"count":"4","coils":"[true]"})"), errc::invalid_field,
                     "count", "is 4 but coils has 1 elements");
  // Sized by its byte count alone (a read_coils reply), whole bytes come back.
  auto by_length = must_build(R"({"fields":[{"name":"byte_count","type":"uint","size":1},
      {"name":"coils","type":"bitmap","length_from":"byte_count","json":"array"}]})");
  BOOST_TEST(decode_ok(*by_length, "0105").get(1) ==
             "[true,false,true,false,false,false,false,false]");
}

BOOST_AUTO_TEST_CASE(register_arrays_derive_their_counts) {
  auto b = must_build(R"({"fields":[{"name":"count","type":"uint","size":2},
      {"name":"byte_count","type":"uint","size":1},
      {"name":"values","type":"uint","size":2,"count_from":"count","length_from":"byte_count",
       "json":"array"}]})");
  BOOST_TEST(encode_hex(*b, R"({"values":"[7,8,9]"})") == "000306000700080009");
  BOOST_TEST(encode_hex(*b, R"({"values":"[\"65535\",0]"})") == "000204ffff0000");
  round_trip(*b, "000306000700080009");
  expect_codec_error(encode_error(*b, R"({"values":"[7,65536]"})"), errc::invalid_field, "values",
                     "element 2 out of range: 65536 is not in 0..65535");
  expect_codec_error(encode_error(*b, R"({"values":"[7,true]"})"), errc::invalid_field, "values",
                     "element 2 must be an integer");
  expect_codec_error(encode_error(*b, R"({"values":"[1.5]"})"), errc::invalid_field, "values",
                     "element 1 must be an integer");
  // 128 registers need 256 bytes: more than a 1-byte count carries.
  std::string many = "[";
  for (int i = 0; i < 128; ++i) many += (i ? ",1" : "1");
  many += "]";
  expect_codec_error(encode_error(*b, R"({"values":")" + many + R"("})"), errc::invalid_field,
                     "values", "has 256 bytes, more than byte_count can carry (255)");
  auto signed_le = must_build(R"({"fields":[{"name":"n","type":"uint","size":1},
      {"name":"v","type":"int","size":2,"byte_order":"little","count_from":"n","json":"array"}]})");
  BOOST_TEST(encode_hex(*signed_le, R"({"v":"[-1,2]"})") == "02ffff0200");
  BOOST_TEST(decode_ok(*signed_le, "02ffff0200").get(1) == "[-1,2]");
  expect_codec_error(decode_error(*signed_le, "05ffff"), errc::malformed, "v",
                     "expected 10 bytes at offset 1, got 2");
  expect_codec_error(decode_error(*signed_le, "ff"), errc::malformed, "v",
                     "expected 510 bytes at offset 1, got 0");
  auto huge = must_build(R"({"fields":[{"name":"n","type":"uint","size":8},
      {"name":"v","type":"uint","size":8,"count_from":"n","json":"array"}]})");
  expect_codec_error(decode_error(*huge, "ffffffffffffffff0001"), errc::malformed, "v",
                     "n 18446744073709551615 asks for more elements than the 2 bytes left");
  auto by_length = must_build(R"({"fields":[{"name":"len","type":"uint","size":1},
      {"name":"v","type":"uint","size":2,"length_from":"len","json":"array"}]})");
  expect_codec_error(decode_error(*by_length, "03000102"), errc::malformed, "v",
                     "len 3 is not a multiple of the 2-byte elements");
  BOOST_TEST(decode_ok(*by_length, "0400010002").get(1) == "[1,2]");
}

BOOST_AUTO_TEST_CASE(conditions_named_values_bytes_and_rest_lengths) {
  // A Modbus reply: the length of the rest, then either byte count and registers or an exception
  // code.
  auto b = must_build(R"({"fields":[{"name":"length","type":"uint","size":2,"length_of":"rest"},
      {"name":"exception","type":"bits","bits":1},{"name":"function","type":"bits","bits":7},
      {"name":"byte_count","type":"uint","size":1,"when":{"exception":0}},
      {"name":"values","type":"uint","size":2,"length_from":"byte_count","when":{"exception":0},
       "json":"array"},
      {"name":"code","type":"bytes","size":1,"when":{"exception":1},"otherwise":"00"}]})");
  record ok = decode_ok(*b, "000603040007000a");
  BOOST_TEST(ok.get(4) == "[7,10]");
  BOOST_TEST(ok.get(5) == "00");
  round_trip(*b, "000603040007000a");
  record failed = decode_ok(*b, "00028302");
  BOOST_TEST(!failed.has(3));
  BOOST_TEST(!failed.has(4));
  BOOST_TEST(failed.get(5) == "02");
  round_trip(*b, "00028302");
  // The length is derived whatever the record says, and checked on decode.
  BOOST_TEST(encode_hex(*b, R"({"length":"99","function":"3","values":"[1]"})") ==
             "00040302"
             "0001");
  expect_codec_error(decode_error(*b, "00058302"), errc::malformed, "length",
                     "is 5 but 2 bytes follow it at offset 0");
  expect_codec_error(encode_error(*b, R"({"exception":"1","code":"0203"})"), errc::invalid_field,
                     "code", "must be 1 bytes, got 2");
  expect_codec_error(encode_error(*b, R"({"exception":"1","code":"zz"})"), errc::invalid_field,
                     "code", "must be hex digits, in pairs");
  BOOST_TEST(encode_hex(*b, R"({"exception":"1","function":"3"})") == "00028300");  // absent: 00
  // A coil's value: names for wire values.
  auto coil = must_build(R"({"fields":[{"name":"value","type":"uint","size":2,
      "map":{"true":65280,"false":0}}]})");
  BOOST_TEST(encode_hex(*coil, R"({"value":"true"})") == "ff00");
  BOOST_TEST(decode_ok(*coil, "0000").get(0) == "false");
  expect_codec_error(encode_error(*coil, R"({"value":"on"})"), errc::invalid_field, "value",
                     "must be one of true, false, not \"on\"");
  expect_codec_error(decode_error(*coil, "1234"), errc::malformed, "value",
                     "4660 at offset 0 is none of true (65280), false (0)");
  // describe_field tells the OpenAPI generator what an array holds.
  const json::object d = b->lay->describe_field(4);
  BOOST_TEST(json::serialize(d.at("items")) == R"({"type":"integer","minimum":0,"maximum":65535})");
  BOOST_TEST(d.at("length_from") == "byte_count");
  BOOST_TEST(b->lay->describe_field(0).at("derived") == true);
}

BOOST_AUTO_TEST_CASE(configuration_mistakes) {
  const std::string p = "operations.t.request.fields";
  expect_config_error(R"({"fields":[{"name":"a","type":"bits","bits":3}]})",
                      p + "[0].bits: the bits fields from here to \"a\" make 3 bits: consecutive "
                          "bits fields must fill whole bytes, at most 8");
  expect_config_error(R"({"fields":[{"name":"a","type":"uint"}]})", p + "[0].size: is required");
  expect_config_error(R"({"fields":[{"name":"a","type":"uint","size":9}]})",
                      p + "[0].size: must be <= 8");
  expect_config_error(R"({"fields":[{"name":"v","type":"uint","size":2,"count_from":"n",
                          "json":"array"}]})",
                      p + "[0].count_from: no field \"n\" before this one");
  expect_config_error(R"({"fields":[{"name":"n","type":"uint","size":1},
                          {"name":"v","type":"uint","size":2,"count_from":"n"}]})",
                      p + "[1].json: an array field needs \"json\": \"array\"");
  expect_config_error(R"({"fields":[{"name":"v","type":"bitmap","json":"array"}]})",
                      p + "[0].count_from: a bitmap needs count_from (its element count) or "
                          "length_from (its bytes)");
  expect_config_error(R"({"fields":[{"name":"a","type":"int","size":1,"map":{"x":1}}]})",
                      p + "[0].map: applies to a single uint or bits field only");
  expect_config_error(R"({"fields":[{"name":"a","type":"uint","size":1,"otherwise":"0"}]})",
                      p + "[0].otherwise: needs \"when\"");
  expect_config_error(R"({"fields":[{"name":"a","type":"uint","size":1,"length_of":"b"}]})",
                      p + "[0].length_of: must be \"rest\" (the bytes after this field); an array "
                          "names its count and length fields with count_from and length_from");
  expect_config_error(R"({"fields":[{"name":"a","type":"bytes"}]})",
                      p + "[0].size: a bytes field needs one of size and length_from");
  expect_config_error(R"({"fields":[{"name":"a","type":"float","size":4}]})",
                      "operations.t.request.fields[0].type: unknown value \"float\", must be one "
                      "of uint, int, bits, bitmap, bytes");
}

BOOST_AUTO_TEST_CASE(length_prefix_with_the_length_in_the_payload) {
  auto f = framers::must_build(R"({"type":"length_prefix","length_field_offset":4,
      "length_field_length":2,"length_in_payload":true,"max_frame_length":260})");
  byte_buffer out;
  BOOST_TEST_REQUIRE(f->encode(unhex("0001000000000103"), out).has_value());
  BOOST_TEST(to_hex(out) == "0001000000020103");
  auto d = f->make_decoder();
  const byte_buffer wire = unhex("000100000002010300");
  frame_result fr = d->decode(wire);
  BOOST_TEST((fr.status == frame_status::frame));
  BOOST_TEST(fr.consumed == 8u);
  BOOST_TEST(to_hex(byte_buffer(fr.payload.begin(), fr.payload.end())) == "0001000000020103");
  byte_buffer shorter;
  BOOST_TEST(!f->encode(unhex("00010000"), shorter).has_value());
  framers::expect_config_error(R"({"type":"length_prefix","length_field_length":2,
      "length_in_payload":true,"initial_bytes_to_strip":2,"max_frame_length":100})",
                               "framing.initial_bytes_to_strip: must be 0 with length_in_payload "
                               "(the payload is the whole frame)");
}

BOOST_AUTO_TEST_CASE(modbus_profile_bytes) {
  auto out = load_profile(DRAGOMAN_SOURCE_DIR "/profiles/modbus-tcp.json");
  BOOST_TEST_REQUIRE(!!out.compiled, listed(out.errors));
  const profile& p = *out.compiled;
  BOOST_TEST(p.correlation.max_in_flight == 1u);  // one request at a time per connection
  BOOST_TEST(p.correlation.field == "transaction_id");
  counter_generation_context gen(p);
  auto request_hex = [&](std::string_view op_name, std::string_view fields) {
    const operation* op = p.find_operation(op_name);
    BOOST_REQUIRE(op);
    record r;
    json::object in = json::parse(fields).as_object();
    // The transaction id is generated (from the clock): a fixed one for exact bytes.
    const std::string tid = json::serialize(in.at("transaction_id"));
    in.erase("transaction_id");
    auto mapped = map_request(op->request, in, gen, r);
    BOOST_TEST_REQUIRE(mapped.has_value(), error_text(mapped));
    r.set(*op->request.index_of("transaction_id"), tid);
    byte_buffer payload, frame;
    auto res = encode_message(p, op->request, r, payload, frame);
    BOOST_TEST_REQUIRE(res.has_value(), error_text(res));
    return to_hex(frame);
  };
  BOOST_TEST(request_hex("read_holding_registers",
                         R"({"transaction_id":1,"unit":1,"address":0,"count":10})") ==
             "00010000000601030000000a");
  BOOST_TEST(request_hex("write_multiple_registers",
                         R"({"transaction_id":2,"unit":17,"address":10,"values":[7,8,9]})") ==
             "00020000000d1110000a000306000700080009");
  BOOST_TEST(request_hex("write_single_coil", R"({"transaction_id":3,"address":5,"value":true})") ==
             "00030000000601050005ff00");
  BOOST_TEST(request_hex("write_multiple_coils",
                         R"({"transaction_id":4,"address":0,"values":[true,false,true]})") ==
             "000400000008010f000000030105");
  // A reply and an exception, decoded and classified.
  const operation* read = p.find_operation("read_holding_registers");
  record reply;
  auto dec = decode_payload(p, unhex("000100000007010304000700 08"), reply,
                            decode_preference::replies_first);
  BOOST_TEST_REQUIRE(dec.has_value(), error_text(dec));
  BOOST_TEST(dec->op == read);
  BOOST_TEST(json::serialize(map_reply(read->reply, reply, false)) == R"({"values":[7,8]})");
  BOOST_TEST(classify_reply(*read, reply).success);
  dec = decode_payload(p, unhex("000100000003018302"), reply, decode_preference::replies_first);
  BOOST_TEST_REQUIRE(dec.has_value(), error_text(dec));
  const reply_outcome o = classify_reply(*read, reply);
  BOOST_TEST(!o.success);
  BOOST_TEST(o.code == "02");
  BOOST_TEST(o.message == "illegal data address");
}
