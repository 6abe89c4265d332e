// TLS material toward the legacy host: loading the files into an OpenSSL client context, telling
// when they changed, reloading them without dropping what works, and naming handshake failures.
#include "bridge/upstream_tls.hpp"

#include "bridge/log.hpp"
#include "bridge/openssl_errors.hpp"
#include "bridge/prom_writer.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace dragoman::bridge {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

// Files read from a CA directory, at most (a directory of thousands is a mistake).
constexpr std::size_t max_ca_files = 256;

std::string readable(const std::string& path) {
  std::ifstream in(path);
  if (!in) return path + ": cannot be read";
  return {};
}

std::int64_t unix_seconds(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

// The regular files of a CA directory, by name, hidden ones (Kubernetes' ..data) left out.
std::vector<fs::path> ca_files(const std::string& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code ec2;
    if (!fs::is_regular_file(it->path(), ec2)) continue;  // through symlinks
    out.push_back(it->path());
    if (out.size() > max_ca_files) break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

void append_identity(std::string& out, const std::string& path) {
  struct stat st {};
  out += path;
  if (::stat(path.c_str(), &st) != 0) {
    out += ":missing;";
    return;
  }
  out += ':' + std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' +
         std::to_string(st.st_size) + ':' + std::to_string(st.st_mtim.tv_sec) + '.' +
         std::to_string(st.st_mtim.tv_nsec) + ';';
}

// The name that means each verification failure to an operator.
const char* verify_words(long v) {
  switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "certificate expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "certificate not yet valid";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
      return "name mismatch";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return "unknown CA";
    case X509_V_ERR_CERT_REVOKED:
      return "certificate revoked";
    default:
      return "certificate not trusted";
  }
}

}  // namespace

std::string check_tls_settings(const tls_settings& s) {
  if (!s.enabled) return {};
  if (s.cert.empty() != s.key.empty())
    return "--tls-cert and --tls-key go together (mutual TLS needs both)";
  if (s.min_version != 12 && s.min_version != 13) return "--tls-min-version must be 1.2 or 1.3";
  return {};
}

struct upstream_tls::loaded {
  std::int64_t cert_expiry = 0;
  std::int64_t ca_expiry = 0;
};

upstream_tls::upstream_tls(tls_settings s) : settings_(std::move(s)) {
  if (std::string bad = check_tls_settings(settings_); !bad.empty()) throw std::runtime_error(bad);
  identity_ = identity();
  std::string why;
  loaded info;
  auto ctx = load(why, info);
  if (!ctx) throw std::runtime_error("TLS: " + why);
  context_.store(std::move(ctx));
  cert_expiry_.store(info.cert_expiry);
  ca_expiry_.store(info.ca_expiry);
}

upstream_tls::~upstream_tls() = default;

std::string upstream_tls::identity() const {
  std::string out;
  for (const std::string* p : {&settings_.ca, &settings_.cert, &settings_.key}) {
    if (p->empty()) continue;
    append_identity(out, *p);
    std::error_code ec;
    if (p == &settings_.ca && fs::is_directory(*p, ec))
      for (const auto& f : ca_files(*p)) append_identity(out, f.string());
  }
  return out;
}

std::shared_ptr<asio::ssl::context> upstream_tls::load(std::string& why, loaded& info) const {
  ERR_clear_error();
  // Both roles: the client toward --upstream, the server on --upstream-listen, where the host's
  // client certificate is required (FAIL_IF_NO_PEER_CERT means nothing to a client).
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls);
  SSL_CTX* h = ctx->native_handle();
  SSL_CTX_set_min_proto_version(h, settings_.min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_verify(h, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (!settings_.ciphers.empty()) {
    std::string v12, v13;
    std::size_t start = 0;
    while (start <= settings_.ciphers.size()) {
      std::size_t end = settings_.ciphers.find(':', start);
      if (end == std::string::npos) end = settings_.ciphers.size();
      std::string name = settings_.ciphers.substr(start, end - start);
      std::string& to = name.rfind("TLS_", 0) == 0 ? v13 : v12;
      if (!name.empty()) to += (to.empty() ? "" : ":") + name;
      start = end + 1;
    }
    if (!v12.empty() && SSL_CTX_set_cipher_list(h, v12.c_str()) != 1) {
      why = "--tls-ciphers: no usable TLS 1.2 cipher in \"" + v12 + "\"";
      ERR_clear_error();
      return nullptr;
    }
    if (!v13.empty() && SSL_CTX_set_ciphersuites(h, v13.c_str()) != 1) {
      why = "--tls-ciphers: no usable TLS 1.3 suite in \"" + v13 + "\"";
      ERR_clear_error();
      return nullptr;
    }
  }
  X509_STORE* store = SSL_CTX_get_cert_store(h);
  if (settings_.ca.empty()) {
    if (SSL_CTX_set_default_verify_paths(h) != 1) {
      why = "the system CA store: " + openssl_errors();
      return nullptr;
    }
  } else {
    std::error_code ec;
    std::vector<std::string> files;
    if (fs::is_directory(settings_.ca, ec)) {
      auto found = ca_files(settings_.ca);
      if (found.size() > max_ca_files) {
        why = settings_.ca + ": more than " + std::to_string(max_ca_files) + " files";
        return nullptr;
      }
      for (const auto& f : found) files.push_back(f.string());
      if (files.empty()) {
        why = settings_.ca + ": no CA file in the directory";
        return nullptr;
      }
    } else {
      files.push_back(settings_.ca);
    }
    for (const auto& f : files) {
      if (why = readable(f); !why.empty()) return nullptr;
      if (X509_STORE_load_file(store, f.c_str()) != 1) {
        why = f + ": no CA certificate could be read (" + openssl_errors() + ")";
        return nullptr;
      }
    }
    STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
    for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
      X509* x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
      if (!x) continue;
      const std::int64_t t = unix_seconds(X509_get0_notAfter(x));
      if (t != 0 && (info.ca_expiry == 0 || t < info.ca_expiry)) info.ca_expiry = t;
    }
    if (info.ca_expiry == 0) {
      why = settings_.ca + ": no CA certificate in it";
      return nullptr;
    }
  }
  if (!settings_.cert.empty()) {
    if (why = readable(settings_.cert); !why.empty()) return nullptr;
    if (why = readable(settings_.key); !why.empty()) return nullptr;
    if (SSL_CTX_use_certificate_chain_file(h, settings_.cert.c_str()) != 1) {
      why = settings_.cert + ": not a PEM certificate (" + openssl_errors() + ")";
      return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(h, settings_.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
      why = settings_.key +
            (mismatch ? ": does not match the certificate in " + settings_.cert
                      : ": not a PEM private key") +
            " (" + openssl_errors() + ")";
      return nullptr;
    }
    if (SSL_CTX_check_private_key(h) != 1) {
      why = settings_.key + ": does not match the certificate in " + settings_.cert;
      ERR_clear_error();
      return nullptr;
    }
    info.cert_expiry = unix_seconds(X509_get0_notAfter(SSL_CTX_get0_certificate(h)));
  }
  return ctx;
}

upstream_tls::reload_result upstream_tls::reload(bool force) {
  std::string now = identity();
  if (!force && now == identity_) return reload_result::unchanged;
  identity_ = std::move(now);
  std::string why;
  loaded info;
  auto ctx = load(why, info);
  if (!ctx) {
    ++reload_failures_;
    log::error("tls_reload_failed",
               {{"reason", why},
                {"message", "the new TLS files were refused; the loaded material stays in use"}});
    return reload_result::failed;
  }
  context_.store(std::move(ctx));
  cert_expiry_.store(info.cert_expiry);
  ca_expiry_.store(info.ca_expiry);
  ++reloads_;
  json::object f{{"message", "new handshakes use the new material; open connections stay"}};
  if (!settings_.ca.empty()) f["ca"] = settings_.ca;
  if (!settings_.cert.empty()) f["cert"] = settings_.cert;
  if (info.cert_expiry) f["certificate_expiry"] = info.cert_expiry;
  log::info("tls_reload", f);
  return reload_result::loaded;
}

std::optional<std::int64_t> upstream_tls::certificate_expiry() const noexcept {
  const auto v = cert_expiry_.load();
  return v ? std::optional<std::int64_t>(v) : std::nullopt;
}

std::optional<std::int64_t> upstream_tls::ca_expiry() const noexcept {
  const auto v = ca_expiry_.load();
  return v ? std::optional<std::int64_t>(v) : std::nullopt;
}

void upstream_tls::write_metrics(prom_writer& w) const {
  w.family("dragoman_tls_certificate_expiry_seconds", "gauge",
           "notAfter (Unix seconds) of the loaded TLS material toward the host: the client "
           "certificate (certificate=\"client\") and the earliest CA (certificate=\"ca\").");
  if (auto c = certificate_expiry())
    w.sample("dragoman_tls_certificate_expiry_seconds", {{"certificate", "client"}},
             static_cast<double>(*c));
  if (auto c = ca_expiry())
    w.sample("dragoman_tls_certificate_expiry_seconds", {{"certificate", "ca"}},
             static_cast<double>(*c));
  w.family("dragoman_tls_reloads_total", "counter",
           "TLS files toward the host read again and put in use (changed files, SIGHUP).");
  w.sample("dragoman_tls_reloads_total", {}, static_cast<double>(reloads()));
  w.family("dragoman_tls_reload_failures_total", "counter",
           "TLS files that changed but did not load; the material loaded before stays in use.");
  w.sample("dragoman_tls_reload_failures_total", {}, static_cast<double>(reload_failures()));
}

json::object upstream_tls::describe() const {
  json::object o;
  o["ca"] = settings_.ca.empty() ? json::value("system") : json::value(settings_.ca);
  o["client_certificate"] =
      settings_.cert.empty() ? json::value(nullptr) : json::value(settings_.cert);
  o["server_name"] =
      settings_.server_name.empty() ? json::value(nullptr) : json::value(settings_.server_name);
  o["min_version"] = settings_.min_version == 13 ? "1.3" : "1.2";
  if (auto c = certificate_expiry()) o["certificate_expiry"] = *c;
  if (auto c = ca_expiry()) o["ca_expiry"] = *c;
  o["reloads"] = reloads();
  o["reload_failures"] = reload_failures();
  return o;
}

bool upstream_tls::prepare(SSL* ssl, const std::string& host, std::string& why) const {
  const std::string& name = settings_.server_name.empty() ? host : settings_.server_name;
  boost::system::error_code ec;
  asio::ip::make_address(name, ec);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  bool ok;
  if (!ec) {
    ok = X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1;  // no SNI for an address
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = SSL_set_tlsext_host_name(ssl, name.c_str()) == 1 && SSL_set1_host(ssl, name.c_str()) == 1;
  }
  if (!ok) {
    why = "TLS: \"" + name + "\" cannot be used as the server name (" + openssl_errors() + ")";
    return false;
  }
  return true;
}

std::string describe_tls_failure(const boost::system::error_code& ec, SSL* ssl,
                                 bool offered_certificate) {
  if (ssl) {
    const long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
      return std::string(verify_words(v)) + " (" + X509_verify_cert_error_string(v) + ")";
  }
  if (ec == asio::ssl::error::stream_truncated) return "closed by the peer (no TLS close_notify)";
  const std::string detail = ec.message();
  if (ec.category() == asio::error::get_ssl_category()) {
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
      return "no client certificate (the host offered none: " + detail + ")";
    if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
      return "no client certificate (the host requires one: " + detail + ")";
    if (!offered_certificate && reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)
      return "no client certificate? the host refused the handshake and none was offered (" +
             detail + ")";
    if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA || reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
        reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
        reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN)
      return "the host refused the client certificate (" + detail + ")";
  }
  return detail;
}

}  // namespace dragoman::bridge
