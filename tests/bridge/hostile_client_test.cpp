// Front doors against hostile clients over loopback sockets: a header that never completes, a
// body or line that trickles, more connections than the door holds, a client that never reads.
// Each test checks the answer the hostile client gets and that another client is served
// meanwhile. Deadlines are short and real (the doors run on steady_clock); no test sleeps.
#define BOOST_TEST_MODULE hostile_client_test
#include <boost/test/unit_test.hpp>

#include "bridge/http_door.hpp"
#include "bridge/line_door.hpp"
#include "bridge/log.hpp"
#include "bridge/problem.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <array>
#include <chrono>
#include <future>
#include <memory>
#include <string>

namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace dragoman::bridge;

namespace {

struct quiet_logs {
  quiet_logs() { log::set_level("error"); }
};
BOOST_TEST_GLOBAL_FIXTURE(quiet_logs);

// Answers every call at once with its fields back.
class echo_engine : public call_engine {
 public:
  void submit(call_request req, asio::any_io_executor caller, call_handler&& done) override {
    call_result r;
    r.data = json::object(req.data, {});  // the doors' data is scratch memory (call.hpp)
    r.attempts = 1;
    asio::post(caller,
               [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }
  bool ready() const override { return true; }
};

// A client whose every wait has a deadline.
class client {
 public:
  explicit client(const tcp::endpoint& ep, int receive_buffer = 0) {
    socket_.open(ep.protocol());
    if (receive_buffer) socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
    socket_.connect(ep);
  }

  // Writes what the peer takes before the deadline; returns how much that was.
  std::size_t send(std::string_view bytes, std::chrono::milliseconds timeout = 5000ms) {
    std::size_t written = 0;
    asio::async_write(socket_, asio::buffer(bytes),
                      [&](boost::system::error_code, std::size_t n) { written = n; });
    run(timeout);
    return written;
  }

  std::string read_until(std::string_view end, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t at;
    while ((at = buffer_.find(end)) == std::string::npos)
      if (!fill(deadline)) return {};
    std::string got = buffer_.substr(0, at + end.size());
    buffer_.erase(0, at + end.size());
    return got;
  }

  // An HTTP answer: its status and its body (the head is read, Content-Length honoured).
  std::pair<int, std::string> read_reply(std::string* head_out = nullptr) {
    std::string head = read_until("\r\n\r\n");
    BOOST_REQUIRE_MESSAGE(head.starts_with("HTTP/1.1 "), "no HTTP answer: " + head);
    const auto cl = head.find("Content-Length: ");
    BOOST_REQUIRE(cl != std::string::npos);
    const std::size_t length = std::stoul(head.substr(cl + 16));
    const auto deadline = std::chrono::steady_clock::now() + 5000ms;
    while (buffer_.size() < length) BOOST_REQUIRE(fill(deadline));
    std::string body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    if (head_out) *head_out = head;
    return {std::stoi(head.substr(9, 3)), body};
  }

  json::object read_line_answer() {
    std::string line = read_until("\n");
    BOOST_REQUIRE_MESSAGE(!line.empty(), "no answer line");
    return json::parse(line).as_object();
  }

  // True when the server closes the connection (after what it still sends) in time.
  bool closed_by_peer(std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) buffer_.clear();
    return eof_;
  }

 private:
  void run(std::chrono::milliseconds timeout) {
    ctx_.restart();
    ctx_.run_for(timeout);
    if (!ctx_.stopped()) {
      socket_.cancel();
      ctx_.restart();
      ctx_.run();
    }
  }

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
  std::array<char, 16384> chunk_{};
  bool eof_ = false;
};

std::string post(std::string_view body) {
  return "POST /v1/ops/echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

// Doors with short deadlines: a header within 200 ms, then 100 bytes per second.
struct doors {
  doors() {
    http_door_options h;
    h.listen = {asio::ip::make_address("127.0.0.1"), 0};
    h.header_timeout = 200ms;
    h.min_receive_rate = 100;
    h.max_connections = 3;
    http = std::make_unique<http_door>(pool, engine, h);
    line_door_options l;
    l.listen = {asio::ip::make_address("127.0.0.1"), 0};
    l.header_timeout = 200ms;
    l.min_receive_rate = 100;
    l.max_connections = 3;
    l.max_line_bytes = 1 << 16;
    l.max_output_bytes = 1 << 16;
    line = std::make_unique<line_door>(pool, engine, l);
    pool.start();
  }
  ~doors() {
    http.reset();
    line.reset();
    pool.stop();
    pool.join();
  }

  // Polls a condition between turns of the pool's contexts until it holds or a bound passes.
  template <class Condition>
  bool eventually(Condition condition) {
    const auto bound = std::chrono::steady_clock::now() + 10s;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > bound) return false;
      for (std::size_t i = 0; i < pool.size(); ++i) {
        std::promise<void> done;
        asio::post(pool.at(i), [&done] { done.set_value(); });
        done.get_future().wait();
      }
    }
    return true;
  }

  // Another caller is served while the hostile one is handled.
  void http_served() {
    client c(http->local_endpoint());
    c.send(post(R"({"n":1})"));
    auto [status, body] = c.read_reply();
    BOOST_TEST(status == 200);
    BOOST_TEST(body == R"({"n":1})");
  }
  void line_served() {
    client c(line->local_endpoint());
    c.send("{\"id\":\"x\",\"op\":\"echo\",\"data\":{\"n\":1}}\n");
    auto a = c.read_line_answer();
    BOOST_TEST(a.at("ok").as_bool());
  }

  echo_engine engine;
  io_pool pool{2};
  std::unique_ptr<http_door> http;
  std::unique_ptr<line_door> line;
};

json::object problem_of(const std::string& body) {
  return json::parse(body).as_object();
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(hostile_clients, doors)

BOOST_AUTO_TEST_CASE(a_header_that_never_completes_gets_408_and_close) {
  client slow(http->local_endpoint());
  slow.send("POST /v1/ops/echo HTTP/1.1\r\nHost: t\r\n");
  http_served();
  std::string head;
  auto [status, body] = slow.read_reply(&head);
  BOOST_TEST(status == 408);
  BOOST_TEST(head.find("Connection: close") != std::string::npos);
  BOOST_TEST(problem_of(body).at("code").as_string() == "request_timeout");
  BOOST_TEST(slow.closed_by_peer());
  BOOST_TEST(http->stats().slow_senders.load() == 1u);
  http_served();
}

BOOST_AUTO_TEST_CASE(a_body_below_the_minimum_rate_gets_408_and_close) {
  client slow(http->local_endpoint());
  // 1000 bytes announced, 10 sent: due 200 ms + 10 / 100 s after the first byte.
  slow.send("POST /v1/ops/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"n\":\"12");
  http_served();
  auto [status, body] = slow.read_reply();
  BOOST_TEST(status == 408);
  BOOST_TEST(problem_of(body).at("detail").as_string().find("bytes per second") !=
             std::string::npos);
  BOOST_TEST(slow.closed_by_peer());
}

BOOST_AUTO_TEST_CASE(connections_over_the_maximum_get_503_and_close) {
  client a(http->local_endpoint()), b(http->local_endpoint()), c(http->local_endpoint());
  BOOST_REQUIRE(eventually([&] { return http->connections() == 3; }));
  client refused(http->local_endpoint());
  std::string head;
  auto [status, body] = refused.read_reply(&head);
  BOOST_TEST(status == 503);
  BOOST_TEST(head.find("Content-Type: application/problem+json") != std::string::npos);
  BOOST_TEST(head.find("Retry-After: 1") != std::string::npos);
  BOOST_TEST(problem_of(body).at("code").as_string() == "overloaded");
  BOOST_TEST(refused.closed_by_peer());
  BOOST_TEST(http->stats().connections_rejected.load() == 1u);
  a.send(post("{}"));  // those admitted are served
  BOOST_TEST(a.read_reply().first == 200);
}

BOOST_AUTO_TEST_CASE(a_line_below_the_minimum_rate_gets_an_error_and_close) {
  client slow(line->local_endpoint());
  slow.send(R"({"id":1,"op":"echo","data":{"n":)");
  line_served();
  auto a = slow.read_line_answer();
  BOOST_TEST(!a.at("ok").as_bool());
  BOOST_TEST(a.at("error").at("code").as_string() == "bad_request");
  BOOST_TEST(a.at("error").at("message").as_string().find("bytes per second") != std::string::npos);
  BOOST_TEST(slow.closed_by_peer());
  BOOST_TEST(line->stats().slow_senders.load() == 1u);
  line_served();
}

BOOST_AUTO_TEST_CASE(lines_that_keep_coming_are_not_slow) {
  client c(line->local_endpoint());
  // Whole lines, each answered: no line is ever begun and left waiting.
  for (int i = 0; i < 20; ++i) {
    c.send("{\"id\":" + std::to_string(i) + ",\"op\":\"echo\"}\n");
    BOOST_TEST(c.read_line_answer().at("ok").as_bool());
  }
  BOOST_TEST(line->stats().slow_senders.load() == 0u);
}

BOOST_AUTO_TEST_CASE(line_connections_over_the_maximum_get_overloaded_and_close) {
  client a(line->local_endpoint()), b(line->local_endpoint()), c(line->local_endpoint());
  BOOST_REQUIRE(eventually([&] { return line->connections() == 3; }));
  client refused(line->local_endpoint());
  auto r = refused.read_line_answer();
  BOOST_TEST(r.at("id").is_null());
  BOOST_TEST(!r.at("ok").as_bool());
  BOOST_TEST(r.at("error").at("code").as_string() == "overloaded");
  BOOST_TEST(refused.closed_by_peer());
  a.send("{\"id\":1,\"op\":\"echo\"}\n");
  BOOST_TEST(a.read_line_answer().at("ok").as_bool());
}

BOOST_AUTO_TEST_CASE(a_client_that_never_reads_is_closed_at_the_output_limit) {
  // A small receive buffer, answers of 16 KiB and more of them than the kernel's buffers hold:
  // the answers pile up behind a stalled write until max_output_bytes, then the door closes.
  client deaf(line->local_endpoint(), 4096);
  const std::string line_text =
      "{\"id\":1,\"op\":\"echo\",\"data\":{\"v\":\"" + std::string(16384, 'x') + "\"}}\n";
  std::string lines;
  for (int i = 0; i < 32; ++i) lines += line_text;
  // Bounded: at most 40 rounds of 32 lines (20 MiB), stopping as soon as the door closed it.
  for (int round = 0; round < 40 && line->stats().slow_readers.load() == 0; ++round)
    if (deaf.send(lines, 2000ms) < lines.size()) break;
  BOOST_REQUIRE(eventually([&] { return line->stats().slow_readers.load() == 1u; }));
  BOOST_TEST(deaf.closed_by_peer());
  line_served();
}

BOOST_AUTO_TEST_SUITE_END()
