// Idempotency keys: the store on a clock the test moves (replay, reuse, in flight, the window,
// the count bound), the key's syntax, and the engine in front: one call reaches the engine behind
// for two with the same key, and calls without a key pass straight through.
#define BOOST_TEST_MODULE idempotency_test
#include <boost/test/unit_test.hpp>

#include "bridge/idempotency.hpp"

#include <boost/asio/io_context.hpp>

#include <vector>

using namespace dragoman::bridge;
namespace json = boost::json;
using verdict = idempotency_store::verdict;
using namespace std::chrono_literals;

namespace {

call_result ok_result(std::string v) {
  call_result r;
  r.data = {{"v", std::move(v)}};
  r.attempts = 1;
  return r;
}

const idempotency_store::clock::time_point t0{};

}  // namespace

BOOST_AUTO_TEST_CASE(the_same_key_and_body_is_replayed_another_body_is_reuse) {
  idempotency_store s({100, 1000ms});
  BOOST_TEST((s.begin("a", "h1", t0).v == verdict::fresh));
  BOOST_TEST((s.begin("a", "h1", t0).v == verdict::in_progress));
  BOOST_TEST((s.begin("a", "h2", t0).v == verdict::reused));
  s.finish("a", ok_result("first"), t0 + 10ms);
  auto l = s.begin("a", "h1", t0 + 20ms);
  BOOST_TEST((l.v == verdict::replay));
  BOOST_TEST(json::serialize(l.answer.data) == R"({"v":"first"})");
  BOOST_TEST(l.answer.attempts == 1);
  BOOST_TEST((s.begin("a", "h2", t0 + 20ms).v == verdict::reused));
  BOOST_TEST(s.replays() == 1u);
}

BOOST_AUTO_TEST_CASE(an_answer_is_kept_for_the_window_from_when_it_was_given) {
  idempotency_store s({100, 1000ms});
  BOOST_TEST((s.begin("a", "h", t0).v == verdict::fresh));
  s.finish("a", ok_result("x"), t0 + 500ms);
  BOOST_TEST((s.begin("a", "h", t0 + 1499ms).v == verdict::replay));
  BOOST_TEST((s.begin("a", "h", t0 + 1500ms).v == verdict::fresh));  // gone: a new call
  BOOST_TEST(s.size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_answer_that_reached_no_host_frees_the_key) {
  idempotency_store s({100, 1000ms});
  BOOST_TEST((s.begin("a", "h", t0).v == verdict::fresh));
  s.finish("a", make_error_result(call_code::upstream_unavailable, "down"), t0);
  BOOST_TEST((s.begin("a", "h", t0).v == verdict::fresh));
  s.finish("a", make_error_result(call_code::upstream_timeout, "may have been acted on"), t0);
  BOOST_TEST((s.begin("a", "h", t0).v == verdict::replay));  // kept: it may have happened
}

BOOST_AUTO_TEST_CASE(the_count_is_bounded_the_oldest_answered_make_room) {
  idempotency_store s({2, 1000ms});
  BOOST_TEST((s.begin("a", "h", t0).v == verdict::fresh));
  BOOST_TEST((s.begin("b", "h", t0).v == verdict::fresh));
  BOOST_TEST((s.begin("c", "h", t0).v == verdict::full));  // both in flight: never dropped
  s.finish("b", ok_result("b"), t0 + 1ms);
  s.finish("a", ok_result("a"), t0 + 2ms);
  BOOST_TEST((s.begin("c", "h", t0 + 3ms).v == verdict::fresh));  // b, answered first, goes
  BOOST_TEST(s.size() == 2u);
  // b was forgotten: a new call, for which a (answered) makes room; c in flight stays.
  BOOST_TEST((s.begin("b", "h", t0 + 3ms).v == verdict::fresh));
  BOOST_TEST((s.begin("d", "h", t0 + 3ms).v == verdict::full));  // b and c in flight
  BOOST_TEST((s.begin("c", "h", t0 + 3ms).v == verdict::in_progress));
  s.finish("c", ok_result("c"), t0 + 4ms);
  BOOST_TEST((s.begin("c", "h", t0 + 5ms).v == verdict::replay));
  BOOST_TEST((s.begin("a", "h", t0 + 5ms).v == verdict::fresh));  // a forgotten too
}

BOOST_AUTO_TEST_CASE(keys_are_bare_or_quoted_visible_ascii_and_scoped_by_caller) {
  BOOST_TEST(parse_idempotency_key("\"8e03978e-40d5\"").value_or("?") == "8e03978e-40d5");
  BOOST_TEST(parse_idempotency_key(" abc ").value_or("?") == "abc");
  BOOST_TEST(!parse_idempotency_key(""));
  BOOST_TEST(!parse_idempotency_key("\"\""));
  BOOST_TEST(!parse_idempotency_key("a b"));
  BOOST_TEST(!parse_idempotency_key(std::string(256, 'k')));
  BOOST_TEST(parse_idempotency_key(std::string(255, 'k')).has_value());
  BOOST_TEST(scoped_idempotency_key("alice", "k") != scoped_idempotency_key("bob", "k"));
  BOOST_TEST(scoped_idempotency_key("", "k") != scoped_idempotency_key("k", ""));
  const json::object a{{"amount", "1"}}, b{{"amount", "2"}};
  BOOST_TEST(idempotency_fingerprint("pay", a) == idempotency_fingerprint("pay", a));
  BOOST_TEST(idempotency_fingerprint("pay", a) != idempotency_fingerprint("pay", b));
  BOOST_TEST(idempotency_fingerprint("pay", a) != idempotency_fingerprint("refund", a));
}

namespace {

// Counts submits; answers each when the test says.
struct counting_engine final : call_engine {
  std::vector<std::pair<call_request, call_handler>> calls;
  void submit(call_request req, boost::asio::any_io_executor, call_handler&& done) override {
    calls.emplace_back(std::move(req), std::move(done));
  }
  bool ready() const override { return true; }
};

}  // namespace

BOOST_AUTO_TEST_CASE(the_engine_sends_one_call_for_two_with_the_same_key) {
  boost::asio::io_context io;
  auto inner = std::make_unique<counting_engine>();
  counting_engine& behind = *inner;
  auto engine = make_idempotent_engine(std::move(inner), {});
  std::vector<call_result> answers;
  auto call = [&](std::string key, std::string amount) {
    call_request r;
    r.op = "pay";
    r.data = {{"amount", amount}};
    r.idempotency_key = std::move(key);
    engine->submit(std::move(r), io.get_executor(),
                   [&](call_result&& a) { answers.push_back(std::move(a)); });
    io.restart();
    io.run();
  };
  call("k", "1");
  BOOST_TEST(behind.calls.size() == 1u);
  call("k", "1");  // in flight
  call("k", "2");  // another body
  BOOST_TEST_REQUIRE(answers.size() == 2u);
  BOOST_TEST((answers[0].code == call_code::in_progress));
  BOOST_TEST(http_status(answers[0].code) == 409);
  BOOST_TEST((answers[1].code == call_code::idempotency_key_reused));
  BOOST_TEST(http_status(answers[1].code) == 422);
  behind.calls[0].second(ok_result("done"));
  call("k", "1");
  BOOST_TEST(behind.calls.size() == 1u);  // no second call behind
  BOOST_TEST_REQUIRE(answers.size() == 4u);
  BOOST_TEST(answers[3].replayed);
  BOOST_TEST(json::serialize(answers[3].data) == R"({"v":"done"})");
  call("", "1");  // no key: straight through, every time
  call("", "1");
  BOOST_TEST(behind.calls.size() == 3u);
}
