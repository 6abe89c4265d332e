// Tests of the shared JSON text helpers: scalar_text as map_request writes record values, and
// append_json_string byte for byte against boost::json::serialize.
#define BOOST_TEST_MODULE json_text_test
#include <boost/test/unit_test.hpp>

#include "codecs/json_text.hpp"

#include <boost/json.hpp>

#include <string>

using dragoman::codecs::append_json_string;
using dragoman::codecs::scalar_text;
namespace json = boost::json;

namespace {

std::string text_of(std::string_view json_text) {
  auto t = scalar_text(json::parse(json_text));
  BOOST_REQUIRE(t);
  return *t;
}

std::string quoted(std::string_view s) {
  std::string out = "prefix:";
  append_json_string(out, s);
  return out.substr(7);
}

}  // namespace

BOOST_AUTO_TEST_CASE(scalars_as_record_text) {
  BOOST_TEST(text_of(R"("a \"b\"")") == R"(a "b")");
  BOOST_TEST(text_of("-42") == "-42");
  BOOST_TEST(text_of("18446744073709551615") == "18446744073709551615");
  BOOST_TEST(text_of("true") == "true");
  BOOST_TEST(text_of("false") == "false");
  BOOST_TEST(text_of("10.5") == "10.5");
  BOOST_TEST(text_of("1.0") == "1");
  BOOST_TEST(text_of("0.1") == "0.1");
  BOOST_TEST(text_of("-0.25") == "-0.25");
  // Fixed notation, never an exponent: a record value is digits.
  BOOST_TEST(text_of("1e5") == "100000");
  BOOST_TEST(text_of("1e21") == "1000000000000000000000");
  BOOST_TEST(text_of("1e-7") == "0.0000001");
  BOOST_TEST(text_of("1.7976931348623157e308").size() == 309u);
}

BOOST_AUTO_TEST_CASE(null_objects_and_arrays_have_no_text) {
  BOOST_TEST(!scalar_text(json::value(nullptr)));
  BOOST_TEST(!scalar_text(json::parse("{}")));
  BOOST_TEST(!scalar_text(json::parse("[1]")));
}

BOOST_AUTO_TEST_CASE(strings_as_boost_json_writes_them) {
  BOOST_TEST(quoted("") == R"("")");
  BOOST_TEST(quoted("plain") == R"("plain")");
  BOOST_TEST(quoted("a\"b\\c/d") == R"("a\"b\\c/d")");
  BOOST_TEST(quoted("\b\f\n\r\t") == R"("\b\f\n\r\t")");
  BOOST_TEST(quoted(std::string("\0\x01\x1f\x7f", 4)) == "\"\\u0000\\u0001\\u001f\x7f\"");
  BOOST_TEST(quoted("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
}

BOOST_AUTO_TEST_CASE(every_byte_matches_serialize) {
  for (int c = 0; c < 256; ++c) {
    const std::string s = std::string("x") + static_cast<char>(c) + "y";
    BOOST_TEST_CONTEXT("byte " << c) {
      BOOST_TEST(quoted(s) == json::serialize(json::string(s)));
    }
  }
}
