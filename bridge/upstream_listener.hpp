// --upstream-listen: the legacy host connects in. Accepts its connections and hands each to a
// vacant connection slot of the listened endpoint (on the slot's own context); with every slot
// taken, a further connection is refused (closed) and logged.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <vector>

namespace dragoman::bridge {

class upstream_connection;

class upstream_listener {
 public:
  // Binds at once (a bad or busy address throws std::runtime_error naming it).
  upstream_listener(boost::asio::io_context& ctx, const boost::asio::ip::tcp::endpoint& at);
  ~upstream_listener();
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Accepts into these connection slots from now on.
  void start(std::vector<std::shared_ptr<upstream_connection>> slots);
  // Closes the acceptor (on its context, or here when that context does not run).
  void stop();

 private:
  struct state;
  std::shared_ptr<state> s_;
};

}  // namespace dragoman::bridge
