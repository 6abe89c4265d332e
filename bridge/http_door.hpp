// The HTTP/1.1 front door: POST /v1/ops/{op}, GET /healthz and /readyz over the call engine, and
// GET /metrics and /admin/* when it carries the admin endpoints.
#pragma once

#include "bridge/acceptor.hpp"

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
  // allow_trace_header: X-Dragoman-Trace: 1 traces one call.
};

// errors_total counts answers that were not 2xx.
struct http_door_stats : door_stats {
  std::atomic<std::uint64_t> requests_total{0};
};

// Binds in the constructor (throws std::runtime_error naming the address on failure) and accepts
// on pool.at(0); each accepted connection lives on the next context of the pool (round robin) and
// is served by that context's single thread, so a connection needs no strand and no locks.
class http_door {
 public:
  http_door(io_pool& pool, call_engine& engine, http_door_options options);
  ~http_door();
  http_door(const http_door&) = delete;
  http_door& operator=(const http_door&) = delete;

  // The bound address, with the real port when listen asked for port 0.
  boost::asio::ip::tcp::endpoint local_endpoint() const noexcept { return endpoint_; }
  // Thread-safe. Closes the acceptor; connections already open continue.
  void stop_accepting();
  // Thread-safe. Every connection stops reading new requests, answers what it owes, and closes.
  void drain();
  std::size_t connections() const noexcept;
  const http_door_stats& stats() const noexcept;

  struct shared;

 private:
  std::shared_ptr<shared> shared_;
  std::shared_ptr<acceptor> listener_;
  boost::asio::ip::tcp::endpoint endpoint_;
};

}  // namespace dragoman::bridge
