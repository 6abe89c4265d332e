// Tests for the delimited layout: positions, components, escapes, numbers, malformed input, config.
#define BOOST_TEST_MODULE layout_delimited_test
#include <boost/test/unit_test.hpp>

#include "codecs/layout.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

using namespace dragoman::codecs;
namespace json = boost::json;

namespace {

const std::string message_path = "operations.t.request";

// What the profile compiler does around a layout (see layout_fixed_test.cpp).
struct built {
  json::value doc;
  diagnostics diag;
  std::unique_ptr<config_object> message;
  std::vector<config_object> fields;
  std::unique_ptr<layout> lay;
  std::size_t field_count = 0;

  std::string errors() const {
    std::string s;
    for (const auto& e : diag.errors()) s += e + "\n";
    return s;
  }
  bool has_error(std::string_view line) const {
    const auto& e = diag.errors();
    return std::find(e.begin(), e.end(), line) != e.end();
  }
};

std::unique_ptr<built> build(std::string_view message_json) {
  auto b = std::make_unique<built>();
  b->doc = json::parse(message_json);
  const json::object& m = b->doc.as_object();
  b->message = std::make_unique<config_object>(m, message_path, b->diag);
  std::vector<std::string> names;
  const json::array& fields = m.at("fields").as_array();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    b->fields.emplace_back(fields[i].as_object(),
                           message_path + ".fields[" + std::to_string(i) + "]", b->diag);
    names.push_back(std::string(fields[i].as_object().at("name").as_string()));
  }
  b->field_count = fields.size();
  static const json::object profile;
  layout_context ctx{*b->message, b->fields, names, find_charset("ascii"), profile};
  b->lay = make_layout("delimited", ctx);
  for (auto& f : b->fields) {
    f.accept("name");
    f.finish();
  }
  b->message->accept("fields");
  b->message->finish();
  return b;
}

// Values as a JSON array: strings, null for absent.
void fill(record& r, std::size_t n, std::string_view values_json) {
  r.reset(n);
  const json::array values = json::parse(values_json).as_array();
  for (std::size_t i = 0; i < values.size() && i < n; ++i)
    if (values[i].is_string()) r.set(i, std::string_view(values[i].as_string()));
}

std::string as_json(const record& r) {
  json::array a;
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (r.has(i))
      a.emplace_back(json::string(r.get(i)));
    else
      a.emplace_back(nullptr);
  }
  return json::serialize(a);
}

struct vector_case {
  const char* source;
  const char* message_json;
  const char* values;   // JSON array, null = absent
  const char* wire;     // bytes as a C string
  const char* decoded;  // JSON array after decoding the wire
};

constexpr const char* three_text = R"({"separator":"|","fields":[
  {"name":"a"},{"name":"b"},{"name":"c"}]})";

// HL7 v2.5 section 2.5 (message construction): | separates fields, ^ components, \ escapes.
constexpr const char* hl7_like = R"({"separator":"|","component_separator":"^","escape":"\\",
  "fields":[{"name":"segment","position":0},
            {"name":"family","position":5,"component":0},
            {"name":"given","position":5,"component":1},
            {"name":"birth","position":7}]})";

const vector_case vectors[] = {
    {"fields in order", three_text, R"(["x","y","z"])", "x|y|z", R"(["x","y","z"])"},
    {"absent encodes as empty; empty text decodes as present empty", three_text,
     R"(["x",null,"z"])", "x||z", R"(["x","","z"])"},
    {"positions leave empty fields between",
     R"({"separator":"|","fields":[{"name":"a","position":0},{"name":"b","position":3}]})",
     R"(["x","y"])", "x|||y", R"(["x","y"])"},
    {"positions may be listed out of order",
     R"({"separator":",","fields":[{"name":"a","position":2},{"name":"b","position":0}]})",
     R"(["x","y"])", "y,,x", R"(["x","y"])"},
    {"HL7 v2.5 2.A.89 XPN: PID-5 family^given", hl7_like, R"(["PID","DOE","JOHN","19700101"])",
     "PID|||||DOE^JOHN||19700101", R"(["PID","DOE","JOHN","19700101"])"},
    {"HL7 escape of | and ^ and \\ in a value (section 2.7 escape sequences, single-char form)",
     hl7_like, R"(["PID","O|B^R\\IEN","JO","1"])", "PID|||||O\\|B\\^R\\\\IEN^JO||1",
     R"(["PID","O|B^R\\IEN","JO","1"])"},
    {"multi-byte separator and terminator (CSV-like, RFC 4180 line end CRLF)",
     R"({"separator":"::","terminator":"\r\n","fields":[{"name":"a"},{"name":"b"}]})",
     R"(["1","2"])", "1::2\r\n", R"(["1","2"])"},
    {"numeric with 2 decimals written with a point",
     R"({"separator":"|","fields":[{"name":"amount","type":"numeric","decimals":2},
        {"name":"n","type":"numeric","signed":true}]})",
     R"(["12.5","-3"])", "12.50|-3", R"(["12.50","-3"])"},
    {"numeric with implied decimals",
     R"({"separator":"|","fields":[{"name":"amount","type":"numeric","decimals":2,
        "implied_decimals":true,"signed":true}]})",
     R"(["-0.05"])", "-5", R"(["-0.05"])"},
    {"absent numeric is an empty field and decodes as absent",
     R"({"separator":"|","fields":[{"name":"a"},{"name":"n","type":"numeric"}]})", R"(["x",null])",
     "x|", R"(["x",null])"},
    {"separator as raw byte values (ASCII US 0x1F)",
     R"({"separator":[31],"fields":[{"name":"a"},{"name":"b"}]})", R"(["x","y"])", "x\x1fy",
     R"(["x","y"])"},
    {"IBM CCSID 037: the | separator is 4F, digits F0-F9",
     R"({"separator":"|","charset":"ebcdic-cp037","fields":[{"name":"a"},
        {"name":"n","type":"numeric","decimals":1}]})",
     R"(["AB","1.5"])", "\xc1\xc2\x4f\xf1\x4b\xf5", R"(["AB","1.5"])"},
};

}  // namespace

BOOST_AUTO_TEST_CASE(vectors_encode_and_decode) {
  for (const auto& v : vectors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build(v.message_json);
      BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
      record r;
      fill(r, b->field_count, v.values);
      byte_buffer out;
      auto enc = b->lay->encode(r, out);
      BOOST_REQUIRE_MESSAGE(enc.has_value(), enc.error().to_string());
      BOOST_TEST(std::string(as_chars(out)) == v.wire);
      record back;
      back.reset(b->field_count);
      auto dec = b->lay->decode(as_bytes(v.wire), back);
      BOOST_REQUIRE_MESSAGE(dec.has_value(), dec.error().to_string());
      BOOST_TEST(as_json(back) == v.decoded);
    }
  }
}

namespace {
const vector_case decode_vectors[] = {
    {"fewer fields on the line: missing positions are absent", three_text, "", "x",
     R"(["x",null,null])"},
    {"terminator is optional on decode",
     R"({"separator":"|","terminator":"\r\n","fields":[{"name":"a"},{"name":"b"}]})", "", "1|2",
     R"(["1","2"])"},
    {"extra fields are ignored", three_text, "", "1|2|3|4|5", R"(["1","2","3"])"},
    {"missing component is absent", hl7_like, "", "PID|||||DOE", R"(["PID","DOE",null,null])"},
    {"a dangling escape at the end is kept", hl7_like, "", "PID|||||DOE\\",
     R"(["PID","DOE\\",null,null])"},
    {"escape of an ordinary character keeps the character", hl7_like, "", "PID|||||D\\OE",
     R"(["PID","DOE",null,null])"},
    {"numeric accepts fewer decimals and a plus",
     R"({"separator":"|","fields":[{"name":"n","type":"numeric","decimals":2,"signed":true}]})", "",
     "+7.5", R"(["7.50"])"},
};
}  // namespace

BOOST_AUTO_TEST_CASE(decode_only_vectors) {
  for (const auto& v : decode_vectors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build(v.message_json);
      BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
      record back;
      back.reset(b->field_count);
      auto dec = b->lay->decode(as_bytes(v.wire), back);
      BOOST_REQUIRE_MESSAGE(dec.has_value(), dec.error().to_string());
      BOOST_TEST(as_json(back) == v.decoded);
    }
  }
}

namespace {
struct error_case {
  const char* source;
  const char* message_json;
  const char* values_or_wire;
  errc code;
  const char* where;
  const char* message;
};

const error_case encode_errors[] = {
    {"a separator in a value without an escape", three_text, R"(["a|b"])", errc::invalid_field, "a",
     "contains the separator \"|\" and the layout has no escape"},
    {"max_length", R"({"separator":"|","fields":[{"name":"a","max_length":3}]})", R"(["abcd"])",
     errc::invalid_field, "a", "is 4 characters, longer than its max_length 3"},
    {"numeric letters", R"({"separator":"|","fields":[{"name":"n","type":"numeric"}]})",
     R"(["1x"])", errc::invalid_field, "n", "must be numeric"},
    {"numeric unsigned rejects a sign",
     R"({"separator":"|","fields":[{"name":"n","type":"numeric"}]})", R"(["-1"])",
     errc::invalid_field, "n", "must not have a sign (the field is unsigned)"},
    {"numeric decimals",
     R"({"separator":"|","fields":[{"name":"n","type":"numeric","decimals":1}]})", R"(["1.25"])",
     errc::invalid_field, "n", "has more than the 1 decimals allowed"},
    {"numeric max_length",
     R"({"separator":"|","fields":[{"name":"n","type":"numeric","decimals":2,"max_length":4}]})",
     R"(["12.5"])", errc::invalid_field, "n", "is 5 characters, longer than its max_length 4"},
    {"unmappable character", R"({"separator":"|","fields":[{"name":"a"}]})", "[\"\xc3\xa9\"]",
     errc::unmappable_char, "a", nullptr},
};

const error_case decode_errors[] = {
    {"numeric: not a digit, offset from the payload start",
     R"({"separator":"|","fields":[{"name":"a"},{"name":"n","type":"numeric"}]})", "abc|12x",
     errc::malformed, "n", "not a digit at offset 6"},
    {"numeric: too many decimals",
     R"({"separator":"|","fields":[{"name":"n","type":"numeric","decimals":2}]})", "1.234",
     errc::malformed, "n", "has more than the 2 decimals allowed at offset 0"},
    {"numeric: sign in an unsigned field",
     R"({"separator":"|","fields":[{"name":"n","type":"numeric"}]})", "-1", errc::malformed, "n",
     "must not have a sign (the field is unsigned) at offset 0"},
    {"numeric: point with implied decimals",
     R"({"separator":"|","fields":[{"name":"n","type":"numeric","decimals":2,
        "implied_decimals":true}]})",
     "1.5", errc::malformed, "n", "not a digit at offset 1"},
    {"numeric: a lone point", R"({"separator":"|","fields":[{"name":"n","type":"numeric"}]})", ".",
     errc::malformed, "n", "must be numeric at offset 0"},
    {"text: byte with no character in ASCII", R"({"separator":"|","fields":[{"name":"a"}]})",
     "\x80", errc::malformed, "a", nullptr},
};
}  // namespace

BOOST_AUTO_TEST_CASE(encode_errors_name_the_field) {
  for (const auto& v : encode_errors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build(v.message_json);
      BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
      record r;
      fill(r, b->field_count, v.values_or_wire);
      byte_buffer out;
      auto enc = b->lay->encode(r, out);
      BOOST_REQUIRE(!enc.has_value());
      BOOST_TEST(to_string(enc.error().code) == to_string(v.code));
      BOOST_TEST(enc.error().where == v.where);
      if (v.message) BOOST_TEST(enc.error().message == v.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(malformed_inputs) {
  for (const auto& v : decode_errors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build(v.message_json);
      BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
      record r;
      r.reset(b->field_count);
      auto dec = b->lay->decode(as_bytes(v.values_or_wire), r);
      BOOST_REQUIRE(!dec.has_value());
      BOOST_TEST(to_string(dec.error().code) == to_string(v.code));
      BOOST_TEST(dec.error().where == v.where);
      if (v.message) BOOST_TEST(dec.error().message == v.message);
    }
  }
}

namespace {
struct config_case {
  const char* source;
  const char* message_json;
  const char* error;
};

const config_case config_errors[] = {
    {"separator is required", R"({"fields":[{"name":"a"}]})",
     "operations.t.request.separator: is required"},
    {"separator not empty", R"({"separator":"","fields":[{"name":"a"}]})",
     "operations.t.request.separator: must not be empty"},
    {"separator bytes 0..255", R"({"separator":[300],"fields":[{"name":"a"}]})",
     "operations.t.request.separator: must be a string or an array of byte values 0..255"},
    {"component needs component_separator",
     R"({"separator":"|","fields":[{"name":"a","component":1}]})",
     "operations.t.request.fields[0].component: needs the message's component_separator"},
    {"component_separator differs from separator",
     R"({"separator":"|","component_separator":"|","fields":[{"name":"a"}]})",
     "operations.t.request.component_separator: must differ from separator"},
    {"escape is one character", R"({"separator":"|","escape":"\\\\","fields":[{"name":"a"}]})",
     "operations.t.request.escape: must be one character"},
    {"escape differs from the separators",
     R"({"separator":"|","escape":"|","fields":[{"name":"a"}]})",
     "operations.t.request.escape: must differ from the separators and terminator"},
    {"two fields at one position",
     R"({"separator":"|","fields":[{"name":"a","position":1},{"name":"b","position":1}]})",
     "operations.t.request.fields[1].position: position 1 is already used by field \"a\""},
    {"a whole field and a component at one position",
     R"({"separator":"|","component_separator":"^","fields":[{"name":"a","position":1},
        {"name":"b","position":1,"component":0}]})",
     "operations.t.request.fields[1].component: position 1 component 0 is already used by field "
     "\"a\""},
    {"position is not negative", R"({"separator":"|","fields":[{"name":"a","position":-1}]})",
     "operations.t.request.fields[0].position: must be >= 0"},
    {"type", R"({"separator":"|","fields":[{"name":"a","type":"date"}]})",
     "operations.t.request.fields[0].type: unknown value \"date\", must be one of text, numeric"},
    {"decimals only for numeric (finish)",
     R"({"separator":"|","fields":[{"name":"a","decimals":2}]})",
     "operations.t.request.fields[0].decimals: unknown key"},
    {"max_length > 0", R"({"separator":"|","fields":[{"name":"a","max_length":0}]})",
     "operations.t.request.fields[0].max_length: must be > 0"},
};
}  // namespace

BOOST_AUTO_TEST_CASE(config_errors_have_paths) {
  for (const auto& v : config_errors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build(v.message_json);
      BOOST_TEST_INFO("reported:\n" << b->errors());
      BOOST_TEST(b->has_error(v.error));
      // Unknown keys are the caller's finish(), after the layout was built.
      if (!std::string_view(v.error).ends_with("unknown key")) BOOST_TEST(!b->lay);
    }
  }
}

BOOST_AUTO_TEST_CASE(describe_reports_the_layout) {
  auto b = build(hl7_like);
  BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
  BOOST_TEST(
      json::serialize(b->lay->describe()) ==
      R"({"type":"delimited","separator":"\"|\"","component_separator":"\"^\"","escape":"\"\\x5c\"","charset":"ascii"})");
  BOOST_TEST(json::serialize(b->lay->describe_field(2)) ==
             R"({"position":5,"component":1,"type":"text"})");
}

BOOST_AUTO_TEST_CASE(every_key_is_read) {
  auto b = build(R"({"separator":"|","component_separator":"^","escape":"\\","terminator":"\r",
    "charset":"latin1","fields":[
    {"name":"a","position":0,"type":"text","max_length":5},
    {"name":"n","position":1,"component":0,"type":"numeric","decimals":2,"signed":true,
     "implied_decimals":false,"max_length":9}]})");
  BOOST_TEST(b->diag.ok(), b->errors());
  BOOST_TEST(b->lay);
}
