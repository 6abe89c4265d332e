// The admin and metrics endpoints: rendering, masking and the token check (no Beast here).
#include "bridge/admin.hpp"

#include "bridge/journaled_engine.hpp"
#include "bridge/openapi.hpp"
#include "bridge/problem.hpp"

#include <stdexcept>
#include <utility>

namespace dragoman::bridge {

namespace json = boost::json;

admin::admin(call_engine& engine, metrics& m, std::shared_ptr<const codecs::profile> profile,
             std::string token)
    : engine_(engine), metrics_(m), token_(std::move(token)), profile_(std::move(profile)) {}

void admin::set_profile(std::shared_ptr<const codecs::profile> p) {
  std::lock_guard lock(mutex_);
  profile_ = std::move(p);
}

std::shared_ptr<const codecs::profile> admin::profile() const {
  std::lock_guard lock(mutex_);
  return profile_;
}

void admin::add_metrics_source(std::function<void(prom_writer&)> source) {
  std::lock_guard lock(mutex_);
  sources_.push_back(std::move(source));
}

bool admin::is_admin_path(std::string_view path) noexcept {
  return path == "/metrics" || path == "/admin" || path.starts_with("/admin/");
}

std::string admin::metrics_text() const {
  std::string out;
  out.reserve(16384);
  prom_writer w(out);
  metrics_.render(w);
  const boost::json::object stats = engine_.stats();
  render_engine_stats(w, stats);
  render_journal_stats(w, stats);
  if (const auto* keys = stats.if_contains("idempotency_keys")) {  // bridge/idempotency.hpp
    w.family("dragoman_idempotency_keys", "gauge",
             "Idempotency-Key values held in memory (in flight or answered within the window).");
    w.sample("dragoman_idempotency_keys", {}, keys->is_number() ? keys->to_number<double>() : 0.0);
    const auto* replays = stats.if_contains("idempotency_replays");
    w.family("dragoman_idempotency_replays_total", "counter",
             "Calls answered with the first answer of their Idempotency-Key, not sent again.");
    w.sample("dragoman_idempotency_replays_total", {},
             replays && replays->is_number() ? replays->to_number<double>() : 0.0);
  }
  std::vector<std::function<void(prom_writer&)>> sources;
  {
    std::lock_guard lock(mutex_);
    sources = sources_;
  }
  for (const auto& s : sources) s(w);
  return out;
}

json::object admin::profile_json() const {
  auto p = profile();
  if (!p) return {};
  json::value v = p->describe();
  mask_sensitive_json(v);
  return std::move(v.as_object());
}

json::object admin::upstreams_json() const {
  json::value v = engine_.describe_upstreams();
  mask_sensitive_json(v);
  json::object o = std::move(v.as_object());
  if (!o.contains("endpoints")) o["endpoints"] = json::array();
  return o;
}

admin_answer admin::handle(std::string_view method, std::string_view path,
                           std::string_view authorization, std::string_view query) const {
  admin_answer a;
  auto problem = [&](std::string_view code, int status, std::string_view detail) {
    a.status = status;
    a.content_type = "application/problem+json";
    a.body = json::serialize(make_problem(code, status, detail));
  };
  // The token is checked before anything else, so that without it not even the set of paths
  // can be probed.
  if (!token_.empty() && !bearer_matches(authorization, token_)) {
    problem("unauthorized", 401, "admin endpoints need Authorization: Bearer <--admin-token>");
    a.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"dragoman\"");
    return a;
  }
  constexpr std::string_view messages = "/admin/messages";
  if (path.starts_with(messages) &&
      (path.size() == messages.size() || path[messages.size()] == '/')) {
    message_answer m = engine_.admin_messages(method, path.substr(messages.size()), query);
    a.status = m.status;
    a.content_type = m.status < 300 ? "application/json" : "application/problem+json";
    if (m.status == 405)
      a.headers.emplace_back(
          "Allow", path.ends_with("/retry") || path.ends_with("/discard") ? "POST" : "GET");
    a.body = json::serialize(m.body);
    return a;
  }
  if (method != "GET") {
    problem("method_not_allowed", 405, "use GET");
    a.headers.emplace_back("Allow", "GET");
    return a;
  }
  if (path == "/metrics") {
    a.content_type = "text/plain; version=0.0.4; charset=utf-8";
    a.body = metrics_text();
    return a;
  }
  if (path == "/admin/profile") {
    a.content_type = "application/json";
    a.body = json::serialize(profile_json());
    return a;
  }
  if (path == "/admin/upstreams") {
    a.content_type = "application/json";
    a.body = json::serialize(upstreams_json());
    return a;
  }
  if (path == "/admin/openapi.json") {
    auto p = profile();
    a.content_type = "application/json";
    a.body = p ? json::serialize(openapi_document(*p)) : "{}";
    return a;
  }
  problem("not_found", 404,
          "no such admin path: " + std::string(path) +
              " (try /admin/profile, /admin/upstreams, /admin/messages, /admin/openapi.json)");
  return a;
}

namespace {

// Keys that may carry a field's value in a description.
constexpr std::string_view value_keys[] = {"value", "default", "example", "constant", "sample"};

}  // namespace

void mask_sensitive_json(json::value& v) {
  if (v.is_array()) {
    for (auto& e : v.get_array()) mask_sensitive_json(e);
    return;
  }
  if (!v.is_object()) return;
  auto& o = v.get_object();
  if (auto* s = o.if_contains("sensitive"); s && s->is_bool() && s->get_bool()) {
    for (std::string_view k : value_keys)
      if (auto* x = o.if_contains(k); x && !x->is_null()) *x = "****";
  }
  for (auto& kv : o) mask_sensitive_json(kv.value());
}

bool bearer_matches(std::string_view authorization, std::string_view token) noexcept {
  constexpr std::string_view scheme = "bearer ";
  if (token.empty() || authorization.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = authorization[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return false;
  }
  std::string_view given = authorization.substr(scheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  while (!given.empty() && (given.back() == ' ' || given.back() == '\t')) given.remove_suffix(1);
  // Constant time in the token's content (the length is not a secret worth hiding).
  unsigned diff = given.size() == token.size() ? 0u : 1u;
  for (std::size_t i = 0; i < token.size(); ++i) {
    char g = i < given.size() ? given[i] : '\0';
    diff |=
        static_cast<unsigned>(static_cast<unsigned char>(g) ^ static_cast<unsigned char>(token[i]));
  }
  return diff == 0;
}

void check_admin_exposure(std::string_view flag, const boost::asio::ip::tcp::endpoint& where,
                          std::string_view token) {
  if (!token.empty() || where.address().is_loopback()) return;
  throw std::runtime_error(std::string(flag) + " " + where.address().to_string() + ":" +
                           std::to_string(where.port()) +
                           ": admin and metrics endpoints on a non-loopback address need "
                           "--admin-token (or put them on a loopback address with --admin)");
}

}  // namespace dragoman::bridge
