// Tests for the delimited layout: positions, components, escapes, numbers, malformed input, config,
// and the segment model (paths, repetitions, subcomponents, HL7 escapes, header, segment groups).
#define BOOST_TEST_MODULE layout_delimited_test
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

std::unique_ptr<built> build(std::string_view message_json) {
  return layouts::build(message_json, "operations.t.request", "delimited", "ascii");
}

// The error of a failed result, "" for a success. Boost.Test builds a check's message even when
// the check passes, and error() must not be called on a success.
std::string error_text(const result<void>& r) {
  return r ? std::string() : r.error().to_string();
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
  const char* decoded;  // JSON array after decoding the wire; null: values cannot be encoded
};

// Decodes v.wire to exactly v.decoded.
void expect_decoded(const built& b, const vector_case& v) {
  record back;
  back.reset(b.field_count);
  auto dec = b.lay->decode(as_bytes(v.wire), back);
  BOOST_REQUIRE_MESSAGE(dec.has_value(), error_text(dec));
  BOOST_TEST(as_json(back) == v.decoded);
}

void check_decode(const vector_case& v) {
  BOOST_TEST_CONTEXT(v.source) {
    auto b = build(v.message_json);
    BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
    expect_decoded(*b, v);
  }
}

// Encodes v.values to exactly v.wire and decodes it back; when v.decoded is null the values must
// not encode (a value that cannot be written unescaped without an escape).
void check_vector(const vector_case& v) {
  BOOST_TEST_CONTEXT(v.source) {
    auto b = build(v.message_json);
    BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
    record r;
    fill(r, b->field_count, v.values);
    byte_buffer out;
    auto enc = b->lay->encode(r, out);
    if (!v.decoded) {
      BOOST_TEST(!enc.has_value());
      return;
    }
    BOOST_REQUIRE_MESSAGE(enc.has_value(), error_text(enc));
    BOOST_TEST(std::string(as_chars(out)) == v.wire);
    expect_decoded(*b, v);
  }
}

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
  for (const auto& v : vectors) check_vector(v);
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
  for (const auto& v : decode_vectors) check_decode(v);
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
      expect_codec_error(enc.error(), v.code, v.where, v.message);
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
      expect_codec_error(dec.error(), v.code, v.where, v.message);
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
      expect_error(*b, v.error);
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

// ---------------------------------------------------------------------------------------------
// The segment model.

namespace {

// HL7 v2.5 section 2.5: segments end in CR, | ^ ~ \ & from MSH-1 and MSH-2.
constexpr const char* hl7_segments = R"({"separator":"|","component_separator":"^",
  "repetition_separator":"~","subcomponent_separator":"&","escape_style":"hl7",
  "segment_separator":"\r","header_segment":"MSH","header_carries_separators":true,
  "segments":["MSH","PID"],
  "fields":[{"name":"app","path":"MSH-3"},
            {"name":"type","path":"MSH-9.1"},{"name":"event","path":"MSH-9.2"},
            {"name":"id","path":"MSH-10"},
            {"name":"mrn","path":"PID-3.1"},{"name":"authority","path":"PID-3.4.2"},
            {"name":"ssn","path":"PID-3[2].1"},
            {"name":"family","path":"PID-5.1"},{"name":"given","path":"PID-5.2"},
            {"name":"weight","path":"PID-9","type":"numeric","decimals":1}]})";

// A generic segmented record, no header: a CSV-like batch with one repeating line type.
constexpr const char* batch = R"({"separator":",","component_separator":":",
  "segment_separator":"\n","segments":["HDR","ITEM","END"],
  "fields":[{"name":"batch","path":"HDR-1"},
            {"name":"items","json":"array","segment":"ITEM","sequence":"n",
             "components":{"n":"1","sku":"2","qty":"3.1","unit":"3.2"}},
            {"name":"count","path":"END-1"}]})";

const vector_case segment_vectors[] = {
    {"HL7 v2.5 2.5: MSH-1 is the separator, MSH-2 the encoding characters, fields from MSH-3",
     hl7_segments, R"(["APP","ADT","A01","42","123",null,null,"DOE","JOHN",null])",
     "MSH|^~\\&|APP||||||ADT^A01|42\rPID|||123||DOE^JOHN\r",
     R"(["APP","ADT","A01","42","123",null,null,"DOE","JOHN",null])"},
    {"repetitions and subcomponents (HL7 v2.5 2.5.5: PID-3 CX repeats, CX.4 is an HD)",
     hl7_segments, R"([null,null,null,null,"123","NPI","999-99",null,null,"72.5"])",
     "MSH|^~\\&\rPID|||123^^^&NPI~999-99||||||72.5\r",
     R"([null,null,null,null,"123","NPI","999-99",null,null,"72.5"])"},
    {"HL7 v2.5 2.7.1 escape sequences for every encoding character", hl7_segments,
     R"(["A|B","C^D","E~F","G&H","I\\J",null,null,null,null,null])",
     "MSH|^~\\&|A\\F\\B||||||C\\S\\D^E\\R\\F|G\\T\\H\rPID|||I\\E\\J\r",
     R"(["A|B","C^D","E~F","G&H","I\\J",null,null,null,null,null])"},
    {"segments with no values are still written (id only)", hl7_segments,
     R"([null,null,null,null,null,null,null,null,null,null])", "MSH|^~\\&\rPID\r",
     R"([null,null,null,null,null,null,null,null,null,null])"},
    {"a repeating group: one line per element, sequence numbered when not given", batch,
     R"(["B1","[{\"sku\":\"A\",\"qty\":2,\"unit\":\"kg\"},{\"n\":\"7\",\"sku\":\"B,C\",\"qty\":\"1\"}]","2"])",
     "HDR,B1\nITEM,1,A,2:kg\nITEM,7,B,C\nEND,2\n", nullptr},
    {"a repeating group with no elements writes no line", batch, R"(["B1","[]","0"])",
     "HDR,B1\nEND,0\n", R"(["B1",null,"0"])"},
};

}  // namespace

BOOST_AUTO_TEST_CASE(segment_vectors_encode_and_decode) {
  for (const auto& v : segment_vectors) check_vector(v);
}

BOOST_AUTO_TEST_CASE(segment_group_round_trip) {
  auto b = build(R"({"separator":",","component_separator":":","escape":"\\",
    "segment_separator":"\n","segments":["HDR","ITEM","END"],
    "fields":[{"name":"batch","path":"HDR-1"},
              {"name":"items","json":"array","segment":"ITEM","sequence":"n",
               "components":{"n":"1","sku":"2","qty":"3.1","unit":"3.2"}},
              {"name":"count","path":"END-1"}]})");
  BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
  record r;
  fill(
      r, b->field_count,
      R"(["B1","[{\"sku\":\"A\",\"qty\":2,\"unit\":\"kg\"},{\"n\":\"7\",\"sku\":\"B,C\",\"qty\":\"1\"}]","2"])");
  byte_buffer out;
  auto enc = b->lay->encode(r, out);
  BOOST_REQUIRE_MESSAGE(enc.has_value(), error_text(enc));
  BOOST_TEST(std::string(as_chars(out)) == "HDR,B1\nITEM,1,A,2:kg\nITEM,7,B\\,C,1\nEND,2\n");
  record back;
  back.reset(b->field_count);
  auto dec = b->lay->decode(out, back);
  BOOST_REQUIRE_MESSAGE(dec.has_value(), error_text(dec));
  BOOST_TEST(
      as_json(back) ==
      R"(["B1","[{\"n\":\"1\",\"sku\":\"A\",\"qty\":\"2\",\"unit\":\"kg\"},{\"n\":\"7\",\"sku\":\"B,C\",\"qty\":\"1\"}]","2"])");
}

namespace {
const vector_case segment_decode_vectors[] = {
    {"no final segment separator", hl7_segments, "", "MSH|^~\\&|APP\rPID|||123",
     R"(["APP",null,null,null,"123",null,null,null,null,null])"},
    {"CR LF between segments, a trailing LF, unknown and Z-segments", hl7_segments, "",
     "MSH|^~\\&|APP\r\nZZZ|x|y\r\nEVN|A01\r\nPID|||123\r\n",
     R"(["APP",null,null,null,"123",null,null,null,null,null])"},
    {"a repeated segment: the first occurrence is read", hl7_segments, "",
     "MSH|^~\\&\rPID|||1\rPID|||2\r", R"([null,null,null,null,"1",null,null,null,null,null])"},
    {"the peer's own encoding characters, read from MSH-1 and MSH-2", hl7_segments, "",
     "MSH#$*/%#APP######ADT$A01#7\rPID###1$$$%NPI*2##O/F/BRIEN$JO\r",
     R"(["APP","ADT","A01","7","1","NPI","2","O#BRIEN","JO",null])"},
    {"\\Xhh\\ is bytes in the charset; unknown escapes stay", hl7_segments, "",
     "MSH|^~\\&|A\\X41420D\\B\\H\\C\\.br\\\r",
     R"(["AAB\rB\\H\\C\\.br\\",null,null,null,null,null,null,null,null,null])"},
    {"an unterminated escape sequence is literal", hl7_segments, "", "MSH|^~\\&|A\\F",
     R"(["A\\F",null,null,null,null,null,null,null,null,null])"},
    {"empty values are absent; missing components and repetitions too", hl7_segments, "",
     "MSH|^~\\&||||||||\rPID|||^^^x&||DOE\r",
     R"([null,null,null,null,null,null,null,"DOE",null,null])"},
    {"empty input decodes to nothing", hl7_segments, "", "",
     R"([null,null,null,null,null,null,null,null,null,null])"},
};
}  // namespace

BOOST_AUTO_TEST_CASE(segment_decode_only_vectors) {
  for (const auto& v : segment_decode_vectors) check_decode(v);
}

BOOST_AUTO_TEST_CASE(segment_decode_one_byte_at_a_time_prefixes_never_fail) {
  // Every prefix of a message decodes (possibly to fewer values): no offset is fatal.
  auto b = build(hl7_segments);
  BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
  const std::string wire = "MSH|^~\\&|APP||||||ADT^A01|42\rPID|||123^^^&NPI~9||O\\F\\B^J||9.5\r";
  for (std::size_t n = 0; n <= wire.size(); ++n) {
    record back;
    back.reset(b->field_count);
    auto dec = b->lay->decode(as_bytes(std::string_view(wire).substr(0, n)), back);
    BOOST_TEST(dec.has_value(), "prefix " << n);
  }
}

BOOST_AUTO_TEST_CASE(segment_encode_and_decode_errors) {
  auto b = build(hl7_segments);
  BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
  record r;
  fill(r, b->field_count, R"([null,null,null,null,null,null,null,null,null,"1.25"])");
  byte_buffer out;
  auto enc = b->lay->encode(r, out);
  BOOST_REQUIRE(!enc.has_value());
  BOOST_TEST(enc.error().where == "weight");
  record back;
  back.reset(b->field_count);
  auto dec = b->lay->decode(as_bytes("MSH|^~\\&\rPID|||||||||7x\r"), back);
  BOOST_REQUIRE(!dec.has_value());
  BOOST_TEST(dec.error().where == "weight");
  BOOST_TEST(dec.error().message == "not a digit at offset 22");

  auto g = build(batch);
  BOOST_REQUIRE_MESSAGE(g->lay, g->errors());
  const char* bad[][2] = {
      {R"([null,"{}",null])", "must be a JSON array of objects"},
      {R"([null,"[1]",null])", "element 1 must be an object"},
      {R"([null,"[{},{\"x\":1}]",null])", "element 2 has the unknown key \"x\""},
      {R"([null,"[{\"sku\":{}}]",null])", "element 1 key \"sku\" must be a string or a number"},
      {R"([null,"[{\"sku\":\"a,b\"}]",null])",
       "element 1 key \"sku\": contains the separator \",\" and the layout has no escape"},
  };
  for (const auto& c : bad) {
    BOOST_TEST_CONTEXT(c[0]) {
      record gr;
      fill(gr, g->field_count, c[0]);
      byte_buffer o;
      auto e = g->lay->encode(gr, o);
      BOOST_REQUIRE(!e.has_value());
      BOOST_TEST(e.error().where == "items");
      BOOST_TEST(e.error().message == c[1]);
    }
  }
}

namespace {
const config_case segment_config_errors[] = {
    {"repetition needs segments",
     R"({"separator":"|","repetition_separator":"~","fields":[{"name":"a"}]})",
     "operations.t.request.repetition_separator: needs segment_separator"},
    {"path needs segments", R"({"separator":"|","fields":[{"name":"a","path":"PID-1"}]})",
     "operations.t.request.fields[0].path: needs the message's segment_separator"},
    {"segments are required",
     R"({"separator":"|","segment_separator":"\r","fields":[{"name":"a","path":"PID-1"}]})",
     "operations.t.request.segments: is required"},
    {"position is not used with segments",
     R"({"separator":"|","segment_separator":"\r","segments":["PID"],
        "fields":[{"name":"a","position":1}]})",
     "operations.t.request.fields[0].position: use \"path\" in a message with segment_separator"},
    {"path syntax",
     R"({"separator":"|","segment_separator":"\r","segments":["PID"],
        "fields":[{"name":"a","path":"PID-0"}]})",
     "operations.t.request.fields[0].path: needs a field number (\"PID-3[2].1.1\": numbers from "
     "1)"},
    {"path trailing text",
     R"({"separator":"|","component_separator":"^","segment_separator":"\r","segments":["PID"],
        "fields":[{"name":"a","path":"PID-5.1x"}]})",
     "operations.t.request.fields[0].path: unexpected \"x\" (\"PID-3[2].1.1\": numbers from 1)"},
    {"segment not listed",
     R"({"separator":"|","segment_separator":"\r","segments":["PID"],
        "fields":[{"name":"a","path":"PV1-2"}]})",
     "operations.t.request.fields[0].path: segment \"PV1\" is not in segments"},
    {"component needs component_separator",
     R"({"separator":"|","segment_separator":"\r","segments":["PID"],
        "fields":[{"name":"a","path":"PID-5.1"}]})",
     "operations.t.request.fields[0].path: a component needs the message's component_separator"},
    {"overlapping paths",
     R"({"separator":"|","component_separator":"^","segment_separator":"\r","segments":["PID"],
        "fields":[{"name":"a","path":"PID-5"},{"name":"b","path":"PID-5.2"}]})",
     "operations.t.request.fields[1].path: \"PID-5.2\" overlaps field \"a\" (PID-5)"},
    {"header first",
     R"({"separator":"|","segment_separator":"\r","segments":["PID","MSH"],"header_segment":"MSH",
        "fields":[{"name":"a","path":"PID-1"}]})",
     "operations.t.request.header_segment: must be the first of segments"},
    {"header carries needs every encoding character",
     R"({"separator":"|","component_separator":"^","segment_separator":"\r","segments":["MSH"],
        "header_segment":"MSH","header_carries_separators":true,"escape_style":"hl7",
        "fields":[{"name":"a","path":"MSH-3"}]})",
     "operations.t.request.repetition_separator: must be one byte when header_carries_separators "
     "is true"},
    {"MSH-2 is not a field",
     R"({"separator":"|","component_separator":"^","repetition_separator":"~",
        "subcomponent_separator":"&","escape_style":"hl7","segment_separator":"\r",
        "segments":["MSH"],"header_segment":"MSH","header_carries_separators":true,
        "fields":[{"name":"a","path":"MSH-2"}]})",
     "operations.t.request.fields[0].path: MSH-1 and MSH-2 are the separators, written from the "
     "message's keys"},
    {"separators differ",
     R"({"separator":"|","segment_separator":"|","segments":["A"],"fields":[{"name":"a","path":"A-1"}]})",
     "operations.t.request.segment_separator: must differ from separator"},
    {"a group needs json array",
     R"({"separator":"|","segment_separator":"\r","segments":["OBX"],
        "fields":[{"name":"a","segment":"OBX","components":{"v":"5"}}]})",
     "operations.t.request.fields[0].segment: a segment group needs \"json\": \"array\""},
    {"a group's sequence is one of its components",
     R"({"separator":"|","segment_separator":"\r","segments":["OBX"],
        "fields":[{"name":"a","json":"array","segment":"OBX","components":{"v":"5"},"sequence":"id"}]})",
     "operations.t.request.fields[0].sequence: \"id\" is not in components"},
    {"a group segment has no plain fields",
     R"({"separator":"|","segment_separator":"\r","segments":["OBX"],
        "fields":[{"name":"a","json":"array","segment":"OBX","components":{"v":"5"}},
                  {"name":"b","path":"OBX-2"}]})",
     "operations.t.request.fields[1].path: segment \"OBX\" is a repeating group (use its "
     "components)"},
    {"group component paths have no segment id",
     R"({"separator":"|","segment_separator":"\r","segments":["OBX"],
        "fields":[{"name":"a","json":"array","segment":"OBX","components":{"v":"OBX-5"}}]})",
     "operations.t.request.fields[0].components.v: needs a field number (\"3[2].1.1\": numbers "
     "from 1)"},
    {"terminator is not used with segments",
     R"({"separator":"|","terminator":"\n","segment_separator":"\r","segments":["A"],
        "fields":[{"name":"a","path":"A-1"}]})",
     "operations.t.request.terminator: is not used with segment_separator (every segment ends "
     "with it)"},
    {"escape_style values", R"({"separator":"|","escape_style":"xml","fields":[{"name":"a"}]})",
     "operations.t.request.escape_style: unknown value \"xml\", must be one of char, hl7"},
};
}  // namespace

BOOST_AUTO_TEST_CASE(segment_config_errors_have_paths) {
  for (const auto& v : segment_config_errors) {
    BOOST_TEST_CONTEXT(v.source) {
      auto b = build(v.message_json);
      expect_error(*b, v.error);
      BOOST_TEST(!b->lay);
    }
  }
}

BOOST_AUTO_TEST_CASE(describe_reports_the_segment_model) {
  auto b = build(hl7_segments);
  BOOST_REQUIRE_MESSAGE(b->lay, b->errors());
  BOOST_TEST(
      json::serialize(b->lay->describe()) ==
      R"({"type":"delimited","separator":"\"|\"","component_separator":"\"^\"","repetition_separator":"\"~\"","subcomponent_separator":"\"&\"","escape":"\"\\x5c\"","escape_style":"hl7","segment_separator":"\"\\x0d\"","segments":["MSH","PID"],"header_segment":"MSH","header_carries_separators":true,"charset":"ascii"})");
  BOOST_TEST(json::serialize(b->lay->describe_field(6)) ==
             R"({"path":"PID-3[2].1","type":"text"})");
  auto g = build(batch);
  BOOST_REQUIRE_MESSAGE(g->lay, g->errors());
  BOOST_TEST(
      json::serialize(g->lay->describe_field(1)) ==
      R"({"segment":"ITEM","components":{"n":"1","sku":"2","qty":"3.1","unit":"3.2"},"sequence":"n"})");
}
