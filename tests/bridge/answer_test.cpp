// The answer writers the doors share: JSON appended in place must be byte for byte what
// Boost.JSON serialises, line answers must parse back to what they carry, scratch parsing must
// reject what json::parse rejects, and the call codes keep their names, statuses and titles.
#define BOOST_TEST_MODULE answer_test
#include <boost/test/unit_test.hpp>

#include "bridge/buffer_pool.hpp"
#include "bridge/problem.hpp"

#include <boost/json.hpp>

#include <iterator>
#include <string>
#include <string_view>

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
  BOOST_TEST(e.at("error").at("sent") == json::value(false));
  BOOST_TEST(line_answer(json::value(7), rejected) == out);

  // Every error answer says whether the request reached a host.
  call_result timeout = make_error_result(call_code::upstream_timeout, "no reply");
  timeout.sent = true;
  auto t = json::parse(line_answer(json::value("t"), timeout)).as_object();
  BOOST_TEST(t.at("error").at("sent") == json::value(true));
  BOOST_TEST(!t.at("error").as_object().contains("retry_after_seconds"));
}

BOOST_AUTO_TEST_CASE(problems_say_whether_the_request_was_sent) {
  call_result r = make_error_result(call_code::upstream_timeout, "no reply");
  r.sent = true;
  auto p = make_problem(r, "id1");
  BOOST_TEST(p.at("sent") == json::value(true));
  BOOST_TEST(p.at("code") == json::value("upstream_timeout"));
  BOOST_TEST(!p.contains("retry_after_seconds"));
  auto refused = make_problem(make_error_result(call_code::upstream_unavailable, "down"));
  BOOST_TEST(refused.at("sent") == json::value(false));
  BOOST_TEST(refused.at("retry_after_seconds") == json::value(1));
  // The doors' own refusals (no call was made) say so too.
  BOOST_TEST(make_problem("not_found", 404, "no such path").at("sent") == json::value(false));
}

// The error contract's codes as DESIGN.md "Error contract" states them (name, HTTP status), with
// the problem titles answers have always carried.
BOOST_AUTO_TEST_CASE(call_codes_keep_their_names_statuses_and_titles) {
  struct vector {
    call_code code;
    std::string_view name;
    int status;
    std::string_view title;
  };
  const vector vectors[] = {
      {call_code::ok, "ok", 200, "OK"},
      {call_code::bad_request, "bad_request", 400, "Bad request"},
      {call_code::unknown_operation, "unknown_operation", 404, "Unknown operation"},
      {call_code::invalid_field, "invalid_field", 422, "Invalid field"},
      {call_code::payload_too_large, "payload_too_large", 413, "Payload too large"},
      {call_code::rejected, "rejected", 422, "Rejected by the legacy system"},
      {call_code::overloaded, "overloaded", 503, "Overloaded"},
      {call_code::upstream_unavailable, "upstream_unavailable", 503, "Upstream unavailable"},
      {call_code::upstream_timeout, "upstream_timeout", 504, "Upstream timeout"},
      {call_code::upstream_protocol_error, "upstream_protocol_error", 502,
       "Upstream protocol error"},
      {call_code::unauthenticated, "unauthenticated", 401, "Unauthenticated"},
      {call_code::forbidden, "forbidden", 403, "Forbidden"},
      {call_code::rate_limited, "rate_limited", 429, "Rate limited"},
      {call_code::idempotency_key_reused, "idempotency_key_reused", 422, "Idempotency key reused"},
      {call_code::in_progress, "in_progress", 409, "In progress"},
  };
  BOOST_TEST(std::size(vectors) == call_code_count);
  for (std::size_t i = 0; i < std::size(vectors); ++i) {
    const vector& v = vectors[i];
    BOOST_TEST(to_string(all_call_codes[i]) == v.name);  // the table's order is the enum's
    BOOST_TEST(to_string(v.code) == v.name);
    BOOST_TEST(http_status(v.code) == v.status);
    BOOST_TEST(title_of(v.code) == v.title);
    if (v.code != call_code::ok) BOOST_TEST(problem_title(v.name, 999) == v.title);
  }
  const auto outside = static_cast<call_code>(call_code_count);
  BOOST_TEST(to_string(outside) == "unknown");
  BOOST_TEST(http_status(outside) == 500);
  // Codes of the doors and admin that are not call results, then the fallback by status.
  BOOST_TEST(problem_title("not_found", 404) == "Not found");
  BOOST_TEST(problem_title("method_not_allowed", 405) == "Method not allowed");
  BOOST_TEST(problem_title("unauthorized", 401) == "Unauthorized");
  BOOST_TEST(problem_title("teapot", 418) == "Client error");
  BOOST_TEST(problem_title("boom", 500) == "Server error");
  BOOST_TEST(problem_title("odd", 302) == "Error");
}

BOOST_AUTO_TEST_CASE(error_results_carry_status_message_and_when_to_retry) {
  for (call_code code : all_call_codes) {
    call_result r = make_error_result(code, "why");
    BOOST_TEST(to_string(r.code) == to_string(code));
    BOOST_TEST(r.status == http_status(code));
    BOOST_TEST(r.message == "why");
    BOOST_TEST(r.attempts == 0);
    BOOST_TEST(!r.sent);
    // Only the codes that pass by themselves, with nothing sent, say when to come back.
    const bool transient = code == call_code::upstream_unavailable ||
                           code == call_code::overloaded || code == call_code::rate_limited;
    BOOST_TEST(retry_safe(code) == transient, to_string(code));
    BOOST_TEST(r.retry_after_seconds.has_value() == transient, to_string(code));
    if (transient) BOOST_TEST(*r.retry_after_seconds == 1);
  }
  call_result d = door_error(call_code::payload_too_large, "over 1 MiB");
  BOOST_TEST(d.status == 413);
  BOOST_TEST(!d.retry_after_seconds.has_value());
}

// A call whose bytes reached a host is never answered with a code that invites a retry: the host
// may have acted on it. Other codes keep what they say and only learn that it was sent.
BOOST_AUTO_TEST_CASE(a_sent_call_is_never_answered_as_safe_to_retry) {
  for (call_code code : all_call_codes) {
    call_result r = make_error_result(code, "upstream h:1: closed by the peer");
    mark_sent(r);
    BOOST_TEST(r.sent);
    BOOST_TEST(!retry_safe(r.code), to_string(code));
    BOOST_TEST(!r.retry_after_seconds.has_value(), to_string(code));
    BOOST_TEST(r.status == http_status(r.code));
    if (retry_safe(code)) {
      BOOST_TEST(to_string(r.code) == "upstream_timeout");
      BOOST_TEST(r.status == 504);
      BOOST_TEST(r.message ==
                 "the request was sent and no reply came (upstream h:1: closed by the peer)");
    } else {
      BOOST_TEST(to_string(r.code) == to_string(code));
      BOOST_TEST(r.message == "upstream h:1: closed by the peer");
    }
  }
  // Twice is once.
  call_result r = make_error_result(call_code::upstream_unavailable, "down");
  mark_sent(r);
  const std::string once = r.message;
  mark_sent(r);
  BOOST_TEST(r.message == once);
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

// Each parse larger than the first block used to double the size of the next block asked for
// (Boost 1.81's monotonic_resource::release keeps it): after some dozens, an allocation larger
// than the address space threw std::bad_alloc on a door's thread, and the process ended.
BOOST_AUTO_TEST_CASE(many_large_scratch_parses_in_a_row) {
  const std::string text = R"({"v":")" + std::string(16384, 'x') + R"("})";
  for (int i = 0; i < 200; ++i) {
    boost::system::error_code ec;
    auto v = parse_scratch(text, ec);
    BOOST_REQUIRE(!ec);
    BOOST_REQUIRE(v.at("v").as_string().size() == 16384u);
  }
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
