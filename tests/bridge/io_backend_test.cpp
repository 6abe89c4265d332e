// Tests for bridge/io_backend: the start-up choice between this build and dragoman-epoll, the
// --io-backend pre-scan, the probe against a real io_context, and the fault of Asio 1.26's
// io_uring service that third_party/asio-io_uring fixes (a socket closed with a read in flight
// whose slot the next socket takes).
#define BOOST_TEST_MODULE io_backend_test
#include <boost/test/unit_test.hpp>

#include "bridge/io_backend.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace dragoman::bridge;
using tcp = boost::asio::ip::tcp;

namespace {

using act = io_backend_decision;

// One async_read_some started at construction, and what its handler got.
struct pending_read {
  explicit pending_read(tcp::socket& s) {
    s.async_read_some(boost::asio::buffer(buf),
                      [this](const boost::system::error_code& e, std::size_t got) {
                        ec = e;
                        n = got;
                      });
  }
  std::array<char, 16> buf{};
  std::optional<boost::system::error_code> ec;
  std::size_t n = 0;
};

std::string scan(std::vector<std::string> args, const char* env = nullptr) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return requested_io_backend(static_cast<int>(argv.size()), argv.data(), env);
}

}  // namespace

BOOST_AUTO_TEST_CASE(parses_the_three_backends_and_nothing_else) {
  BOOST_TEST((parse_io_backend("auto") == io_backend_request::automatic));
  BOOST_TEST((parse_io_backend("io_uring") == io_backend_request::io_uring));
  BOOST_TEST((parse_io_backend("epoll") == io_backend_request::epoll));
  BOOST_TEST(!parse_io_backend("uring"));
  BOOST_TEST(!parse_io_backend(""));
  BOOST_TEST(!parse_io_backend("EPOLL"));
}

BOOST_AUTO_TEST_CASE(the_command_line_wins_over_the_environment) {
  BOOST_TEST(scan({"serve", "--io-backend", "epoll"}, "io_uring") == "epoll");
  BOOST_TEST(scan({"serve", "-p", "x.json", "--io-backend=io_uring"}) == "io_uring");
  BOOST_TEST(scan({"serve", "-p", "x.json"}, "epoll") == "epoll");
  BOOST_TEST(scan({"serve", "-p", "x.json"}) == "");
  // A flag without its value is the option parser's to report; after "--" nothing is a flag.
  BOOST_TEST(scan({"serve", "--io-backend"}, "epoll") == "epoll");
  BOOST_TEST(scan({"serve", "--", "--io-backend", "epoll"}) == "");
  BOOST_TEST(scan({"serve", "--io-backend-x=epoll"}) == "");
}

BOOST_AUTO_TEST_CASE(an_io_uring_build_runs_here_where_a_ring_can_be_set_up) {
  ring_probe ok{true, {}};
  BOOST_TEST(choose_io_backend(io_backend_request::automatic, "io_uring", ok, true).act ==
             act::run_here);
  BOOST_TEST(choose_io_backend(io_backend_request::io_uring, "io_uring", ok, false).act ==
             act::run_here);
  auto e = choose_io_backend(io_backend_request::epoll, "io_uring", ok, true);
  BOOST_TEST(e.act == act::run_epoll_twin);
  BOOST_TEST(e.message == "--io-backend epoll");
  auto missing = choose_io_backend(io_backend_request::epoll, "io_uring", ok, false);
  BOOST_TEST(missing.act == act::refuse);
  BOOST_TEST(missing.message.find("dragoman-epoll is not installed") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(where_io_uring_is_refused_auto_falls_back_and_io_uring_stops) {
  ring_probe refused{false, "io_uring_queue_init: Operation not permitted"};
  auto a = choose_io_backend(io_backend_request::automatic, "io_uring", refused, true);
  BOOST_TEST(a.act == act::run_epoll_twin);
  BOOST_TEST(a.message == refused.reason);
  auto no_twin = choose_io_backend(io_backend_request::automatic, "io_uring", refused, false);
  BOOST_TEST(no_twin.act == act::refuse);
  BOOST_TEST(no_twin.message.find("Operation not permitted") != std::string::npos);
  auto u = choose_io_backend(io_backend_request::io_uring, "io_uring", refused, true);
  BOOST_TEST(u.act == act::refuse);
  BOOST_TEST(u.message.find("--io-backend auto runs on epoll") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_epoll_build_runs_here_unless_io_uring_is_asked_for) {
  ring_probe none{false, "built on epoll"};
  BOOST_TEST(choose_io_backend(io_backend_request::automatic, "epoll", none, false).act ==
             act::run_here);
  BOOST_TEST(choose_io_backend(io_backend_request::epoll, "epoll", none, false).act ==
             act::run_here);
  auto u = choose_io_backend(io_backend_request::io_uring, "epoll", none, false);
  BOOST_TEST(u.act == act::refuse);
  BOOST_TEST(u.message.find("built on epoll") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_probe_agrees_with_the_io_context) {
  // This process's io_context is built on the same backend: if it exists, the probe must say a
  // ring can be set up here (an io_uring build), or that this is the epoll build.
  boost::asio::io_context ctx;
  auto probe = probe_io_uring();
  if (std::string(io_backend_name()) == "io_uring") {
    BOOST_TEST(probe.usable, probe.reason);
  } else {
    BOOST_TEST(!probe.usable);
    BOOST_TEST(probe.reason == "built on epoll");
  }
}

// A server socket closed with a read in flight, then a new connection accepted at once (taking
// the same descriptor number and, in Asio 1.26's io_uring service, the same per-object slot):
// the closed socket's read ends as aborted, and the new socket's bytes reach the new socket's
// handler only. Unfixed, the cancelled read is prepared again on the new descriptor and takes the
// new connection's bytes.
BOOST_AUTO_TEST_CASE(a_closed_socket_read_never_takes_the_next_connections_bytes) {
  boost::asio::io_context ctx(1);
  tcp::acceptor acceptor(ctx, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
  auto at = acceptor.local_endpoint();
  for (int round = 0; round < 20; ++round) {
    tcp::socket client_a(ctx), client_b(ctx);
    client_a.connect(at);
    tcp::socket first = acceptor.accept();
    pending_read first_read(first);
    first.close();

    client_b.connect(at);
    tcp::socket second = acceptor.accept();
    pending_read second_read(second);
    boost::asio::write(client_b, boost::asio::buffer(std::string("x")));

    ctx.restart();
    // Bounded: both handlers run within it, or the checks below fail.
    for (int i = 0; i < 500 && !(first_read.ec && second_read.ec); ++i)
      ctx.run_for(std::chrono::milliseconds(10));
    BOOST_TEST_REQUIRE(first_read.ec.has_value());
    BOOST_TEST(*first_read.ec == boost::asio::error::operation_aborted, first_read.ec->message());
    BOOST_TEST(first_read.n == 0u);
    BOOST_TEST_REQUIRE(second_read.ec.has_value(), "round " << round);
    BOOST_TEST(!*second_read.ec, second_read.ec->message());
    BOOST_TEST(std::string(second_read.buf.data(), second_read.n) == "x");
  }
}
