// One listening socket that hands accepted connections round robin to the pool's contexts.
#pragma once

#include "bridge/io_pool.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace dragoman::bridge {

// Why one acceptor and not one SO_REUSEPORT acceptor per thread: an app opens a few long-lived
// keep-alive connections, which round robin spreads evenly while the kernel's hash may not; the
// port stays exclusive, so a second instance fails with "address in use" instead of sharing it;
// and the accept rate is never what limits a sidecar.
class acceptor : public std::enable_shared_from_this<acceptor> {
 public:
  // Called on the acceptor's context with a socket bound to the next context of the pool.
  using on_connection = std::function<void(boost::asio::ip::tcp::socket)>;

  acceptor(io_pool& pool, std::string what, on_connection handler);

  // Binds and listens; throws std::runtime_error("cannot listen for WHAT on ADDR: reason").
  boost::asio::ip::tcp::endpoint open(const boost::asio::ip::tcp::endpoint& ep);
  void start();
  // Thread-safe: closes the listening socket; connections already accepted are not touched.
  void stop();

 private:
  void do_accept();
  void on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);

  io_pool& pool_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  std::string what_;
  on_connection handler_;
  bool stopped_ = false;
};

// A door's sessions, for draining: each registers a callback that posts its own drain. Thread-safe.
class session_registry {
 public:
  // Registers a session (`this` of a Session with drain(), executor() and weak_from_this()) and
  // returns the id to remove it with. Its callback runs under the registry's lock, which remove()
  // takes too, so the session is alive (if maybe expiring) while it runs.
  template <class Session>
  std::uint64_t add(Session* session) {
    return add_callback([session] {
      if (auto self = session->weak_from_this().lock()) {
        auto ex = self->executor();
        boost::asio::post(ex, [self = std::move(self)] { self->drain(); });
      }
    });
  }
  void remove(std::uint64_t id);
  // Posts a drain to every session registered now.
  void drain_all();

 private:
  std::uint64_t add_callback(std::function<void()> post_drain);

  std::mutex mutex_;
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, std::function<void()>> drainers_;  // id → posts a drain
};

// Counts an accepted connection and starts a Session on the socket's own context, unless the door
// already holds its maximum (then the connection is closed and counted as rejected). Shared is a
// door's shared state: stats.connections_total/connections_rejected, active,
// options.max_connections.
template <class Session, class Shared>
void admit(const std::shared_ptr<Shared>& sh, boost::asio::ip::tcp::socket socket) {
  sh->stats.connections_total.fetch_add(1, std::memory_order_relaxed);
  if (sh->active.load() >= sh->options.max_connections) {
    sh->stats.connections_rejected.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ec;
    socket.close(ec);
    return;
  }
  sh->active.fetch_add(1);
  auto ex = socket.get_executor();
  auto session = std::make_shared<Session>(std::move(socket), sh);
  boost::asio::dispatch(ex, [session] { session->start(); });
}

}  // namespace dragoman::bridge
