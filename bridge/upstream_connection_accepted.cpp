// One upstream connection whose socket the host opened (--upstream-listen): a slot that waits
// vacant for a host, adopts the socket the listener accepted for it, and is vacant again when it
// closes. From adoption (and, with TLS, the server side of the handshake) on, the connection
// lives as one dragoman opened (on_connected onwards).
#include "bridge/log.hpp"
#include "bridge/upstream_connection.hpp"
#include "bridge/upstream_tls.hpp"

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
  const std::string who =
      ec ? std::string("?") : peer.address().to_string() + ":" + std::to_string(peer.port());
  ++epoch_;
  state_ = state::connecting;
  gauge_.set_peer(who);
  tls_unconfirmed_ = false;
  if (!options().tls) {
    stream_.adopt(std::move(socket));
    return host_ready(who);
  }
  // TLS: the server side of the handshake with the material loaded now (a reload applies to the
  // next host), the host's certificate checked against --tls-ca, within the connect timeout.
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  stream_.adopt(std::move(socket), options().tls->context());
  connect_timed_out_ = false;
  state_timer_.expires_after(options().connect_timeout);
  state_timer_.async_wait([self = shared_from_this(), epoch = epoch_](boost::system::error_code e) {
    if (e || epoch != self->epoch_ || self->state_ != state::connecting) return;
    self->connect_timed_out_ = true;
    self->stream_.close();
  });
  stream_.async_handshake(
      [self = shared_from_this(), epoch = epoch_, who](boost::system::error_code e) {
        if (epoch != self->epoch_ || self->state_ == state::stopped) return;
        self->state_timer_.cancel();
        if (!e) return self->host_ready(who);
        ++self->counters().listen_tls_failures;
        log::warn("host_tls_failed",
                  {{"endpoint", self->ep_.name()},
                   {"connection", self->gauge_.id()},
                   {"peer", who},
                   {"reason", self->connect_timed_out_
                                  ? std::string("TLS handshake timed out")
                                  : describe_tls_failure(e, self->stream_.ssl(), true)}});
        self->stream_.close();
        self->wait_for_host();
      },
      true);
}

// The host's connection is open (and its TLS session made): it lives as one dragoman opened.
void upstream_connection::host_ready(const std::string& who) {
  log::info("host_connected",
            {{"endpoint", ep_.name()}, {"connection", gauge_.id()}, {"peer", who}});
  on_connected();
}

}  // namespace dragoman::bridge
