// Profile compilation: every mistake reported with its path, syntax errors with line and column.
#define BOOST_TEST_MODULE profile_test
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "codecs/profile.hpp"
#include "codecs/secret.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

using namespace dragoman::codecs;

namespace {

const char* const good = R"({
  // comments and trailing commas are allowed
  "name": "t",
  "framing": {"type": "length_prefix", "length_field_length": 2, "max_frame_length": 100},
  "charset": "ascii",
  "correlation": {"mode": "field", "field": "trace"},
  "operations": {
    "ping": {
      "request": {"layout": "fixed", "fields": [
        {"name": "code", "length": 4, "value": "PING"},
        {"name": "trace", "length": 6, "type": "numeric", "generate": "counter"},
        {"name": "who", "length": 8, "from": "who", "required": true},
      ]},
      "reply": {"layout": "fixed", "match": {"code": "PONG"}, "fields": [
        {"name": "code", "length": 4},
        {"name": "trace", "length": 6, "type": "numeric"},
        {"name": "rc", "length": 2, "to": "rc"}
      ], "result": {"field": "rc", "success": ["00"]}}
    }
  }
})";

bool has_error(const compile_output& out, const std::string& text) {
  return std::any_of(out.errors.begin(), out.errors.end(),
                     [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

std::string all_errors(const compile_output& out) {
  std::string s;
  for (const auto& e : out.errors) s += e + "\n";
  return s;
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  BOOST_REQUIRE_MESSAGE(pos != std::string::npos, "test fixture lacks " + from);
  return text.replace(pos, from.size(), to);
}

}  // namespace

BOOST_AUTO_TEST_CASE(good_profile_compiles) {
  auto out = compile_profile(good);
  BOOST_TEST_REQUIRE(out.errors.empty(), all_errors(out));
  const profile& p = *out.compiled;
  BOOST_TEST(p.name == "t");
  BOOST_TEST_REQUIRE(p.operations.size() == 1u);
  const operation& op = p.operations[0];
  BOOST_TEST(op.request.fields.size() == 3u);
  BOOST_TEST(op.request.correlation_field.value() == 1u);
  BOOST_TEST(op.reply.correlation_field.value() == 1u);
  // Only an explicit match recognises a message: the request's constant code is not one.
  BOOST_TEST(op.request.match.size() == 0u);
  BOOST_TEST(op.reply.match.size() == 1u);
  BOOST_TEST(op.result.field.value() == 2u);
  BOOST_TEST(p.counter_count == 1u);
  auto d = p.describe();
  BOOST_TEST(d.at("operations").at("ping").at("request").at("fields").as_array().size() == 3u);
}

BOOST_AUTO_TEST_CASE(upstream_tls_is_read_and_described) {
  auto out = compile_profile(replace(good, R"("charset": "ascii")",
                                     R"("charset": "ascii", "upstream": {"tls": {"ca": "ca.pem",
                                       "cert": "c.pem", "key": "k.pem", "min_version": "1.3"}})"));
  BOOST_REQUIRE_MESSAGE(out.compiled, all_errors(out));
  const auto& t = out.compiled->upstream.tls;
  BOOST_TEST(t.enabled);
  BOOST_TEST(t.ca == "ca.pem");
  BOOST_TEST(t.min_version == "1.3");
  auto d = out.compiled->describe();
  BOOST_TEST(d.at("upstream").at("tls").at("cert").as_string() == "c.pem");
  auto off = compile_profile(good);
  BOOST_REQUIRE(off.compiled);
  BOOST_TEST(!off.compiled->upstream.tls.enabled);
  BOOST_TEST(!off.compiled->describe().at("upstream").as_object().contains("tls"));
}

BOOST_AUTO_TEST_CASE(secrets_come_from_the_environment_or_a_file_and_are_masked) {
  ::setenv("DRAGOMAN_TEST_SIGN_ON_PW", "s3cret", 1);
  const std::string file = "profile_test_secret.txt";
  std::ofstream(file) << "t0ken\n";
  auto out = compile_profile(
      replace(good, R"({"name": "who", "length": 8, "from": "who", "required": true},)",
              R"({"name": "who", "length": 8, "from": "who", "required": true},
         {"name": "pw", "length": 8, "value": "env:DRAGOMAN_TEST_SIGN_ON_PW"},
         {"name": "tok", "length": 8, "default": "file:)" +
                  file + R"(", "from": "tok"},)"));
  BOOST_REQUIRE_MESSAGE(out.compiled, all_errors(out));
  const auto& fields = out.compiled->operations.at(0).request.fields;
  auto field = [&](std::string_view name) -> const field_spec& {
    return *std::find_if(fields.begin(), fields.end(),
                         [&](const field_spec& f) { return f.name == name; });
  };
  BOOST_TEST(*field("pw").constant == "s3cret");
  BOOST_TEST(field("pw").sensitive);
  BOOST_TEST(*field("tok").default_value == "t0ken");  // the trailing newline dropped
  BOOST_TEST(field("tok").sensitive);
  const std::string described = boost::json::serialize(out.compiled->describe());
  BOOST_TEST(described.find("s3cret") == std::string::npos);
  BOOST_TEST(described.find("t0ken") == std::string::npos);
  std::remove(file.c_str());

  auto missing = compile_profile(
      replace(good, R"({"name": "who", "length": 8, "from": "who", "required": true},)",
              R"({"name": "who", "length": 8, "from": "who", "required": true},
         {"name": "pw", "length": 8, "value": "env:DRAGOMAN_TEST_NOT_SET_ANYWHERE"},
         {"name": "tok", "length": 8, "value": "file:/nonexistent/secret"},)"));
  BOOST_TEST(has_error(missing,
                       "operations.ping.request.fields[3].value: environment variable "
                       "DRAGOMAN_TEST_NOT_SET_ANYWHERE is not set"),
             all_errors(missing));
  BOOST_TEST(has_error(missing, "/nonexistent/secret: cannot be read"), all_errors(missing));
  std::string why;
  BOOST_TEST(!resolve_secret("env:", why).has_value());
  BOOST_TEST(resolve_secret("plain", why).value() == "plain");
}

BOOST_AUTO_TEST_CASE(negative_length_is_named_by_path) {
  auto out = compile_profile(
      replace(good, R"("name": "who", "length": 8)", R"("name": "who", "length": -3)"));
  BOOST_TEST(!out.compiled);
  BOOST_TEST(has_error(out, "operations.ping.request.fields[2].length: must be > 0"),
             all_errors(out));
}

BOOST_AUTO_TEST_CASE(unknown_framing_type_is_named) {
  auto out = compile_profile(replace(good, R"("type": "length_prefix")", R"("type": "smoke")"));
  BOOST_TEST(has_error(out, "framing.type"), all_errors(out));
}

BOOST_AUTO_TEST_CASE(every_mistake_is_reported_not_just_the_first) {
  std::string bad = replace(good, R"("charset": "ascii")", R"("charset": "klingon")");
  bad = replace(bad, R"("name": "who", "length": 8)", R"("name": "who", "length": 0)");
  bad = replace(bad, R"("field": "rc")", R"("field": "nope")");
  auto out = compile_profile(bad);
  BOOST_TEST(has_error(out, "charset: unknown charset \"klingon\""), all_errors(out));
  BOOST_TEST(has_error(out, "operations.ping.request.fields[2].length"), all_errors(out));
  BOOST_TEST(has_error(out, "operations.ping.reply.result.field: no reply field named \"nope\""),
             all_errors(out));
  BOOST_TEST(out.errors.size() >= 3u);
}

BOOST_AUTO_TEST_CASE(unknown_keys_are_reported) {
  auto out = compile_profile(
      replace(good, R"("charset": "ascii")", R"("charset": "ascii", "framming": {})"));
  BOOST_TEST(has_error(out, "framming: unknown key"), all_errors(out));
}

BOOST_AUTO_TEST_CASE(missing_correlation_field_is_reported) {
  auto out = compile_profile(replace(good, R"({"name": "trace", "length": 6, "type": "numeric"})",
                                     R"({"name": "tracer", "length": 6, "type": "numeric"})"));
  BOOST_TEST(has_error(out, "operations.ping.reply.fields: has no field \"trace\""),
             all_errors(out));
}

BOOST_AUTO_TEST_CASE(match_naming_an_unknown_field) {
  auto out = compile_profile(replace(good, R"({"code": "PONG"})", R"({"kode": "PONG"})"));
  BOOST_TEST(has_error(out, "operations.ping.reply.match.kode"), all_errors(out));
}

BOOST_AUTO_TEST_CASE(truncated_file_gives_line_and_column) {
  std::string text = good;
  text.resize(text.size() / 2);
  auto out = compile_profile(text);
  BOOST_TEST_REQUIRE(out.errors.size() == 1u);
  BOOST_TEST(out.errors[0].find("line ") == 0u, out.errors[0]);
  BOOST_TEST(out.errors[0].find("column") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(syntax_error_position) {
  auto out = compile_profile("{\n  \"name\": \"x\",\n  \"framing\" {}\n}");
  BOOST_TEST_REQUIRE(out.errors.size() == 1u);
  BOOST_TEST(out.errors[0].find("line 3, column 13") == 0u, out.errors[0]);
}

BOOST_AUTO_TEST_CASE(root_must_be_an_object) {
  auto out = compile_profile("[1,2]");
  BOOST_TEST(has_error(out, "must be a JSON object"));
}

BOOST_AUTO_TEST_CASE(missing_sections) {
  auto out = compile_profile(R"({"name": "x"})");
  BOOST_TEST(has_error(out, "framing: is required"), all_errors(out));
  BOOST_TEST(has_error(out, "operations: is required"), all_errors(out));
}

BOOST_AUTO_TEST_CASE(unreadable_file) {
  auto out = load_profile("/nonexistent/profile.json");
  BOOST_TEST(has_error(out, "/nonexistent/profile.json: cannot be read"));
}

BOOST_AUTO_TEST_CASE(shipped_acme_core_compiles) {
  auto out = load_profile(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json");
  BOOST_TEST_REQUIRE(out.errors.empty(), all_errors(out));
  BOOST_TEST(out.compiled->find_operation("balance")->idempotent);
  BOOST_TEST(!out.compiled->find_operation("transfer")->idempotent);
}

// `dragoman check` names every mistake of a section in one run, each once and with its path, and
// nothing that is not a mistake. Each case puts several mistakes into one section of the good
// profile and lists the exact errors expected, in the order they are found.
namespace {

struct edit {
  const char* from;
  const char* to;
};

struct section_case {
  const char* section;
  std::vector<edit> edits;
  std::vector<std::string> expected;
};

std::ostream& operator<<(std::ostream& os, const section_case& c) {
  return os << c.section;
}

const section_case section_cases[] = {
    {"framing (length_prefix)",
     {{R"("length_field_length": 2, "max_frame_length": 100)",
       R"("length_field_length": 2, "byte_order": "bigg", "max_frame_length": 70000, "strip": 2)"}},
     {R"(framing.byte_order: unknown value "bigg", must be one of big, little)",
      "framing.max_frame_length: exceeds what a 2-byte length can express (65535), the largest "
      "frame it can describe is 65537 bytes",
      "framing.strip: unknown key"}},
    {"framing (length_prefix, two size checks)",
     {{R"("length_field_length": 2, "max_frame_length": 100)",
       R"("length_field_length": 2, "initial_bytes_to_strip": 5, "max_frame_length": 1)"}},
     {"framing.initial_bytes_to_strip: 5 is larger than the header (2 bytes: length_field_offset + "
      "length_field_length)",
      "framing.max_frame_length: 1 is smaller than the shortest frame (2 bytes)"}},
    {"framing (delimiter)",
     {{R"({"type": "length_prefix", "length_field_length": 2, "max_frame_length": 100})",
       R"({"type": "delimiter", "delimiters": [], "strip": "yes", "max_frame_length": 0})"}},
     {"framing.delimiters: must not be empty", "framing.strip: must be true or false",
      "framing.max_frame_length: must be > 0"}},
    {"framing (line_blocks)",
     {{R"({"type": "length_prefix", "length_field_length": 2, "max_frame_length": 100})",
       R"({"type": "line_blocks", "line_end": "\r\n", "max_frame_length": 1,
           "blocks": [{"length_token": 1}], "continue_prefix": ["x"]})"}},
     {"framing.blocks[0].prefix: is required",
      "framing.max_frame_length: must be at least the length of line_end (2)",
      "framing.continue_prefix: unknown key"}},
    {"framing (stx_etx)",
     {{R"({"type": "length_prefix", "length_field_length": 2, "max_frame_length": 100})",
       R"({"type": "stx_etx", "max_frame_length": -1, "lrc": 1, "lrc_covers": "payload"})"}},
     {"framing.max_frame_length: must be > 0", "framing.lrc: must be true or false",
      "framing.lrc_covers: only applies when lrc is true"}},
    {"framing (unknown type)",
     {{R"({"type": "length_prefix", "length_field_length": 2, "max_frame_length": 100})",
       R"({"type": "lenght_prefix", "length_field_length": 2, "max_frame_length": 100})"}},
     {R"(framing.type: unknown value "lenght_prefix", must be one of length_prefix, delimiter, )"
      "mllp, stx_etx, fixed_size, line_blocks, tag_value"}},
    {"charset",
     {{R"("charset": "ascii")", R"("charset": "latin9")"},
      {R"({"name": "who", "length": 8, "from": "who", "required": true})",
       R"({"name": "who", "length": 8, "from": "who", "required": true, "charset": "klingon"})"}},
     {R"(charset: unknown charset "latin9", must be one of )" + names_list(charset_names()),
      R"(operations.ping.request.fields[2].charset: unknown charset "klingon", must be one of )" +
          names_list(charset_names())}},
    {"checksum",
     {{R"("charset": "ascii")",
       R"("charset": "ascii", "checksum": {"type": "crc32", "byte_order": "middle",
           "encoding": "base64", "covers": 2})"}},
     {R"(checksum.byte_order: unknown value "middle", must be one of big, little)",
      R"(checksum.encoding: unknown value "base64", must be one of binary, hex, decimal)",
      "checksum.covers: unknown key"}},
    {"correlation",
     {{R"("correlation": {"mode": "field", "field": "trace"})",
       R"("correlation": {"mode": "byfield", "also": [3], "feld": "trace"})"}},
     {R"(correlation.mode: unknown value "byfield", must be one of sequential, ordered, field)",
      "correlation.also[0]: must be a field name", "correlation.feld: unknown key"}},
    {"upstream",
     {{R"("charset": "ascii")",
       R"("charset": "ascii", "upstream": {"endpoints": [""], "connections": 0,
           "connect_timeout_ms": "fast", "max_timeout": 5})"}},
     {R"(upstream.endpoints[0]: must be a "host:port" string)",
      "upstream.connect_timeout_ms: must be an integer", "upstream.connections: must be > 0",
      "upstream.max_timeout: unknown key"}},
    {"upstream.tls",
     {{R"("charset": "ascii")",
       R"("charset": "ascii", "upstream": {"tls": {"cert": "c.pem", "min_version": "1.1",
           "verify": false}})"}},
     {R"(upstream.tls.min_version: unknown value "1.1", must be one of 1.2, 1.3)",
      "upstream.tls: cert and key go together (mutual TLS needs both)",
      "upstream.tls.verify: unknown key"}},
    {"session",
     {{R"("charset": "ascii")",
       R"("charset": "ascii", "session": {"sign_on": "logon", "heartbeat_interval_ms": -1,
           "answer": [1, "pong"], "echo_timout_ms": 5})"}},
     {R"(session.sign_on: no operation named "logon")",
      "session.heartbeat_interval_ms: must be >= 0", "session.answer[0]: must be an operation name",
      R"(session.answer[1]: no operation named "pong")", "session.echo_timout_ms: unknown key"}},
    {"operation and result",
     {{R"("ping": {)", R"("ping": {"timeout_ms": 0, "idempotant": true,)"},
      {R"("result": {"field": "rc", "success": ["00"]})",
       R"("result": {"field": "rcode", "success": [], "rejected_status": 300})"}},
     {"operations.ping.timeout_ms: must be > 0",
      R"(operations.ping.reply.result.field: no reply field named "rcode")",
      "operations.ping.reply.result.success: must not be empty",
      "operations.ping.reply.result.rejected_status: must be 200 or 422",
      "operations.ping.idempotant: unknown key"}},
    {"fields (common keys)",
     {{R"({"name": "trace", "length": 6, "type": "numeric", "generate": "counter"})",
       R"({"name": "trace", "length": 6, "type": "numeric", "generate": "counter", "width": 0,
           "start": 5, "wrap": 3, "json": "text"})"}},
     {"operations.ping.request.fields[1].json: unknown value \"text\", must be one of string, "
      "number, boolean, array",
      "operations.ping.request.fields[1].width: must be > 0",
      "operations.ping.request.fields[1].wrap: must be >= start"}},
    {"fixed layout (unknown type)",
     {{R"({"name": "who", "length": 8, "from": "who", "required": true})",
       R"({"name": "who", "length": 8, "from": "who", "required": true, "type": "packd",
           "signed": true, "decimals": 2})"},
      {R"({"name": "rc", "length": 2, "to": "rc"})",
       R"({"name": "rc", "length": 2, "to": "rc", "type": "numeric", "decimals": 2, "algn": 1})"}},
     {"operations.ping.request.fields[2].type: unknown value \"packd\", must be one of alpha, "
      "numeric, zoned, packed, binary, hex",
      "operations.ping.reply.fields[2].decimals: must be less than the field's 2 digits",
      "operations.ping.reply.fields[2].algn: unknown key"}},
    {"unknown layout",
     {{R"("reply": {"layout": "fixed",)", R"("reply": {"layout": "fixd", "pad": "x",)"}},
     {"operations.ping.reply.layout: unknown layout \"fixd\", must be one of fixed, delimited, "
      "template, iso8583, binary, tag_value"}},
};

}  // namespace

BOOST_DATA_TEST_CASE(every_mistake_of_a_section_is_named_once,
                     boost::unit_test::data::make(section_cases), c) {
  std::string text = good;
  for (const auto& e : c.edits) text = replace(text, e.from, e.to);
  auto out = compile_profile(text);
  BOOST_TEST(!out.compiled);
  BOOST_TEST(out.errors == c.expected, boost::test_tools::per_element());
  BOOST_TEST(out.errors.size() == c.expected.size(), all_errors(out));
}

// The ISO 8583 dictionary is shared by every message: its mistakes are named once, not per message.
BOOST_AUTO_TEST_CASE(iso8583_dictionary_mistakes_are_named_once) {
  const char* text = R"({
    "name": "iso", "layout": "iso8583", "framing": {"type": "length_prefix", "length_field_length": 2,
    "max_frame_length": 9999},
    "dictionary": {"bitmap_encoding": "base64", "fields": {
      "3": {"type": "nn", "length": 6},
      "4": {"type": "n", "format": "llvar", "length": 120, "lable": "amount"},
      "0": {"type": "n", "length": 4}}},
    "operations": {"auth": {
      "request": {"match": {"mti": "0100"}, "fields": [{"field": 0, "name": "mti", "value": "0100"},
                  {"field": 3, "as": "processing_code"}, {"field": 1, "as": "bitmap"}]},
      "reply": {"match": {"mti": "0110"}, "fields": [{"field": 0, "name": "mti"},
                {"field": 4, "as": "amount"}, {"field": 5, "as": "other"}]}}}
  })";
  auto out = compile_profile(text);
  const std::vector<std::string> expected = {
      R"(dictionary.bitmap_encoding: unknown value "base64", must be one of binary, hex)",
      R"(dictionary.fields.3.type: unknown value "nn", must be one of n, an, ans, b, z)",
      "dictionary.fields.4.length: must be <= 99 for an llvar field",
      "dictionary.fields.4.lable: unknown key",
      "dictionary.fields.0: fields 0 (MTI) and 1 (secondary bitmap) are built in; define 2 to 128",
      "operations.auth.request.fields[2].field: field 1 is the secondary bitmap, written from the "
      "fields present",
      "operations.auth.reply.fields[2].field: field 5 is not in dictionary.fields",
  };
  BOOST_TEST(out.errors == expected, boost::test_tools::per_element());
  BOOST_TEST(out.errors.size() == expected.size(), all_errors(out));
}

// "direction" and "inbound": every mistake named by its path (docs/profiles.md).
BOOST_AUTO_TEST_CASE(inbound_section_mistakes_are_named) {
  auto out = compile_profile(
      replace(good, R"("ping": {)", R"("ping": {"direction": "sideways", "inbound": {}, )"));
  BOOST_TEST(
      has_error(out,
                "operations.ping.direction: unknown value \"sideways\", must be one of outbound, "
                "inbound, both"),
      all_errors(out));

  out = compile_profile(replace(good, R"("ping": {)", R"("ping": {"inbound": {}, )"));
  BOOST_TEST(has_error(out, "operations.ping.inbound: needs \"direction\""), all_errors(out));

  // An inbound request needs a match; values name reply fields and request fields.
  out =
      compile_profile(replace(good, R"("ping": {)", R"("ping": {"direction": "inbound", "inbound": {
      "reply": {"nope": "1", "rc": {"from": "missing"}},
      "negative": {"rc": {"from": "$failure"}},
      "dedupe_key": "absent", "dedupe_window_ms": 0}, )"));
  BOOST_TEST(
      has_error(out, "operations.ping.request: an operation the host sends needs a \"match\""),
      all_errors(out));
  BOOST_TEST(has_error(out, "operations.ping.inbound.reply.nope: no reply field named \"nope\""),
             all_errors(out));
  BOOST_TEST(has_error(out,
                       "operations.ping.inbound.reply.rc.from: no request field named "
                       "\"missing\""),
             all_errors(out));
  BOOST_TEST(!has_error(out, "operations.ping.inbound.negative"), all_errors(out));
  BOOST_TEST(
      has_error(out, "operations.ping.inbound.dedupe_key: no request field named \"absent\""),
      all_errors(out));
  BOOST_TEST(has_error(out, "operations.ping.inbound.dedupe_window_ms"), all_errors(out));

  out = compile_profile(replace(good, R"("ping": {)", R"("ping": {"direction": "both", "inbound": {
      "negative": 7}, )"));
  BOOST_TEST(has_error(out,
                       "operations.ping.inbound.negative: must be an object of reply values, "
                       "or null"),
             all_errors(out));
}
