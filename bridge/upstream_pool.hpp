// The upstream pool: N connections per legacy endpoint spread over the io_pool's contexts;
// picking by priority and load with failover, retries under a budget, graceful drain and profile
// reload fanned out to the connections.
#pragma once

#include "bridge/io_pool.hpp"
#include "bridge/upstream_shared.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace dragoman::bridge {

class upstream_pool {
 public:
  // Starts connecting at once (on the pool's contexts). Throws std::invalid_argument for a bad
  // endpoint.
  upstream_pool(std::shared_ptr<profile_bundle> bundle, const engine_options& options,
                io_pool& pool, std::shared_ptr<upstream_counters> counters);
  ~upstream_pool();
  upstream_pool(const upstream_pool&) = delete;
  upstream_pool& operator=(const upstream_pool&) = delete;

  // Hands the call to an endpoint's connection; its handler is called exactly once.
  void dispatch(pending_call_ptr call);
  // At least one connection is up (and signed on, where the profile signs on).
  bool ready() const noexcept;
  // --upstream-listen's bound address ("127.0.0.1:2575"), or "".
  std::string listen_address() const;
  // For describe_upstreams() and stats(): one object per endpoint.
  boost::json::array describe() const;
  boost::json::array endpoint_stats() const;
  // Calls in flight and queued now, over every endpoint.
  std::size_t in_flight() const noexcept;
  std::size_t queued() const noexcept;
  // Calls waiting for a pacing turn, and for their serialize_by key.
  std::size_t pacing_queued() const;
  std::size_t serialize_queued() const;
  // Connections take the new profile: at once where the wire is the same, else once idle.
  void reload(std::shared_ptr<profile_bundle> bundle);
  // Stops taking calls; calls in flight and queued may finish until deadline, then get
  // upstream_unavailable; connections sign off and close; done() once all are closed.
  void drain(std::chrono::steady_clock::time_point deadline, std::function<void()> done);
  // Fails every call still waiting (upstream_unavailable) and closes the connections; waits for
  // the connections' contexts while they run. Idempotent; the destructor calls it.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace dragoman::bridge
