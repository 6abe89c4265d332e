// The HTTP/1.1 front door: POST /v1/ops/{op}, GET /healthz and /readyz over the call engine, and
// GET /metrics and /admin/* when it carries the admin endpoints.
#pragma once

#include "bridge/door.hpp"

#include "bridge/call.hpp"
#include "bridge/io_pool.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace dragoman::bridge {

class admin;

struct http_door_options : door_options {
  http_door_options() { name = "http"; }
  std::size_t max_body_bytes = 1 << 20;  // larger bodies: 413 payload_too_large
  std::size_t max_header_bytes = 16384;  // larger headers: 400 bad_request
  std::size_t max_pipelined = 64;  // requests read ahead of their answers before reading pauses
  bool serve_calls = true;         // POST /v1/ops/{op}; false on the admin listener
  const admin* admin_endpoints = nullptr;  // serves /metrics and /admin/* when set (else 404)
  // The health listener's (--health) readiness: when set, /readyz is 200 while it is true (the
  // process serves calls and is not draining) whatever the upstream, which the body reports.
  // Null: /readyz is 200 while an upstream connection can carry calls.
  const std::atomic<bool>* serving = nullptr;
  // allow_trace_header: X-Dragoman-Trace: 1 traces one call.
};

// errors_total counts answers that were not 2xx.
struct http_door_stats : door_stats {
  std::atomic<std::uint64_t> requests_total{0};
};

class http_door : public door<http_door_options, http_door_stats> {
 public:
  http_door(io_pool& pool, call_engine& engine, http_door_options options);
};

}  // namespace dragoman::bridge
