// The profile's "upstream" section: the endpoints, connections, timeouts and TLS toward the host.
#include "codecs/config.hpp"
#include "codecs/profile.hpp"

namespace dragoman::codecs {

namespace json = boost::json;

namespace {

void compile_upstream_tls(config_object& uc, const json::object& obj, profile& out,
                          diagnostics& diag) {
  config_object tc(obj, uc.child_path("tls"), diag);
  auto& t = out.upstream.tls;
  t.enabled = tc.get_bool("enabled", true);
  t.ca = tc.get_string("ca");
  t.cert = tc.get_string("cert");
  t.key = tc.get_string("key");
  t.server_name = tc.get_string("server_name");
  t.ciphers = tc.get_string("ciphers");
  t.min_version = tc.get_enum("min_version", {"1.2", "1.3"}, "1.2");
  if (t.cert.empty() != t.key.empty())
    diag.error(tc.path(), "cert and key go together (mutual TLS needs both)");
  tc.finish();
}

}  // namespace

void compile_upstream(const json::object& obj, profile& out, diagnostics& diag) {
  config_object uc(obj, "upstream", diag);
  if (const json::array* eps = uc.get_array("endpoints")) {
    for (std::size_t i = 0; i < eps->size(); ++i) {
      const auto& e = (*eps)[i];
      if (!e.is_string() || e.get_string().empty())
        diag.error(uc.child_path("endpoints") + "[" + std::to_string(i) + "]",
                   "must be a \"host:port\" string");
      else
        out.upstream.endpoints.emplace_back(e.get_string());
    }
  }
  out.upstream.connect_timeout =
      std::chrono::milliseconds(uc.get_int("connect_timeout_ms", 2000, 1, 600000));
  out.upstream.connections = static_cast<std::size_t>(uc.get_int("connections", 2, 1, 1024));
  out.upstream.max_timeout =
      std::chrono::milliseconds(uc.get_int("max_timeout_ms", 30000, 1, 3600000));
  if (const json::object* t = uc.get_object("tls")) compile_upstream_tls(uc, *t, out, diag);
  uc.finish();
}

}  // namespace dragoman::codecs
