// TLS toward the legacy host: the settings (flags and the profile's upstream.tls), the material
// loaded from them (an OpenSSL client context: CA, client certificate and key, minimum version,
// ciphers), its reload when the files change (polled) or on SIGHUP, and the words for a failed
// handshake. Verification is always on: the chain and the host's name.
#pragma once

#include <boost/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

typedef struct ssl_st SSL;
namespace boost::asio::ssl {
class context;
}
namespace boost::system {
class error_code;
}

namespace dragoman::bridge {

class prom_writer;

struct tls_settings {
  bool enabled = false;
  std::string ca;           // PEM file or directory of PEM files; empty: the system's CA store
  std::string cert;         // client certificate chain (PEM), for mutual TLS; with key
  std::string key;          // its private key (PEM)
  std::string server_name;  // SNI and the name checked; empty: each endpoint's host
  int min_version = 12;     // 12 (TLS 1.2) or 13 (TLS 1.3)
  std::string ciphers;      // OpenSSL names, ':'-separated; TLS_* names are TLS 1.3 suites
};

// What is wrong with settings before any file is read (both of cert/key, a version); empty: ok.
std::string check_tls_settings(const tls_settings& s);

// The loaded material, swapped whole when the files change. Reads happen on one thread (the
// server's poll timer, which also serves SIGHUP); context() is read from any thread.
class upstream_tls {
 public:
  // Loads the files; throws std::runtime_error naming the file and OpenSSL's reason.
  explicit upstream_tls(tls_settings s);
  ~upstream_tls();
  upstream_tls(const upstream_tls&) = delete;
  upstream_tls& operator=(const upstream_tls&) = delete;

  const tls_settings& settings() const noexcept { return settings_; }
  // The material new handshakes use; a connection keeps the one it shook hands with.
  std::shared_ptr<boost::asio::ssl::context> context() const { return context_.load(); }

  enum class reload_result { unchanged, loaded, failed };
  // Reads the files again when their identity (device, inode, size, mtime, through symlinks)
  // changed, or always with force (SIGHUP). A file that does not load keeps the old material,
  // logs why and counts a failure; the same broken files are not retried until they change.
  reload_result reload(bool force);

  std::uint64_t reloads() const noexcept { return reloads_.load(); }
  std::uint64_t reload_failures() const noexcept { return reload_failures_.load(); }
  // notAfter of the loaded client certificate and the earliest of the loaded CAs (Unix seconds).
  std::optional<std::int64_t> certificate_expiry() const noexcept;
  std::optional<std::int64_t> ca_expiry() const noexcept;
  // dragoman_tls_* families.
  void write_metrics(prom_writer& w) const;
  boost::json::object describe() const;

  // Prepares a connection's fresh session: SNI (for a name) and the name or address checked.
  // host: the endpoint's host, used when no server_name is set. False (why set) when refused.
  bool prepare(SSL* ssl, const std::string& host, std::string& why) const;

 private:
  struct loaded;
  std::shared_ptr<boost::asio::ssl::context> load(std::string& why, loaded& info) const;
  std::string identity() const;

  const tls_settings settings_;
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> context_;
  std::string identity_;  // of the files last read (loaded or refused)
  std::atomic<std::int64_t> cert_expiry_{0}, ca_expiry_{0};  // 0: none
  std::atomic<std::uint64_t> reloads_{0}, reload_failures_{0};
};

// A failed handshake, or a TLS error on an open connection, in words: "unknown CA", "certificate
// expired", "name mismatch", "no client certificate", then OpenSSL's own text.
std::string describe_tls_failure(const boost::system::error_code& ec, SSL* ssl,
                                 bool offered_certificate);

}  // namespace dragoman::bridge
