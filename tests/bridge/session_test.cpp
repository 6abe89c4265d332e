// The engine's session layer on loopback against the simulator: sign-on gating readiness,
// reconnects after a refusal, heartbeats and the peer's echo, drain with sign-off, and reload.
// Waits are for events and bounded (wait.hpp); no assertion reads the clock.
#define BOOST_TEST_MODULE session_test
#include "sim_engine_fixture.hpp"

BOOST_AUTO_TEST_CASE(sign_on_gates_calls_and_readiness) {
  auto p = acme();
  sim_host host(p, rules({json::object{{"op", "sign_on"}, {"fault", "delay"}, {"delay_ms", 700}}}));
  recording_proxy wire(p, host.endpoint());
  engine_fixture f(p, options({wire.endpoint()}));
  BOOST_REQUIRE(eventually([&] { return host.requests("sign_on") == 1u; }));
  BOOST_TEST(!f.engine->ready());
  auto call = f.submit("balance", {{"account", "1"}}, 5000ms);
  BOOST_TEST(f.endpoint_stats(0).at("connections").at("signing_on").to_number<int>() == 1);
  BOOST_REQUIRE(arrives(call));
  BOOST_TEST(code(call.get()) == "ok");
  BOOST_TEST(f.engine->ready());
  BOOST_TEST(host.requests("sign_on") == 1u);
  // The balance was held until the sign-on was answered: on the wire, it follows the reply.
  const std::vector<std::string> expected{"request sign_on", "reply sign_on", "request balance",
                                          "reply balance"};
  BOOST_TEST(wire.seen() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_refused_sign_on_reconnects_with_backoff) {
  auto p = acme();
  sim_host host(
      p, rules({json::object{{"op", "sign_on"}, {"reply", {{"result", "91"}}}, {"times", 2}}}));
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  BOOST_TEST(host.requests("sign_on") == 3u);
  BOOST_TEST(host.sim->stats().connections.load() == 3u);
  BOOST_TEST(code(f.balance()) == "ok");
}

BOOST_AUTO_TEST_CASE(heartbeat_when_idle_and_a_dead_peer_is_replaced) {
  auto p = acme(200, 300);
  sim_host host(p, rules({json::object{{"op", "echo"}, {"fault", "no_answer"}, {"times", 1}}}));
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  // The first echo goes unanswered: the connection is declared dead and replaced.
  BOOST_REQUIRE(eventually([&] { return f.stat("heartbeat_failures_total") == 1u; }));
  BOOST_REQUIRE(eventually([&] { return host.sim->stats().connections.load() == 2u; }));
  BOOST_REQUIRE(eventually([&] { return host.requests("echo") >= 3u; }));
  BOOST_TEST(f.stat("heartbeat_failures_total") == 1u);
  BOOST_TEST(f.stat("heartbeats_total") >= 3u);
  BOOST_TEST(f.wait_ready());
  BOOST_TEST(code(f.balance()) == "ok");
}

BOOST_AUTO_TEST_CASE(the_peers_echo_is_answered) {
  auto p = acme();
  json::object r{{"send", json::array{json::object{{"op", "echo"}, {"every_ms", 100}}}}};
  sim_host host(p, r);
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  BOOST_REQUIRE(eventually([&] { return host.sim->stats().answers.load() >= 3u; }));
  BOOST_TEST(f.stat("unsolicited_total") >= 3u);
  BOOST_TEST(f.stat("protocol_errors_total") == 0u);
  BOOST_TEST(host.sim->stats().bad_frames.load() == 0u);
  BOOST_TEST(code(f.balance()) == "ok");
}

BOOST_AUTO_TEST_CASE(drain_finishes_calls_in_flight_and_answers_the_rest) {
  auto p = acme();
  sim_host host(
      p, rules({json::object{{"op", "balance"},
                             {"when", {{"account", "slow"}}},
                             {"fault", "delay"},
                             {"delay_ms", 200}},
                json::object{
                    {"op", "balance"}, {"when", {{"account", "stuck"}}}, {"fault", "no_answer"}}}));
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  auto slow = f.submit_named("slow", "balance", {{"account", "slow"}}, 10000ms);
  auto stuck = f.submit_named("stuck", "balance", {{"account", "stuck"}}, 10000ms);
  BOOST_REQUIRE(eventually([&] { return host.requests("balance") == 2u; }));
  std::promise<void> drained;
  std::atomic<int> done_calls{0};
  // The drain deadline is well past the slow call's answer (200 ms after it reached the host).
  f.engine->drain(std::chrono::steady_clock::now() + 2000ms, [&] {
    if (++done_calls == 1) drained.set_value();
  });
  // New calls are refused at once.
  auto late = f.balance();
  BOOST_TEST(code(late) == "upstream_unavailable");
  BOOST_TEST(late.message.find("draining") != std::string::npos, late.message);
  BOOST_REQUIRE(arrives(slow));
  BOOST_REQUIRE(arrives(stuck));
  BOOST_TEST(code(slow.get()) == "ok");
  // The drain waited for its deadline: the stuck call was answered by it, after the slow one.
  auto s = stuck.get();
  BOOST_TEST(code(s) == "upstream_unavailable");
  BOOST_TEST(s.message.find("within the drain timeout") != std::string::npos, s.message);
  BOOST_TEST(f.answer_order() == (std::vector<std::string>{"slow", "stuck"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE(arrives(drained.get_future()));
  BOOST_TEST(eventually([&] { return host.requests("sign_off") == 1u; }));
  BOOST_TEST(!f.engine->ready());
  // Once: also through the engine's teardown, which ends a drain still open.
  f.engine.reset();
  BOOST_TEST(done_calls.load() == 1);
}

BOOST_AUTO_TEST_CASE(drain_with_nothing_in_flight_signs_off_at_once) {
  auto p = acme();
  sim_host host(p);
  engine_fixture f(p, options({host.endpoint()}, 2));
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 2; }));
  std::promise<void> drained;
  // A deadline far beyond the bounded wait below: the drain can end within that wait only by
  // signing off at once, not by reaching its deadline.
  f.engine->drain(std::chrono::steady_clock::now() + 10min, [&] { drained.set_value(); });
  BOOST_REQUIRE(arrives(drained.get_future()));
  BOOST_TEST(host.requests("sign_off") == 2u);
}

BOOST_AUTO_TEST_CASE(reload_keeps_connections) {
  auto p = acme();
  sim_host host(p);
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  BOOST_TEST(code(f.balance()) == "ok");
  // Same wire, another operation timeout and a new operation: the connection stays.
  auto o = acme_json(0, 300);
  o["operations"].as_object()["balance"].as_object()["timeout_ms"] = 900;
  auto ops = o["operations"].as_object();
  json::object extra = ops["balance"].as_object();
  o["operations"].as_object()["balance2"] = extra;
  auto next = compile(o);
  f.engine->reload(next);
  BOOST_TEST(code(f.call("balance2", {{"account", "1"}})) == "ok");
  BOOST_TEST(code(f.balance()) == "ok");
  BOOST_TEST(host.sim->stats().connections.load() == 1u);
  BOOST_TEST(f.stat("reconnects_total") == 0u);
}

BOOST_AUTO_TEST_CASE(reload_with_another_wire_replaces_connections_once_idle) {
  auto p = acme();
  sim_host host(p, rules({json::object{{"op", "balance"}, {"fault", "delay"}, {"delay_ms", 400}}}));
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  auto in_flight = f.submit("balance", {{"account", "1"}}, 5000ms);
  BOOST_REQUIRE(eventually([&] { return host.requests("balance") == 1u; }));
  auto o = acme_json(0, 300);
  o["framing"].as_object()["max_frame_length"] = 2048;  // a framing change
  f.engine->reload(compile(o));
  BOOST_TEST(code(in_flight.get()) == "ok");  // finished on the old connection
  BOOST_REQUIRE(eventually([&] { return host.sim->stats().connections.load() == 2u; }));
  BOOST_TEST(code(f.balance()) == "ok");
}
