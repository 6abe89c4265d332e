// The upstream counters as stats() JSON, and stats() JSON as dragoman_upstream_* families: both
// generated from the one list in upstream_stats.hpp, so a new counter is one row.
#include "bridge/upstream_stats.hpp"

#include "bridge/prom_writer.hpp"

#include <string>

namespace dragoman::bridge {

namespace {

namespace json = boost::json;

// A row's key: "frames_rejected_total/malformed" is member "malformed" of that object.
struct key_parts {
  std::string_view object;
  std::string_view member;  // empty for a plain key
};

constexpr key_parts split_key(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return {key, {}};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

// A labelled row's name: "dragoman_upstream_frames_rejected_total{reason}".
struct name_parts {
  std::string_view family;
  std::string_view label;
};

constexpr name_parts split_name(std::string_view name) {
  auto brace = name.find('{');
  if (brace == std::string_view::npos) return {name, {}};
  return {name.substr(0, brace), name.substr(brace + 1, name.size() - brace - 2)};
}

static_assert(split_name("a_total{reason}").label == "reason");
static_assert(split_key("a_total/malformed").member == "malformed");

std::uint64_t value_of(const sharded_counter& c) noexcept {
  return c.load();
}
std::uint64_t value_of(const std::atomic<std::uint64_t>& c) noexcept {
  return c.load(std::memory_order_relaxed);
}
std::int64_t value_of(const std::atomic<std::int64_t>& c) noexcept {
  return c.load(std::memory_order_relaxed);
}

// Sets key in out; a member key goes into its object (made on first use, so that the object sits
// where its first member's row is).
void put(json::object& out, std::string_view key, json::value v) {
  if (key.empty()) return;
  auto [object, member] = split_key(key);
  if (member.empty()) {
    out[object] = std::move(v);
    return;
  }
  json::value& o = out[object];
  if (!o.is_object()) o = json::object();
  o.get_object()[member] = std::move(v);
}

std::string_view type_of(upstream_stat_kind k) noexcept {
  return k == upstream_stat_kind::sharded || k == upstream_stat_kind::counter ? "counter" : "gauge";
}

bool number_of(const boost::json::value& v, double& out) {
  if (v.is_int64())
    out = static_cast<double>(v.get_int64());
  else if (v.is_uint64())
    out = static_cast<double>(v.get_uint64());
  else if (v.is_double())
    out = v.get_double();
  else
    return false;
  return true;
}

std::string string_of(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_number()) return boost::json::serialize(*v);
  return {};
}

// Rows with a plain key, in the list's order; absent keys are skipped.
void render_plain(prom_writer& w, const json::object& stats) {
  for (const upstream_stat_def& d : upstream_stat_defs) {
    if (d.key.empty() || !split_key(d.key).member.empty()) continue;
    auto* v = stats.if_contains(d.key);
    double x = 0;
    if (!v || !number_of(*v, x)) continue;
    w.family(d.name, type_of(d.kind), d.help);
    w.sample(d.name, {}, x);
  }
}

// The first row of the object a member key belongs to (it carries the family's help).
bool first_of_its_object(const upstream_stat_def& row) noexcept {
  for (const upstream_stat_def& d : upstream_stat_defs)
    if (split_key(d.key).object == split_key(row.key).object) return &d == &row;
  return false;
}

// Objects of member rows as labelled families: every member the list names (0 when absent), then
// members the list does not name, so that an engine reporting more is not cut.
void render_labelled(prom_writer& w, const json::object& stats) {
  for (const upstream_stat_def& first : upstream_stat_defs) {
    const auto [object, member] = split_key(first.key);
    if (member.empty() || !first_of_its_object(first)) continue;
    auto* v = stats.if_contains(object);
    if (!v || !v->is_object()) continue;
    const json::object& values = v->get_object();
    const auto [family, label] = split_name(first.name);
    w.family(family, type_of(first.kind), first.help);
    auto named = [&](std::string_view m) {
      for (const upstream_stat_def& d : upstream_stat_defs)
        if (split_key(d.key).object == object && split_key(d.key).member == m) return true;
      return false;
    };
    for (const upstream_stat_def& d : upstream_stat_defs) {
      const auto parts = split_key(d.key);
      if (parts.object != object) continue;
      double x = 0;
      if (auto* mv = values.if_contains(parts.member)) number_of(*mv, x);
      w.sample(family, {{label, parts.member}}, x);
    }
    for (const auto& kv : values) {
      double x = 0;
      if (!named(kv.key()) && number_of(kv.value(), x))
        w.sample(family, {{label, std::string_view(kv.key())}}, x);
    }
  }
}

// Per-endpoint families from the pool's "endpoints" array.
void render_endpoints(prom_writer& w, const json::array& endpoints) {
  w.family("dragoman_upstream_breaker_state", "gauge",
           "Circuit breaker state per endpoint: 1 for the current state, 0 for the others.");
  for (const auto& e : endpoints) {
    if (!e.is_object()) continue;
    std::string ep = string_of(e.get_object(), "endpoint");
    std::string state = string_of(e.get_object(), "breaker");
    for (std::string_view s : {"closed", "open", "half_open"})
      w.sample("dragoman_upstream_breaker_state", {{"endpoint", ep}, {"state", s}},
               state == s ? 1 : 0);
  }
  w.family("dragoman_upstream_connections", "gauge",
           "Upstream connections per endpoint by state (connecting, signing_on, up, down).");
  for (const auto& e : endpoints) {
    if (!e.is_object()) continue;
    std::string ep = string_of(e.get_object(), "endpoint");
    const auto* c = e.get_object().if_contains("connections");
    for (std::string_view s : {"connecting", "signing_on", "up", "down"}) {
      double x = 0;
      if (c && c->is_object())
        if (auto* v = c->get_object().if_contains(s)) number_of(*v, x);
      w.sample("dragoman_upstream_connections", {{"endpoint", ep}, {"state", s}}, x);
    }
    if (c && c->is_object()) {  // states added later by the engine (e.g. draining)
      for (const auto& kv : c->get_object()) {
        std::string_view s = kv.key();
        if (s == "connecting" || s == "signing_on" || s == "up" || s == "down") continue;
        double x = 0;
        if (number_of(kv.value(), x))
          w.sample("dragoman_upstream_connections", {{"endpoint", ep}, {"state", s}}, x);
      }
    }
  }
  w.family("dragoman_upstream_operation_timeouts_total", "counter",
           "Calls of one operation that got no reply in time while the connection was answering "
           "others (counted against the operation, not the endpoint's breaker).");
  for (const auto& e : endpoints) {
    if (!e.is_object()) continue;
    std::string ep = string_of(e.get_object(), "endpoint");
    const auto* ops = e.get_object().if_contains("operation_timeouts");
    if (!ops || !ops->is_object()) continue;
    for (const auto& kv : ops->get_object()) {
      double x = 0;
      if (number_of(kv.value(), x))
        w.sample("dragoman_upstream_operation_timeouts_total",
                 {{"endpoint", ep}, {"operation", std::string_view(kv.key())}}, x);
    }
  }
  w.family("dragoman_upstream_ejection_capped", "gauge",
           "1 while the endpoint's breaker is kept closed by --max-ejection-percent.");
  for (const auto& e : endpoints) {
    if (!e.is_object()) continue;
    const auto* v = e.get_object().if_contains("ejection_capped");
    w.sample("dragoman_upstream_ejection_capped",
             {{"endpoint", string_of(e.get_object(), "endpoint")}},
             v && v->is_bool() && v->get_bool() ? 1 : 0);
  }
  struct per_endpoint {
    std::string_view key, name, help;
  };
  for (const per_endpoint& d :
       {per_endpoint{"in_flight", "dragoman_upstream_endpoint_calls_in_flight",
                     "Calls waiting for a reply from this endpoint."},
        per_endpoint{"queued", "dragoman_upstream_endpoint_calls_queued",
                     "Calls waiting for a connection to this endpoint."},
        per_endpoint{"priority", "dragoman_upstream_endpoint_priority",
                     "The endpoint's priority (lower is used first)."}}) {
    w.family(d.name, "gauge", d.help);
    for (const auto& e : endpoints) {
      if (!e.is_object()) continue;
      double x = 0;
      if (auto* v = e.get_object().if_contains(d.key)) number_of(*v, x);
      w.sample(d.name, {{"endpoint", string_of(e.get_object(), "endpoint")}}, x);
    }
  }
}

}  // namespace

namespace {

// Not cumulative, one count per latency_buckets_seconds bound and +Inf; sum in seconds.
void put_histogram(json::object& out, std::string_view key, const histogram_cells& h) {
  json::array buckets;
  std::uint64_t count = 0;
  for (const auto& b : h.buckets) {
    const std::uint64_t n = b.load(std::memory_order_relaxed);
    buckets.emplace_back(n);
    count += n;
  }
  out[key] = {{"buckets", std::move(buckets)},
              {"count", count},
              {"sum", static_cast<double>(h.sum_us.load(std::memory_order_relaxed)) / 1e6}};
}

void render_histogram(prom_writer& w, const json::object& stats, std::string_view key,
                      std::string_view name, std::string_view help) {
  auto* h = stats.if_contains(key);
  if (!h || !h->is_object()) return;
  w.family(name, "histogram", help);
  const json::object& o = h->get_object();
  double cumulative = 0, x = 0;
  std::size_t i = 0;
  if (auto* b = o.if_contains("buckets"); b && b->is_array())
    for (const auto& v : b->get_array()) {
      if (number_of(v, x)) cumulative += x;
      std::string le;
      if (i < latency_buckets_seconds.size())
        prom_writer::append_number(le, latency_buckets_seconds[i]);
      else
        le = "+Inf";
      w.sample(std::string(name) + "_bucket", {{"le", le}}, cumulative);
      ++i;
    }
  const std::vector<std::pair<std::string, std::string>> none;
  x = 0;
  if (auto* v = o.if_contains("sum")) number_of(*v, x);
  w.sample(std::string(name) + "_sum", none, x);
  x = 0;
  if (auto* v = o.if_contains("count")) number_of(*v, x);
  w.sample(std::string(name) + "_count", none, x);
}

}  // namespace

void write_stats(json::object& out, const upstream_counters& c, const upstream_pool_gauges& pool) {
#define DRAGOMAN_UPSTREAM_STAT_WRITE(field, counts, key, name, help) \
  put(out, key, value_of(c.field));
#define DRAGOMAN_UPSTREAM_STAT_WRITE_POOL(field, counts, key, name, help) put(out, key, pool.field);
  DRAGOMAN_UPSTREAM_STATS(DRAGOMAN_UPSTREAM_STAT_WRITE, DRAGOMAN_UPSTREAM_STAT_WRITE,
                          DRAGOMAN_UPSTREAM_STAT_WRITE, DRAGOMAN_UPSTREAM_STAT_WRITE_POOL)
#undef DRAGOMAN_UPSTREAM_STAT_WRITE
#undef DRAGOMAN_UPSTREAM_STAT_WRITE_POOL
  put_histogram(out, "inbound_delivery_seconds", c.inbound_delivery);
  put_histogram(out, "pacing_wait_seconds", c.pacing_wait);
  put_histogram(out, "serialize_wait_seconds", c.serialize_wait);
}

void render_engine_stats(prom_writer& w, const json::object& stats) {
  render_plain(w, stats);
  render_labelled(w, stats);
  render_histogram(w, stats, "inbound_delivery_seconds",
                   "dragoman_upstream_inbound_delivery_duration_seconds",
                   "Time the app took to answer deliveries of inbound messages.");
  render_histogram(w, stats, "pacing_wait_seconds", "dragoman_upstream_pacing_wait_seconds",
                   "Time calls waited for their turn under upstream.pacing (calls that waited).");
  render_histogram(w, stats, "serialize_wait_seconds", "dragoman_upstream_serialize_wait_seconds",
                   "Time calls waited behind a call in flight with the same serialize_by key.");
  auto* eps = stats.if_contains("endpoints");
  if (eps && eps->is_array() && !eps->get_array().empty()) render_endpoints(w, eps->get_array());
}

}  // namespace dragoman::bridge
