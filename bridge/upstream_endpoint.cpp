// Endpoint breaker (consecutive failures open it, a cool-down half-opens it, one probe decides)
// and the gauges connections publish.
#include "bridge/upstream_endpoint.hpp"

#include "bridge/log.hpp"

namespace dragoman::bridge {

namespace json = boost::json;

namespace {
// Operations tracked per endpoint (a profile has a few dozen; reloads may add names).
constexpr std::size_t max_operations = 256;
}  // namespace

const char* to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
    default:
      return "closed";
  }
}

const char* to_string(conn_state s) noexcept {
  switch (s) {
    case conn_state::connecting:
      return "connecting";
    case conn_state::signing_on:
      return "signing_on";
    case conn_state::up:
      return "up";
    case conn_state::draining:
      return "draining";
    default:
      return "down";
  }
}

// ---- connection gauges ------------------------------------------------------------------------

connection_gauge::connection_gauge(std::uint64_t id) : id_(id) {
  since_.store(system_clock::now().time_since_epoch().count());
}

void connection_gauge::set_state(conn_state s) {
  if (state_.load() == static_cast<int>(s)) return;
  state_.store(static_cast<int>(s));
  since_.store(system_clock::now().time_since_epoch().count());
}

void connection_gauge::set_error(std::string why) {
  std::lock_guard lock(m_);
  last_error_ = std::move(why);
}

json::object connection_gauge::describe() const {
  json::object o;
  o["id"] = id_;
  o["state"] = to_string(state());
  o["since"] = log::iso_time(system_clock::time_point(system_clock::duration(since_.load())));
  o["in_flight"] = calls.load();
  std::lock_guard lock(m_);
  o["last_error"] = last_error_.empty() ? json::value(nullptr) : json::value(last_error_);
  if (!peer_.empty()) o["peer"] = peer_;
  return o;
}

void connection_gauge::set_peer(std::string peer) {
  std::lock_guard lock(m_);
  peer_ = std::move(peer);
}

// ---- endpoint -----------------------------------------------------------------------------------

endpoint::endpoint(upstream_spec spec, std::size_t index, breaker_options breaker,
                   ejection_cap* cap)
    : address_(std::move(spec.address)),
      priority_(spec.priority),
      index_(index),
      options_(breaker),
      cap_(cap) {}

bool endpoint::has_connected() const noexcept {
  for (const auto& g : gauges_)
    if (g.pick() == pick_state::connected) return true;
  return false;
}

std::size_t endpoint::in_flight() const noexcept {
  std::size_t a = assigned.load(), q = queued.load();
  return a > q ? a - q : 0;
}

void endpoint::set_breaker(breaker_state s, const std::string& why) {
  if (cap_ && s == breaker_state::closed && breaker_ != breaker_state::closed) cap_->restore();
  breaker_ = s;
  breaker_since_ = system_clock::now();
  breaker_pub_.store(static_cast<int>(s));
  json::object f{{"endpoint", address_.text},
                 {"priority", priority_},
                 {"consecutive_failures", consecutive_failures_.load()}};
  if (!why.empty()) f["reason"] = why;
  switch (s) {
    case breaker_state::open:
      log::warn("breaker_open", f);
      break;
    case breaker_state::half_open:
      log::info("breaker_half_open", f);
      break;
    default:
      log::info("breaker_closed", f);
      break;
  }
}

breaker_verdict endpoint::admit_slow(steady_clock::time_point now) {
  std::lock_guard lock(m_);
  if (breaker_ == breaker_state::closed) return breaker_verdict::yes;
  if (breaker_ == breaker_state::open) {
    if (now < open_until_) return breaker_verdict::open;
    set_breaker(breaker_state::half_open, "cool-down over; one probe decides");
  }
  if (probe_out_) return breaker_verdict::busy;
  probe_out_ = true;
  return breaker_verdict::probe;
}

void endpoint::release_probe_slow() {
  std::lock_guard lock(m_);
  probe_out_ = false;
}

bool endpoint::record_success_slow(bool probe) {
  if (!probe) return false;  // in open and half-open only the probe decides
  std::lock_guard lock(m_);
  probe_out_ = false;
  if (breaker_ == breaker_state::closed) return false;
  consecutive_failures_.store(0);
  capped_.store(false);
  set_breaker(breaker_state::closed, "the probe succeeded");
  return true;
}

void endpoint::record_failure(const std::string& why, bool probe, steady_clock::time_point now,
                              failure_kind kind) {
  std::lock_guard lock(m_);
  last_error_ = why;
  last_error_at_ = system_clock::now();
  std::uint32_t n = consecutive_failures_.fetch_add(1) + 1;
  if (!breaker_enabled()) return;
  if (probe) probe_out_ = false;
  if (breaker_ == breaker_state::closed && n >= options_.failures) {
    // Ejected endpoints stay counted until their breaker closes again.
    if (cap_ && kind == failure_kind::answer && !cap_->try_eject()) {
      if (!capped_.exchange(true))
        log::warn("ejection_capped", {{"endpoint", address_.text},
                                      {"priority", priority_},
                                      {"consecutive_failures", n},
                                      {"reason", why},
                                      {"ejected", cap_->ejected()},
                                      {"max_ejected", cap_->max()},
                                      {"message",
                                       "the breaker stays closed: ejecting it would exceed "
                                       "--max-ejection-percent"}});
      return;
    }
    if (cap_ && kind == failure_kind::connection) cap_->eject();
    capped_.store(false);
    open_until_ = now + options_.cooldown;
    set_breaker(breaker_state::open, why);
  } else if (breaker_ == breaker_state::half_open && probe) {
    open_until_ = now + options_.cooldown;
    set_breaker(breaker_state::open, why);
  }
}

void endpoint::record_operation_timeout(const std::string& operation) {
  std::lock_guard lock(m_);
  auto it = operations_.find(operation);
  if (it == operations_.end()) {
    if (operations_.size() >= max_operations) return;
    it = operations_.emplace(operation, operation_stat{}).first;
  }
  ++it->second.timeouts;
  it->second.last_at = system_clock::now();
}

std::uint64_t endpoint::operation_timeouts(const std::string& operation) const {
  std::lock_guard lock(m_);
  auto it = operations_.find(operation);
  return it == operations_.end() ? 0 : it->second.timeouts;
}

void endpoint::set_error(const std::string& why) {
  std::lock_guard lock(m_);
  last_error_ = why;
  last_error_at_ = system_clock::now();
}

steady_clock::time_point endpoint::open_until() const {
  std::lock_guard lock(m_);
  return open_until_;
}

std::string endpoint::last_error() const {
  std::lock_guard lock(m_);
  return last_error_;
}

json::object endpoint::describe() const {
  json::object o;
  o["endpoint"] = address_.text;
  o["mode"] = listened_ ? "listen" : "connect";
  o["priority"] = priority_;
  {
    std::lock_guard lock(m_);
    o["breaker"] = to_string(breaker_);
    o["breaker_since"] = log::iso_time(breaker_since_);
    o["last_error"] = last_error_.empty() ? json::value(nullptr) : json::value(last_error_);
    o["last_error_at"] =
        last_error_.empty() ? json::value(nullptr) : json::value(log::iso_time(last_error_at_));
    json::object ops;
    for (const auto& [name, stat] : operations_)
      ops[name] = json::object{{"timeouts", stat.timeouts},
                               {"last_timeout_at", log::iso_time(stat.last_at)}};
    o["operation_timeouts"] = std::move(ops);
  }
  o["consecutive_failures"] = consecutive_failures_.load();
  o["ejection_capped"] = ejection_capped();
  o["in_flight"] = in_flight();
  o["queued"] = queued.load();
  json::array conns;
  for (const auto& g : gauges_) conns.push_back(g.describe());
  o["connections"] = std::move(conns);
  return o;
}

json::object endpoint::stats() const {
  json::object ops;
  {
    std::lock_guard lock(m_);
    for (const auto& [name, stat] : operations_) ops[name] = stat.timeouts;
  }
  std::size_t by_state[conn_state_count] = {};
  for (const auto& g : gauges_) {
    conn_state s = g.state();
    if (s == conn_state::draining) s = conn_state::up;
    ++by_state[static_cast<int>(s)];
  }
  auto count = [&](conn_state s) { return by_state[static_cast<int>(s)]; };
  return json::object{{"endpoint", address_.text},
                      {"priority", priority_},
                      {"breaker", to_string(static_cast<breaker_state>(breaker_pub_.load()))},
                      {"connections",
                       {{"connecting", count(conn_state::connecting)},
                        {"signing_on", count(conn_state::signing_on)},
                        {"up", count(conn_state::up)},
                        {"down", count(conn_state::down)}}},
                      {"in_flight", in_flight()},
                      {"queued", queued.load()},
                      {"ejection_capped", ejection_capped()},
                      {"operation_timeouts", std::move(ops)}};
}

}  // namespace dragoman::bridge
