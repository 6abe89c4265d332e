// Front doors (HTTP and line) driven over real loopback sockets against a fake call engine.
#define BOOST_TEST_MODULE front_door_test
#include <boost/test/unit_test.hpp>

#include "bridge/admin.hpp"
#include "bridge/http_door.hpp"
#include "bridge/line_door.hpp"
#include "bridge/log.hpp"
#include "bridge/metrics.hpp"
#include "bridge/problem.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace dragoman::bridge;

namespace {

// The per-call log lines are the e2e tests' business; here they would only bury the report.
struct quiet_logs {
  quiet_logs() { log::set_level("warn"); }
};
BOOST_TEST_GLOBAL_FIXTURE(quiet_logs);

// Answers by operation name, after data.delay_ms (default 0), always through a timer on the
// caller's executor as the contract asks:
//   echo      → ok, the request's fields back
//   timeout   → upstream_timeout 504 after 2 attempts
//   reject    → rejected 422, legacy code "51", with reply data
//   busy      → upstream_unavailable 503, Retry-After 3
//   hold      → ok like echo, but only once the test calls release() (no clock involved)
//   otherwise → unknown_operation 404
// The test thread waits on what the engine has seen and completed through a condition variable.
class fake_engine : public call_engine {
 public:
  void submit(call_request req, asio::any_io_executor caller, call_handler&& done) override {
    call_result r;
    std::int64_t delay_ms = 0;
    if (auto* d = req.data.if_contains("delay_ms"); d && d->is_int64()) delay_ms = d->get_int64();
    if (req.op == "echo" || req.op == "hold") {
      r.data = req.data;
      r.attempts = 1;
    } else if (req.op == "timeout") {
      r = door_error(call_code::upstream_timeout, "no reply within 300 ms");
      r.attempts = 2;
      r.sent = true;
    } else if (req.op == "reject") {
      r = door_error(call_code::rejected, "insufficient funds");
      r.status = 422;
      r.legacy_code = "51";
      r.data["balance"] = "1.00";
      r.attempts = 1;
      r.sent = true;
    } else if (req.op == "busy") {
      r = door_error(call_code::upstream_unavailable, "no endpoint reachable");
      r.retry_after_seconds = 3;
    } else {
      r = door_error(call_code::unknown_operation, "no operation " + req.op);
    }
    {
      std::lock_guard lock(mutex_);
      // The doors' data lives in scratch memory until submit() returns (call.hpp): not kept.
      call_request kept;
      kept.op = req.op;
      kept.request_id = req.request_id;
      kept.timeout = req.timeout;
      kept.trace = req.trace;
      seen_.push_back(std::move(kept));
      if (req.op == "hold") held_.push_back({caller, std::move(done), std::move(r)});
    }
    changed_.notify_all();
    if (req.op == "hold") return;
    auto timer = std::make_shared<asio::steady_timer>(caller, std::chrono::milliseconds(delay_ms));
    timer->async_wait([this, timer, done = std::move(done), r = std::move(r)](auto) mutable {
      complete(done, std::move(r));
    });
  }
  bool ready() const override { return ready_flag.load(); }

  std::vector<call_request> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  // Waits until the engine has seen n calls (true) or a generous bound passes (false): the bound
  // only keeps a broken door from hanging the test.
  bool wait_seen(std::size_t n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return seen_.size() >= n; });
  }
  bool wait_completed(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return completed.load() >= n; });
  }

  // Forgets calls a failed test left held (with the pool stopped, before its contexts go).
  void drop_held() {
    std::lock_guard lock(mutex_);
    held_.clear();
  }

  // Completes the i-th held call (in submission order) on its caller's executor.
  void release(std::size_t i) {
    held h;
    {
      std::lock_guard lock(mutex_);
      BOOST_REQUIRE(i < held_.size() && held_[i].done);
      h = std::move(held_[i]);
      held_[i].done = nullptr;
    }
    auto caller = h.caller;  // copied first: the handler below takes h
    asio::post(caller, [this, h = std::move(h)]() mutable { complete(h.done, std::move(h.r)); });
  }

  std::atomic<bool> ready_flag{true};
  std::atomic<int> completed{0};

 private:
  struct held {
    asio::any_io_executor caller;
    call_handler done;
    call_result r;
  };

  void complete(call_handler& done, call_result&& r) {
    {
      std::lock_guard lock(mutex_);
      ++completed;
    }
    changed_.notify_all();
    done(std::move(r));
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<call_request> seen_;
  std::vector<held> held_;
};

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  json::object object() const { return json::parse(body).as_object(); }
};

// A blocking-style test client whose every wait has a deadline.
class client {
 public:
  explicit client(const tcp::endpoint& ep) { socket_.connect(ep); }

  void send(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }
  // Small writes leave at once instead of waiting for Nagle (requests split across segments).
  void no_delay() { socket_.set_option(tcp::no_delay(true)); }
  void shutdown_send() { socket_.shutdown(tcp::socket::shutdown_send); }
  void close() { socket_.close(); }

  std::string read_line(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t nl;
    while ((nl = buffer_.find('\n')) == std::string::npos) {
      BOOST_REQUIRE_MESSAGE(fill(deadline), "no complete line before the deadline");
    }
    std::string line = buffer_.substr(0, nl);
    buffer_.erase(0, nl + 1);
    return line;
  }
  json::object read_answer() { return json::parse(read_line()).as_object(); }

  http_reply read_reply(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      BOOST_REQUIRE_MESSAGE(fill(deadline), "no complete HTTP header before the deadline");
    }
    http_reply r;
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    std::size_t pos = head.find("\r\n");
    std::string status_line = head.substr(0, pos);
    BOOST_REQUIRE(status_line.starts_with("HTTP/1."));
    r.status = std::stoi(status_line.substr(9, 3));
    while (pos != std::string::npos) {
      std::size_t next = head.find("\r\n", pos + 2);
      std::string field = head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
      auto colon = field.find(':');
      std::string name = field.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = field.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
      pos = next;
    }
    if (r.status < 200) return r;  // interim: no body
    std::size_t length = std::stoul(r.header("content-length"));
    while (buffer_.size() < length) {
      BOOST_REQUIRE_MESSAGE(fill(deadline), "no complete HTTP body before the deadline");
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // True when the server closes the connection (after any bytes still buffered) in time.
  bool closed_by_peer(std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) {
    }
    return eof_;
  }

 private:
  // One read with a deadline; false on timeout, end of stream or error.
  bool fill(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    bool done = false;
    boost::system::error_code result;
    std::size_t got = 0;
    socket_.async_read_some(asio::buffer(chunk_), [&](boost::system::error_code ec, std::size_t n) {
      done = true;
      result = ec;
      got = n;
    });
    ctx_.restart();
    ctx_.run_until(deadline);
    if (!done) {
      socket_.cancel();
      ctx_.restart();
      ctx_.run();
      return false;
    }
    if (result) {
      eof_ = true;
      return false;
    }
    buffer_.append(chunk_.data(), got);
    return true;
  }

  asio::io_context ctx_;
  tcp::socket socket_{ctx_};
  std::string buffer_;
  std::array<char, 8192> chunk_{};
  bool eof_ = false;
};

std::string post(std::string_view op, std::string_view body, std::string_view extra_headers = {}) {
  std::string r = "POST /v1/ops/" + std::string(op) + " HTTP/1.1\r\nHost: t\r\n";
  r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra_headers;
  r += "\r\n";
  r += body;
  return r;
}

std::string get(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

void check_problem(const http_reply& r, int status, std::string_view code) {
  BOOST_TEST(r.status == status);
  BOOST_TEST(r.header("content-type") == "application/problem+json");
  auto p = r.object();
  BOOST_TEST(p.at("status").as_int64() == status);
  BOOST_TEST(p.at("code").as_string() == code);
  BOOST_TEST(p.at("type").as_string() == "urn:dragoman:problem:" + std::string(code));
  BOOST_TEST(!p.at("title").as_string().empty());
  BOOST_TEST(p.contains("detail"));
  BOOST_TEST(p.at("sent").is_bool());  // every error answer says whether a host had the request
}

struct doors {
  doors() {
    http_door_options h;
    h.listen = {asio::ip::make_address("127.0.0.1"), 0};
    h.max_body_bytes = 1024;
    h.max_pipelined = 8;
    http = std::make_unique<http_door>(pool, engine, h);
    line_door_options l;
    l.listen = {asio::ip::make_address("127.0.0.1"), 0};
    l.max_line_bytes = 1024;
    l.max_in_flight = 8;
    line = std::make_unique<line_door>(pool, engine, l);
    pool.start();
  }
  ~doors() {
    http.reset();
    line.reset();
    pool.stop();
    pool.join();
    engine.drop_held();
  }

  // One turn of every context of the pool: what was ready on each (handlers, socket events the
  // reactor has seen) has run when it returns.
  void turn() {
    for (std::size_t i = 0; i < pool.size(); ++i) {
      std::promise<void> done;
      asio::post(pool.at(i), [&done] { done.set_value(); });
      done.get_future().wait();
    }
  }
  // Polls a condition on the doors' state between turns of the pool, a bounded number of times.
  template <class Condition>
  bool eventually(Condition condition) {
    for (int polls = 0; polls < 100000; ++polls) {
      if (condition()) return true;
      turn();
    }
    return condition();
  }

  fake_engine engine;
  io_pool pool{2};
  std::unique_ptr<http_door> http;
  std::unique_ptr<line_door> line;
};

}  // namespace

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

// --health: ready while the process serves calls, whatever the upstream (a sidecar's pod must not
// leave its Service because the legacy host is down); 503 once draining; nothing else served.
BOOST_AUTO_TEST_CASE(health_listener_readiness_follows_serving_not_the_upstream) {
  std::atomic<bool> serving{true};
  http_door_options h;
  h.listen = {asio::ip::make_address("127.0.0.1"), 0};
  h.serve_calls = false;
  h.serving = &serving;
  h.name = "health";
  auto health = std::make_unique<http_door>(pool, engine, h);
  client c(health->local_endpoint());
  c.send(get("/readyz"));
  auto up = c.read_reply();
  BOOST_TEST(up.status == 200);
  BOOST_TEST(up.object().at("upstream").as_string() == "up");
  engine.ready_flag = false;
  c.send(get("/readyz"));
  auto down = c.read_reply();
  BOOST_TEST(down.status == 200);
  BOOST_TEST(down.object().at("status").as_string() == "ready");
  BOOST_TEST(down.object().at("upstream").as_string() == "down");
  serving = false;
  c.send(get("/readyz"));
  auto draining = c.read_reply();
  BOOST_TEST(draining.status == 503);
  BOOST_TEST(draining.object().at("status").as_string() == "draining");
  c.send(get("/healthz"));
  BOOST_TEST(c.read_reply().status == 200);
  c.send(post("echo", "{}"));
  check_problem(c.read_reply(), 404, "not_found");
  c.send(get("/metrics"));
  check_problem(c.read_reply(), 404, "not_found");
  BOOST_TEST(engine.seen().empty());
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
  BOOST_TEST(r.object().at("sent").as_bool());
  BOOST_TEST(r.header("retry-after").empty());
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
  BOOST_TEST(!r.object().at("sent").as_bool());
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
  BOOST_TEST(a.at("error").at("sent").as_bool());  // the host answered
  BOOST_TEST(a.at("attempts").as_int64() == 1);
  c.send(R"({"id":7,"op":"timeout"})"
         "\n");
  a = c.read_answer();
  BOOST_TEST(a.at("error").at("code").as_string() == "upstream_timeout");
  BOOST_TEST(a.at("error").at("sent").as_bool());
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
