// A host slow on one operation must not take the others down: timeouts on a connection that is
// otherwise answering count against the operation, not the endpoint; and answers (timeouts,
// protocol errors) eject at most --max-ejection-percent of the endpoints. Loopback against the
// simulator; waits are for events and bounded (wait.hpp). The cap's arithmetic on a hand-driven
// clock is breaker_test's.
#define BOOST_TEST_MODULE slow_operation_test
#include <boost/test/unit_test.hpp>

#include "engine_rig.hpp"

#include <future>
#include <vector>

using namespace engine_rig;

// A host that swallows one operation and answers the others: the timeouts of that operation,
// on a connection that answered other calls since they were written, are the operation's (counted
// per operation), not the endpoint's, so the breaker stays closed even with the cap lifted.
BOOST_AUTO_TEST_CASE(a_slow_operation_does_not_eject_a_host_that_answers_the_others) {
  auto p = acme();
  sim_host host(p, rules({json::object{{"op", "transfer"}, {"fault", "no_answer"}}}));
  auto o = options({host.endpoint()});
  o.breaker_failures = 3;
  o.breaker_cooldown = 60000ms;
  o.max_ejection_percent = 100;
  engine_fixture f(p, o);
  BOOST_REQUIRE(f.wait_ready());
  for (int round = 0; round < 3; ++round) {
    std::vector<std::future<call_result>> transfers;
    for (int i = 0; i < 4; ++i)
      transfers.push_back(
          f.submit("transfer", {{"from", "1"}, {"to", "2"}, {"amount", "5.00"}}, 300ms));
    // Written after the transfers on the one connection, and answered at once.
    BOOST_TEST(code(f.balance()) == "ok");
    for (auto& t : transfers) {
      BOOST_REQUIRE(t.wait_for(10s) == std::future_status::ready);
      auto r = t.get();
      BOOST_TEST(code(r) == "upstream_timeout", r.message);
      BOOST_TEST(r.sent);
    }
  }
  BOOST_TEST(f.breaker(0) == "closed");
  auto ep = f.engine->describe_upstreams().at("endpoints").as_array().at(0).as_object();
  BOOST_TEST(ep.at("consecutive_failures").as_uint64() == 0u);
  BOOST_TEST(ep.at("operation_timeouts").at("transfer").at("timeouts").as_uint64() == 12u);
  BOOST_TEST(!ep.at("operation_timeouts").as_object().contains("balance"));
  BOOST_TEST(code(f.balance()) == "ok");
  BOOST_TEST(host.requests("transfer") == 12u);
}

// The case: 40 concurrent transfers swallowed and nothing else answered meanwhile, so
// their timeouts count against the endpoint; but it is the only one, and the ejection cap
// (default 50 %) keeps it in service: balance, answered at once, is served, not refused.
BOOST_AUTO_TEST_CASE(the_ejection_cap_keeps_the_last_endpoint_in_service) {
  auto p = acme();
  sim_host host(p, rules({json::object{{"op", "transfer"}, {"fault", "no_answer"}}}));
  auto o = options({host.endpoint()}, 2);
  o.breaker_failures = 5;
  o.breaker_cooldown = 60000ms;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 2; }));
  std::vector<std::future<call_result>> transfers;
  for (int i = 0; i < 40; ++i)
    transfers.push_back(
        f.submit("transfer", {{"from", "1"}, {"to", "2"}, {"amount", "5.00"}}, 300ms));
  for (auto& t : transfers) {
    BOOST_REQUIRE(t.wait_for(10s) == std::future_status::ready);
    auto r = t.get();
    BOOST_TEST(code(r) == "upstream_timeout", r.message);
  }
  BOOST_TEST(f.breaker(0) == "closed");
  auto ep = f.engine->describe_upstreams().at("endpoints").as_array().at(0).as_object();
  BOOST_TEST(ep.at("ejection_capped").as_bool());
  BOOST_TEST(ep.at("consecutive_failures").as_uint64() >= 5u);
  auto r = f.balance();
  BOOST_TEST(code(r) == "ok", r.message);
  BOOST_TEST(r.attempts == 1);
  // The answer ended the episode.
  ep = f.engine->describe_upstreams().at("endpoints").as_array().at(0).as_object();
  BOOST_TEST(!ep.at("ejection_capped").as_bool());
  BOOST_TEST(ep.at("consecutive_failures").as_uint64() == 0u);
}

// Two endpoints, one swallowing everything: at 50 % one of two may be ejected, and it is; the
// other serves every call.
BOOST_AUTO_TEST_CASE(the_cap_still_ejects_a_share_of_the_pool) {
  auto p = acme();
  sim_host bad(p, rules({json::object{{"op", "balance"}, {"fault", "no_answer"}}}));
  sim_host good(p);
  auto o = options({bad.endpoint(), good.endpoint()});
  o.breaker_failures = 2;
  o.breaker_cooldown = 60000ms;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1; }));
  int timeouts = 0;
  for (int i = 0; i < 20 && f.breaker(0) != "open"; ++i) {
    auto r = f.balance(200ms);
    if (code(r) == "upstream_timeout")
      ++timeouts;
    else
      BOOST_TEST(code(r) == "ok", r.message);
  }
  BOOST_TEST(timeouts == 2);
  BOOST_TEST(f.breaker(0) == "open");
  for (int i = 0; i < 10; ++i) {
    auto r = f.balance();
    BOOST_TEST(code(r) == "ok", r.message);
    BOOST_TEST(r.endpoint == good.endpoint());
  }
}
