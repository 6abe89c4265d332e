// One listening socket that hands accepted connections round robin to the pool's contexts.
#pragma once

#include "bridge/io_pool.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <string>

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
