// TLS on the front doors (--door-tls-cert, --door-tls-key) and client certificates
// (--door-client-ca): the server material, reloaded on SIGHUP, and the TLS stream a door session
// reads and writes through. Asio's SSL templates stay in door_tls.cpp: a session holds a
// door_tls_stream only on a TLS door, so the cleartext path pays one null test per read and write.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio::ssl {
class context;
}

namespace dragoman::bridge {

class prom_writer;

struct door_tls_settings {
  std::string cert;  // certificate chain (PEM) the doors present
  std::string key;   // its private key (PEM)
  std::string
      client_ca;  // CA certificates (PEM) client certificates must chain to; empty: none asked
};

// What is wrong with the settings before a file is read; empty: fine.
std::string check_door_tls_settings(const door_tls_settings& s);

// One TLS connection of a door, over the session's socket (which it references: the session owns
// both). Every handler is called on the socket's executor; a read's bytes are valid until the
// handler returns.
class door_tls_stream {
 public:
  using error_code = boost::system::error_code;

  door_tls_stream(std::shared_ptr<boost::asio::ssl::context> material,
                  boost::asio::ip::tcp::socket& socket);
  ~door_tls_stream();
  door_tls_stream(const door_tls_stream&) = delete;
  door_tls_stream& operator=(const door_tls_stream&) = delete;

  void async_handshake(std::function<void(error_code)> done);
  // The peer closing without close_notify is reported as end of stream, as in cleartext.
  void async_read_some(std::function<void(error_code, std::string_view)> done);
  // The whole of bytes (which must stay valid until done).
  void async_write(std::string_view bytes, std::function<void(error_code)> done);

  // The verified client certificate's identity: its subject's common name, else its first DNS
  // name (subjectAltName); "" without a certificate. Characters outside A-Z a-z 0-9 . _ : @ -
  // become '_' and it is cut at 64, so that it fits a log field and a metrics label as is.
  std::string peer_identity() const;
  // A failed handshake in words ("no client certificate", "unknown CA", ...).
  std::string describe_failure(const error_code& ec) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The doors' server material: swapped whole on reload, read by new handshakes from any thread.
class door_tls {
 public:
  // Loads the files; throws std::runtime_error naming the file and why.
  explicit door_tls(door_tls_settings s);
  ~door_tls();

  const door_tls_settings& settings() const noexcept { return settings_; }
  bool verifies_clients() const noexcept { return !settings_.client_ca.empty(); }
  std::unique_ptr<door_tls_stream> stream(boost::asio::ip::tcp::socket& socket) const;

  // SIGHUP: the files again; one that does not load keeps the material in force (logged,
  // counted). New handshakes use what loaded; connections up keep theirs.
  bool reload();
  void handshake_failed() noexcept { handshake_failures_.fetch_add(1, std::memory_order_relaxed); }
  void write_metrics(prom_writer& w) const;

 private:
  std::shared_ptr<boost::asio::ssl::context> load(std::string& why) const;

  const door_tls_settings settings_;
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> context_;
  std::atomic<std::uint64_t> reload_failures_{0}, handshake_failures_{0};
};

}  // namespace dragoman::bridge
