// Profile compilation: every mistake reported with its path, syntax errors with line and column.
#define BOOST_TEST_MODULE profile_test
#include <boost/test/unit_test.hpp>

#include "codecs/profile.hpp"

#include <algorithm>
#include <string>

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
  // Constants become match rules; explicit ones are kept.
  BOOST_TEST(op.request.match.size() == 1u);
  BOOST_TEST(op.reply.match.size() == 1u);
  BOOST_TEST(op.result.field.value() == 2u);
  BOOST_TEST(p.counter_count == 1u);
  auto d = p.describe();
  BOOST_TEST(d.at("operations").at("ping").at("request").at("fields").as_array().size() == 3u);
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
