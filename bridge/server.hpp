// `serve`: front doors (HTTP, line) over the call engine, with lifecycle and signals.
#pragma once

#include "bridge/engine.hpp"
#include "bridge/idempotency.hpp"

#include <cstddef>
#include <memory>
#include <string>

namespace dragoman::bridge {

struct server_options {
  // The profile in service, loaded and checked once by the caller; profile_path is read again on
  // SIGHUP.
  std::shared_ptr<const codecs::profile> profile;
  std::string profile_path;
  std::string http = "127.0.0.1:8080";  // empty: no HTTP front door
  std::string line = "127.0.0.1:7070";  // empty: no line front door
  std::size_t threads = 0;              // 0: the cores available
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_line_bytes = 1 << 20;
  std::size_t max_connections = 10000;  // per front door
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds header_timeout{10000};  // door_options: the slow rule
  std::size_t min_receive_rate = 1024;              // bytes per second; 0: any rate
  std::size_t max_output_bytes = 4 << 20;           // unread answers per connection
  std::chrono::milliseconds drain_timeout{10000};   // SIGTERM: calls in flight may finish this long
  // Observability.
  std::string admin;        // admin + metrics listener; empty: served on the HTTP door
  std::string admin_token;  // required (Bearer) when set; needed for a non-loopback admin
  // Health listener: only /healthz and /readyz, safe on any address; empty: none. Its /readyz
  // says whether this process serves calls (503 once draining), not whether the upstream is up.
  std::string health;
  // The journal of asynchronous calls (docs/journal.md); empty: none (calls that prefer an
  // asynchronous answer are answered synchronously). journal_sync_full: fsync every commit.
  std::string journal;
  bool journal_sync_full = true;
  std::size_t journal_max_pending = 10000;
  // Asynchronous messages accepted and not yet finished at most (each held in memory until its
  // outcome); more are answered overloaded.
  std::size_t journal_max_queued = 100000;
  // Idempotency-Key: answers kept in memory (count, window); docs/idempotency.md.
  idempotency_options idempotency;
  // Client authentication and policy on the HTTP and line doors (docs/door-auth.md).
  std::string door_tokens;  // --door-tokens FILE: `client-name token` a line
  std::string policy;       // --policy FILE: operations and rate per client
  // TLS on the HTTP and line doors, and client certificates (verified, required) when client_ca.
  std::string door_tls_cert, door_tls_key, door_client_ca;
  // A door on a non-loopback address without client authentication starts only with this (and
  // a warning).
  bool allow_unauthenticated_door = false;
  // The level the caller checked and set (log::set_level): named in the "listening" line.
  std::string log_level = "info";
  bool trace = false;               // wire trace of every call
  bool allow_trace_header = false;  // X-Dragoman-Trace: 1 turns the trace on for one call
  // How often the TLS files toward the host are checked for a change (0: on SIGHUP only).
  std::chrono::milliseconds tls_reload_interval{1000};
  // Deliveries a line-door subscriber holds unanswered; more wait for its room.
  std::size_t subscriber_max_in_flight = 64;
  engine_options engine;
};

// Blocks until SIGINT/SIGTERM; returns the process exit code. Throws std::runtime_error with one
// clear line for start-up failures (bad address, address in use).
int run_server(const server_options& options);

}  // namespace dragoman::bridge
