// Tests for an endpoint's breaker and gauges, the retry budget, the jittered backoff and the
// host:port parser, with time points driven by hand (no socket, no sleeping).
#define BOOST_TEST_MODULE breaker_test
#include <boost/test/unit_test.hpp>

#include "bridge/host_port.hpp"
#include "bridge/retry_budget.hpp"
#include "bridge/upstream_endpoint.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace dragoman::bridge;
using namespace std::chrono_literals;

namespace {

struct clock_fixture {
  steady_clock::time_point now{std::chrono::hours(1000)};
};

endpoint make_endpoint(std::size_t failures = 3, std::chrono::milliseconds cooldown = 5000ms) {
  return endpoint(parse_upstream("core-a:9000;priority=1"), 0, breaker_options{failures, cooldown});
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(consecutive_failures_open_the_breaker_and_a_success_resets_them,
                        clock_fixture) {
  auto e = make_endpoint(3);
  BOOST_TEST((e.admit(now) == breaker_verdict::yes));
  e.record_failure("a", false, now);
  e.record_failure("b", false, now);
  BOOST_TEST(e.breaker_closed());
  e.record_success(false);  // resets the run
  BOOST_TEST(e.consecutive_failures() == 0u);
  e.record_failure("a", false, now);
  e.record_failure("b", false, now);
  e.record_failure("c", false, now);
  BOOST_TEST(!e.breaker_closed());
  BOOST_TEST(e.last_error() == "c");
  BOOST_TEST((e.admit(now + 4999ms) == breaker_verdict::open));
  BOOST_TEST((e.open_until() == now + 5000ms));
}

BOOST_FIXTURE_TEST_CASE(after_the_cool_down_one_probe_decides, clock_fixture) {
  auto e = make_endpoint(1, 1000ms);
  e.record_failure("down", false, now);
  BOOST_TEST((e.admit(now + 1000ms) == breaker_verdict::probe));
  BOOST_TEST((e.admit(now + 1000ms) == breaker_verdict::busy));  // one probe at a time
  // Only the probe decides: other successes do not close it.
  BOOST_TEST(!e.record_success(false));
  BOOST_TEST(!e.breaker_closed());
  BOOST_TEST(e.record_success(true));  // closed: its connections may reconnect now
  BOOST_TEST(e.breaker_closed());
  BOOST_TEST((e.admit(now + 1000ms) == breaker_verdict::yes));
}

BOOST_FIXTURE_TEST_CASE(a_failed_probe_opens_it_again_for_a_new_cool_down, clock_fixture) {
  auto e = make_endpoint(1, 1000ms);
  e.record_failure("down", false, now);
  BOOST_TEST((e.admit(now + 1000ms) == breaker_verdict::probe));
  e.record_failure("still down", true, now + 1500ms);
  BOOST_TEST((e.admit(now + 2499ms) == breaker_verdict::open));
  BOOST_TEST((e.admit(now + 2500ms) == breaker_verdict::probe));
}

BOOST_FIXTURE_TEST_CASE(a_probe_without_a_verdict_gives_its_turn_back, clock_fixture) {
  auto e = make_endpoint(1, 1000ms);
  e.record_failure("down", false, now);
  BOOST_TEST((e.admit(now + 1000ms) == breaker_verdict::probe));
  e.release_probe();
  BOOST_TEST((e.admit(now + 1000ms) == breaker_verdict::probe));
}

BOOST_FIXTURE_TEST_CASE(breakers_off_never_open, clock_fixture) {
  auto e = make_endpoint(0);
  for (int i = 0; i < 100; ++i) e.record_failure("x", false, now);
  BOOST_TEST(e.breaker_closed());
  BOOST_TEST(e.consecutive_failures() == 100u);
}

// The ejection cap (--max-ejection-percent): answers (timeouts, protocol errors) eject at most
// the cap's share of the endpoints; connection failures eject whatever the count.
BOOST_FIXTURE_TEST_CASE(answers_never_eject_the_last_endpoint, clock_fixture) {
  ejection_cap cap(1, 50);  // one endpoint, 50 %: none may be ejected for its answers
  BOOST_TEST(cap.max() == 0u);
  endpoint e(parse_upstream("core-a:9000"), 0, breaker_options{3, 1000ms}, &cap);
  for (int i = 0; i < 10; ++i)
    e.record_failure("no reply within the deadline", false, now, failure_kind::answer);
  BOOST_TEST(e.breaker_closed());
  BOOST_TEST((e.admit(now) == breaker_verdict::yes));
  BOOST_TEST(e.consecutive_failures() == 10u);
  BOOST_TEST(e.ejection_capped());
  BOOST_TEST(e.describe().at("ejection_capped").as_bool());
  BOOST_TEST(e.stats().at("ejection_capped").as_bool());
  e.record_success(false);  // answered again: the episode is over
  BOOST_TEST(!e.ejection_capped());
  BOOST_TEST(e.consecutive_failures() == 0u);
  // A host that cannot be reached is ejected all the same.
  for (int i = 0; i < 3; ++i) e.record_failure("connect failed", false, now);
  BOOST_TEST(!e.breaker_closed());
  BOOST_TEST(cap.ejected() == 1u);
  BOOST_TEST((e.admit(now + 1000ms) == breaker_verdict::probe));
  BOOST_TEST(e.record_success(true));
  BOOST_TEST(cap.ejected() == 0u);  // back in service, no longer counted
}

BOOST_FIXTURE_TEST_CASE(the_cap_is_a_share_of_the_pool, clock_fixture) {
  ejection_cap cap(4, 50);  // two of four
  std::vector<std::unique_ptr<endpoint>> eps;
  for (std::size_t i = 0; i < 4; ++i)
    eps.push_back(std::make_unique<endpoint>(parse_upstream("core-" + std::to_string(i) + ":1"), i,
                                             breaker_options{1, 1000ms}, &cap));
  for (auto& e : eps) e->record_failure("timeout", false, now, failure_kind::answer);
  BOOST_TEST(!eps[0]->breaker_closed());
  BOOST_TEST(!eps[1]->breaker_closed());
  BOOST_TEST(eps[2]->breaker_closed());
  BOOST_TEST(eps[3]->breaker_closed());
  BOOST_TEST(eps[2]->ejection_capped());
  BOOST_TEST(cap.ejected() == 2u);
  // A failed probe keeps its place in the count (it was ejected already).
  BOOST_TEST((eps[0]->admit(now + 1000ms) == breaker_verdict::probe));
  eps[0]->record_failure("timeout", true, now + 1000ms, failure_kind::answer);
  BOOST_TEST(!eps[0]->breaker_closed());
  BOOST_TEST(cap.ejected() == 2u);
  // One comes back: another may go.
  BOOST_TEST((eps[1]->admit(now + 1000ms) == breaker_verdict::probe));
  BOOST_TEST(eps[1]->record_success(true));
  BOOST_TEST(cap.ejected() == 1u);
  eps[3]->record_failure("timeout", false, now + 1000ms, failure_kind::answer);
  BOOST_TEST(!eps[3]->breaker_closed());
  BOOST_TEST(cap.ejected() == 2u);
  // 100 %: every endpoint may go; 0 %: none for its answers.
  ejection_cap all(1, 100), none(5, 0);
  BOOST_TEST(all.try_eject());
  BOOST_TEST(!all.try_eject());
  BOOST_TEST(!none.try_eject());
}

BOOST_FIXTURE_TEST_CASE(operation_timeouts_are_counted_apart_from_the_breaker, clock_fixture) {
  auto e = make_endpoint(1);
  for (int i = 0; i < 40; ++i) e.record_operation_timeout("transfer");
  BOOST_TEST(e.breaker_closed());
  BOOST_TEST(e.consecutive_failures() == 0u);
  BOOST_TEST(e.operation_timeouts("transfer") == 40u);
  BOOST_TEST(e.operation_timeouts("balance") == 0u);
  const auto d = e.describe();
  const auto& t = d.at("operation_timeouts").at("transfer").as_object();
  BOOST_TEST(t.at("timeouts").as_uint64() == 40u);
  BOOST_TEST(t.contains("last_timeout_at"));
  BOOST_TEST(e.stats().at("operation_timeouts").at("transfer").as_uint64() == 40u);
  // The names tracked are bounded.
  for (int i = 0; i < 1000; ++i) e.record_operation_timeout("op" + std::to_string(i));
  BOOST_TEST(e.stats().at("operation_timeouts").as_object().size() == 256u);
}

BOOST_AUTO_TEST_CASE(gauges_publish_state_and_feed_describe_and_stats) {
  auto e = make_endpoint();
  auto& a = e.add_connection(1);
  auto& b = e.add_connection(2);
  BOOST_TEST(!e.has_connected());
  a.set_state(conn_state::up);
  a.set_pick(pick_state::connected);
  b.set_state(conn_state::draining);
  b.set_error("closed by the peer");
  BOOST_TEST(e.has_connected());
  e.assigned = 5;
  e.queued = 2;
  BOOST_TEST(e.in_flight() == 3u);
  auto stats = e.stats();
  BOOST_TEST(stats.at("connections").at("up").as_uint64() == 2u);  // draining counts as up
  BOOST_TEST(stats.at("in_flight").as_uint64() == 3u);
  BOOST_TEST(stats.at("breaker").as_string() == "closed");
  auto d = e.describe();
  BOOST_TEST(d.at("endpoint").as_string() == "core-a:9000");
  BOOST_TEST(d.at("priority").as_int64() == 1);
  const auto& conns = d.at("connections").as_array();
  BOOST_REQUIRE(conns.size() == 2u);
  BOOST_TEST(conns[1].at("state").as_string() == "draining");
  BOOST_TEST(conns[1].at("last_error").as_string() == "closed by the peer");
  BOOST_TEST(conns[0].at("last_error").is_null());
}

BOOST_FIXTURE_TEST_CASE(the_retry_budget_allows_a_ratio_of_recent_calls_plus_a_floor,
                        clock_fixture) {
  retry_budget budget(0.1, 2);
  for (int i = 0; i < 30; ++i) budget.on_call(now);
  // 0.1 × 30 + 2 = 5 retries in the window.
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += budget.try_retry(now) ? 1 : 0;
  BOOST_TEST(allowed == 5);
  // Ten seconds on, the old calls and retries have left the window: the floor remains.
  allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += budget.try_retry(now + 10s) ? 1 : 0;
  BOOST_TEST(allowed == 2);
}

BOOST_AUTO_TEST_CASE(backoff_doubles_up_to_its_cap_and_jitter_stays_in_range) {
  backoff_policy p{100ms, 5000ms, 20};
  BOOST_TEST(backoff_step(p, 0).count() == 100);
  BOOST_TEST(backoff_step(p, 1).count() == 100);
  BOOST_TEST(backoff_step(p, 2).count() == 200);
  BOOST_TEST(backoff_step(p, 6).count() == 3200);
  BOOST_TEST(backoff_step(p, 7).count() == 5000);
  BOOST_TEST(backoff_step(p, 1000).count() == 5000);
  backoff_policy zero{0ms, 200ms, 16};  // a zero minimum still grows from 1 ms
  BOOST_TEST(backoff_step(zero, 3).count() == 4);
  std::minstd_rand rng(42);
  for (int i = 0; i < 1000; ++i) {
    auto d = jittered(50ms, 100ms, rng);
    BOOST_TEST((d >= 50ms && d <= 100ms));
  }
  BOOST_TEST(jittered(80ms, 10ms, rng).count() == 80);  // hi below lo gives lo
}

BOOST_AUTO_TEST_CASE(host_port_forms) {
  auto a = split_host_port("127.0.0.1:8080");
  BOOST_REQUIRE(a);
  BOOST_TEST(a.value->host == "127.0.0.1");
  BOOST_TEST(a.value->port_number == 8080);
  auto b = split_host_port("[::1]:0");
  BOOST_REQUIRE(b);
  BOOST_TEST(b.value->host == "::1");
  auto c = split_host_port(":7070");
  BOOST_REQUIRE(c);
  BOOST_TEST(c.value->host.empty());
  BOOST_TEST((split_host_port("nohost").error == host_port_error::no_port));
  BOOST_TEST((split_host_port("[::1]8080").error == host_port_error::bad_bracket));
  BOOST_TEST((split_host_port("h:65536").error == host_port_error::bad_port));
  BOOST_TEST((split_host_port("h:").error == host_port_error::bad_port));
  BOOST_TEST((split_host_port("h:+80").error == host_port_error::bad_port));
  BOOST_TEST((split_host_port("h:123456").error == host_port_error::bad_port));
}

BOOST_AUTO_TEST_CASE(upstream_specs) {
  auto s = parse_upstream("core-a.example:9000;priority=2");
  BOOST_TEST(s.address.host == "core-a.example");
  BOOST_TEST(s.address.port == "9000");
  BOOST_TEST(s.priority == 2);
  BOOST_TEST(parse_upstream("10.0.0.1:1").priority == 0);
  BOOST_CHECK_THROW(parse_upstream("h:1;priority=x"), std::invalid_argument);
  BOOST_CHECK_THROW(parse_upstream("h:1;weight=2"), std::invalid_argument);
  BOOST_CHECK_THROW(parse_endpoint(":9000"), std::invalid_argument);  // a host is required
  BOOST_CHECK_THROW(parse_endpoint("[::1"), std::invalid_argument);
}
