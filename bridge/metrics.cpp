// Per-call metrics sharded per thread, the Prometheus text format, and the per-call log line.
#include "bridge/metrics.hpp"

#include "bridge/log.hpp"
#include "bridge/sharded_counter.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace dragoman::bridge {

namespace {

constexpr std::string_view other_op_name = "_other";

std::size_t code_index(call_code c) noexcept {
  auto i = static_cast<std::size_t>(c);
  return i < call_code_count ? i : 0;
}

constexpr std::array<call_code, call_code_count> all_codes = {call_code::ok,
                                                              call_code::bad_request,
                                                              call_code::unknown_operation,
                                                              call_code::invalid_field,
                                                              call_code::payload_too_large,
                                                              call_code::rejected,
                                                              call_code::overloaded,
                                                              call_code::upstream_unavailable,
                                                              call_code::upstream_timeout,
                                                              call_code::upstream_protocol_error};

}  // namespace

// ---- prom_writer -------------------------------------------------------------------------------

void prom_writer::escape_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
}

void prom_writer::append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    out.append(buf, r.ptr);
    return;
  }
  // Plain decimals ("0.0005", not "5e-04") where that stays short; exponents otherwise.
  double a = std::fabs(v);
  auto r = a >= 1e-6 && a < 1e15 ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                                 : std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void prom_writer::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_.push_back(' ');
  for (char c : help) {  // HELP escapes backslash and newline
    if (c == '\\')
      out_ += "\\\\";
    else if (c == '\n')
      out_ += "\\n";
    else
      out_.push_back(c);
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_.push_back(' ');
  out_ += type;
  out_.push_back('\n');
}

namespace {

// One sample line: name{k="v",...} value — for any range of label pairs.
template <class Labels>
void write_sample(std::string& out, std::string_view name, const Labels& labels, double value) {
  out += name;
  if (std::begin(labels) != std::end(labels)) {
    out.push_back('{');
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out.push_back(',');
      first = false;
      out += k;
      out += "=\"";
      prom_writer::escape_label_value(out, v);
      out.push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
  prom_writer::append_number(out, value);
  out.push_back('\n');
}

}  // namespace

void prom_writer::sample(
    std::string_view name,
    std::initializer_list<std::pair<std::string_view, std::string_view>> labels, double value) {
  write_sample(out_, name, labels, value);
}

void prom_writer::sample(std::string_view name,
                         const std::vector<std::pair<std::string, std::string>>& labels,
                         double value) {
  write_sample(out_, name, labels, value);
}

// ---- histogram ---------------------------------------------------------------------------------

void histogram_cells::observe(std::chrono::microseconds d) noexcept {
  auto us = d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
  std::size_t i = 0;
  while (i < latency_buckets_seconds.size() &&
         static_cast<double>(us) > latency_buckets_seconds[i] * 1e6)
    ++i;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  sum_us.fetch_add(us, std::memory_order_relaxed);
}

// ---- metrics -----------------------------------------------------------------------------------

struct alignas(64) metrics::shard {
  std::array<std::array<std::atomic<std::uint64_t>, call_code_count>, max_operations> calls{};
  std::array<histogram_cells, max_operations> total{};
  std::array<histogram_cells, max_operations> upstream{};
  alignas(64) std::atomic<std::uint64_t> begun{0};
  std::atomic<std::uint64_t> finished{0};
};

metrics::metrics(std::size_t shards) {
  shards = std::max<std::size_t>(shards, 1);
  shards_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<shard>());
  owned_names_.push_back(std::make_unique<const std::string>(other_op_name));
  names_[0].store(owned_names_.back().get(), std::memory_order_relaxed);
  name_count_.store(1, std::memory_order_release);
}

metrics::~metrics() = default;

metrics::shard& metrics::local() noexcept {
  return *shards_[thread_index() % shards_.size()];
}

void metrics::add_operations(const codecs::profile& p) {
  for (const auto& op : p.operations) add_operation(op.name);
}

void metrics::add_operation(std::string_view name) {
  std::lock_guard lock(add_mutex_);
  if (op_slot(name) != other_op || name == other_op_name) return;
  std::size_t n = name_count_.load(std::memory_order_relaxed);
  if (n >= max_operations) return;
  owned_names_.push_back(std::make_unique<const std::string>(name));
  names_[n].store(owned_names_.back().get(), std::memory_order_relaxed);
  name_count_.store(n + 1, std::memory_order_release);  // publishes the name
}

std::size_t metrics::op_slot(std::string_view name) const noexcept {
  std::size_t n = name_count_.load(std::memory_order_acquire);
  for (std::size_t i = 1; i < n; ++i)
    if (*names_[i].load(std::memory_order_relaxed) == name) return i;
  return other_op;
}

// In flight is begun - finished: each shard's counters are only ever incremented by one thread,
// the sum over shards may be read a moment apart, hence the clamp at zero.
void metrics::call_begun() noexcept {
  local().begun.fetch_add(1, std::memory_order_relaxed);
}

void metrics::call_finished(std::string_view op, call_code code, std::chrono::microseconds total,
                            std::chrono::microseconds upstream, bool had_upstream) noexcept {
  shard& s = local();
  std::size_t slot = op_slot(op);
  // fetch_add rather than load+store: a shard is one io_pool thread's, uncontended, but more
  // threads than shards (tests, an engine completing inline) may share one, and a lost count
  // would be a wrong metric.
  s.calls[slot][code_index(code)].fetch_add(1, std::memory_order_relaxed);
  s.total[slot].observe(total);
  if (had_upstream) s.upstream[slot].observe(upstream);
  s.finished.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t metrics::calls(std::string_view op, call_code code) const noexcept {
  std::size_t slot = op_slot(op);
  std::uint64_t n = 0;
  for (const auto& s : shards_)
    n += s->calls[slot][code_index(code)].load(std::memory_order_relaxed);
  return n;
}

std::uint64_t metrics::in_flight() const noexcept {
  std::uint64_t begun = 0, finished = 0;
  for (const auto& s : shards_) {
    finished += s->finished.load(std::memory_order_relaxed);
    begun += s->begun.load(std::memory_order_relaxed);
  }
  return begun > finished ? begun - finished : 0;
}

histogram_snapshot metrics::sum(std::size_t op, bool upstream) const noexcept {
  histogram_snapshot h;
  for (const auto& s : shards_) {
    const histogram_cells& c = upstream ? s->upstream[op] : s->total[op];
    for (std::size_t i = 0; i < h.buckets.size(); ++i) {
      std::uint64_t v = c.buckets[i].load(std::memory_order_relaxed);
      h.buckets[i] += v;
      h.count += v;
    }
    h.sum_us += c.sum_us.load(std::memory_order_relaxed);
  }
  return h;
}

histogram_snapshot metrics::total_latency(std::string_view op) const noexcept {
  return sum(op_slot(op), false);
}

histogram_snapshot metrics::upstream_latency(std::string_view op) const noexcept {
  return sum(op_slot(op), true);
}

namespace {

void render_histogram(prom_writer& w, std::string_view name, std::string_view op,
                      const histogram_snapshot& h) {
  std::string bucket(name);
  bucket += "_bucket";
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    le.clear();
    if (i < latency_buckets_seconds.size())
      prom_writer::append_number(le, latency_buckets_seconds[i]);
    else
      le = "+Inf";
    w.sample(bucket, {{"op", op}, {"le", le}}, static_cast<double>(cumulative));
  }
  w.sample(std::string(name) + "_sum", {{"op", op}}, static_cast<double>(h.sum_us) / 1e6);
  w.sample(std::string(name) + "_count", {{"op", op}}, static_cast<double>(h.count));
}

}  // namespace

void metrics::render(prom_writer& w) const {
  std::size_t n = name_count_.load(std::memory_order_acquire);
  std::vector<std::string_view> ops;
  for (std::size_t i = 0; i < n; ++i) ops.emplace_back(*names_[i].load(std::memory_order_relaxed));

  w.family("dragoman_calls_total", "counter",
           "Calls answered by the front doors, by operation and result code (op=\"_other\": not "
           "an operation of the profile).");
  for (std::size_t i = 0; i < n; ++i) {
    for (call_code c : all_codes) {
      std::uint64_t v = 0;
      for (const auto& s : shards_) v += s->calls[i][code_index(c)].load(std::memory_order_relaxed);
      // Every op × ok is always present (so rates start at zero); other codes once seen.
      if (v == 0 && c != call_code::ok) continue;
      w.sample("dragoman_calls_total", {{"op", ops[i]}, {"code", to_string(c)}},
               static_cast<double>(v));
    }
  }
  w.family("dragoman_calls_in_flight", "gauge",
           "Calls received by the front doors and not yet answered.");
  w.sample("dragoman_calls_in_flight", {}, static_cast<double>(in_flight()));
  w.family("dragoman_call_duration_seconds", "histogram",
           "End-to-end call time in the front door: request read to answer ready, by operation.");
  for (std::size_t i = 0; i < n; ++i)
    render_histogram(w, "dragoman_call_duration_seconds", ops[i], sum(i, false));
  w.family("dragoman_upstream_call_duration_seconds", "histogram",
           "Upstream time of a call's last attempt: request written to reply read, by operation.");
  for (std::size_t i = 0; i < n; ++i)
    render_histogram(w, "dragoman_upstream_call_duration_seconds", ops[i], sum(i, true));
}

// ---- engine stats ------------------------------------------------------------------------------

namespace {

struct stat_def {
  std::string_view key;
  std::string_view name;
  std::string_view type;
  std::string_view help;
};

// The engine's stats() keys and what they are called here; one list, documented in
// docs/observability.md.
constexpr stat_def engine_stats[] = {
    {"calls_total", "dragoman_upstream_calls_total", "counter", "Calls submitted to the engine."},
    {"retries_total", "dragoman_upstream_retries_total", "counter",
     "Attempts beyond the first (retries of idempotent calls)."},
    {"retry_budget_exhausted_total", "dragoman_upstream_retry_budget_exhausted_total", "counter",
     "Retries not made because the retry budget was spent."},
    {"unmatched_replies_total", "dragoman_upstream_unmatched_replies_total", "counter",
     "Replies that matched no call in flight."},
    {"late_replies_total", "dragoman_upstream_late_replies_total", "counter",
     "Replies that arrived after their call's deadline."},
    {"unsolicited_total", "dragoman_upstream_unsolicited_total", "counter",
     "Messages the upstream sent on its own (heartbeats, echo tests, notifications)."},
    {"protocol_errors_total", "dragoman_upstream_protocol_errors_total", "counter",
     "Replies that could not be decoded or did not fit the call."},
    {"bytes_in_total", "dragoman_upstream_received_bytes_total", "counter",
     "Bytes read from upstream connections."},
    {"bytes_out_total", "dragoman_upstream_sent_bytes_total", "counter",
     "Bytes written to upstream connections."},
    {"calls_in_flight", "dragoman_upstream_calls_in_flight", "gauge",
     "Calls written to an upstream connection and waiting for their reply."},
    {"calls_queued", "dragoman_upstream_calls_queued", "gauge",
     "Calls waiting for an upstream connection."},
    {"connects_total", "dragoman_upstream_connects_total", "counter",
     "Upstream connections established."},
    {"connect_failures_total", "dragoman_upstream_connect_failures_total", "counter",
     "Upstream connection attempts that failed."},
    {"reconnects_total", "dragoman_upstream_reconnects_total", "counter",
     "Upstream connections established again after a loss."},
    {"heartbeats_total", "dragoman_upstream_heartbeats_total", "counter",
     "Heartbeats (echo tests) sent to upstreams."},
    {"heartbeat_failures_total", "dragoman_upstream_heartbeat_failures_total", "counter",
     "Heartbeats that failed or went unanswered."},
};

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

}  // namespace

void render_engine_stats(prom_writer& w, const boost::json::object& stats) {
  for (const auto& d : engine_stats) {
    auto* v = stats.if_contains(d.key);
    double x = 0;
    if (!v || !number_of(*v, x)) continue;
    w.family(d.name, d.type, d.help);
    w.sample(d.name, {}, x);
  }
  if (auto* fr = stats.if_contains("frames_rejected_total"); fr && fr->is_object()) {
    w.family("dragoman_upstream_frames_rejected_total", "counter",
             "Upstream frames rejected, by reason (frame_too_long, malformed, checksum_mismatch).");
    for (std::string_view reason : {"frame_too_long", "malformed", "checksum_mismatch"}) {
      double x = 0;
      auto* v = fr->get_object().if_contains(reason);
      if (v) number_of(*v, x);
      w.sample("dragoman_upstream_frames_rejected_total", {{"reason", reason}}, x);
    }
    for (const auto& kv : fr->get_object()) {  // reasons added later by the engine
      std::string_view reason = kv.key();
      if (reason == "frame_too_long" || reason == "malformed" || reason == "checksum_mismatch")
        continue;
      double x = 0;
      if (number_of(kv.value(), x))
        w.sample("dragoman_upstream_frames_rejected_total", {{"reason", reason}}, x);
    }
  }
  auto* eps = stats.if_contains("endpoints");
  if (!eps || !eps->is_array() || eps->get_array().empty()) return;
  const auto& endpoints = eps->get_array();

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

// ---- the per-call log line ---------------------------------------------------------------------

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(ch);  // UTF-8 passes through
        }
    }
  }
}

namespace {

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// "2026-11-26T10:18:41.123Z" as log.cpp writes it; the part up to the second is cached per
// thread and formatted again only when the second changes.
void append_time(std::string& out) {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[32];
  thread_local std::size_t cached_length = 0;
  auto now = std::chrono::system_clock::now();
  auto ms_total =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t second = static_cast<std::time_t>(ms_total / 1000);
  if (second != cached_second) {
    std::tm tm{};
    gmtime_r(&second, &tm);
    int n =
        std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cached_length = n > 0 ? static_cast<std::size_t>(n) : 0;
    cached_second = second;
  }
  out.append(cached, cached_length);
  auto ms = static_cast<int>(ms_total % 1000);
  out.push_back(static_cast<char>('0' + ms / 100));
  out.push_back(static_cast<char>('0' + ms / 10 % 10));
  out.push_back(static_cast<char>('0' + ms % 10));
  out.push_back('Z');
}

constexpr std::size_t max_logged_text = 200;  // request ids and op names are cut to this

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  append_json_escaped(out, value.substr(0, std::min(value.size(), max_logged_text)));
  out.push_back('"');
}

void append_field(std::string& out, std::string_view key, std::uint64_t value) {
  out += ",\"";
  out += key;
  out += "\":";
  append_uint(out, value);
}

}  // namespace

void observe_call(metrics* m, const call_observation& c) {
  const call_result* r = c.result;
  call_code code = r ? r->code : c.code;
  auto upstream = r ? r->upstream_time : std::chrono::microseconds(0);
  bool had_upstream = r && r->attempts > 0 && upstream.count() > 0;
  if (m) m->call_finished(c.op, code, c.total, upstream, had_upstream);
  if (!log::enabled(log::level::info)) return;

  thread_local std::string line;  // reused: no allocation per call once warm
  line.clear();
  line += "{\"time\":\"";
  append_time(line);
  line += "\",\"level\":\"info\",\"event\":\"call\"";
  append_field(line, "door", c.door);
  append_field(line, "request_id", c.request_id);
  append_field(line, "op", c.op);
  append_field(line, "endpoint", r ? std::string_view(r->endpoint) : std::string_view());
  append_field(line, "attempts",
               static_cast<std::uint64_t>(r && r->attempts > 0 ? r->attempts : 0));
  append_field(line, "upstream_us",
               static_cast<std::uint64_t>(upstream.count() > 0 ? upstream.count() : 0));
  append_field(line, "total_us",
               static_cast<std::uint64_t>(c.total.count() > 0 ? c.total.count() : 0));
  append_field(line, "code", to_string(code));
  int status =
      r ? (r->status >= 200 && r->status <= 599 ? r->status : http_status(code)) : c.status;
  append_field(line, "status", static_cast<std::uint64_t>(status > 0 ? status : 0));
  line += "}\n";
  log::write_line(line);
}

}  // namespace dragoman::bridge
