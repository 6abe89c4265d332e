// Tests for the template layout: exact bytes, counted blocks, alternatives, types, malformed input,
// configuration mistakes, and the shipped memcached-text profile through the whole pipeline.
#define BOOST_TEST_MODULE layout_template_test
#include <boost/test/unit_test.hpp>

#include "codecs/layout.hpp"
#include "codecs/pipeline.hpp"
#include "test_support.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

using namespace dragoman::codecs;
namespace json = boost::json;
using namespace test_support;
using layouts::built;

namespace {

std::unique_ptr<built> build(std::string_view message_json, const char* cs = "ascii") {
  return layouts::build(message_json, "operations.t.reply", "template", cs);
}

std::unique_ptr<built> must_build(std::string_view message_json, const char* cs = "ascii") {
  auto b = build(message_json, cs);
  BOOST_TEST_INFO("message " << message_json);
  BOOST_TEST(b->diag.ok(), b->errors());
  BOOST_REQUIRE(b->lay);
  return b;
}

void expect_config_error(std::string_view message_json, const std::string& expected) {
  auto b = build(message_json);
  BOOST_TEST_INFO("message " << message_json);
  BOOST_TEST(!b->lay);
  expect_error(*b, expected);
}

// Fields as a JSON object of strings; absent names stay absent.
record fill(const built& b, std::string_view values_json) {
  record r;
  r.reset(b.field_count);
  const json::object values = json::parse(values_json).as_object();
  for (const auto& kv : values) r.set(b.index(kv.key()), std::string_view(kv.value().as_string()));
  return r;
}

// The present fields as a JSON object of strings.
std::string as_json(const built& b, const record& r) {
  json::object o;
  for (std::size_t i = 0; i < r.size(); ++i)
    if (r.has(i)) o[b.names[i]] = json::string(r.get(i));
  return json::serialize(o);
}

std::string encode_ok(const built& b, std::string_view values_json) {
  record r = fill(b, values_json);
  byte_buffer out;
  auto res = b.lay->encode(r, out);
  BOOST_TEST_REQUIRE(res.has_value(), "encode failed: " << (res ? "" : res.error().to_string()));
  return std::string(as_chars(out));
}

std::string decode_ok(const built& b, std::string_view payload) {
  record r;
  r.reset(b.field_count);
  auto res = b.lay->decode(as_bytes(payload), r);
  BOOST_TEST_REQUIRE(res.has_value(), "decode failed: " << (res ? "" : res.error().to_string()));
  return as_json(b, r);
}

codec_error encode_error(const built& b, std::string_view values_json) {
  record r = fill(b, values_json);
  byte_buffer out = {'x'};
  auto res = b.lay->encode(r, out);
  BOOST_REQUIRE(!res.has_value());
  BOOST_TEST(out.size() == 1u);  // nothing half-written
  return res.error();
}

codec_error decode_error(const built& b, std::string_view payload) {
  record r;
  r.reset(b.field_count);
  auto res = b.lay->decode(as_bytes(payload), r);
  BOOST_REQUIRE(!res.has_value());
  for (std::size_t i = 0; i < r.size(); ++i) BOOST_TEST(!r.has(i));
  return res.error();
}

// The memcached messages (protocol.txt, memcached 1.6), as in profiles/memcached-text.json.
const char* get_request = R"({"template":"get {key}\r\n",
  "fields":[{"name":"key","type":"token","max_length":250}]})";

const char* set_request = R"({"template":"set {key} {flags} {ttl} {len:value}\r\n{value}\r\n",
  "fields":[{"name":"key","type":"token","max_length":250},
            {"name":"flags","type":"number","signed":false},{"name":"ttl","type":"number"},
            {"name":"value"}]})";

const char* get_reply = R"({"alternatives":[
    {"template":"VALUE {key} {flags} {bytes}\r\n{value:bytes}\r\nEND\r\n",
     "set":{"found":"true","status":"VALUE"}},
    {"template":"END\r\n","set":{"found":"false","status":"END"}},
    {"template":"SERVER_ERROR {message}\r\n","set":{"status":"SERVER_ERROR"}},
    {"template":"ERROR\r\n","set":{"status":"ERROR"}}],
  "fields":[{"name":"found"},{"name":"key","type":"token"},
            {"name":"flags","type":"number","signed":false},
            {"name":"bytes","type":"number","signed":false},{"name":"value"},
            {"name":"status"},{"name":"message"}]})";

}  // namespace

BOOST_AUTO_TEST_SUITE(exact_bytes)

BOOST_AUTO_TEST_CASE(get_request_round_trip) {
  auto b = must_build(get_request);
  BOOST_TEST(encode_ok(*b, R"({"key":"user:42"})") == "get user:42\r\n");
  BOOST_TEST(decode_ok(*b, "get user:42\r\n") == R"({"key":"user:42"})");
}

BOOST_AUTO_TEST_CASE(set_request_writes_the_value_length) {
  auto b = must_build(set_request);
  const std::string wire = "set k 0 0 5\r\nhello\r\n";
  BOOST_TEST(encode_ok(*b, R"({"key":"k","flags":"0","ttl":"0","value":"hello"})") == wire);
  BOOST_TEST(decode_ok(*b, wire) == R"({"key":"k","flags":"0","ttl":"0","value":"hello"})");
}

BOOST_AUTO_TEST_CASE(counted_value_may_hold_line_ends_and_template_text) {
  auto b = must_build(set_request);
  const std::string wire = "set k 7 -1 11\r\na\r\nb\r\nEND\r\n\r\n";
  BOOST_TEST(encode_ok(*b, R"({"key":"k","flags":"7","ttl":"-1","value":"a\r\nb\r\nEND\r\n"})") ==
             wire);
  BOOST_TEST(decode_ok(*b, wire) ==
             R"({"key":"k","flags":"7","ttl":"-1","value":"a\r\nb\r\nEND\r\n"})");
}

BOOST_AUTO_TEST_CASE(length_counts_bytes_of_utf8_values) {
  auto b = must_build(set_request, "utf8");
  // "é" is 2 bytes in UTF-8: memcached counts bytes.
  BOOST_TEST(encode_ok(*b, R"({"key":"k","flags":"0","ttl":"0","value":"caf\u00e9"})") ==
             "set k 0 0 5\r\ncaf\xc3\xa9\r\n");
}

BOOST_AUTO_TEST_CASE(value_of_64_bytes) {
  auto b = must_build(set_request);
  const std::string v(64, 'z');
  const std::string wire = "set k 0 0 64\r\n" + v + "\r\n";
  BOOST_TEST(encode_ok(*b, R"({"key":"k","flags":"0","ttl":"0","value":")" + v + "\"}") == wire);
  BOOST_TEST(decode_ok(*b, wire) == R"({"key":"k","flags":"0","ttl":"0","value":")" + v + "\"}");
}

BOOST_AUTO_TEST_CASE(empty_value) {
  auto b = must_build(set_request);
  BOOST_TEST(encode_ok(*b, R"({"key":"k","flags":"0","ttl":"0","value":""})") ==
             "set k 0 0 0\r\n\r\n");
  BOOST_TEST(decode_ok(*b, "set k 0 0 0\r\n\r\n") ==
             R"({"key":"k","flags":"0","ttl":"0","value":""})");
}

BOOST_AUTO_TEST_CASE(braces_are_escaped_by_doubling) {
  auto b = must_build(R"({"template":"{{\"k\":{v}}}\n","fields":[{"name":"v","type":"number"}]})");
  BOOST_TEST(encode_ok(*b, R"({"v":"-12"})") == "{\"k\":-12}\n");
  BOOST_TEST(decode_ok(*b, "{\"k\":+3}\n") == R"({"v":"+3"})");
}

BOOST_AUTO_TEST_CASE(last_placeholder_takes_the_rest) {
  auto b = must_build(R"({"template":"MSG {text}","fields":[{"name":"text"}]})");
  BOOST_TEST(decode_ok(*b, "MSG a b\r\nc") == R"({"text":"a b\r\nc"})");
  BOOST_TEST(encode_ok(*b, R"({"text":"a b"})") == "MSG a b");
}

BOOST_AUTO_TEST_CASE(literals_and_values_go_through_the_charset) {
  // Source: IBM code page 037: g=0x87 e=0x85 t=0xA3 space=0x40 k=0x92 CR=0x0D LF=0x25.
  auto b = must_build(get_request, "ebcdic-cp037");
  const std::string wire = "\x87\x85\xA3\x40\x92\x0D\x25";
  BOOST_TEST(encode_ok(*b, R"({"key":"k"})") == wire);
  BOOST_TEST(decode_ok(*b, wire) == R"({"key":"k"})");
}

BOOST_AUTO_TEST_CASE(length_from_field_key_counts_a_value) {
  auto b = must_build(R"({"template":"DATA {n} {v}\r\n","fields":[
      {"name":"n","type":"number","signed":false},{"name":"v","length_from":"n"}]})");
  BOOST_TEST(encode_ok(*b, R"({"v":"a\r\nb"})") == "DATA 4 a\r\nb\r\n");
  BOOST_TEST(decode_ok(*b, "DATA 4 a\r\nb\r\n") == R"({"n":"4","v":"a\r\nb"})");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(alternatives)

BOOST_AUTO_TEST_CASE(get_hit) {
  auto b = must_build(get_reply);
  const std::string wire = "VALUE k 3 7\r\nhe\r\nllo\r\nEND\r\n";
  BOOST_TEST(
      decode_ok(*b, wire) ==
      R"({"found":"true","key":"k","flags":"3","bytes":"7","value":"he\r\nllo","status":"VALUE"})");
  // bytes is computed from value when the record has none.
  BOOST_TEST(encode_ok(*b, R"({"found":"true","key":"k","flags":"3","value":"he\r\nllo"})") ==
             wire);
}

BOOST_AUTO_TEST_CASE(get_miss) {
  auto b = must_build(get_reply);
  BOOST_TEST(decode_ok(*b, "END\r\n") == R"({"found":"false","status":"END"})");
  BOOST_TEST(encode_ok(*b, R"({"found":"false"})") == "END\r\n");
}

BOOST_AUTO_TEST_CASE(server_error_is_captured) {
  auto b = must_build(get_reply);
  BOOST_TEST(decode_ok(*b, "SERVER_ERROR out of memory storing object\r\n") ==
             R"({"status":"SERVER_ERROR","message":"out of memory storing object"})");
  // "END\r\n" has no placeholders: only a status that contradicts its "set" rules it out.
  BOOST_TEST(encode_ok(*b, R"({"message":"busy"})") == "END\r\n");
  BOOST_TEST(encode_ok(*b, R"({"status":"SERVER_ERROR","message":"busy"})") ==
             "SERVER_ERROR busy\r\n");
  BOOST_TEST(decode_ok(*b, "ERROR\r\n") == R"({"status":"ERROR"})");
}

BOOST_AUTO_TEST_CASE(encode_picks_the_first_alternative_whose_fields_and_sets_fit) {
  auto b = must_build(get_reply);
  // found=false rules out the first alternative even though its fields are present.
  BOOST_TEST(encode_ok(*b, R"({"found":"false","key":"k","flags":"0","value":"v"})") == "END\r\n");
  BOOST_TEST(encode_ok(*b, R"({"status":"ERROR"})") == "ERROR\r\n");
}

BOOST_AUTO_TEST_CASE(given_count_must_agree_with_the_value) {
  auto b = must_build(get_reply);
  auto e = encode_error(*b, R"({"key":"k","flags":"0","bytes":"9","value":"abc"})");
  BOOST_TEST(e.code == errc::invalid_field);
  BOOST_TEST(e.where == "bytes");
  BOOST_TEST(e.message == "is 9 but value is 3 bytes");
}

BOOST_AUTO_TEST_CASE(no_alternative_fits_names_the_missing_field) {
  auto b = must_build(R"({"alternatives":[{"template":"A {x}\r\n"},{"template":"B {y}\r\n"}],
    "fields":[{"name":"x"},{"name":"y"}]})");
  auto e = encode_error(*b, "{}");
  BOOST_TEST(e.code == errc::invalid_field);
  BOOST_TEST(e.where == "x");
  BOOST_TEST(
      e.message ==
      "is required: no template alternative fits the record (the first, \"A {x}\\x0d\\x0a\", "
      "needs it)");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(malformed)

BOOST_AUTO_TEST_CASE(literal_mismatch_names_literal_and_offset) {
  auto b = must_build(get_request);
  auto e = decode_error(*b, "gets k\r\n");
  BOOST_TEST(e.code == errc::malformed);
  BOOST_TEST(e.message == "expected \"get \" at offset 0, found \"gets\"");
}

BOOST_AUTO_TEST_CASE(missing_terminator_names_the_field) {
  auto b = must_build(get_request);
  auto e = decode_error(*b, "get k");
  BOOST_TEST(e.where == "key");
  BOOST_TEST(e.message == "expected \"\\x0d\\x0a\" after the value starting at offset 4");
}

BOOST_AUTO_TEST_CASE(no_alternative_reports_the_furthest) {
  auto b = must_build(get_reply);
  auto e = decode_error(*b, "VALUE k 0 2\r\nab\r\nEXD\r\n");
  BOOST_TEST(e.code == errc::malformed);
  BOOST_TEST(e.message ==
             "matches none of the 4 alternatives; alternative 0 \"VALUE {key} {flags} "
             "{bytes}\\x0d\\x0a{value:bytes}\\x0d\\x0aEND\\x0d\\x0a\" got furthest: expected "
             "\"\\x0d\\x0aEND\\x0d\\x0a\" at offset 15, found \"\\x0d\\x0aEXD\\x0d\\x0a\"");
}

BOOST_AUTO_TEST_CASE(short_block) {
  auto b = must_build(get_reply);
  auto e = decode_error(*b, "VALUE k 0 20\r\nab\r\nEND\r\n");
  BOOST_TEST(e.message.find("value expected 20 bytes at offset 14, got 9") != std::string::npos,
             e.message);
}

BOOST_AUTO_TEST_CASE(count_not_a_number) {
  auto b = must_build(get_reply);
  auto e = decode_error(*b, "VALUE k 0 -2\r\nab\r\nEND\r\n");
  BOOST_TEST(e.message.find("bytes must be a number at offset 10") != std::string::npos, e.message);
}

BOOST_AUTO_TEST_CASE(length_token_not_a_number) {
  auto b = must_build(set_request);
  auto e = decode_error(*b, "set k 0 0 x\r\nhello\r\n");
  BOOST_TEST(e.where == "value");
  BOOST_TEST(e.message == "length must be a number at offset 10");
}

BOOST_AUTO_TEST_CASE(trailing_bytes) {
  auto b = must_build(get_request);
  auto e = decode_error(*b, "get k\r\nX");
  BOOST_TEST(e.message == "unexpected bytes after the template at offset 7");
  auto s = must_build(set_request);
  auto t = decode_error(*s, "set k 0 0 1\r\nx\r\nyy");
  BOOST_TEST(t.message == "unexpected bytes after the template at offset 16");
}

BOOST_AUTO_TEST_CASE(number_field_with_letters) {
  auto b = must_build(set_request);
  auto e = decode_error(*b, "set k 0x 0 1\r\nx\r\n");
  BOOST_TEST(e.where == "flags");
  BOOST_TEST(e.message == "must be a number at offset 6");
}

BOOST_AUTO_TEST_CASE(unsigned_number_with_sign) {
  auto b = must_build(set_request);
  auto e = decode_error(*b, "set k -1 0 1\r\nx\r\n");
  BOOST_TEST(e.where == "flags");
  BOOST_TEST(e.message == "must be a number at offset 6");
}

BOOST_AUTO_TEST_CASE(token_longer_than_max_length) {
  auto b = must_build(get_request);
  auto e = decode_error(*b, "get " + std::string(251, 'k') + "\r\n");
  BOOST_TEST(e.where == "key");
  BOOST_TEST(e.message == "longer than max_length at offset 4");
}

BOOST_AUTO_TEST_CASE(byte_outside_the_charset) {
  auto b = must_build(get_request);
  auto e = decode_error(*b, "get k\xff\r\n");
  BOOST_TEST(e.where == "key");
  BOOST_TEST(e.message.find("at offset 4") != std::string::npos, e.message);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(encode_errors)

BOOST_AUTO_TEST_CASE(token_with_space) {
  auto b = must_build(get_request);
  auto e = encode_error(*b, R"({"key":"a b"})");
  BOOST_TEST(e.code == errc::invalid_field);
  BOOST_TEST(e.where == "key");
  BOOST_TEST(e.message == "must not contain spaces or control characters");
}

BOOST_AUTO_TEST_CASE(token_with_control_character) {
  auto b = must_build(get_request);
  BOOST_TEST(encode_error(*b, R"({"key":"a\r\nget b"})").message ==
             "must not contain spaces or control characters");
  BOOST_TEST(encode_error(*b, R"({"key":""})").message == "must not be empty");
}

BOOST_AUTO_TEST_CASE(token_over_max_length) {
  auto b = must_build(get_request);
  auto e = encode_error(*b, R"({"key":")" + std::string(251, 'k') + "\"}");
  BOOST_TEST(e.where == "key");
  BOOST_TEST(e.message == "is 251 characters, longer than max_length 250");
  BOOST_TEST(encode_ok(*b, R"({"key":")" + std::string(250, 'k') + "\"}").size() == 256u);
}

BOOST_AUTO_TEST_CASE(number_not_a_number) {
  auto b = must_build(set_request);
  auto e = encode_error(*b, R"({"key":"k","flags":"1.5","ttl":"0","value":"v"})");
  BOOST_TEST(e.where == "flags");
  BOOST_TEST(e.message == "must be a number");
  BOOST_TEST(encode_error(*b, R"({"key":"k","flags":"-1","ttl":"0","value":"v"})").message ==
             "must be a number");
}

BOOST_AUTO_TEST_CASE(missing_field_of_the_only_template) {
  auto b = must_build(set_request);
  auto e = encode_error(*b, R"({"key":"k","flags":"0","ttl":"0"})");
  BOOST_TEST(e.where == "value");
  BOOST_TEST(e.message.find("is required by the template") == 0u, e.message);
}

BOOST_AUTO_TEST_CASE(uncounted_value_must_not_contain_its_end) {
  auto b = must_build(R"({"template":"SERVER_ERROR {message}\r\n","fields":[{"name":"message"}]})");
  auto e = encode_error(*b, R"({"message":"a\r\nb"})");
  BOOST_TEST(e.where == "message");
  BOOST_TEST(e.message ==
             "must not contain \"\\x0d\\x0a\" (it ends the value in the template \"SERVER_ERROR "
             "{message}\\x0d\\x0a\")");
}

BOOST_AUTO_TEST_CASE(unmappable_character) {
  auto b = must_build(set_request);
  auto e = encode_error(*b, R"({"key":"k","flags":"0","ttl":"0","value":"caf\u00e9"})");
  BOOST_TEST(e.code == errc::unmappable_char);
  BOOST_TEST(e.where == "value");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(config)

BOOST_AUTO_TEST_CASE(template_or_alternatives_is_required) {
  expect_config_error(R"({"fields":[{"name":"a"}]})",
                      "operations.t.reply.template: is required (or \"alternatives\")");
}

BOOST_AUTO_TEST_CASE(not_both) {
  expect_config_error(
      R"({"template":"{a}\n","alternatives":[{"template":"{a}\n"}],"fields":[{"name":"a"}]})",
      "operations.t.reply.alternatives: cannot be given together with \"template\"");
}

BOOST_AUTO_TEST_CASE(unknown_field_in_placeholder) {
  expect_config_error(R"({"template":"get {kye}\r\n","fields":[{"name":"key"}]})",
                      "operations.t.reply.template: placeholder {kye} at offset 4: no field "
                      "named \"kye\"");
}

BOOST_AUTO_TEST_CASE(unknown_field_in_length) {
  expect_config_error(R"({"template":"{len:x} {a}\r\n","fields":[{"name":"a"}]})",
                      "operations.t.reply.template: placeholder {len:x} at offset 0: no field "
                      "named \"x\"");
}

BOOST_AUTO_TEST_CASE(unclosed_brace) {
  expect_config_error(R"({"template":"get {key\r\n","fields":[{"name":"key"}]})",
                      "operations.t.reply.template: unclosed \"{\" at offset 4 (write \"{{\")");
}

BOOST_AUTO_TEST_CASE(unmatched_brace) {
  expect_config_error(R"({"template":"get }{key}\r\n","fields":[{"name":"key"}]})",
                      "operations.t.reply.template: unmatched \"}\" at offset 4 (write \"}}\")");
}

BOOST_AUTO_TEST_CASE(adjacent_placeholders) {
  expect_config_error(R"({"template":"{a}{b}\r\n","fields":[{"name":"a"},{"name":"b"}]})",
                      "operations.t.reply.template: placeholder {b} at offset 3 follows another "
                      "placeholder without a literal between them");
}

BOOST_AUTO_TEST_CASE(count_field_must_come_first) {
  expect_config_error(
      R"({"template":"{v:n} {n}\r\n","fields":[{"name":"v"},{"name":"n","type":"number"}]})",
      "operations.t.reply.template: placeholder {v:n} at offset 0: its count field \"n\" must "
      "appear in a placeholder before it");
}

BOOST_AUTO_TEST_CASE(count_field_must_be_a_number) {
  expect_config_error(R"({"template":"{n} {v:n}\r\n","fields":[{"name":"v"},{"name":"n"}]})",
                      "operations.t.reply.template: placeholder {v:n} at offset 4: its count "
                      "field \"n\" must have \"type\": \"number\"");
}

BOOST_AUTO_TEST_CASE(unused_field) {
  expect_config_error(R"({"template":"get {key}\r\n","fields":[{"name":"key"},{"name":"kye"}]})",
                      "operations.t.reply.fields[1]: field \"kye\" appears in no template "
                      "placeholder or \"set\"");
}

BOOST_AUTO_TEST_CASE(set_names_unknown_field) {
  expect_config_error(R"({"alternatives":[{"template":"END\r\n","set":{"fund":"false"}}],
                          "fields":[{"name":"found"}]})",
                      "operations.t.reply.alternatives[0].set.fund: no field named \"fund\"");
}

BOOST_AUTO_TEST_CASE(alternative_unknown_key) {
  expect_config_error(R"({"alternatives":[{"template":"END\r\n","sets":{}}],
                          "fields":[{"name":"found"}]})",
                      "operations.t.reply.alternatives[0].sets: unknown key");
}

BOOST_AUTO_TEST_CASE(bad_field_type) {
  expect_config_error(R"({"template":"{a}\n","fields":[{"name":"a","type":"alpha"}]})",
                      "operations.t.reply.fields[0].type: unknown value \"alpha\", must be one of "
                      "text, token, number");
}

BOOST_AUTO_TEST_CASE(length_from_unknown_field) {
  expect_config_error(R"({"template":"{a}\n","fields":[{"name":"a","length_from":"n"}]})",
                      "operations.t.reply.fields[0].length_from: no field named \"n\"");
}

BOOST_AUTO_TEST_CASE(describe_shows_templates_and_field_types) {
  auto b = must_build(get_reply);
  const json::object d = b->lay->describe();
  BOOST_TEST(d.at("type").as_string() == "template");
  BOOST_TEST(d.at("alternatives").as_array().size() == 4u);
  BOOST_TEST(d.at("alternatives").as_array()[1].as_object().at("template").as_string() ==
             "END\r\n");
  BOOST_TEST(b->lay->describe_field(2).at("type").as_string() == "number");
  auto g = must_build(get_request);
  BOOST_TEST(g->lay->describe().at("template").as_string() == "get {key}\r\n");
  BOOST_TEST(g->lay->describe_field(0).at("max_length").to_number<int>() == 250);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the shipped profile through the pipeline ------------------------------------------------

namespace {

std::shared_ptr<const profile> memcached() {
  static std::shared_ptr<const profile> p = [] {
    compile_output out =
        load_profile(std::string(DRAGOMAN_SOURCE_DIR) + "/profiles/memcached-text.json");
    std::string all;
    for (const auto& e : out.errors) all += e + "\n";
    BOOST_TEST_REQUIRE(out.errors.empty(), all);
    return out.compiled;
  }();
  return p;
}

std::string encode_request(const std::string& op, std::string_view fields_json) {
  auto p = memcached();
  const operation* o = p->find_operation(op);
  BOOST_REQUIRE(o);
  counter_generation_context gen(*p);
  record r;
  auto mapped = map_request(o->request, json::parse(fields_json).as_object(), gen, r);
  BOOST_TEST_REQUIRE(mapped.has_value(), (mapped ? "" : mapped.error().to_string()));
  byte_buffer payload, frame;
  auto res = encode_message(*p, o->request, r, payload, frame);
  BOOST_TEST_REQUIRE(res.has_value(), (res ? "" : res.error().to_string()));
  return std::string(as_chars(frame));
}

struct reply {
  std::string json;
  reply_outcome outcome;
};

reply decode_reply(const std::string& op, std::string_view wire) {
  auto p = memcached();
  const operation* o = p->find_operation(op);
  BOOST_REQUIRE(o);
  auto decoder = p->framing->make_decoder();
  frame_result fr = decoder->decode(as_bytes(wire));
  BOOST_REQUIRE(fr.status == frame_status::frame);
  BOOST_REQUIRE(fr.consumed == wire.size());
  record r;
  auto d = decode_payload(*p, fr.payload, r, decode_preference::replies_first, o);
  BOOST_TEST_REQUIRE(d.has_value(), (d ? "" : d.error().to_string()));
  BOOST_REQUIRE(d->is_reply);
  return reply{json::serialize(map_reply(o->reply, r, false)), classify_reply(*o, r)};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(memcached_profile)

// Wire forms: memcached protocol.txt; replies as memcached 1.6.18 sent them on loopback.
BOOST_AUTO_TEST_CASE(requests) {
  BOOST_TEST(encode_request("get", R"({"key":"k"})") == "get k\r\n");
  BOOST_TEST(encode_request("set", R"({"key":"k","value":"hello"})") == "set k 0 0 5\r\nhello\r\n");
  BOOST_TEST(encode_request("set", R"({"key":"k","value":"a\r\nb","flags":7,"ttl":60})") ==
             "set k 7 60 4\r\na\r\nb\r\n");
  BOOST_TEST(encode_request("delete", R"({"key":"k"})") == "delete k\r\n");
  BOOST_TEST(encode_request("incr", R"({"key":"n","delta":5})") == "incr n 5\r\n");
}

BOOST_AUTO_TEST_CASE(get_replies) {
  auto hit = decode_reply("get", "VALUE k 7 5\r\nhello\r\nEND\r\n");
  BOOST_TEST(hit.json == R"({"found":true,"flags":7,"value":"hello"})");
  BOOST_TEST(hit.outcome.success);
  auto miss = decode_reply("get", "END\r\n");
  BOOST_TEST(miss.json == R"({"found":false})");
  BOOST_TEST(miss.outcome.success);
  auto err = decode_reply("get", "SERVER_ERROR out of memory\r\n");
  BOOST_TEST(!err.outcome.success);
  BOOST_TEST(err.outcome.code == "SERVER_ERROR");
  BOOST_TEST(err.outcome.message == "out of memory");
}

BOOST_AUTO_TEST_CASE(set_delete_incr_replies) {
  auto stored = decode_reply("set", "STORED\r\n");
  BOOST_TEST(stored.json == R"({"stored":true})");
  BOOST_TEST(stored.outcome.success);
  auto not_stored = decode_reply("set", "NOT_STORED\r\n");
  BOOST_TEST(!not_stored.outcome.success);
  BOOST_TEST(not_stored.outcome.code == "NOT_STORED");
  auto client = decode_reply("set", "CLIENT_ERROR bad data chunk\r\n");
  BOOST_TEST(client.outcome.code == "CLIENT_ERROR");
  BOOST_TEST(client.outcome.message == "bad data chunk");
  BOOST_TEST(decode_reply("delete", "DELETED\r\n").outcome.success);
  auto gone = decode_reply("delete", "NOT_FOUND\r\n");
  BOOST_TEST(!gone.outcome.success);
  BOOST_TEST(gone.outcome.code == "NOT_FOUND");
  auto n = decode_reply("incr", "42\r\n");
  BOOST_TEST(n.json == R"({"value":42})");
  BOOST_TEST(n.outcome.success);
  BOOST_TEST(decode_reply("incr", "NOT_FOUND\r\n").outcome.code == "NOT_FOUND");
  BOOST_TEST(decode_reply("incr", "ERROR\r\n").outcome.code == "ERROR");
}

BOOST_AUTO_TEST_CASE(policies) {
  auto p = memcached();
  BOOST_TEST((p->correlation.mode == correlation_mode::ordered));
  BOOST_TEST(p->find_operation("get")->idempotent);
  BOOST_TEST(p->find_operation("set")->idempotent);
  BOOST_TEST(p->find_operation("delete")->idempotent);
  BOOST_TEST(!p->find_operation("incr")->idempotent);
}

BOOST_AUTO_TEST_SUITE_END()
