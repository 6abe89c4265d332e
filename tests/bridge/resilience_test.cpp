// Resilience of the call engine on loopback against the simulator: priorities and failover,
// breakers, retries under a budget, backpressure caps (the session layer, drain and reload:
// session_test). Waits are for events and bounded (wait.hpp); assertions are on codes, messages,
// counts and order, never on how long anything took.
#define BOOST_TEST_MODULE resilience_test
#include "sim_engine_fixture.hpp"

BOOST_AUTO_TEST_CASE(upstream_strings_carry_a_priority) {
  auto s = bridge::parse_upstream("core-a.example:9000;priority=2");
  BOOST_TEST(s.address.host == "core-a.example");
  BOOST_TEST(s.address.port == "9000");
  BOOST_TEST(s.priority == 2);
  BOOST_TEST(bridge::parse_upstream("10.0.0.1:1").priority == 0);
  BOOST_CHECK_THROW(bridge::parse_upstream("h:1;priority=x"), std::invalid_argument);
  BOOST_CHECK_THROW(bridge::parse_upstream("h:1;weight=2"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(session_operations_are_internal) {
  auto p = acme();
  BOOST_TEST(p->session.sign_on.has_value());
  BOOST_TEST(p->find_operation("sign_on")->internal);
  BOOST_TEST(p->find_operation("echo")->internal);
  BOOST_TEST(!p->find_operation("balance")->internal);
  sim_host host(p);
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  auto r = f.call("sign_on", {});
  BOOST_TEST(code(r) == "unknown_operation");
  BOOST_TEST(r.status == 404);
}

BOOST_AUTO_TEST_CASE(a_value_too_long_is_invalid_field_even_with_no_upstream) {
  auto p = acme();
  engine_fixture f(p, options({closed_port()}));
  auto r = f.call("balance", {{"account", "1234567890123"}});  // 13 characters in 12
  BOOST_TEST(code(r) == "invalid_field", r.message);
  BOOST_TEST(r.status == 422);
  BOOST_TEST(r.message.find("account") != std::string::npos, r.message);
}

BOOST_AUTO_TEST_CASE(observability_hooks) {
  auto p = acme();
  sim_host host(p);
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  auto fut = f.submit("balance", {{"account", "77"}}, 3000ms, true);
  BOOST_REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  auto r = fut.get();
  BOOST_TEST(code(r) == "ok", r.message);
  BOOST_TEST(r.attempts == 1);
  BOOST_TEST(r.endpoint == host.endpoint());
  BOOST_TEST(r.upstream_time.count() > 0);
  BOOST_REQUIRE(r.trace);
  BOOST_TEST(r.trace->has_reply);
  BOOST_TEST(r.trace->op->name == "balance");
  auto stats = f.engine->stats();
  for (const char* k :
       {"calls_total", "retries_total", "retry_budget_exhausted_total", "unmatched_replies_total",
        "late_replies_total", "unsolicited_total", "protocol_errors_total", "frames_rejected_total",
        "bytes_in_total", "bytes_out_total", "calls_in_flight", "calls_queued", "connects_total",
        "connect_failures_total", "reconnects_total", "heartbeats_total",
        "heartbeat_failures_total", "endpoints"})
    BOOST_TEST(stats.contains(k), k);
  BOOST_TEST(f.stat("bytes_out_total") > 0u);
  BOOST_TEST(f.up(0) == 1);
  auto d = f.engine->describe_upstreams();
  auto& ep = d.at("endpoints").as_array().at(0).as_object();
  BOOST_TEST(ep.at("breaker").as_string() == "closed");
  BOOST_TEST(ep.contains("breaker_since"));
  BOOST_TEST(ep.at("connections").as_array().at(0).at("state").as_string() == "up");
}

BOOST_AUTO_TEST_CASE(failover_by_priority_and_round_robin_within_one) {
  auto p = acme();
  sim_host a(p), b(p), c(p);
  auto o = options({a.endpoint(), b.endpoint() + ";priority=0", c.endpoint() + ";priority=1"});
  o.breaker_failures = 2;
  o.breaker_cooldown = 60000ms;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1 && f.up(2) == 1; }));
  for (int i = 0; i < 20; ++i) BOOST_TEST(code(f.balance()) == "ok");
  BOOST_TEST(a.requests("balance") >= 5u);
  BOOST_TEST(b.requests("balance") >= 5u);
  BOOST_TEST(a.requests("balance") + b.requests("balance") == 20u);
  BOOST_TEST(c.requests("balance") == 0u);
  // The first priority goes away: the second takes the calls.
  a.stop();
  b.stop();
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 0 && f.up(1) == 0; }));
  for (int i = 0; i < 10; ++i) BOOST_TEST(code(f.balance()) == "ok");
  BOOST_TEST(c.requests("balance") == 10u);
}

BOOST_AUTO_TEST_CASE(breaker_opens_rejects_fast_probes_and_closes) {
  auto p = acme();
  // The host swallows the first three balances, then answers again.
  sim_host host(p, rules({json::object{{"op", "balance"}, {"fault", "no_answer"}, {"times", 3}}}));
  auto o = options({host.endpoint()});
  o.breaker_failures = 3;
  o.breaker_cooldown = 700ms;
  engine_fixture f(p, o);
  BOOST_REQUIRE(f.wait_ready());
  for (int i = 0; i < 3; ++i) BOOST_TEST(code(f.balance(150ms)) == "upstream_timeout");
  BOOST_TEST(f.breaker(0) == "open");
  // Rejected fast: refused by the breaker (not the 3 s deadline's upstream_timeout), with no
  // attempt, and nothing reached the host.
  auto r = f.balance();
  BOOST_TEST(code(r) == "upstream_unavailable");
  BOOST_TEST(r.status == 503);
  BOOST_TEST(r.message.find("breaker open") != std::string::npos, r.message);
  BOOST_REQUIRE(r.retry_after_seconds.has_value());
  BOOST_TEST(*r.retry_after_seconds >= 1);
  BOOST_TEST(r.attempts == 0);
  BOOST_TEST(host.requests("balance") == 3u);
  // After the cool-down one probe goes through; its success closes the breaker. Only real time
  // ends the cool-down here: calls until one is answered, each one before it refused as above.
  // (How long the cool-down lasts is breaker_test's, on a hand-driven clock.)
  std::vector<call_result> refused;
  BOOST_REQUIRE(eventually([&] {
    auto next = f.balance();
    if (code(next) == "ok") return true;
    refused.push_back(std::move(next));
    return false;
  }));
  for (const auto& x : refused) {
    BOOST_TEST(code(x) == "upstream_unavailable", x.message);
    BOOST_TEST(x.attempts == 0);
  }
  BOOST_TEST(host.requests("balance") == 4u);  // the probe, alone
  BOOST_TEST(f.breaker(0) == "closed");
  BOOST_TEST(code(f.balance()) == "ok");
}

BOOST_AUTO_TEST_CASE(failed_probe_opens_the_breaker_again) {
  auto p = acme();
  sim_host host(p, rules({json::object{{"op", "balance"}, {"fault", "no_answer"}}}));
  auto o = options({host.endpoint()});
  o.breaker_failures = 2;
  o.breaker_cooldown = 400ms;
  engine_fixture f(p, o);
  BOOST_REQUIRE(f.wait_ready());
  for (int i = 0; i < 2; ++i) BOOST_TEST(code(f.balance(100ms)) == "upstream_timeout");
  BOOST_TEST(f.breaker(0) == "open");
  // Calls are refused until the cool-down is over (real time; its length is breaker_test's);
  // then the probe goes through, and the host swallows it too.
  std::vector<call_result> refused;
  BOOST_REQUIRE(eventually([&] {
    auto next = f.balance(100ms);
    if (code(next) == "upstream_timeout") return true;  // the probe
    refused.push_back(std::move(next));
    return false;
  }));
  for (const auto& x : refused) BOOST_TEST(code(x) == "upstream_unavailable", x.message);
  BOOST_TEST(f.breaker(0) == "open");
  auto r = f.balance();
  BOOST_TEST(code(r) == "upstream_unavailable");
  BOOST_TEST(r.message.find("breaker open") != std::string::npos, r.message);
  BOOST_TEST(host.requests("balance") == 3u);
}

BOOST_AUTO_TEST_CASE(idempotent_calls_are_retried_on_the_other_endpoint) {
  auto p = acme();
  sim_host bad(p, rules({json::object{{"op", "balance"}, {"fault", "close"}}}));
  sim_host good(p);
  auto o = options({bad.endpoint(), good.endpoint()});
  o.breaker_failures = 1000;
  o.retry_budget_floor = 100;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1; }));
  int retried = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = f.balance();
    BOOST_TEST(code(r) == "ok", r.message);
    BOOST_TEST(r.endpoint == good.endpoint());
    if (r.attempts == 2) ++retried;
  }
  BOOST_TEST(retried >= 1);
  BOOST_TEST(static_cast<std::uint64_t>(retried) == bad.requests("balance"));
  BOOST_TEST(f.stat("retries_total") == static_cast<std::uint64_t>(retried));
  BOOST_TEST(good.requests("balance") == 10u);
}

BOOST_AUTO_TEST_CASE(a_transfer_is_never_sent_twice) {
  auto p = acme();
  sim_host bad(p, rules({json::object{{"op", "transfer"}, {"fault", "close"}}}));
  sim_host good(p);
  auto o = options({bad.endpoint(), good.endpoint()});
  o.breaker_failures = 1000;
  o.retry_budget_floor = 100;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1; }));
  int lost = 0;
  for (int i = 0; i < 10; ++i) {
    // Wait for the bad host's connection, so that round robin keeps choosing it.
    BOOST_REQUIRE(eventually([&] { return f.up(0) == 1; }));
    auto r = f.transfer();
    BOOST_TEST(r.attempts == 1);
    if (code(r) == "upstream_unavailable")
      ++lost;
    else
      BOOST_TEST(code(r) == "ok", r.message);
  }
  BOOST_TEST(lost >= 1);
  BOOST_TEST(static_cast<std::uint64_t>(lost) == bad.requests("transfer"));
  BOOST_TEST(bad.requests("transfer") + good.requests("transfer") == 10u);
  BOOST_TEST(f.stat("retries_total") == 0u);
}

BOOST_AUTO_TEST_CASE(a_transfer_is_retried_when_no_byte_was_written) {
  auto p = acme();
  auto a = std::make_unique<sim_host>(p);
  const std::string b_endpoint = closed_port();  // the second host starts later
  auto o = options({a->endpoint(), b_endpoint});
  o.breaker_failures = 1000;
  o.retry_budget_floor = 100;
  o.reconnect_min = 300ms;  // the lost host's connection keeps queueing calls for a while
  o.reconnect_max = 300ms;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1; }));
  a.reset();  // the only host goes away: calls queue for its connection's next attempt
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 0; }));
  std::vector<std::future<call_result>> calls;
  for (int i = 0; i < 10; ++i)
    calls.push_back(f.submit("transfer", {{"from", "1"}, {"to", "2"}, {"amount", "5.00"}}, 8000ms));
  BOOST_REQUIRE(eventually([&] { return f.stat("calls_queued") == 10u; }));
  // The second host comes up; the first one's next connect fails, and the queued transfers,
  // none of whose bytes were written, move there.
  sim_host b(p, json::object{}, b_endpoint);
  int retried = 0;
  for (auto& c : calls) {
    BOOST_REQUIRE(c.wait_for(15s) == std::future_status::ready);
    auto r = c.get();
    BOOST_TEST(code(r) == "ok", r.message);
    BOOST_TEST(r.endpoint == b_endpoint);
    if (r.attempts == 2) ++retried;
  }
  BOOST_TEST(retried == 10);
  BOOST_TEST(b.requests("transfer") == 10u);
}

BOOST_AUTO_TEST_CASE(the_retry_budget_caps_retries) {
  auto p = acme();
  sim_host bad(p, rules({json::object{{"op", "balance"}, {"fault", "close"}}}));
  sim_host backup(p);
  auto o = options({bad.endpoint(), backup.endpoint() + ";priority=1"});
  o.breaker_failures = 1000;
  o.retry_budget_ratio = 0;
  o.retry_budget_floor = 2;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1; }));
  int ok = 0, failed = 0;
  for (int i = 0; i < 6; ++i) {
    // The primary's connection is back before each call (the host closes it on every balance).
    BOOST_REQUIRE(eventually([&] { return f.up(0) == 1; }));
    auto r = f.balance();
    if (code(r) == "ok") {
      ++ok;
      BOOST_TEST(r.attempts == 2);
    } else {
      ++failed;
      BOOST_TEST(code(r) == "upstream_unavailable", r.message);
      BOOST_TEST(r.message.find("retry budget") != std::string::npos, r.message);
    }
  }
  BOOST_TEST(ok == 2);
  BOOST_TEST(failed == 4);
  BOOST_TEST(f.stat("retries_total") == 2u);
  BOOST_TEST(f.stat("retry_budget_exhausted_total") == 4u);
}

BOOST_AUTO_TEST_CASE(overloaded_beyond_the_endpoint_cap) {
  auto p = acme();
  sim_host host(p, rules({json::object{{"op", "balance"}, {"fault", "delay"}, {"delay_ms", 600}}}));
  auto o = options({host.endpoint()});
  o.max_in_flight_per_endpoint = 2;
  engine_fixture f(p, o);
  BOOST_REQUIRE(f.wait_ready());
  auto one = f.submit("balance", {{"account", "1"}});
  auto two = f.submit("balance", {{"account", "2"}});
  BOOST_REQUIRE(eventually([&] { return f.stat("calls_in_flight") == 2u; }));
  // Refused at once: overloaded (not queued behind the two), no attempt, never sent.
  auto r = f.balance();
  BOOST_TEST(code(r) == "overloaded");
  BOOST_TEST(r.status == 503);
  BOOST_TEST(r.message.find("maximum of calls in flight") != std::string::npos, r.message);
  BOOST_TEST(r.attempts == 0);
  BOOST_TEST(code(one.get()) == "ok");
  BOOST_TEST(code(two.get()) == "ok");
  BOOST_TEST(host.requests("balance") == 2u);
}

BOOST_AUTO_TEST_CASE(overloaded_beyond_the_connection_cap) {
  auto p = acme();
  sim_host host(p, rules({json::object{{"op", "balance"}, {"fault", "delay"}, {"delay_ms", 800}}}));
  auto o = options({host.endpoint()});
  o.max_in_flight_per_connection = 2;
  engine_fixture f(p, o);
  BOOST_REQUIRE(f.wait_ready());
  auto one = f.submit("balance", {{"account", "1"}});
  auto two = f.submit("balance", {{"account", "2"}});
  BOOST_REQUIRE(eventually([&] { return host.requests("balance") == 2u; }));
  auto r = f.balance();
  BOOST_TEST(code(r) == "overloaded");
  BOOST_TEST(code(one.get()) == "ok");
  BOOST_TEST(code(two.get()) == "ok");
  BOOST_TEST(host.requests("balance") == 2u);
}

namespace {
std::shared_ptr<const codecs::profile> acme_sequential() {
  auto o = acme_json();
  o["correlation"] = json::object{{"mode", "sequential"}};
  o.erase("session");  // the session is covered by the field-mode tests
  return compile(o);
}
}  // namespace

BOOST_AUTO_TEST_CASE(overloaded_beyond_the_queue_cap) {
  auto p = acme_sequential();
  sim_host host(p, rules({json::object{{"op", "balance"}, {"fault", "delay"}, {"delay_ms", 600}}}));
  auto o = options({host.endpoint()});
  o.max_queued = 1;
  engine_fixture f(p, o);
  BOOST_REQUIRE(f.wait_ready());
  auto one = f.submit("balance", {{"account", "1"}});
  BOOST_REQUIRE(eventually([&] { return host.requests("balance") == 1u; }));
  auto two = f.submit("balance", {{"account", "2"}});
  BOOST_REQUIRE(eventually([&] { return f.stat("calls_queued") == 1u; }));
  auto r = f.balance();
  BOOST_TEST(code(r) == "overloaded", r.message);
  BOOST_TEST(code(one.get()) == "ok");
  BOOST_TEST(code(two.get()) == "ok");
}

BOOST_AUTO_TEST_CASE(queue_timeout_inside_the_deadline) {
  auto p = acme_sequential();
  sim_host host(p,
                rules({json::object{{"op", "balance"}, {"fault", "delay"}, {"delay_ms", 1500}}}));
  auto o = options({host.endpoint()});
  o.queue_timeout = 150ms;
  engine_fixture f(p, o);
  BOOST_REQUIRE(f.wait_ready());
  auto one = f.submit("balance", {{"account", "1"}}, 5000ms);
  BOOST_REQUIRE(eventually([&] { return host.requests("balance") == 1u; }));
  // The queued call gives up at the queue timeout, inside its 5 s deadline: overloaded, and the
  // message says which. Waiting for the connection instead, it would have been sent after the
  // first call and answered ok.
  auto r = f.balance(5000ms);
  BOOST_TEST(code(r) == "overloaded", r.message);
  BOOST_TEST(r.message.find("queue timeout") != std::string::npos, r.message);
  BOOST_TEST(code(one.get()) == "ok");
  BOOST_TEST(host.requests("balance") == 1u);  // the queued call was never sent
}
