// The call engine: translator (JSON ↔ record via the profile) over pooled, correlated upstream
// connections with deadlines. One engine per serve process.
#pragma once

#include "bridge/call.hpp"
#include "bridge/io_pool.hpp"
#include "codecs/profile.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::bridge {

struct engine_options {
  std::vector<std::string> upstreams;          // "host:port"; empty: the profile's endpoints
  std::size_t connections_per_endpoint = 2;    // --upstream-connections
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds max_timeout{30000};  // cap on a caller's Request-Timeout/timeout_ms
  std::size_t max_queued = 4096;               // calls waiting for a connection (sequential)
  std::size_t max_in_flight_per_connection = 4096;  // field correlation
  std::chrono::milliseconds reconnect_min{100};  // jittered exponential backoff bounds
  std::chrono::milliseconds reconnect_max{5000};
};

// Upstream connections are spread over the pool's io_contexts; calls are posted to the
// connection's context and their results posted back to the caller's executor.
std::unique_ptr<call_engine> make_engine(std::shared_ptr<const codecs::profile> profile,
                                         engine_options options, io_pool& pool);

}  // namespace dragoman::bridge
