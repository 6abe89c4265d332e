// Shared fixtures of the front-door tests: a fake call engine, a plain HTTP/line client, and both
// doors on loopback port 0.
#pragma once

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
  void submit(call_request req, asio::any_io_executor caller, call_handler done) override {
    call_result r;
    std::int64_t delay_ms = 0;
    if (auto* d = req.data.if_contains("delay_ms"); d && d->is_int64()) delay_ms = d->get_int64();
    if (req.op == "echo" || req.op == "hold") {
      r.data = req.data;
      r.attempts = 1;
    } else if (req.op == "timeout") {
      r = door_error(call_code::upstream_timeout, "no reply within 300 ms");
      r.attempts = 2;
    } else if (req.op == "reject") {
      r = door_error(call_code::rejected, "insufficient funds");
      r.status = 422;
      r.legacy_code = "51";
      r.data["balance"] = "1.00";
      r.attempts = 1;
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

inline std::string post(std::string_view op, std::string_view body,
                        std::string_view extra_headers = {}) {
  std::string r = "POST /v1/ops/" + std::string(op) + " HTTP/1.1\r\nHost: t\r\n";
  r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra_headers;
  r += "\r\n";
  r += body;
  return r;
}

inline std::string get(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

inline void check_problem(const http_reply& r, int status, std::string_view code) {
  BOOST_TEST(r.status == status);
  BOOST_TEST(r.header("content-type") == "application/problem+json");
  auto p = r.object();
  BOOST_TEST(p.at("status").as_int64() == status);
  BOOST_TEST(p.at("code").as_string() == code);
  BOOST_TEST(p.at("type").as_string() == "urn:dragoman:problem:" + std::string(code));
  BOOST_TEST(!p.at("title").as_string().empty());
  BOOST_TEST(p.contains("detail"));
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
