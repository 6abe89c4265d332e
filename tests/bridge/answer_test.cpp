// The answer writers the doors share: JSON appended in place must be byte for byte what
// Boost.JSON serialises, line answers must parse back to what they carry, and scratch parsing
// must reject what json::parse rejects.
#define BOOST_TEST_MODULE answer_test
#include <boost/test/unit_test.hpp>

#include "bridge/buffer_pool.hpp"
#include "bridge/problem.hpp"

#include <boost/json.hpp>

#include <string>

using namespace dragoman::bridge;
namespace json = boost::json;

namespace {

std::string appended(const json::value& v) {
  std::string out = "prefix:";  // appends, never overwrites
  append_json(out, v);
  BOOST_TEST(out.starts_with("prefix:"));
  return out.substr(7);
}

}  // namespace

BOOST_AUTO_TEST_CASE(append_json_matches_boost_serialize) {
  std::string controls;
  for (int c = 0; c < 0x20; ++c) controls.push_back(static_cast<char>(c));
  const json::value cases[] = {
      nullptr,
      true,
      false,
      0,
      -9223372036854775807LL - 1,
      18446744073709551615ULL,
      1.5,
      -0.0,
      1e300,
      "",
      "plain",
      "quote \" backslash \\ slash / del \x7f",
      json::string(controls),
      "caf\xc3\xa9 \xe2\x82\xac",
      json::array{},
      json::array{1, "two", nullptr, json::array{3.25}, json::object{{"k", "v"}}},
      json::object{},
      json::object{{"found", true},
                   {"value", std::string(64, 'x')},
                   {"flags", 0},
                   {"nested", {{"a\nb", json::array{false}}, {"", -1}}}},
  };
  for (const auto& v : cases) BOOST_TEST(appended(v) == json::serialize(v));
  json::object o{{"z", 1}, {"a", "\t"}};
  std::string out;
  append_json(out, o);
  BOOST_TEST(out == json::serialize(o));
}

BOOST_AUTO_TEST_CASE(line_answers_parse_back) {
  call_result ok;
  ok.data = {{"balance", "12.50"}, {"n", 3}};
  ok.attempts = 1;
  std::string out;
  append_line_answer(out, json::value("id \"1\""), ok);
  BOOST_REQUIRE(out.ends_with("\n"));
  auto a = json::parse(out).as_object();
  BOOST_TEST(a.at("id") == json::value("id \"1\""));
  BOOST_TEST(a.at("ok") == json::value(true));
  BOOST_TEST(a.at("data") == json::value(ok.data));
  BOOST_TEST(a.at("attempts") == json::value(1));

  call_result rejected = door_error(call_code::rejected, "no funds");
  rejected.legacy_code = "51";
  rejected.retry_after_seconds = 2;
  rejected.data = {{"balance", "1.00"}};
  rejected.attempts = 2;
  out.clear();
  append_line_answer(out, json::value(7), rejected);
  auto e = json::parse(out).as_object();
  BOOST_TEST(e.at("id") == json::value(7));
  BOOST_TEST(e.at("ok") == json::value(false));
  BOOST_TEST(e.at("error").at("code") == json::value("rejected"));
  BOOST_TEST(e.at("error").at("message") == json::value("no funds"));
  BOOST_TEST(e.at("error").at("legacy_code") == json::value("51"));
  BOOST_TEST(e.at("error").at("retry_after_seconds") == json::value(2));
  BOOST_TEST(e.at("data") == json::value(rejected.data));
  BOOST_TEST(e.at("attempts") == json::value(2));
  BOOST_TEST(line_answer(json::value(7), rejected) == out);
}

BOOST_AUTO_TEST_CASE(scratch_parse_accepts_and_rejects_like_json_parse) {
  const char* texts[] = {R"({"op":"get","data":{"key":"k1"}})",
                         R"([1,2,{"a":null}])",
                         "{}",
                         R"({"a":1} x)",
                         R"({"a":)",
                         "",
                         "nul",
                         R"({"a":"\u00e9"})"};
  for (const char* t : texts) {
    boost::system::error_code ec1, ec2;
    json::value want = json::parse(t, ec1);
    json::value got = parse_scratch(t, ec2);
    BOOST_TEST(bool(ec1) == bool(ec2), t);
    if (!ec1) BOOST_TEST(got == want, t);
  }
  // A big text needs more than the first block; the next parse starts over.
  std::string big = "[";
  for (int i = 0; i < 5000; ++i) big += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
  big += "]";
  boost::system::error_code ec;
  auto v = parse_scratch(big, ec);
  BOOST_REQUIRE(!ec);
  BOOST_TEST(v.as_array().size() == 5000u);
  auto small = parse_scratch(R"({"k":"v"})", ec);
  BOOST_TEST(small.at("k") == json::value("v"));
}

BOOST_AUTO_TEST_CASE(the_buffer_pool_lends_only_full_size_buffers) {
  buffer_pool pool;
  pool.give(std::string());  // a default string (inline capacity) is not kept
  std::string small;
  small.reserve(200);
  pool.give(std::move(small));
  std::string huge;
  huge.reserve(pooled_buffer_max + 1);
  pool.give(std::move(huge));  // nor is one that grew past the limit
  std::string a = pool.take();
  BOOST_TEST(a.capacity() >= pooled_buffer_reserve);
  BOOST_TEST(a.capacity() <= pooled_buffer_max);
  a = "answer";
  const char* kept = a.data();
  pool.give(std::move(a));
  std::string b = pool.take();  // the same buffer comes back, empty
  BOOST_TEST(b.empty());
  BOOST_TEST(static_cast<const void*>(b.data()) == static_cast<const void*>(kept));
  for (std::size_t i = 0; i < pooled_buffers_max + 5; ++i) pool.give(pool.take() + "x");
}
