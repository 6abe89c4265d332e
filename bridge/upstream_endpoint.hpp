// One legacy endpoint: its address and priority, its breaker, the load counters pickers read, and
// the gauge each of its connections publishes. No Asio, no connections: time points come in.
#pragma once

#include "bridge/host_port.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace dragoman::bridge {

using steady_clock = std::chrono::steady_clock;
using system_clock = std::chrono::system_clock;

enum class breaker_state : int { closed = 0, open, half_open };
const char* to_string(breaker_state s) noexcept;

// What the breaker says to one call or connect.
enum class breaker_verdict {
  yes,    // closed: go
  probe,  // half-open: this one is the probe that decides
  open,   // open: wait for the cool-down
  busy,   // half-open with the probe out: wait for its verdict
};

// A connection's state as published (admin output, metrics).
enum class conn_state : int { connecting = 0, signing_on, up, down, draining };
inline constexpr int conn_state_count = 5;
const char* to_string(conn_state s) noexcept;

// What a picker on another thread may do with a connection.
enum class pick_state : int { unavailable = 0, queueing = 1, connected = 2 };

// What one connection publishes for pickers and admin output on other threads.
class connection_gauge {
 public:
  explicit connection_gauge(std::uint64_t id);
  std::uint64_t id() const noexcept { return id_; }

  pick_state pick() const noexcept {
    return static_cast<pick_state>(pick_.load(std::memory_order_relaxed));
  }
  void set_pick(pick_state s) noexcept { pick_.store(static_cast<int>(s)); }
  conn_state state() const noexcept { return static_cast<conn_state>(state_.load()); }
  void set_state(conn_state s);  // and since when
  void set_error(std::string why);
  void set_peer(std::string peer);  // the host's address on a listened connection ("" when none)
  boost::json::object describe() const;

  // App calls handed to this connection and not yet answered.
  std::atomic<std::size_t> calls{0};

 private:
  const std::uint64_t id_;
  std::atomic<int> pick_{static_cast<int>(pick_state::queueing)};
  std::atomic<int> state_{static_cast<int>(conn_state::connecting)};
  std::atomic<system_clock::rep> since_{0};
  mutable std::mutex m_;  // last_error_ and peer_ only
  std::string last_error_;
  std::string peer_;
};

struct breaker_options {
  std::size_t failures = 5;  // consecutive failures that open it; 0 turns breakers off
  std::chrono::milliseconds cooldown{5000};
};

// What a failure says about an endpoint.
enum class failure_kind {
  connection,  // it cannot be reached or kept: connect, sign-on, a lost line, an unanswered echo
  answer,      // it answered badly or not at all: a call's timeout, a protocol error
};

// How many of a pool's endpoints may be ejected at once for their answers (Envoy's
// max_ejection_percent): a breaker that would open beyond it for a failure of kind answer stays
// closed. Failures of kind connection open it whatever the count (an endpoint that cannot be
// reached serves nobody). Shared by a pool's endpoints, from any thread.
class ejection_cap {
 public:
  ejection_cap(std::size_t endpoints, unsigned percent) noexcept
      : max_(endpoints * std::min(percent, 100u) / 100) {}
  // One more may be ejected for its answers (counted when true).
  bool try_eject() noexcept {
    std::size_t n = ejected_.load();
    while (n < max_)
      if (ejected_.compare_exchange_weak(n, n + 1)) return true;
    return false;
  }
  void eject() noexcept { ejected_.fetch_add(1); }
  void restore() noexcept { ejected_.fetch_sub(1); }
  std::size_t ejected() const noexcept { return ejected_.load(); }
  std::size_t max() const noexcept { return max_; }

 private:
  const std::size_t max_;
  std::atomic<std::size_t> ejected_{0};
};

class endpoint {
 public:
  // cap: shared with the pool's other endpoints; none: ejection is not capped.
  endpoint(upstream_spec spec, std::size_t index, breaker_options breaker,
           ejection_cap* cap = nullptr);
  endpoint(const endpoint&) = delete;
  endpoint& operator=(const endpoint&) = delete;

  const endpoint_address& address() const noexcept { return address_; }
  const std::string& name() const noexcept { return address_.text; }
  int priority() const noexcept { return priority_; }
  std::size_t index() const noexcept { return index_; }
  // Its connections are the ones the host opens (--upstream-listen), not dragoman's.
  bool listened() const noexcept { return listened_; }
  void set_listened() noexcept { listened_ = true; }

  // The gauges of its connections, added by the pool before any connection starts.
  connection_gauge& add_connection(std::uint64_t id) { return gauges_.emplace_back(id); }
  const std::deque<connection_gauge>& connections() const noexcept { return gauges_; }
  std::deque<connection_gauge>& connections() noexcept { return gauges_; }
  // Some connection of it is up (and signed on) and takes calls.
  bool has_connected() const noexcept;

  // Load, read by pickers on every thread.
  std::atomic<std::size_t> round_robin{0};
  std::atomic<std::size_t> assigned{0};  // calls handed to its connections, queued or in flight
  std::atomic<std::size_t> queued{0};
  std::size_t in_flight() const noexcept;

  // The breaker. Only the probe decides in open and half-open.
  bool breaker_enabled() const noexcept { return options_.failures > 0; }
  bool breaker_closed() const noexcept {
    return breaker_pub_.load(std::memory_order_relaxed) == static_cast<int>(breaker_state::closed);
  }
  // Closed, the common case, is one relaxed load here; the rest takes the lock.
  breaker_verdict admit(steady_clock::time_point now) {
    return breaker_closed() ? breaker_verdict::yes : admit_slow(now);
  }
  // A probe that ended without a verdict (no connection, shutdown, overload) gives its turn back.
  void release_probe() {
    if (!breaker_closed()) release_probe_slow();
  }
  // True when this success closed the breaker: its connections may reconnect at once.
  bool record_success(bool probe) {
    if (!breaker_closed()) return record_success_slow(probe);
    if (consecutive_failures_.load(std::memory_order_relaxed) != 0) {
      consecutive_failures_.store(0, std::memory_order_relaxed);
      capped_.store(false, std::memory_order_relaxed);
    }
    return false;
  }
  void record_failure(const std::string& why, bool probe, steady_clock::time_point now,
                      failure_kind kind = failure_kind::connection);
  // A call of `operation` got no reply in time while the connection was answering others: the
  // operation is slow, not the endpoint. Counted per operation; the breaker is not told.
  void record_operation_timeout(const std::string& operation);
  std::uint64_t operation_timeouts(const std::string& operation) const;
  // The breaker would have opened for answers, but the ejection cap kept it closed (until a
  // success).
  bool ejection_capped() const noexcept { return capped_.load(std::memory_order_relaxed); }
  void set_error(const std::string& why);
  steady_clock::time_point open_until() const;
  std::string last_error() const;
  std::uint32_t consecutive_failures() const noexcept { return consecutive_failures_.load(); }

  // For /admin/upstreams and stats().
  boost::json::object describe() const;
  boost::json::object stats() const;

 private:
  breaker_verdict admit_slow(steady_clock::time_point now);
  void release_probe_slow();
  bool record_success_slow(bool probe);
  void set_breaker(breaker_state s, const std::string& why);  // under m_

  endpoint_address address_;
  bool listened_ = false;
  int priority_;
  std::size_t index_;
  breaker_options options_;
  std::deque<connection_gauge> gauges_;
  std::atomic<int> breaker_pub_{static_cast<int>(breaker_state::closed)};
  std::atomic<std::uint32_t> consecutive_failures_{0};
  std::atomic<bool> capped_{false};
  ejection_cap* cap_;

  struct operation_stat {
    std::uint64_t timeouts = 0;
    system_clock::time_point last_at;
  };

  mutable std::mutex m_;  // guards what follows
  breaker_state breaker_ = breaker_state::closed;
  steady_clock::time_point open_until_;
  system_clock::time_point breaker_since_ = system_clock::now();
  bool probe_out_ = false;
  std::string last_error_;
  system_clock::time_point last_error_at_;
  std::map<std::string, operation_stat, std::less<>> operations_;  // at most max_operations
};

}  // namespace dragoman::bridge
