// The doors' protocol parsers fed bytes directly: no socket, no thread, no clock.
#define BOOST_TEST_MODULE door_parsers_test
#include <boost/test/unit_test.hpp>

#include "bridge/http_request_parser.hpp"
#include "bridge/line_splitter.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using namespace dragoman::bridge;
using namespace std::string_view_literals;

namespace {

constexpr std::uint64_t body_limit = 1024;
constexpr std::uint32_t header_limit = 512;

// A request as the HTTP door sees it: the fields it keeps and the body.
struct parsed {
  request_progress progress = request_progress::need_more;
  std::string error;  // the parser's message when bad
  std::string method, target, body, request_id, authorization;
  unsigned version = 0;
  bool keep_alive = false, request_id_given = false, request_id_valid = false;
  bool timeout_given = false, expect_continue = false, trace = false, respond_async = false;
  std::optional<std::chrono::milliseconds> timeout;
  std::size_t used = 0;
};

parsed snapshot(const http_request_parser& p, const request_feed& f, std::size_t used) {
  parsed r;
  r.progress = f.progress;
  r.used = used;
  if (f.progress == request_progress::bad) r.error = f.error.message();
  if (f.progress != request_progress::complete) return r;
  r.method = std::string(p.method_string());
  r.target = p.target;
  r.body = std::string(p.body());
  r.request_id = p.request_id;
  r.authorization = p.authorization;
  r.version = p.version;
  r.keep_alive = p.keep_alive();
  r.request_id_given = p.request_id_given;
  r.request_id_valid = p.request_id_valid;
  r.timeout_given = p.timeout_given;
  r.timeout = p.timeout;
  r.expect_continue = p.expect_continue;
  r.trace = p.trace;
  r.respond_async = p.respond_async;
  return r;
}

// Feeds one request in one piece.
parsed parse_whole(std::string_view bytes) {
  http_request_parser p(body_limit, header_limit);
  auto f = feed(p, bytes);
  return snapshot(p, f, f.used);
}

// Feeds the request as the door does when it arrives in two reads: what the parser did not take
// waits and is offered again with the next bytes; a parser left incomplete moves (the door moves
// its per-thread parser into the session).
parsed parse_split(std::string_view bytes, std::size_t at) {
  http_request_parser first(body_limit, header_limit);
  std::string pending(bytes.substr(0, at));
  auto f = feed(first, pending);
  if (f.progress != request_progress::need_more) return snapshot(first, f, f.used);
  auto moved = std::make_unique<http_request_parser>(std::move(first));
  pending.erase(0, f.used);
  const std::size_t taken = f.used;
  pending.append(bytes.substr(at));
  f = feed(*moved, pending);
  return snapshot(*moved, f, taken + f.used);
}

const std::string post_request =
    "POST /v1/ops/echo?x=1 HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    "X-Request-Id: abc-1\r\nRequest-Timeout: 250\r\nAuthorization: Bearer s3cret\r\n"
    "X-Dragoman-Trace: 1\r\nContent-Length: 11\r\n\r\n{\"k\":\"v12\"}";

}  // namespace

BOOST_AUTO_TEST_SUITE(http_request)

BOOST_AUTO_TEST_CASE(a_whole_request_keeps_what_the_door_uses) {
  auto r = parse_whole(post_request);
  BOOST_TEST_REQUIRE(static_cast<int>(r.progress) == static_cast<int>(request_progress::complete));
  BOOST_TEST(r.used == post_request.size());
  BOOST_TEST(r.method == "POST");
  BOOST_TEST(r.target == "/v1/ops/echo?x=1");
  BOOST_TEST(r.version == 11u);
  BOOST_TEST(r.keep_alive);
  BOOST_TEST(r.body == "{\"k\":\"v12\"}");
  BOOST_TEST(r.request_id == "abc-1");
  BOOST_TEST(r.request_id_valid);
  BOOST_TEST(r.timeout_given);
  BOOST_TEST_REQUIRE(r.timeout.has_value());
  BOOST_TEST(r.timeout->count() == 250);
  BOOST_TEST(r.authorization == "Bearer s3cret");
  BOOST_TEST(r.trace);
  BOOST_TEST(!r.expect_continue);
}

BOOST_AUTO_TEST_CASE(split_at_every_offset_gives_the_same_request) {
  const auto whole = parse_whole(post_request);
  for (std::size_t at = 1; at < post_request.size(); ++at) {
    auto r = parse_split(post_request, at);
    BOOST_TEST_REQUIRE(static_cast<int>(r.progress) == static_cast<int>(request_progress::complete),
                       "split at " << at);
    BOOST_TEST(r.used == post_request.size(), "split at " << at);
    BOOST_TEST(r.body == whole.body, "split at " << at);
    BOOST_TEST(r.target == whole.target, "split at " << at);
    BOOST_TEST(r.request_id == whole.request_id, "split at " << at);
    BOOST_TEST(r.authorization == whole.authorization, "split at " << at);
  }
}

BOOST_AUTO_TEST_CASE(pipelined_requests_end_where_the_first_ends) {
  const std::string two = post_request + "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
  http_request_parser p(body_limit, header_limit);
  auto f = feed(p, two);
  BOOST_TEST(static_cast<int>(f.progress) == static_cast<int>(request_progress::complete));
  BOOST_TEST(f.used == post_request.size());
  http_request_parser q(body_limit, header_limit);
  f = feed(q, std::string_view(two).substr(post_request.size()));
  BOOST_TEST(static_cast<int>(f.progress) == static_cast<int>(request_progress::complete));
  BOOST_TEST(q.method_string() == "GET");
  BOOST_TEST(q.target == "/healthz");
  BOOST_TEST(q.body().empty());
}

BOOST_AUTO_TEST_CASE(chunked_body_is_gathered) {
  auto r = parse_whole(
      "POST /v1/ops/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\n{\"k\":\"\r\n7;ext=1\r\nchunked\r\n2\r\n\"}\r\n0\r\n\r\n");
  BOOST_TEST_REQUIRE(static_cast<int>(r.progress) == static_cast<int>(request_progress::complete));
  BOOST_TEST(r.body == R"({"k":"chunked"})");
}

BOOST_AUTO_TEST_CASE(first_occurrence_of_a_header_wins) {
  auto r = parse_whole(
      "GET /x HTTP/1.1\r\nX-Request-Id: one\r\nX-Request-Id: two\r\nRequest-Timeout: 5\r\n"
      "Request-Timeout: 9\r\nX-Dragoman-Trace: 0\r\nX-Dragoman-Trace: 1\r\n\r\n");
  BOOST_TEST(r.request_id == "one");
  BOOST_TEST(r.timeout->count() == 5);
  BOOST_TEST(!r.trace);
}

BOOST_AUTO_TEST_CASE(prefer_respond_async_is_found_among_other_preferences) {
  auto ask = [](std::string_view prefer) {
    return parse_whole("POST /v1/ops/x HTTP/1.1\r\nPrefer: " + std::string(prefer) + "\r\n\r\n")
        .respond_async;
  };
  BOOST_TEST(ask("respond-async"));
  BOOST_TEST(ask("Respond-Async"));
  BOOST_TEST(ask("return=minimal, respond-async, wait=10"));
  BOOST_TEST(ask("wait=10; x=y ,  respond-async ;foo"));
  BOOST_TEST(!ask("return=minimal"));
  BOOST_TEST(!ask("respond-asynchronously"));
  BOOST_TEST(!ask("x=respond-async"));
  BOOST_TEST(!parse_whole("POST /v1/ops/x HTTP/1.1\r\n\r\n").respond_async);
  // A second Prefer field adds its preferences (RFC 7240 allows several).
  BOOST_TEST(parse_whole("POST /x HTTP/1.1\r\nPrefer: wait=1\r\nPrefer: respond-async\r\n\r\n")
                 .respond_async);
}

BOOST_AUTO_TEST_CASE(malformed_header_values_are_flagged_not_fatal) {
  auto r = parse_whole(
      "GET /x HTTP/1.1\r\nX-Request-Id: has space\r\nRequest-Timeout: 0\r\n"
      "Expect: 100-Continue\r\n\r\n");
  BOOST_TEST_REQUIRE(static_cast<int>(r.progress) == static_cast<int>(request_progress::complete));
  BOOST_TEST(r.request_id_given);
  BOOST_TEST(!r.request_id_valid);
  BOOST_TEST(r.request_id.empty());
  BOOST_TEST(r.timeout_given);
  BOOST_TEST(!r.timeout.has_value());
  BOOST_TEST(r.expect_continue);  // the token is case-insensitive
}

BOOST_AUTO_TEST_CASE(request_id_and_timeout_rules) {
  BOOST_TEST(valid_request_id("a"));
  BOOST_TEST(valid_request_id(std::string(200, 'x')));
  BOOST_TEST(!valid_request_id(std::string(201, 'x')));
  BOOST_TEST(!valid_request_id(""));
  BOOST_TEST(!valid_request_id("tab\there"));
  BOOST_TEST(!valid_request_id("\x7f"));
  BOOST_TEST(parse_timeout_ms(" 1500\t")->count() == 1500);
  BOOST_TEST(!parse_timeout_ms("0"));
  BOOST_TEST(!parse_timeout_ms("-5"));
  BOOST_TEST(!parse_timeout_ms("12ms"));
  BOOST_TEST(!parse_timeout_ms("12345678901"));
  BOOST_TEST(!parse_timeout_ms(""));
}

BOOST_AUTO_TEST_CASE(unknown_methods_and_http_1_0) {
  auto r = parse_whole("BREW /pot HTTP/1.0\r\n\r\n");
  BOOST_TEST_REQUIRE(static_cast<int>(r.progress) == static_cast<int>(request_progress::complete));
  BOOST_TEST(r.method == "BREW");
  BOOST_TEST(r.version == 10u);
  BOOST_TEST(!r.keep_alive);
}

// Each malformed input gets its own case: the door answers 400 (413 for the body) and closes.
BOOST_AUTO_TEST_CASE(malformed_inputs_are_bad) {
  struct bad_case {
    std::string_view name;
    std::string bytes;
    std::string error;  // the error's message, as the door's 400 detail carries it
  };
  const std::vector<bad_case> cases = {
      {"not HTTP", "HELLO\r\n\r\n", ""},
      {"bad version", "GET / HTTP/9\r\n\r\n", ""},
      {"bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ""},
      {"body over the limit",
       "POST / HTTP/1.1\r\nContent-Length: " + std::to_string(body_limit + 1) + "\r\n\r\n",
       boost::beast::error_code(boost::beast::http::error::body_limit).message()},
      {"chunks over the limit",
       "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string("400\r\n") +
           std::string(0x400, 'a') + "\r\n400\r\n" + std::string(0x400, 'a') + "\r\n",
       boost::beast::error_code(boost::beast::http::error::body_limit).message()},
      {"header over the limit",
       "GET / HTTP/1.1\r\nX-Pad: " + std::string(header_limit, 'p') + "\r\n\r\n",
       boost::beast::error_code(boost::beast::http::error::header_limit).message()},
  };
  for (const auto& c : cases) {
    auto r = parse_whole(c.bytes);
    BOOST_TEST(static_cast<int>(r.progress) == static_cast<int>(request_progress::bad), c.name);
    if (!c.error.empty()) BOOST_TEST(r.error == c.error, c.name);
  }
}

BOOST_AUTO_TEST_CASE(an_incomplete_request_needs_more) {
  for (std::string_view part : {"POST /v1/ops/echo HTTP/1.1\r\nContent-Length: 5\r\n"sv,
                                "POST /v1/ops/echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"sv}) {
    auto r = parse_whole(part);
    BOOST_TEST(static_cast<int>(r.progress) == static_cast<int>(request_progress::need_more));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lines)

// Everything next() gives until it needs more bytes, each piece ended by '|': lines as text,
// too-long lines as "!".
std::string take(line_splitter& s) {
  std::string out;
  for (;;) {
    auto p = s.next();
    if (p.what == line_splitter::kind::need_more) break;
    out += p.what == line_splitter::kind::too_long ? "!"sv : p.line;
    out += '|';
  }
  s.compact();
  return out;
}

BOOST_AUTO_TEST_CASE(lines_end_at_newline_or_crlf_and_blank_ones_are_skipped) {
  line_splitter s(100);
  s.append("a\nb\r\n\n  \t\r\nc");
  BOOST_TEST(take(s) == "a|b|");
  BOOST_TEST(s.buffered() == 1u);
  s.append("d\n");
  BOOST_TEST(take(s) == "cd|");
  BOOST_TEST(s.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(a_last_line_without_newline_counts_at_the_end) {
  line_splitter s(100);
  s.append("x\ny");
  BOOST_TEST(take(s) == "x|");
  s.finish();
  BOOST_TEST(take(s) == "y|");
  s.finish();  // nothing left: no empty line appears
  BOOST_TEST(take(s).empty());
}

BOOST_AUTO_TEST_CASE(an_over_long_line_in_pieces_is_refused_once_and_skipped) {
  line_splitter s(10);
  s.append("0123456789A");  // the limit passes before the line ends
  BOOST_TEST(take(s) == "!|");
  s.append("more of the same line");
  BOOST_TEST(take(s).empty());
  s.append(" end\nok\n");
  BOOST_TEST(take(s) == "ok|");
  s.finish();  // a line being skipped does not come back at the end
  BOOST_TEST(take(s).empty());
}

BOOST_AUTO_TEST_CASE(an_over_long_line_that_arrives_whole_is_refused) {
  line_splitter s(10);
  s.append(std::string(20, ' ') + "\nok\n0123456789\n");
  BOOST_TEST(take(s) == "!|ok|0123456789|");
  s.append("0123456789\r\n");  // the '\r' is not part of the line
  BOOST_TEST(take(s) == "0123456789|");
}

// Found by the line_splitter fuzz target: a line of exactly the limit whose "\r\n" arrived split
// was refused, while the same bytes in one read were a line.
BOOST_AUTO_TEST_CASE(a_line_at_the_limit_with_its_crlf_split_is_a_line) {
  line_splitter s(10);
  s.append("0123456789\r");
  BOOST_TEST(take(s).empty());
  s.append("\nok\n");
  BOOST_TEST(take(s) == "0123456789|ok|");
  s.append("0123456789\rX");  // a '\r' inside the line counts
  BOOST_TEST(take(s) == "!|");
}

BOOST_AUTO_TEST_CASE(split_at_every_offset_gives_the_same_lines) {
  const std::string input =
      "{\"id\":1}\r\n\n{\"id\":2}\n" + std::string(30, 'x') + "\n{\"id\":3}\n";
  for (std::size_t at = 0; at <= input.size(); ++at) {
    line_splitter s(16);
    s.append(std::string_view(input).substr(0, at));
    std::string got = take(s);
    s.append(std::string_view(input).substr(at));
    got += take(s);
    BOOST_TEST(got == R"({"id":1}|{"id":2}|!|{"id":3}|)", "split at " << at);
  }
}

BOOST_AUTO_TEST_CASE(a_burst_gives_its_memory_back_once_taken) {
  line_splitter s(1 << 20);
  s.append(std::string(100000, 'x') + "\n");
  BOOST_TEST(take(s).size() == 100001u);
  BOOST_TEST(s.buffered() == 0u);
  BOOST_TEST(s.capacity() <= 4096u);
}

BOOST_AUTO_TEST_SUITE_END()
