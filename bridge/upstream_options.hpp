// What the upstream side is configured with (flags and the profile's upstream section): endpoints,
// connections, timeouts, backpressure limits, breaker, retry budget and backoff bounds.
#pragma once

#include <chrono>
#include <optional>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::bridge {

class upstream_tls;
class line_subscriptions;
struct inbound_store_slot;
// Where inbound messages (the host's own) are delivered: POST http://host:port{base_path}/{op}.
struct deliver_target {
  std::string host;
  std::string port;
  std::string base_path;  // without a trailing '/'
  std::chrono::milliseconds timeout{5000};
  std::size_t max_in_flight = 16;        // per host connection: beyond, reading from it pauses
  std::size_t max_body_bytes = 1 << 20;  // the app's answer
};

// "http://host:port/path" → target (timeout and limits left as they are); an error text or "".
std::string parse_deliver_url(const std::string& url, deliver_target& out);

struct engine_options {
  std::vector<std::string> upstreams;        // "host:port"; empty: the profile's endpoints
  std::size_t connections_per_endpoint = 2;  // --upstream-connections
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds max_timeout{30000};     // cap on a caller's Request-Timeout/timeout_ms
  std::size_t max_queued = 4096;                    // calls waiting for a connection (sequential)
  std::size_t max_in_flight_per_connection = 4096;  // field correlation
  std::chrono::milliseconds reconnect_min{100};     // jittered exponential backoff bounds
  std::chrono::milliseconds reconnect_max{5000};
  // Resilience. Upstream strings may carry a priority: "host:port;priority=1" (lower first).
  std::size_t max_in_flight_per_endpoint = 16384;    // beyond: overloaded
  std::chrono::milliseconds queue_timeout{1000};     // longest wait for a connection (in deadline)
  std::size_t breaker_failures = 5;                  // consecutive failures that open the breaker
  std::chrono::milliseconds breaker_cooldown{5000};  // open → one probe decides
  // At most this percentage of the endpoints (rounded down) ejected at once for their answers
  // (timeouts, protocol errors): a single endpoint is never ejected for them at 50.
  unsigned max_ejection_percent = 50;
  double retry_budget_ratio = 0.1;     // retries at most this fraction of calls (10 s window) ...
  std::size_t retry_budget_floor = 3;  // ... plus this many
  std::chrono::milliseconds retry_backoff_min{20};  // jittered backoff between attempts
  std::chrono::milliseconds retry_backoff_max{200};
  // TLS toward the host (--tls*, the profile's upstream.tls); null: cleartext. The handshake is
  // bounded by connect_timeout.
  std::shared_ptr<upstream_tls> tls;
  // Inbound: delivery to the app (--deliver; empty host: none, the profile's negative reply) and
  // the duplicate table's bound (entries; the oldest go first).
  deliver_target deliver;
  // Line-door subscribers (null: no line door); they come before deliver (inbound_dispatch.hpp).
  std::shared_ptr<line_subscriptions> subscriptions;
  // serve --journal: inbound messages are stored there before the host is answered, then
  // delivered from it (journaled_inbound.hpp). Null, or an empty slot: delivered directly.
  std::shared_ptr<inbound_store_slot> inbound_journal;
  std::size_t dedupe_entries = 10000;
  // --session-state: the profile's session.sequence.state_file (empty: the profile's).
  std::string session_state;
  // --upstream-listen: the host connects in, on up to listen_connections connections at once.
  std::string upstream_listen;
  std::size_t listen_connections = 4;
  // --pacing-rate / --pacing-burst: the profile's upstream.pacing rate and burst (every message
  // to one endpoint) instead; rate 0 turns that bucket off.
  std::optional<double> pacing_rate;
  std::optional<std::uint32_t> pacing_burst;
};

}  // namespace dragoman::bridge
