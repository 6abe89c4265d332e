// The byte stream under one upstream connection: plain TCP, or TLS over it. Each connect starts a
// fresh one (reset); a TLS session lives as long as an operation on it is pending, so a
// connection that moves on while an old read is still unwinding never frees it under OpenSSL.
// Included by the upstream connection's translation units only (Asio SSL templates).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <memory>
#include <utility>

namespace dragoman::bridge {

class upstream_stream {
 public:
  using tcp = boost::asio::ip::tcp;

  explicit upstream_stream(boost::asio::io_context& ctx) : ctx_(ctx), plain_(ctx) {}

  // Before a connect: plain TCP (null material) or a new TLS session with this material over a
  // new socket.
  void reset(std::shared_ptr<boost::asio::ssl::context> material) {
    if (!material) {
      tls_.reset();
      return;
    }
    tls_ = std::make_shared<tls_session>(std::move(material), ctx_);
  }
  // An accepted or connected socket taken as the plain stream (for connections the host opens).
  void adopt(tcp::socket&& s) {
    tls_.reset();
    plain_ = std::move(s);
  }

  // An accepted socket under a new TLS session with this material (the server side).
  void adopt(tcp::socket&& s, std::shared_ptr<boost::asio::ssl::context> material) {
    tls_ = std::make_shared<tls_session>(std::move(material), std::move(s));
  }

  bool is_tls() const noexcept { return tls_ != nullptr; }
  // The OpenSSL session (TLS only), to prepare before the handshake and to explain a failure.
  SSL* ssl() const noexcept { return tls_ ? tls_->stream.native_handle() : nullptr; }
  tcp::socket& socket() noexcept { return tls_ ? tls_->stream.next_layer() : plain_; }

  // The handshake (TLS only), client side unless server; handler(error_code).
  template <class Handler>
  void async_handshake(Handler&& h, bool server = false) {
    tls_->stream.async_handshake(
        server ? boost::asio::ssl::stream_base::server : boost::asio::ssl::stream_base::client,
        [keep = tls_, h = std::forward<Handler>(h)](boost::system::error_code ec) mutable {
          h(ec);
        });
  }

  // The whole buffer; handler(error_code, bytes).
  template <class Buffers, class Handler>
  void async_write(const Buffers& b, Handler&& h) {
    if (!tls_) {
      boost::asio::async_write(plain_, b, std::forward<Handler>(h));
      return;
    }
    boost::asio::async_write(
        tls_->stream, b,
        [keep = tls_, h = std::forward<Handler>(h)](boost::system::error_code ec,
                                                    std::size_t n) mutable { h(ec, n); });
  }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& b, Handler&& h) {
    if (!tls_) {
      plain_.async_read_some(b, std::forward<Handler>(h));
      return;
    }
    tls_->stream.async_read_some(
        b, [keep = tls_, h = std::forward<Handler>(h)](boost::system::error_code ec,
                                                       std::size_t n) mutable { h(ec, n); });
  }

  // Closes the socket (no TLS close_notify: the host sees the TCP close); pending operations
  // end with operation_aborted.
  void close() {
    boost::system::error_code ignored;
    tcp::socket& s = socket();
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
  }

 private:
  struct tls_session {
    tls_session(std::shared_ptr<boost::asio::ssl::context> m, boost::asio::io_context& ctx)
        : material(std::move(m)), stream(tcp::socket(ctx), *material) {}
    tls_session(std::shared_ptr<boost::asio::ssl::context> m, tcp::socket&& s)
        : material(std::move(m)), stream(std::move(s), *material) {}
    std::shared_ptr<boost::asio::ssl::context> material;  // outlives the session
    boost::asio::ssl::stream<tcp::socket> stream;
  };

  boost::asio::io_context& ctx_;
  tcp::socket plain_;
  std::shared_ptr<tls_session> tls_;
};

}  // namespace dragoman::bridge
