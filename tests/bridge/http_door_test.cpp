// The HTTP front door driven over real loopback sockets against a fake call engine: keep-alive,
// pipelining, limits, malformed input, 100-continue, HTTP/1.0, chunked bodies, drain.
#define BOOST_TEST_MODULE http_door_test
#include "front_door_fixture.hpp"

BOOST_FIXTURE_TEST_SUITE(http, doors)

BOOST_AUTO_TEST_CASE(healthz_and_readyz) {
  client c(http->local_endpoint());
  c.send(get("/healthz"));
  auto r = c.read_reply();
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.object().at("status").as_string() == "ok");
  c.send(get("/readyz"));
  BOOST_TEST(c.read_reply().status == 200);
  engine.ready_flag = false;
  c.send(get("/readyz"));
  BOOST_TEST(c.read_reply().status == 503);
}

BOOST_AUTO_TEST_CASE(call_and_keep_alive) {
  client c(http->local_endpoint());
  for (int i = 0; i < 3; ++i) {
    c.send(post("echo", R"({"account":"12345","n":)" + std::to_string(i) + "}"));
    auto r = c.read_reply();
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.header("content-type") == "application/json");
    BOOST_TEST(r.header("x-dragoman-attempts") == "1");
    BOOST_TEST(r.object().at("account").as_string() == "12345");
    BOOST_TEST(r.object().at("n").as_int64() == i);
  }
  BOOST_TEST(http->connections() == 1u);
}

BOOST_AUTO_TEST_CASE(pipelined_answers_in_request_order) {
  client c(http->local_endpoint());
  // The first call finishes last; answers must still come in request order.
  c.send(post("echo", R"({"delay_ms":300,"k":"a"})", "X-Request-Id: a\r\n") +
         post("echo", R"({"k":"b"})", "X-Request-Id: b\r\n") +
         post("echo", R"({"delay_ms":100,"k":"c"})", "X-Request-Id: c\r\n") + get("/healthz") +
         post("echo", R"({"k":"e"})", "X-Request-Id: e\r\n"));
  for (std::string k : {"a", "b", "c"}) {
    auto r = c.read_reply();
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.header("x-request-id") == k);
    BOOST_TEST(r.object().at("k").as_string() == k);
  }
  BOOST_TEST(c.read_reply().object().at("status").as_string() == "ok");
  BOOST_TEST(c.read_reply().header("x-request-id") == "e");
}

BOOST_AUTO_TEST_CASE(more_pipelined_than_read_ahead_limit) {
  client c(http->local_endpoint());
  std::string batch;
  for (int i = 0; i < 40; ++i)
    batch += post("echo", R"({"delay_ms":5,"i":)" + std::to_string(i) + "}");
  c.send(batch);
  for (int i = 0; i < 40; ++i) BOOST_TEST(c.read_reply().object().at("i").as_int64() == i);
}

BOOST_AUTO_TEST_CASE(bad_requests_are_400_and_keep_the_connection) {
  client c(http->local_endpoint());
  c.send(post("echo", "{not json"));
  check_problem(c.read_reply(), 400, "bad_request");
  c.send(post("echo", "[1,2]"));
  check_problem(c.read_reply(), 400, "bad_request");
  c.send(post("echo", "{}", "Request-Timeout: soon\r\n"));
  check_problem(c.read_reply(), 400, "bad_request");
  c.send(post("echo", "{}", "Request-Timeout: 0\r\n"));
  check_problem(c.read_reply(), 400, "bad_request");
  c.send(post("echo", "{}", "Request-Timeout: 12ms\r\n"));
  check_problem(c.read_reply(), 400, "bad_request");
  c.send(post("echo", R"({"ok":1})"));
  BOOST_TEST(c.read_reply().status == 200);
  BOOST_TEST(engine.seen().size() == 1u);  // none of the bad ones reached the engine
}

BOOST_AUTO_TEST_CASE(request_timeout_and_request_id) {
  client c(http->local_endpoint());
  c.send(post("echo", "{}", "Request-Timeout: 250\r\nX-Request-Id: req-42\r\n"));
  auto r = c.read_reply();
  BOOST_TEST(r.header("x-request-id") == "req-42");
  c.send(post("echo", "{}"));
  auto g1 = c.read_reply().header("x-request-id");
  c.send(post("echo", ""));  // an empty body is an empty object
  auto r2 = c.read_reply();
  BOOST_TEST(r2.status == 200);
  auto g2 = r2.header("x-request-id");
  BOOST_TEST(!g1.empty());
  BOOST_TEST(g1 != g2);
  auto seen = engine.seen();
  BOOST_REQUIRE(seen.size() == 3u);
  BOOST_TEST(seen[0].op == "echo");
  BOOST_TEST(seen[0].request_id == "req-42");
  BOOST_REQUIRE(seen[0].timeout.has_value());
  BOOST_TEST(seen[0].timeout->count() == 250);
  BOOST_TEST(!seen[1].timeout.has_value());
  BOOST_TEST(seen[1].request_id == g1);
}

BOOST_AUTO_TEST_CASE(not_found_and_method_not_allowed) {
  client c(http->local_endpoint());
  c.send(get("/nowhere"));
  check_problem(c.read_reply(), 404, "not_found");
  c.send(post("", "{}"));
  check_problem(c.read_reply(), 404, "not_found");
  c.send(get("/v1/ops/echo"));
  auto r = c.read_reply();
  check_problem(r, 405, "method_not_allowed");
  BOOST_TEST(r.header("allow") == "POST");
  c.send("POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
  r = c.read_reply();
  BOOST_TEST(r.status == 405);
  BOOST_TEST(r.header("allow") == "GET");
  c.send(post("nosuchop", "{}"));
  check_problem(c.read_reply(), 404, "unknown_operation");
}

BOOST_AUTO_TEST_CASE(body_over_limit_is_413_then_close) {
  client c(http->local_endpoint());
  std::string body(2000, ' ');
  body.front() = '{';
  body.back() = '}';
  c.send(post("echo", body, "X-Request-Id: big\r\n"));
  auto r = c.read_reply();
  check_problem(r, 413, "payload_too_large");
  BOOST_TEST(r.header("x-request-id") == "big");
  BOOST_TEST(r.header("connection") == "close");
  BOOST_TEST(c.closed_by_peer());
  BOOST_TEST(engine.seen().empty());
}

BOOST_AUTO_TEST_CASE(malformed_http_is_400_then_close) {
  client c(http->local_endpoint());
  c.send("BLAH\x01 / HTTP/1.1\r\n\r\n");
  check_problem(c.read_reply(), 400, "bad_request");
  BOOST_TEST(c.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(problem_json_carries_the_contract) {
  client c(http->local_endpoint());
  c.send(post("timeout", "{}", "X-Request-Id: t1\r\n"));
  auto r = c.read_reply();
  check_problem(r, 504, "upstream_timeout");
  BOOST_TEST(r.header("x-dragoman-attempts") == "2");
  BOOST_TEST(r.object().at("detail").as_string() == "no reply within 300 ms");
  BOOST_TEST(r.object().at("request_id").as_string() == "t1");

  c.send(post("reject", "{}"));
  r = c.read_reply();
  check_problem(r, 422, "rejected");
  BOOST_TEST(r.object().at("legacy_code").as_string() == "51");
  BOOST_TEST(r.object().at("data").at("balance").as_string() == "1.00");

  c.send(post("busy", "{}"));
  r = c.read_reply();
  check_problem(r, 503, "upstream_unavailable");
  BOOST_TEST(r.header("retry-after") == "3");
  BOOST_TEST(!r.object().contains("legacy_code"));
}

BOOST_AUTO_TEST_CASE(expect_100_continue_gets_the_interim_answer) {
  client c(http->local_endpoint());
  std::string body = R"({"k":"late"})";
  c.send("POST /v1/ops/echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n");
  BOOST_TEST(c.read_reply(1000ms).status == 100);
  c.send(body);
  BOOST_TEST(c.read_reply().object().at("k").as_string() == "late");
}

BOOST_AUTO_TEST_CASE(http_1_0_closes_after_the_answer) {
  client c(http->local_endpoint());
  c.send("GET /healthz HTTP/1.0\r\n\r\n");
  BOOST_TEST(c.read_reply().status == 200);
  BOOST_TEST(c.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(client_leaving_mid_call_disturbs_no_one) {
  {
    client leaver(http->local_endpoint());
    leaver.send(post("hold", "{}"));
    BOOST_TEST_REQUIRE(engine.wait_seen(1));
    leaver.close();
  }
  // The stayer is answered while the leaver's call is still held: it waits for nothing of it.
  client stayer(http->local_endpoint());
  stayer.send(post("echo", R"({"k":"stay"})"));
  auto r = stayer.read_reply();
  BOOST_TEST(r.object().at("k").as_string() == "stay");
  BOOST_TEST(engine.completed == 1);
  // The abandoned call completes into a connection the client has left.
  engine.release(0);
  BOOST_TEST(engine.wait_completed(2));
  // The leaver's answer went nowhere (a half-closed client would still have got it) and its
  // connection is gone.
  BOOST_TEST(eventually([&] { return http->connections() == 1u; }));
  stayer.send(post("echo", R"({"k":"again"})"));
  BOOST_TEST(stayer.read_reply().object().at("k").as_string() == "again");
  BOOST_TEST(http->connections() == 1u);
}

BOOST_AUTO_TEST_CASE(drain_answers_calls_in_flight_then_closes) {
  client c(http->local_endpoint());
  c.send(post("hold", R"({"k":"last"})"));
  BOOST_TEST_REQUIRE(engine.wait_seen(1));
  http->stop_accepting();
  http->drain();
  engine.release(0);
  auto r = c.read_reply();
  BOOST_TEST(r.object().at("k").as_string() == "last");
  BOOST_TEST(r.header("connection") == "close");
  BOOST_TEST(c.closed_by_peer());
  BOOST_TEST(eventually([&] { return http->connections() == 0u; }));
}

BOOST_AUTO_TEST_CASE(drain_answers_every_pipelined_call_then_closes) {
  client c(http->local_endpoint());
  c.send(post("hold", R"({"k":"a"})") + post("hold", R"({"k":"b"})") +
         post("hold", R"({"k":"c"})"));
  BOOST_TEST_REQUIRE(engine.wait_seen(3));
  http->stop_accepting();
  http->drain();
  // Completed out of order: b and c are parked until a is answered.
  engine.release(1);
  engine.release(2);
  engine.release(0);
  // Every call answered in order; only the last answer announces the close.
  for (std::string k : {"a", "b", "c"}) {
    auto r = c.read_reply();
    BOOST_TEST(r.object().at("k").as_string() == k);
    BOOST_TEST(r.header("connection") == (k == "c" ? "close" : ""));
  }
  BOOST_TEST(c.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(chunked_request_body) {
  client c(http->local_endpoint());
  c.send(
      "POST /v1/ops/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\n{\"k\":\"\r\n7;ext=1\r\nchunked\r\n2\r\n\"}\r\n0\r\n\r\n");
  auto r = c.read_reply();
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.object().at("k").as_string() == "chunked");
  c.send(get("/healthz"));
  BOOST_TEST(c.read_reply().status == 200);

  // Over the body limit (1024 bytes) across chunks: 413, then close.
  client big(http->local_endpoint());
  std::string req =
      "POST /v1/ops/echo HTTP/1.1\r\nHost: t\r\nX-Request-Id: chunks\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) req += "200\r\n" + std::string(512, ' ') + "\r\n";
  big.send(req);
  r = big.read_reply();
  check_problem(r, 413, "payload_too_large");
  BOOST_TEST(r.header("x-request-id") == "chunks");
  BOOST_TEST(big.closed_by_peer());
  BOOST_TEST(engine.seen().size() == 1u);
}

BOOST_AUTO_TEST_CASE(request_split_at_every_offset) {
  client c(http->local_endpoint());
  c.no_delay();
  const std::string req = post("echo", R"({"k":"split"})", "X-Request-Id: s\r\n");
  for (std::size_t at = 1; at < req.size(); ++at) {
    // Two writes that usually arrive as two reads; door_parsers_test splits the bytes for sure.
    c.send(std::string_view(req).substr(0, at));
    c.send(std::string_view(req).substr(at));
    auto r = c.read_reply();
    BOOST_TEST_REQUIRE(r.status == 200);
    BOOST_TEST(r.header("x-request-id") == "s");
    BOOST_TEST(r.object().at("k").as_string() == "split");
  }
  BOOST_TEST(http->connections() == 1u);
}

BOOST_AUTO_TEST_CASE(requests_sent_byte_by_byte) {
  client c(http->local_endpoint());
  c.no_delay();
  const std::string reqs = post("echo", R"({"k":"slow"})", "X-Request-Id: bytes\r\n") +
                           get("/healthz") +
                           "POST /v1/ops/echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "a\r\n{\"k\":\"ch\"}\r\n0\r\n\r\n";
  for (char ch : reqs) c.send(std::string_view(&ch, 1));
  auto r = c.read_reply();
  BOOST_TEST(r.header("x-request-id") == "bytes");
  BOOST_TEST(r.object().at("k").as_string() == "slow");
  BOOST_TEST(c.read_reply().object().at("status").as_string() == "ok");
  BOOST_TEST(c.read_reply().object().at("k").as_string() == "ch");
}

BOOST_AUTO_TEST_CASE(header_over_the_limit_is_400_then_close) {
  client c(http->local_endpoint());
  c.send("GET /healthz HTTP/1.1\r\nX-Request-Id: huge\r\nX-Padding: " + std::string(20000, 'p') +
         "\r\n\r\n");
  auto r = c.read_reply();
  check_problem(r, 400, "bad_request");
  BOOST_TEST(r.header("x-request-id") == "huge");
  BOOST_TEST(r.header("connection") == "close");
  BOOST_TEST(c.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(http_1_0_keep_alive_is_kept) {
  client c(http->local_endpoint());
  for (int i = 0; i < 2; ++i) {
    c.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.read_reply();
    BOOST_TEST(r.status == 200);
    BOOST_TEST(r.header("connection") == "keep-alive");
  }
  BOOST_TEST(http->connections() == 1u);
}

BOOST_AUTO_TEST_CASE(expect_100_continue_with_the_body_already_sent) {
  client c(http->local_endpoint());
  std::string body = R"({"k":"eager"})";
  c.send("POST /v1/ops/echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
  auto r = c.read_reply();  // no interim answer: nothing is waited for
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.object().at("k").as_string() == "eager");
}

BOOST_AUTO_TEST_SUITE_END()
