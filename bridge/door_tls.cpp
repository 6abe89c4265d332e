// TLS on the front doors: the server context (certificate, key, client CAs, TLS 1.2 at least),
// the client certificate's identity, and the stream a TLS door session goes through. The only
// translation unit of the doors that instantiates Asio's SSL templates.
#include "bridge/door_tls.hpp"

#include "bridge/log.hpp"
#include "bridge/openssl_errors.hpp"
#include "bridge/prom_writer.hpp"

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <array>
#include <fstream>
#include <stdexcept>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

bool readable(const std::string& path, std::string& why) {
  if (std::ifstream(path)) return true;
  why = path + ": cannot be read";
  return false;
}

std::string label_safe(std::string s) {
  if (s.size() > 64) s.resize(64);
  for (char& c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
    if (!ok) c = '_';
  }
  return s;
}

}  // namespace

std::string check_door_tls_settings(const door_tls_settings& s) {
  if (s.cert.empty() != s.key.empty()) return "--door-tls-cert and --door-tls-key go together";
  if (!s.client_ca.empty() && s.cert.empty())
    return "--door-client-ca needs --door-tls-cert and --door-tls-key (client certificates come "
           "with TLS)";
  return {};
}

struct door_tls_stream::impl {
  impl(std::shared_ptr<ssl::context> m, tcp::socket& s)
      : material(std::move(m)), stream(s, *material) {}
  std::shared_ptr<ssl::context> material;  // outlives the stream, whatever reloads meanwhile
  ssl::stream<tcp::socket&> stream;
  std::array<char, 16384> buffer;  // a read's bytes: a TLS session's own, unlike cleartext reads
};

door_tls_stream::door_tls_stream(std::shared_ptr<ssl::context> material, tcp::socket& socket)
    : impl_(std::make_unique<impl>(std::move(material), socket)) {}

door_tls_stream::~door_tls_stream() = default;

void door_tls_stream::async_handshake(std::function<void(error_code)> done) {
  impl_->stream.async_handshake(ssl::stream_base::server, std::move(done));
}

void door_tls_stream::async_read_some(std::function<void(error_code, std::string_view)> done) {
  impl_->stream.async_read_some(asio::buffer(impl_->buffer),
                                [this, done = std::move(done)](error_code ec, std::size_t n) {
                                  if (ec == ssl::error::stream_truncated) ec = asio::error::eof;
                                  done(ec, std::string_view(impl_->buffer.data(), n));
                                });
}

void door_tls_stream::async_write(std::string_view bytes, std::function<void(error_code)> done) {
  asio::async_write(impl_->stream, asio::buffer(bytes.data(), bytes.size()),
                    [done = std::move(done)](error_code ec, std::size_t) { done(ec); });
}

std::string door_tls_stream::peer_identity() const {
  SSL* ssl = impl_->stream.native_handle();
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return {};
  char cn[256];
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                          static_cast<int>(sizeof cn));
  if (n > 0) return label_safe(std::string(cn, static_cast<std::size_t>(n)));
  std::string out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && out.empty(); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_DNS) continue;
    const ASN1_STRING* s = g->d.dNSName;
    out.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
               static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(names);
  return label_safe(std::move(out));
}

std::string door_tls_stream::describe_failure(const error_code& ec) const {
  SSL* ssl = impl_->stream.native_handle();
  const long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK)
    return std::string("client certificate refused: ") + X509_verify_cert_error_string(v);
  if (ec.category() == asio::error::get_ssl_category()) {
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) return "no client certificate";
  }
  if (ec == ssl::error::stream_truncated || ec == asio::error::eof)
    return "the client closed during the handshake";
  return ec.message();
}

door_tls::door_tls(door_tls_settings s) : settings_(std::move(s)) {
  if (std::string bad = check_door_tls_settings(settings_); !bad.empty())
    throw std::runtime_error(bad);
  std::string why;
  auto ctx = load(why);
  if (!ctx) throw std::runtime_error(why);
  context_.store(std::move(ctx));
}

door_tls::~door_tls() = default;

std::shared_ptr<ssl::context> door_tls::load(std::string& why) const {
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* h = ctx->native_handle();
  SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  SSL_CTX_set_options(h, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (!readable(settings_.cert, why) || !readable(settings_.key, why)) return nullptr;
  if (SSL_CTX_use_certificate_chain_file(h, settings_.cert.c_str()) != 1) {
    why =
        "--door-tls-cert " + settings_.cert + ": not a PEM certificate (" + openssl_errors() + ")";
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(h, settings_.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(h) != 1) {
    why = "--door-tls-key " + settings_.key + ": not the PEM private key of " + settings_.cert +
          " (" + openssl_errors() + ")";
    return nullptr;
  }
  if (!settings_.client_ca.empty()) {
    const std::string& ca = settings_.client_ca;
    if (!readable(ca, why)) return nullptr;
    if (SSL_CTX_load_verify_locations(h, ca.c_str(), nullptr) != 1) {
      why =
          "--door-client-ca " + ca + ": no CA certificate could be read (" + openssl_errors() + ")";
      return nullptr;
    }
    // The CAs' names go to the client, so that it picks the certificate that chains to one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str()))
      SSL_CTX_set_client_CA_list(h, names);
    SSL_CTX_set_verify(h, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    static const unsigned char id[] = "dragoman-door";
    SSL_CTX_set_session_id_context(h, id, sizeof id - 1);
  }
  ERR_clear_error();
  return ctx;
}

std::unique_ptr<door_tls_stream> door_tls::stream(tcp::socket& socket) const {
  return std::make_unique<door_tls_stream>(context_.load(), socket);
}

bool door_tls::reload() {
  std::string why;
  auto ctx = load(why);
  if (!ctx) {
    reload_failures_.fetch_add(1, std::memory_order_relaxed);
    log::error("tls_reload_failed",
               {{"side", "doors"},
                {"reason", why},
                {"message", "the new door TLS files were refused; the loaded material stays"}});
    return false;
  }
  context_.store(std::move(ctx));
  log::info("tls_reload",
            {{"side", "doors"},
             {"cert", settings_.cert},
             {"message", "new handshakes use the new material; open connections stay"}});
  return true;
}

void door_tls::write_metrics(prom_writer& w) const {
  w.family("dragoman_door_tls_handshake_failures_total", "counter",
           "TLS handshakes on the front doors that failed (no or a refused client certificate, "
           "a client speaking cleartext, a timeout); the connection is closed.");
  w.sample("dragoman_door_tls_handshake_failures_total", {},
           static_cast<double>(handshake_failures_.load(std::memory_order_relaxed)));
  w.family("dragoman_door_tls_reload_failures_total", "counter",
           "SIGHUP reloads of the door TLS files refused (the loaded material stays).");
  w.sample("dragoman_door_tls_reload_failures_total", {},
           static_cast<double>(reload_failures_.load(std::memory_order_relaxed)));
}

}  // namespace dragoman::bridge
