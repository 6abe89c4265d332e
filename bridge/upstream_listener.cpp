// Accepts the legacy host's connections for --upstream-listen (see upstream_listener.hpp).
#include "bridge/upstream_listener.hpp"

#include "bridge/log.hpp"
#include "bridge/upstream_connection.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <stdexcept>

namespace dragoman::bridge {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct upstream_listener::state : std::enable_shared_from_this<upstream_listener::state> {
  explicit state(asio::io_context& c) : ctx(c), acceptor(c), retry(c) {}

  asio::io_context& ctx;
  tcp::acceptor acceptor;
  asio::steady_timer retry;  // after an accept error (out of descriptors): a pause, then again
  std::vector<std::shared_ptr<upstream_connection>> slots;
  bool stopped = false;

  void accept() {
    if (stopped) return;
    upstream_connection* slot = nullptr;
    for (auto& c : slots)
      if (c->claim_vacant()) {
        slot = c.get();
        break;
      }
    if (!slot) {
      // Every slot is taken: accept on our own context and refuse.
      acceptor.async_accept(
          ctx, [self = shared_from_this()](boost::system::error_code ec, tcp::socket s) {
            if (self->stopped) return;
            if (!ec) {
              boost::system::error_code ignored;
              log::warn("host_refused", {{"listen", self->where()},
                                         {"reason", "every host connection slot is taken (" +
                                                        std::to_string(self->slots.size()) +
                                                        ", --upstream-listen-connections)"}});
              s.close(ignored);
            }
            self->next(ec);
          });
      return;
    }
    auto owner =
        std::find_if(slots.begin(), slots.end(), [&](const auto& c) { return c.get() == slot; });
    std::shared_ptr<upstream_connection> conn = *owner;
    acceptor.async_accept(conn->context(), [self = shared_from_this(), conn](
                                               boost::system::error_code ec, tcp::socket s) {
      if (self->stopped || ec) {
        conn->release_claim();
        if (!self->stopped) self->next(ec);
        return;
      }
      conn->post_adopt(std::move(s));
      self->next(ec);
    });
  }

  void next(boost::system::error_code ec) {
    if (stopped) return;
    if (!ec || ec == asio::error::connection_aborted) {
      accept();
      return;
    }
    log::warn("accept_failed", {{"listen", where()}, {"reason", ec.message()}});
    retry.expires_after(std::chrono::milliseconds(100));
    retry.async_wait([self = shared_from_this()](boost::system::error_code) { self->accept(); });
  }

  std::string where() const {
    boost::system::error_code ec;
    auto ep = acceptor.local_endpoint(ec);
    return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }
};

upstream_listener::upstream_listener(asio::io_context& ctx, const tcp::endpoint& at)
    : s_(std::make_shared<state>(ctx)) {
  boost::system::error_code ec;
  s_->acceptor.open(at.protocol(), ec);
  if (!ec) s_->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s_->acceptor.bind(at, ec);
  if (!ec) s_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("--upstream-listen " + at.address().to_string() + ":" +
                             std::to_string(at.port()) + ": " + ec.message());
}

upstream_listener::~upstream_listener() {
  stop();
}

tcp::endpoint upstream_listener::local_endpoint() const {
  return s_->acceptor.local_endpoint();
}

void upstream_listener::start(std::vector<std::shared_ptr<upstream_connection>> slots) {
  asio::post(s_->ctx, [s = s_, slots = std::move(slots)]() mutable {
    s->slots = std::move(slots);
    s->accept();
  });
}

void upstream_listener::stop() {
  auto close = [s = s_] {
    if (s->stopped) return;
    s->stopped = true;
    boost::system::error_code ignored;
    s->acceptor.close(ignored);
    s->retry.cancel();
  };
  if (s_->ctx.stopped() || s_->ctx.get_executor().running_in_this_thread())
    close();
  else
    asio::post(s_->ctx, close);
}

}  // namespace dragoman::bridge
