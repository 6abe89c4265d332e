// One upstream connection whose socket the host opened (--upstream-listen): a slot that waits
// vacant for a host, adopts the socket the listener accepted for it, and is vacant again when it
// closes. From adoption on, the connection lives as one dragoman opened (on_connected onwards).
#include "bridge/log.hpp"
#include "bridge/upstream_connection.hpp"

#include <boost/asio/post.hpp>

namespace dragoman::bridge {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Instead of connecting: vacant until the listener hands over a host's socket.
void upstream_connection::wait_for_host() {
  if (state_ == state::stopped) return;
  gauge_.set_peer({});
  if (replace_with_) bundle_ = std::move(replace_with_);
  book_.set_mode(profile().correlation.mode);
  state_ = state::backoff;
  ++epoch_;
  publish();
  vacant_.store(true, std::memory_order_release);
}

bool upstream_connection::claim_vacant() noexcept {
  bool expected = true;
  return vacant_.compare_exchange_strong(expected, false, std::memory_order_acq_rel);
}

void upstream_connection::post_adopt(tcp::socket socket) {
  asio::post(ctx_, [self = shared_from_this(), s = std::move(socket)]() mutable {
    self->adopt(std::move(s));
  });
}

void upstream_connection::adopt(tcp::socket socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (state_ == state::stopped || drain_requested()) {
    socket.close(ec);
    return;
  }
  // Cleartext: TLS on connections the host opens (the server side of a handshake) is not done yet.
  stream_.adopt(std::move(socket));
  ++epoch_;
  state_ = state::connecting;
  const std::string who =
      ec ? std::string("?") : peer.address().to_string() + ":" + std::to_string(peer.port());
  gauge_.set_peer(who);
  log::info("host_connected",
            {{"endpoint", ep_.name()}, {"connection", gauge_.id()}, {"peer", who}});
  on_connected();
}

}  // namespace dragoman::bridge
