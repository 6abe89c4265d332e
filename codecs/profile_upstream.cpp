// The profile's "upstream" section: the endpoints, connections, timeouts and TLS toward the host.
#include "codecs/config.hpp"
#include "codecs/profile.hpp"

#include <algorithm>

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

// {"rate": N, "burst": N}: rate in messages per second (fractions allowed), burst at least 1.
pacing_rate read_rate(config_object& c, bool required) {
  pacing_rate r;
  if (required && !c.has("rate")) {
    c.accept("rate");
    c.diag().error(c.child_path("rate"), "is required (messages per second)");
  }
  if (const boost::json::value* v = c.find("rate")) {
    c.accept("rate");
    double x = 0;
    if (v->is_int64())
      x = static_cast<double>(v->get_int64());
    else if (v->is_uint64())
      x = static_cast<double>(v->get_uint64());
    else if (v->is_double())
      x = v->get_double();
    else
      x = -1;
    if (!(x > 0 && x <= 1e6))
      c.diag().error(c.child_path("rate"),
                     "must be a number of messages per second, above 0 "
                     "and at most 1000000");
    else
      r.rate = x;
  }
  r.burst = static_cast<std::uint32_t>(c.get_int("burst", 1, 1, 1000000));
  return r;
}

void compile_upstream_pacing(config_object& uc, const json::object& obj, profile& out,
                             diagnostics& diag) {
  config_object pc(obj, uc.child_path("pacing"), diag);
  auto& p = out.upstream.pacing;
  p.endpoint = read_rate(pc, false);
  p.queue = static_cast<std::size_t>(pc.get_int("queue", 1000, 1, 1000000));
  if (const json::object* ops = pc.get_object("operations")) {
    for (const auto& kv : *ops) {
      const std::string path = pc.child_path("operations") + "." + std::string(kv.key());
      if (!kv.value().is_object()) {
        diag.error(path, "must be an object {\"rate\": N, \"burst\": N}");
        continue;
      }
      config_object oc(kv.value().get_object(), path, diag);
      p.operations.emplace_back(std::string(kv.key()), read_rate(oc, true));
      oc.finish();
    }
  }
  if (!pc.has("rate") && !pc.has("operations"))
    diag.error(pc.path(), "needs \"rate\" (every message to an endpoint) or \"operations\"");
  pc.finish();
}

}  // namespace

void check_upstream_pacing(const profile& out, diagnostics& diag) {
  for (const auto& [name, rate] : out.upstream.pacing.operations)
    if (!out.find_operation(name))
      diag.error("upstream.pacing.operations." + name, "no operation named \"" + name + "\"");
}

void compile_serialize_by(config_object& o, operation& op, diagnostics& diag) {
  const json::array* names = o.get_array("serialize_by");
  if (!names) return;
  const std::string path = o.child_path("serialize_by");
  if (names->empty()) diag.error(path, "must name at least one request field");
  for (std::size_t i = 0; i < names->size(); ++i) {
    const std::string at = path + "[" + std::to_string(i) + "]";
    if (!(*names)[i].is_string()) {
      diag.error(at, "must be a request field name");
      continue;
    }
    const std::string name((*names)[i].get_string());
    const request_name* n = op.request.find_request_name(name);
    if (!n || n->object) {
      const std::string known = op.request.listed_request_names();
      diag.error(at, "no request field named \"" + name + "\"" +
                         (known.empty() ? std::string(" (the app gives this request no fields)")
                                        : " (the request has " + known + ")"));
      continue;
    }
    if (std::find(op.serialize_by.begin(), op.serialize_by.end(), n->field) ==
        op.serialize_by.end())
      op.serialize_by.push_back(n->field);
  }
}

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
  if (const json::object* p = uc.get_object("pacing")) compile_upstream_pacing(uc, *p, out, diag);
  uc.finish();
}

}  // namespace dragoman::codecs
