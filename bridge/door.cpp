// The front doors' accept loop (round robin over the pool, backing off when accept fails), the
// drain registry, and what every door does with a finished call.
#include "bridge/door.hpp"

#include "bridge/log.hpp"
#include "bridge/metrics.hpp"
#include "bridge/wire_trace.hpp"

#include <boost/asio/dispatch.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

namespace dragoman::bridge {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

acceptor::acceptor(io_pool& pool, std::string what, on_connection handler)
    : pool_(pool),
      acceptor_(pool.at(0)),
      retry_(pool.at(0)),
      what_(std::move(what)),
      handler_(std::move(handler)) {}

tcp::endpoint acceptor::open(const tcp::endpoint& ep) {
  error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen for " + what_ + " on " + ep.address().to_string() +
                             ":" + std::to_string(ep.port()) + ": " + ec.message());
  }
  return acceptor_.local_endpoint();
}

void acceptor::start() {
  asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->do_accept(); });
}

void acceptor::stop() {
  asio::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    error_code ec;
    self->stopped_ = true;
    self->acceptor_.close(ec);
    self->retry_.cancel();
  });
}

void acceptor::do_accept() {
  if (stopped_) return;
  acceptor_.async_accept(pool_.next(),
                         [self = shared_from_this()](error_code ec, tcp::socket socket) {
                           self->on_accept(ec, std::move(socket));
                         });
}

void acceptor::on_accept(const error_code& ec, tcp::socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of file descriptors and the like: back off briefly instead of spinning; the pending
    // connection stays in the backlog and is accepted once a descriptor is free. Said once per
    // episode, not once per retry.
    if (!failing_) {
      log::warn("accept_failing", {{"door", what_}, {"error", ec.message()}});
      failing_ = true;
    }
    if (on_failure_) on_failure_();
    retry_.expires_after(std::chrono::milliseconds(100));
    retry_.async_wait([self = shared_from_this()](error_code wec) {
      if (!wec) self->do_accept();
    });
    return;
  }
  if (failing_) {
    log::info("accept_recovered", {{"door", what_}});
    failing_ = false;
  }
  error_code oec;
  socket.set_option(tcp::no_delay(true), oec);
  handler_(std::move(socket));
  do_accept();
}

namespace {

// A refused connection's last moments: the refusal written, FIN, input dropped until the client
// closes or a second passes.
class refusal : public std::enable_shared_from_this<refusal> {
 public:
  refusal(tcp::socket socket, std::string_view text)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), text_(text) {}

  void start() {
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->finish();
    });
    asio::async_write(socket_, asio::buffer(text_),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (ec) return self->finish();
                        error_code sec;
                        self->socket_.shutdown(tcp::socket::shutdown_send, sec);
                        self->drop_input();
                      });
  }

 private:
  void drop_input() {
    socket_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (ec) return self->finish();
                              self->drop_input();
                            });
  }

  void finish() {
    error_code ec;
    timer_.cancel();
    socket_.close(ec);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  std::string text_;
  std::array<char, 512> scratch_;
};

}  // namespace

void log_handshake_failure(std::string_view door, std::string_view why) {
  log::debug("tls_handshake_failed", {{"door", door}, {"reason", why}});
}

void refuse(tcp::socket socket, std::string_view text) {
  auto ex = socket.get_executor();
  auto r = std::make_shared<refusal>(std::move(socket), text);
  asio::dispatch(ex, [r] { r->start(); });
}

std::uint64_t session_registry::add_callback(std::function<void()> post_drain) {
  std::lock_guard lock(mutex_);
  const std::uint64_t id = ++next_id_;
  drainers_.emplace(id, std::move(post_drain));
  return id;
}

void session_registry::remove(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  drainers_.erase(id);
}

void session_registry::drain_all() {
  std::lock_guard lock(mutex_);
  for (auto& [id, post_drain] : drainers_) post_drain();
}

void observe_answer(const door_options& options, std::string_view request_id, std::string_view op,
                    std::string_view client, std::chrono::steady_clock::time_point started,
                    bool trace, const call_result& r) {
  call_observation ob;
  ob.door = options.name;
  ob.request_id = request_id;
  ob.op = op;
  ob.client = client;
  ob.result = &r;
  ob.total = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  observe_call(options.call_metrics, ob);
  if (trace) write_wire_trace(options.name, request_id, op, r);
}

}  // namespace dragoman::bridge
