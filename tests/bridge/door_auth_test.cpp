// Client authentication and per-client policy on the front doors: the token file's grammar and
// constant-time lookup, the policy file's grammar, the token bucket on a controlled clock, and
// the guard's verdicts and bounded metrics labels.
#define BOOST_TEST_MODULE door_auth_test
#include <boost/test/unit_test.hpp>

#include "bridge/client_policy.hpp"
#include "bridge/door_guard.hpp"
#include "bridge/door_tokens.hpp"
#include "bridge/prom_writer.hpp"

#include <chrono>
#include <string>
#include <string_view>

using namespace dragoman::bridge;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string teller_token = "t3ller-0123456789abcdef";
const std::string reports_token = "r3ports-0123456789abcdef";

std::shared_ptr<const door_tokens> tokens(std::string_view text) {
  std::string why;
  auto t = door_tokens::parse(text, "tokens", why);
  BOOST_TEST_REQUIRE(t != nullptr, why);
  return t;
}

std::string token_error(std::string_view text) {
  std::string why;
  auto t = door_tokens::parse(text, "tokens", why);
  BOOST_TEST(t == nullptr);
  return why;
}

client_policy_rules rules(std::string_view text) {
  std::string why;
  auto r = parse_client_policy(text, "policy.json", why);
  BOOST_TEST_REQUIRE(r.has_value(), why);
  return *r;
}

std::string policy_error(std::string_view text) {
  std::string why;
  auto r = parse_client_policy(text, "policy.json", why);
  BOOST_TEST(!r.has_value());
  return why;
}

}  // namespace

BOOST_AUTO_TEST_CASE(token_file_lines_comments_and_rotation) {
  auto t =
      tokens("# app tokens\n\n  teller   " + teller_token + "  \r\n\treports\t" + reports_token +
             "\n# rotation: a second token for teller\nteller " + std::string(200, 'x') + "\n");
  BOOST_TEST(t->entries().size() == 3u);
  BOOST_TEST(*t->client_for_token(teller_token) == "teller");
  BOOST_TEST(*t->client_for_token(reports_token) == "reports");
  BOOST_TEST(*t->client_for_token(std::string(200, 'x')) == "teller");     // long tokens
  BOOST_TEST(t->client_for_token(teller_token.substr(0, 20)) == nullptr);  // a prefix is no token
  BOOST_TEST(t->client_for_token(teller_token + "x") == nullptr);
  BOOST_TEST(t->client_for_token("") == nullptr);
  // Authorization: the scheme in any case, one token.
  BOOST_TEST(*t->client_for_authorization("Bearer " + teller_token) == "teller");
  BOOST_TEST(*t->client_for_authorization("bEaReR " + reports_token) == "reports");
  BOOST_TEST(t->client_for_authorization("Basic " + teller_token) == nullptr);
  BOOST_TEST(t->client_for_authorization("Bearer") == nullptr);
  BOOST_TEST(t->client_for_authorization(teller_token) == nullptr);
  // The last line needs no newline.
  BOOST_TEST(tokens("a " + teller_token)->entries().size() == 1u);
}

BOOST_AUTO_TEST_CASE(token_file_mistakes_name_the_line_and_never_the_token) {
  BOOST_TEST(token_error("teller\n") == "tokens:1: expected `client-name token`");
  BOOST_TEST(token_error("# c\nteller " + teller_token + " extra\n") ==
             "tokens:2: expected `client-name token` (the token has a blank in it)");
  BOOST_TEST(token_error("tel/ler " + teller_token) ==
             "tokens:1: the client name must be 1 to 64 of A-Z a-z 0-9 . _ : @ -");
  BOOST_TEST(token_error(std::string(65, 'n') + " " + teller_token) ==
             "tokens:1: the client name must be 1 to 64 of A-Z a-z 0-9 . _ : @ -");
  BOOST_TEST(token_error("teller short") ==
             "tokens:1: the token of teller is shorter than 16 characters");
  BOOST_TEST(token_error("teller " + std::string(4097, 'x')) ==
             "tokens:1: the token of teller is longer than 4096 characters");
  BOOST_TEST(token_error("teller " + teller_token + "\nreports " + teller_token) ==
             "tokens:2: this token is also teller's");
  BOOST_TEST(token_error("teller t\x7f" + teller_token) ==
             "tokens:1: the token must be visible ASCII");
  BOOST_TEST(token_error("# nothing\n\n") == "tokens: no tokens (one `client-name token` a line)");
  std::string why;
  BOOST_TEST(door_tokens::load("/nonexistent/tokens", why) == nullptr);
  BOOST_TEST(why == "/nonexistent/tokens: cannot be read");
}

BOOST_AUTO_TEST_CASE(constant_time_equal_is_equality) {
  BOOST_TEST(constant_time_equal("", ""));
  BOOST_TEST(constant_time_equal("abc", "abc"));
  BOOST_TEST(!constant_time_equal("abc", "abd"));
  BOOST_TEST(!constant_time_equal("abc", "ab"));
  BOOST_TEST(!constant_time_equal("ab", "abc"));
  BOOST_TEST(!constant_time_equal(std::string_view("a\0", 2), "a"));  // a NUL is not the end
}

BOOST_AUTO_TEST_CASE(policy_file_grammar) {
  auto r = rules(R"({
    // comments allowed
    "clients": {
      "teller": {"operations": ["balance", "transfer"], "rate": 20, "burst": 40},
      "reports": {"operations": ["balance"], "rate": 2.5},
      "ops": {"operations": "*"}
    },
    "default": {"operations": [], }
  })");
  BOOST_TEST_REQUIRE(r.clients.size() == 3u);
  BOOST_TEST(r.clients[0].first == "teller");
  BOOST_TEST(r.clients[0].second.allows("transfer"));
  BOOST_TEST(!r.clients[0].second.allows("refund"));
  BOOST_TEST(r.clients[0].second.rate == 20.0);
  BOOST_TEST(r.clients[0].second.burst == 40.0);
  BOOST_TEST(r.clients[1].second.burst == 3.0);  // default burst: the rate rounded up
  BOOST_TEST(r.clients[2].second.allows("anything"));
  BOOST_TEST(r.clients[2].second.rate == 0.0);  // no limit
  BOOST_TEST_REQUIRE(r.fallback.has_value());
  BOOST_TEST(!r.fallback->allows("balance"));
  BOOST_TEST(rules("{}").clients.empty());
  BOOST_TEST(!rules("{}").fallback.has_value());
  // An operations list absent: every operation.
  BOOST_TEST(rules(R"({"default": {"rate": 1}})").fallback->allows("balance"));
}

BOOST_AUTO_TEST_CASE(policy_file_mistakes_name_the_path) {
  BOOST_TEST(policy_error("[1]") == "policy.json: must be a JSON object");
  BOOST_TEST(policy_error("{").starts_with("policy.json: not valid JSON: "));
  BOOST_TEST(policy_error(R"({"client": {}})") ==
             "policy.json: client: unknown key (clients, default)");
  BOOST_TEST(policy_error(R"({"clients": []})") ==
             "policy.json: clients: must be an object of client names");
  BOOST_TEST(policy_error(R"({"clients": {"a b": {}}})") ==
             "policy.json: clients.a b: a client name is 1 to 64 of A-Z a-z 0-9 . _ : @ -");
  BOOST_TEST(policy_error(R"({"clients": {"t": 1}})") ==
             "policy.json: clients.t: must be an object");
  BOOST_TEST(policy_error(R"({"clients": {"t": {"rat": 1}}})") ==
             "policy.json: clients.t.rat: unknown key (operations, rate, burst)");
  BOOST_TEST(policy_error(R"({"clients": {"t": {"operations": "balance"}}})") ==
             "policy.json: clients.t.operations: must be \"*\" or an array of operation names");
  BOOST_TEST(policy_error(R"({"clients": {"t": {"operations": ["a", 2]}}})") ==
             "policy.json: clients.t.operations[1]: must be an operation name");
  BOOST_TEST(policy_error(R"({"default": {"rate": 0}})") ==
             "policy.json: default.rate: must be > 0 and at most 10000000");
  BOOST_TEST(policy_error(R"({"default": {"rate": "5"}})") ==
             "policy.json: default.rate: must be a number");
  BOOST_TEST(policy_error(R"({"default": {"burst": 5}})") ==
             "policy.json: default.burst: needs a rate");
  BOOST_TEST(policy_error(R"({"default": {"rate": 5, "burst": 0.5}})") ==
             "policy.json: default.burst: must be at least 1");
}

// The bucket on a clock the test moves: a burst at once, then one call per 1/rate.
BOOST_AUTO_TEST_CASE(token_bucket_on_a_controlled_clock) {
  const auto t0 = clock_type::time_point{} + 1h;
  token_bucket b(2.0, 3.0, t0);  // 2 calls/s, burst 3
  BOOST_TEST(!b.take(t0).has_value());
  BOOST_TEST(!b.take(t0).has_value());
  BOOST_TEST(!b.take(t0).has_value());
  auto wait = b.take(t0);
  BOOST_TEST_REQUIRE(wait.has_value());
  BOOST_TEST(wait->count() == 500000);  // one token every half second
  BOOST_TEST(b.take(t0 + 250ms)->count() == 250000);
  BOOST_TEST(!b.take(t0 + 500ms).has_value());
  BOOST_TEST(b.take(t0 + 500ms).has_value());
  // A long pause fills the bucket to its burst, not beyond.
  const auto later = t0 + 1h;
  for (int i = 0; i < 3; ++i) BOOST_TEST(!b.take(later).has_value());
  BOOST_TEST(b.take(later).has_value());
  // A clock that does not move forward takes nothing back.
  BOOST_TEST(b.take(later - 10s).has_value());
}

BOOST_AUTO_TEST_CASE(policy_verdicts_per_client_and_default) {
  const auto t0 = clock_type::time_point{} + 1h;
  client_policy p(rules(R"({"clients": {"teller": {"operations": ["balance"], "rate": 1,
                                                    "burst": 2},
                                         "ops": {}},
                            "default": {"operations": ["balance"], "rate": 0.5}})"),
                  t0);
  using kind = policy_verdict::kind;
  BOOST_TEST((p.check("teller", "balance", t0).what == kind::allowed));
  BOOST_TEST((p.check("teller", "transfer", t0).what == kind::forbidden));
  BOOST_TEST((p.check("teller", "balance", t0).what == kind::allowed));
  auto v = p.check("teller", "balance", t0);
  BOOST_TEST((v.what == kind::rate_limited));
  BOOST_TEST(v.retry_after_seconds == 1);
  BOOST_TEST((p.check("teller", "balance", t0 + 1s).what == kind::allowed));
  // ops: everything, no limit.
  for (int i = 0; i < 100; ++i) BOOST_TEST((p.check("ops", "transfer", t0).what == kind::allowed));
  // Anonymous and unlisted clients share the default's bucket: 0.5/s, burst 1.
  BOOST_TEST((p.check("", "balance", t0).what == kind::allowed));
  v = p.check("stranger", "balance", t0);
  BOOST_TEST((v.what == kind::rate_limited));
  BOOST_TEST(v.retry_after_seconds == 2);  // whole seconds, rounded up
  BOOST_TEST((p.check("", "transfer", t0 + 10s).what == kind::forbidden));
  // Without a default, a client the policy does not name may call nothing.
  client_policy strict(rules(R"({"clients": {"ops": {}}})"), t0);
  BOOST_TEST((strict.check("", "balance", t0).what == kind::forbidden));
  BOOST_TEST((strict.check("teller", "balance", t0).what == kind::forbidden));
  BOOST_TEST((strict.check("ops", "balance", t0).what == kind::allowed));
}

BOOST_AUTO_TEST_CASE(guard_authenticates_by_token_or_certificate) {
  door_guard g(tokens("teller " + teller_token), nullptr, false);
  std::string client;
  BOOST_TEST(!g.authenticate_http("Bearer " + teller_token, "", client).has_value());
  BOOST_TEST(client == "teller");
  auto r = g.authenticate_http("", "", client);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(to_string(r->code) == "unauthenticated");
  BOOST_TEST(r->status == 401);
  r = g.authenticate_http("Bearer wrong-token-0123456789", "", client);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->message == "Authorization does not carry a known bearer token");
  // A verified certificate's identity stands in for a token; a token given must still be good.
  BOOST_TEST(!g.authenticate_http("", "host.example", client).has_value());
  BOOST_TEST(client == "host.example");
  BOOST_TEST(g.authenticate_http("Bearer nope-nope-nope-nope", "host.example", client).has_value());
  BOOST_TEST(!g.authenticate_token(teller_token, client).has_value());
  BOOST_TEST(client == "teller");
  BOOST_TEST(to_string(g.authenticate_token("x", client)->code) == "unauthenticated");
  // Without tokens the header is not looked at (it may be the admin token).
  door_guard open(nullptr, nullptr, false);
  client = "stale";
  BOOST_TEST(!open.authenticate_http("Bearer admin", "", client).has_value());
  BOOST_TEST(client.empty());
  BOOST_TEST(to_string(open.authenticate_token(teller_token, client)->code) == "bad_request");
  // A reload swaps the tokens for new requests.
  g.set_tokens(tokens("reports " + reports_token));
  BOOST_TEST(g.authenticate_http("Bearer " + teller_token, "", client).has_value());
  BOOST_TEST(!g.authenticate_http("Bearer " + reports_token, "", client).has_value());
  BOOST_TEST(client == "reports");
}

BOOST_AUTO_TEST_CASE(guard_refusals_carry_codes_and_retry_after_and_are_counted) {
  const auto t0 = clock_type::time_point{} + 1h;
  door_guard g(nullptr,
               std::make_shared<client_policy>(
                   rules(R"({"clients": {"teller": {"operations": ["balance"], "rate": 1}}})"), t0),
               false);
  BOOST_TEST(!g.admit("teller", "balance", t0).has_value());
  auto r = g.admit("teller", "balance", t0);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(to_string(r->code) == "rate_limited");
  BOOST_TEST(r->status == 429);
  BOOST_TEST(*r->retry_after_seconds == 1);
  BOOST_TEST(!r->sent);
  r = g.admit("teller", "transfer", t0);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(to_string(r->code) == "forbidden");
  BOOST_TEST(r->status == 403);
  BOOST_TEST(r->message == "client teller may not call transfer (--policy)");
  BOOST_TEST(!r->retry_after_seconds.has_value());
  r = g.admit("", "balance", t0);
  BOOST_TEST(r->message == "an anonymous client may not call balance (--policy)");

  std::string text;
  prom_writer w(text);
  g.write_metrics(w);
  BOOST_TEST(
      text.find(R"(dragoman_door_client_calls_total{client="teller",outcome="allowed"} 1)") !=
      std::string::npos);
  BOOST_TEST(
      text.find(R"(dragoman_door_client_calls_total{client="teller",outcome="rate_limited"} 1)") !=
      std::string::npos);
  BOOST_TEST(
      text.find(R"(dragoman_door_client_calls_total{client="anonymous",outcome="forbidden"} 1)") !=
      std::string::npos);
  BOOST_TEST(text.find(R"(dragoman_door_refusals_total{reason="forbidden"} 2)") !=
             std::string::npos);
  BOOST_TEST(text.find(R"(dragoman_door_refusals_total{reason="rate_limited"} 1)") !=
             std::string::npos);
  BOOST_TEST(text.find(R"(dragoman_door_refusals_total{reason="unauthenticated"} 0)") !=
             std::string::npos);
}

// Certificate names are the peer's to choose: past 32 distinct names, series share "other".
BOOST_AUTO_TEST_CASE(client_labels_are_bounded) {
  client_labels labels;
  for (std::size_t i = 0; i < max_client_labels; ++i)
    BOOST_TEST(labels.slot("client-" + std::to_string(i)) == i);
  BOOST_TEST(labels.slot("client-0") == 0u);
  BOOST_TEST(labels.slot("one-too-many") == client_labels::other);
  BOOST_TEST(labels.slot("") == client_labels::anonymous);
  BOOST_TEST(labels.name(client_labels::other) == "other");
  BOOST_TEST(labels.name(client_labels::anonymous) == "anonymous");
  BOOST_TEST(labels.name(3) == "client-3");
}
