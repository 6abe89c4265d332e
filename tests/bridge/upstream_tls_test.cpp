// Tests for the TLS material toward the host: loading (and refusing) files, the settings' rules,
// reloading only on a change of the files' identity (or when forced), keeping the old material
// when the new files are broken, the expiry it reports, and how the server name is prepared.
// Certificates are made with the openssl command line in a temporary directory.
#define BOOST_TEST_MODULE upstream_tls_test
#include <boost/test/unit_test.hpp>

#include "bridge/upstream_tls.hpp"

#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

using namespace dragoman::bridge;
namespace fs = std::filesystem;

namespace {

// Runs a shell command in dir; throws when it fails.
void sh(const fs::path& dir, const std::string& command) {
  const std::string full = "cd '" + dir.string() + "' && (" + command + ") >/dev/null 2>&1";
  if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// A CA (ca.crt), a client leaf signed by it (client.crt/.key) and a second key (other.key), made
// once for the whole module.
struct material {
  fs::path dir;
  material() {
    dir = fs::temp_directory_path() / ("dragoman-tls-unit-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    sh(dir, "openssl req -x509 " + ec + " -keyout ca.key -out ca.crt -days 30 -subj /CN=ca");
    sh(dir, "openssl req -x509 " + ec + " -keyout ca2.key -out ca2.crt -days 60 -subj /CN=ca2");
    sh(dir, "openssl req " + ec + " -keyout client.key -out client.csr -subj /CN=client");
    sh(dir,
       "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 10 "
       "-out client.crt");
    sh(dir, "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out other.key");
  }
  ~material() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  std::string operator()(const std::string& name) const { return (dir / name).string(); }
};

material& files() {
  static material m;
  return m;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

tls_settings mtls(const std::string& ca) {
  tls_settings s;
  s.enabled = true;
  s.ca = ca;
  s.cert = files()("client.crt");
  s.key = files()("client.key");
  return s;
}

// Replaces path through a rename, as a deployment does (a new inode).
void replace(const std::string& path, const std::string& text) {
  write(path + ".new", text);
  fs::rename(path + ".new", path);
}

}  // namespace

BOOST_AUTO_TEST_CASE(settings_rules) {
  tls_settings s;
  BOOST_TEST(check_tls_settings(s).empty());  // off: nothing to check
  s.enabled = true;
  BOOST_TEST(check_tls_settings(s).empty());
  s.cert = "c.pem";
  BOOST_TEST(check_tls_settings(s).find("--tls-key") != std::string::npos);
  s.key = "k.pem";
  s.min_version = 11;
  BOOST_TEST(check_tls_settings(s).find("1.2 or 1.3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(loads_ca_and_client_certificate_and_reports_expiry) {
  upstream_tls t(mtls(files()("ca.crt")));
  BOOST_TEST(t.context() != nullptr);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  BOOST_REQUIRE(t.certificate_expiry().has_value());
  BOOST_TEST(*t.certificate_expiry() > now + 9 * 86400);
  BOOST_TEST(*t.certificate_expiry() < now + 11 * 86400);
  BOOST_REQUIRE(t.ca_expiry().has_value());
  BOOST_TEST(*t.ca_expiry() > now + 29 * 86400);
  BOOST_TEST(t.describe().at("min_version").as_string() == "1.2");
}

BOOST_AUTO_TEST_CASE(bad_files_are_refused_at_start_with_their_name) {
  auto refused = [](const tls_settings& s, const std::string& want) {
    try {
      upstream_tls t(s);
    } catch (const std::runtime_error& e) {
      BOOST_TEST_INFO(e.what());
      BOOST_TEST(std::string(e.what()).find(want) != std::string::npos);
      return;
    }
    BOOST_FAIL("accepted: " + want);
  };
  refused(mtls(files()("missing.pem")), "missing.pem: cannot be read");
  write(files()("junk.pem"), "not a certificate\n");
  refused(mtls(files()("junk.pem")), "junk.pem");
  auto s = mtls(files()("ca.crt"));
  s.key = files()("other.key");
  refused(s, "does not match");
  s = mtls(files()("ca.crt"));
  s.ciphers = "NO-SUCH-CIPHER";
  refused(s, "--tls-ciphers");
  fs::create_directories(files()("empty-dir"));
  refused(mtls(files()("empty-dir")), "no CA file");
}

BOOST_AUTO_TEST_CASE(a_ca_directory_loads_every_file_but_hidden_ones) {
  const std::string dir = files()("ca-dir");
  fs::create_directories(dir + "/..data");
  write(dir + "/a.crt", read(files()("ca.crt")));
  write(dir + "/b.crt", read(files()("ca2.crt")));
  write(dir + "/..data/junk", "not a certificate");  // hidden: skipped
  upstream_tls t(mtls(dir));
  BOOST_TEST(t.context() != nullptr);
  // The earliest expiry of the two CAs (30 and 60 days).
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  BOOST_TEST(*t.ca_expiry() < now + 31 * 86400);
}

BOOST_AUTO_TEST_CASE(reload_follows_the_files_identity_and_keeps_old_material_when_broken) {
  const std::string ca = files()("rotating.pem");
  write(ca, read(files()("ca.crt")));
  upstream_tls t(mtls(ca));
  const auto first = t.context();
  BOOST_TEST((t.reload(false) == upstream_tls::reload_result::unchanged));
  BOOST_TEST((t.context() == first));

  replace(ca, read(files()("ca2.crt")));
  BOOST_TEST((t.reload(false) == upstream_tls::reload_result::loaded));
  const auto second = t.context();
  BOOST_TEST((second != first));
  BOOST_TEST(t.reloads() == 1u);
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  BOOST_TEST(*t.ca_expiry() > now + 59 * 86400);  // ca2's

  replace(ca, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
  BOOST_TEST((t.reload(false) == upstream_tls::reload_result::failed));
  BOOST_TEST((t.context() == second));  // the old material stays
  BOOST_TEST(t.reload_failures() == 1u);
  // The same broken files are not read again until they change.
  BOOST_TEST((t.reload(false) == upstream_tls::reload_result::unchanged));
  BOOST_TEST(t.reload_failures() == 1u);
  // SIGHUP reads them anyway.
  BOOST_TEST((t.reload(true) == upstream_tls::reload_result::failed));
  BOOST_TEST(t.reload_failures() == 2u);

  // A symlink swapped to another target (Kubernetes' ..data) is a change too.
  const std::string link = files()("linked.pem");
  write(files()("target-a.pem"), read(files()("ca.crt")));
  write(files()("target-b.pem"), read(files()("ca2.crt")));
  fs::create_symlink(files()("target-a.pem"), link);
  upstream_tls linked(mtls(link));
  fs::create_symlink(files()("target-b.pem"), link + ".new");
  fs::rename(link + ".new", link);
  BOOST_TEST((linked.reload(false) == upstream_tls::reload_result::loaded));
}

BOOST_AUTO_TEST_CASE(a_certificate_rotated_before_its_key_waits_for_the_key) {
  const std::string cert = files()("rot-client.crt"), key = files()("rot-client.key");
  write(cert, read(files()("client.crt")));
  write(key, read(files()("client.key")));
  auto s = mtls(files()("ca.crt"));
  s.cert = cert;
  s.key = key;
  upstream_tls t(s);
  const auto first = t.context();
  const auto first_expiry = t.certificate_expiry();
  // A new certificate (and key) made for the rotation; the certificate lands first.
  sh(files().dir,
     "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout next.key "
     "-out next.csr -subj /CN=next && openssl x509 -req -in next.csr -CA ca.crt -CAkey ca.key "
     "-CAcreateserial -days 20 -out next.crt");
  replace(cert, read(files()("next.crt")));
  BOOST_TEST((t.reload(false) == upstream_tls::reload_result::failed));  // key does not match
  BOOST_TEST((t.context() == first));
  BOOST_TEST((t.certificate_expiry() == first_expiry));
  replace(key, read(files()("next.key")));
  BOOST_TEST((t.reload(false) == upstream_tls::reload_result::loaded));
  BOOST_TEST((t.context() != first));
  BOOST_TEST(*t.certificate_expiry() > *first_expiry + 9 * 86400);  // 20 days, not 10
}

BOOST_AUTO_TEST_CASE(prepare_sets_the_name_or_address_checked) {
  upstream_tls t(mtls(files()("ca.crt")));
  std::string why;
  {
    SSL* ssl = SSL_new(t.context()->native_handle());
    BOOST_TEST(t.prepare(ssl, "core.example", why));
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    BOOST_TEST(std::string(sni ? sni : "") == "core.example");
    SSL_free(ssl);
  }
  {
    SSL* ssl = SSL_new(t.context()->native_handle());
    BOOST_TEST(t.prepare(ssl, "127.0.0.1", why));
    // An address is checked against the IP SANs and sent as no SNI.
    BOOST_TEST(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == nullptr);
    SSL_free(ssl);
  }
  auto s = mtls(files()("ca.crt"));
  s.server_name = "named.example";
  upstream_tls named(s);
  SSL* ssl = SSL_new(named.context()->native_handle());
  BOOST_TEST(named.prepare(ssl, "127.0.0.1", why));
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  BOOST_TEST(std::string(sni ? sni : "") == "named.example");
  SSL_free(ssl);
}
