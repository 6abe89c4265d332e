// The line front door driven over real loopback sockets against a fake call engine, and what
// both doors count, log and trace.
#define BOOST_TEST_MODULE line_door_test
#include "front_door_fixture.hpp"

BOOST_FIXTURE_TEST_SUITE(line, doors)

BOOST_AUTO_TEST_CASE(answers_in_completion_order_with_ids_echoed) {
  client c(line->local_endpoint());
  c.send(R"({"id":"a","op":"echo","data":{"delay_ms":300,"k":"a"}})"
         "\n"
         R"({"id":2,"op":"echo","data":{"k":"b"}})"
         "\n"
         R"({"id":"c","op":"echo","data":{"delay_ms":100,"k":"c"},"timeout_ms":500})"
         "\n");
  auto first = c.read_answer();
  BOOST_TEST(first.at("id").as_int64() == 2);
  BOOST_TEST(first.at("ok").as_bool());
  BOOST_TEST(first.at("data").at("k").as_string() == "b");
  BOOST_TEST(first.at("attempts").as_int64() == 1);
  BOOST_TEST(c.read_answer().at("id").as_string() == "c");
  BOOST_TEST(c.read_answer().at("id").as_string() == "a");
  auto seen = engine.seen();
  BOOST_REQUIRE(seen.size() == 3u);
  BOOST_TEST(seen[2].timeout->count() == 500);
  BOOST_TEST(seen[2].request_id == "c");
  BOOST_TEST(!seen[0].timeout.has_value());
}

BOOST_AUTO_TEST_CASE(errors_carry_code_message_and_legacy_code) {
  client c(line->local_endpoint());
  c.send(R"({"id":"r","op":"reject","data":{}})"
         "\n");
  auto a = c.read_answer();
  BOOST_TEST(a.at("id").as_string() == "r");
  BOOST_TEST(!a.at("ok").as_bool());
  BOOST_TEST(a.at("error").at("code").as_string() == "rejected");
  BOOST_TEST(a.at("error").at("message").as_string() == "insufficient funds");
  BOOST_TEST(a.at("error").at("legacy_code").as_string() == "51");
  BOOST_TEST(a.at("attempts").as_int64() == 1);
  c.send(R"({"id":7,"op":"timeout"})"
         "\n");
  a = c.read_answer();
  BOOST_TEST(a.at("error").at("code").as_string() == "upstream_timeout");
  BOOST_TEST(a.at("attempts").as_int64() == 2);
}

BOOST_AUTO_TEST_CASE(bad_lines_are_answered_and_the_connection_stays) {
  client c(line->local_endpoint());
  c.send("this is not json\n");
  auto a = c.read_answer();
  BOOST_TEST(a.at("id").is_null());
  BOOST_TEST(!a.at("ok").as_bool());
  BOOST_TEST(a.at("error").at("code").as_string() == "bad_request");
  c.send("[1,2,3]\n\n   \n");  // blank lines are ignored
  BOOST_TEST(c.read_answer().at("error").at("code").as_string() == "bad_request");
  c.send(R"({"id":"no-op","data":{}})"
         "\n");
  a = c.read_answer();
  BOOST_TEST(a.at("id").as_string() == "no-op");
  BOOST_TEST(a.at("error").at("code").as_string() == "bad_request");
  c.send(R"({"id":"bad-data","op":"echo","data":[1]})"
         "\n"
         R"({"id":"bad-timeout","op":"echo","timeout_ms":"soon"})"
         "\n");
  BOOST_TEST(c.read_answer().at("id").as_string() == "bad-data");
  BOOST_TEST(c.read_answer().at("id").as_string() == "bad-timeout");
  c.send(R"({"id":"fine","op":"echo","data":{"x":1}})"
         "\r\n");
  a = c.read_answer();
  BOOST_TEST(a.at("id").as_string() == "fine");
  BOOST_TEST(a.at("ok").as_bool());
  BOOST_TEST(engine.seen().size() == 1u);
}

BOOST_AUTO_TEST_CASE(oversized_line_is_refused_and_skipped) {
  client c(line->local_endpoint());
  // Sent in pieces: the door refuses the line as soon as the limit passes, before it ends, then
  // skips the rest of it whenever it comes.
  std::string big = R"({"id":"big","op":"echo","data":{"pad":")" + std::string(3000, 'x');
  c.send(big.substr(0, 1500));
  auto a = c.read_answer();
  BOOST_TEST(a.at("error").at("code").as_string() == "payload_too_large");
  c.send(big.substr(1500));
  c.send(R"("}})"
         "\n"
         R"({"id":"after","op":"echo"})"
         "\n");
  a = c.read_answer();
  BOOST_TEST(a.at("id").as_string() == "after");
  BOOST_TEST(a.at("ok").as_bool());
  // An over-long line that arrives whole is refused the same way.
  c.send(std::string(2000, ' ') + "\n" + R"({"id":"again","op":"echo"})" + "\n");
  BOOST_TEST(c.read_answer().at("error").at("code").as_string() == "payload_too_large");
  BOOST_TEST(c.read_answer().at("id").as_string() == "again");
  BOOST_TEST(engine.seen().size() == 2u);
}

BOOST_AUTO_TEST_CASE(reading_pauses_at_the_in_flight_limit) {
  client c(line->local_endpoint());
  std::string batch;
  for (int i = 0; i < 100; ++i)
    batch += R"({"id":)" + std::to_string(i) + R"(,"op":"echo","data":{"delay_ms":10}})" + "\n";
  c.send(batch);
  std::set<std::int64_t> ids;
  for (int i = 0; i < 100; ++i) ids.insert(c.read_answer().at("id").as_int64());
  BOOST_TEST(ids.size() == 100u);
  BOOST_TEST(line->stats().reads_paused.load() > 0u);
}

// Answers finished while a write is in flight wait in the output buffer; none may be lost when
// the door's buffers come and go (idle connections hold none; buffers are lent per thread).
BOOST_AUTO_TEST_CASE(no_answer_is_lost_while_writes_are_in_flight) {
  for (int round = 0; round < 5; ++round) {
    client c(line->local_endpoint());
    // Answers written one at a time first, so that buffers have come and gone a few times.
    c.send(R"({"id":"w0","op":"echo","data":{}})"
           "\n"
           R"({"id":"w1","op":"echo","data":{"delay_ms":30}})"
           "\n"
           R"({"id":"w2","op":"echo","data":{"delay_ms":60}})"
           "\n");
    for (std::string w : {"w0", "w1", "w2"}) BOOST_TEST(c.read_answer().at("id").as_string() == w);
    std::string batch;
    for (int i = 0; i < 50; ++i)
      batch += R"({"id":)" + std::to_string(i) + R"(,"op":"echo","data":{"k":")" +
               std::string(static_cast<std::size_t>(i * 7), 'v') + "\"}}\n";
    c.send(batch);
    std::set<std::int64_t> ids;
    for (int i = 0; i < 50; ++i) ids.insert(c.read_answer().at("id").as_int64());
    BOOST_TEST(ids.size() == 50u);
  }
}

BOOST_AUTO_TEST_CASE(half_close_still_gets_answers) {
  client c(line->local_endpoint());
  c.send(R"({"id":1,"op":"echo","data":{"delay_ms":50}})"
         "\n"
         R"({"id":2,"op":"echo"})");  // the last line may lack its newline
  c.shutdown_send();
  std::set<std::int64_t> ids;
  ids.insert(c.read_answer().at("id").as_int64());
  ids.insert(c.read_answer().at("id").as_int64());
  BOOST_TEST((ids == std::set<std::int64_t>{1, 2}));
  BOOST_TEST(c.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(client_leaving_mid_call_disturbs_no_one) {
  {
    client leaver(line->local_endpoint());
    leaver.send(R"({"id":1,"op":"hold"})"
                "\n");
    BOOST_TEST_REQUIRE(engine.wait_seen(1));
    leaver.close();
  }
  client stayer(line->local_endpoint());
  stayer.send(R"({"id":"s","op":"echo"})"
              "\n");
  BOOST_TEST(stayer.read_answer().at("id").as_string() == "s");
  BOOST_TEST(engine.completed == 1);
  engine.release(0);
  BOOST_TEST(engine.wait_completed(2));
  BOOST_TEST(eventually([&] { return line->connections() == 1u; }));
  stayer.send(R"({"id":"t","op":"echo"})"
              "\n");
  BOOST_TEST(stayer.read_answer().at("id").as_string() == "t");
}

BOOST_AUTO_TEST_CASE(drain_answers_calls_in_flight_then_closes) {
  client c(line->local_endpoint());
  c.send(R"({"id":"last","op":"hold"})"
         "\n");
  BOOST_TEST_REQUIRE(engine.wait_seen(1));
  line->stop_accepting();
  line->drain();
  engine.release(0);
  BOOST_TEST(c.read_answer().at("id").as_string() == "last");
  BOOST_TEST(c.closed_by_peer());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(problem_bodies) {
  auto p = make_problem("not_found", 404, "no such path: /x", "id-1");
  BOOST_TEST(p.at("type").as_string() == "urn:dragoman:problem:not_found");
  BOOST_TEST(p.at("title").as_string() == "Not found");
  BOOST_TEST(p.at("status").as_int64() == 404);
  BOOST_TEST(p.at("request_id").as_string() == "id-1");
  call_result r = door_error(call_code::overloaded, "too many calls");
  r.status = 0;  // an engine that forgot the status still answers with the code's
  BOOST_TEST(answer_status(r) == 503);
  auto line_text = line_answer(json::value("x"), r);
  BOOST_TEST(line_text.back() == '\n');
  auto a = json::parse(line_text).as_object();
  BOOST_TEST(a.at("error").at("code").as_string() == "overloaded");
  BOOST_TEST(!a.at("error").as_object().contains("legacy_code"));
  BOOST_TEST(a.at("attempts").as_int64() == 0);
}

// ---- observability: per-call metrics, admin endpoints on a door, trace requests -----------------

namespace {

struct observed_doors {
  observed_doors() {
    auto loaded = dragoman::codecs::load_profile(std::string(DRAGOMAN_SOURCE_DIR) +
                                                 "/profiles/acme-core.json");
    BOOST_REQUIRE(loaded.compiled);
    call_metrics.add_operation("echo");
    call_metrics.add_operation("reject");
    open_admin = std::make_unique<admin>(engine, call_metrics, loaded.compiled, "");
    token_admin = std::make_unique<admin>(engine, call_metrics, loaded.compiled, "tok");
    http_door_options h;
    h.listen = {asio::ip::make_address("127.0.0.1"), 0};
    h.admin_endpoints = open_admin.get();
    h.call_metrics = &call_metrics;
    h.allow_trace_header = true;
    http = std::make_unique<http_door>(pool, engine, h);
    http_door_options a;
    a.listen = {asio::ip::make_address("127.0.0.1"), 0};
    a.admin_endpoints = token_admin.get();
    a.serve_calls = false;
    admin_http = std::make_unique<http_door>(pool, engine, a);
    line_door_options l;
    l.listen = {asio::ip::make_address("127.0.0.1"), 0};
    l.call_metrics = &call_metrics;
    l.allow_trace_header = true;
    line = std::make_unique<line_door>(pool, engine, l);
    pool.start();
  }
  ~observed_doors() {
    http.reset();
    admin_http.reset();
    line.reset();
    pool.stop();
    pool.join();
  }

  fake_engine engine;
  metrics call_metrics{4};
  std::unique_ptr<admin> open_admin, token_admin;
  io_pool pool{2};
  std::unique_ptr<http_door> http, admin_http;
  std::unique_ptr<line_door> line;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(observability, observed_doors)

BOOST_AUTO_TEST_CASE(calls_are_counted_by_operation_and_code_in_both_doors) {
  client c(http->local_endpoint());
  c.send(post("echo", R"({"a":1})"));
  BOOST_TEST(c.read_reply().status == 200);
  c.send(post("reject", "{}"));
  BOOST_TEST(c.read_reply().status == 422);
  c.send(post("echo", "not json"));
  BOOST_TEST(c.read_reply().status == 400);
  c.send(post("whatever", "{}"));
  BOOST_TEST(c.read_reply().status == 404);
  client l(line->local_endpoint());
  l.send("{\"id\":1,\"op\":\"echo\",\"data\":{}}\nnot json\n");
  l.read_answer();
  l.read_answer();
  BOOST_TEST(call_metrics.calls("echo", call_code::ok) == 2u);
  BOOST_TEST(call_metrics.calls("reject", call_code::rejected) == 1u);
  BOOST_TEST(call_metrics.calls("echo", call_code::bad_request) == 1u);
  BOOST_TEST(call_metrics.calls("_other", call_code::unknown_operation) == 1u);
  BOOST_TEST(call_metrics.calls("_other", call_code::bad_request) == 1u);
  BOOST_TEST(call_metrics.total_latency("echo").count == 3u);
  BOOST_TEST(call_metrics.in_flight() == 0u);
}

BOOST_AUTO_TEST_CASE(admin_paths_on_the_http_door) {
  client c(http->local_endpoint());
  c.send(get("/metrics"));
  auto m = c.read_reply();
  BOOST_TEST(m.status == 200);
  BOOST_TEST(m.header("content-type").starts_with("text/plain; version=0.0.4"));
  BOOST_TEST(m.body.find("# TYPE dragoman_calls_total counter") != std::string::npos);
  c.send(get("/admin/profile"));
  auto p = c.read_reply();
  BOOST_TEST(p.status == 200);
  BOOST_TEST(p.object().at("name").as_string() == "acme-core");
  c.send(get("/admin/upstreams"));
  BOOST_TEST(c.read_reply().object().contains("endpoints"));
  c.send(get("/admin/other"));
  check_problem(c.read_reply(), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(admin_listener_needs_the_token_and_serves_no_calls) {
  client c(admin_http->local_endpoint());
  c.send(get("/metrics"));
  auto r = c.read_reply();
  check_problem(r, 401, "unauthorized");
  BOOST_TEST(r.header("www-authenticate").starts_with("Bearer"));
  c.send("GET /metrics HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n\r\n");
  BOOST_TEST(c.read_reply().status == 200);
  c.send(post("echo", "{}"));
  check_problem(c.read_reply(), 404, "not_found");
  c.send(get("/healthz"));
  BOOST_TEST(c.read_reply().status == 200);
  BOOST_TEST(engine.seen().empty());
}

BOOST_AUTO_TEST_CASE(trace_is_requested_by_header_or_line_field) {
  client c(http->local_endpoint());
  c.send(post("echo", "{}", "X-Dragoman-Trace: 1\r\n"));
  c.read_reply();
  c.send(post("echo", "{}"));
  c.read_reply();
  client l(line->local_endpoint());
  l.send("{\"id\":1,\"op\":\"echo\",\"trace\":true}\n");
  l.read_answer();
  auto seen = engine.seen();
  BOOST_REQUIRE(seen.size() == 3u);
  BOOST_TEST(seen[0].trace);
  BOOST_TEST(!seen[1].trace);
  BOOST_TEST(seen[2].trace);
}

BOOST_AUTO_TEST_SUITE_END()
