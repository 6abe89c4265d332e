// The upstream pool: N connections per legacy endpoint spread over the io_pool's contexts, with
// priorities and failover, per-endpoint breakers, retries under a budget, backpressure, the
// session layer (sign-on, heartbeats, sign-off), graceful drain and profile reload.
#pragma once

#include "bridge/call.hpp"
#include "bridge/correlation.hpp"
#include "bridge/engine.hpp"
#include "bridge/host_port.hpp"
#include "bridge/io_pool.hpp"
#include "bridge/sharded_counter.hpp"
#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::bridge {

// The engine's counters, one list (stats() renders them). Monotonic unless noted; those bumped on
// every call are sharded per thread.
struct upstream_counters {
  sharded_counter calls;     // submitted to the engine
  sharded_counter ok;        // answered ok
  sharded_counter rejected;  // legacy-level rejections
  sharded_counter unknown_operation;
  sharded_counter invalid_field;
  sharded_counter overloaded;
  sharded_counter unavailable;                           // upstream_unavailable answers
  sharded_counter timeouts;                              // upstream_timeout answers
  sharded_counter protocol_errors;                       // upstream_protocol_error answers
  std::atomic<std::uint64_t> retries{0};                 // attempts after the first
  std::atomic<std::uint64_t> retry_budget_exhausted{0};  // retries refused by the budget
  std::atomic<std::uint64_t> unmatched{0};               // replies that matched no call in flight
  std::atomic<std::uint64_t> late{0};                    // replies for calls that had timed out
  std::atomic<std::uint64_t> unsolicited{0};             // requests from the peer (not replies)
  std::atomic<std::uint64_t> frames_skipped{0};          // framing resynchronisations
  std::atomic<std::uint64_t> decode_errors{0};           // replies that could not be decoded
  std::atomic<std::uint64_t> frames_too_long{0};         // frames refused, by reason
  std::atomic<std::uint64_t> frames_malformed{0};
  std::atomic<std::uint64_t> frames_checksum{0};
  sharded_counter bytes_in;
  sharded_counter bytes_out;
  std::atomic<std::uint64_t> connects{0};    // successful connects (first and re-)
  std::atomic<std::uint64_t> reconnects{0};  // successful connects after a loss
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> disconnects{0};         // established connections lost or closed
  std::atomic<std::uint64_t> heartbeats{0};          // echo requests sent
  std::atomic<std::uint64_t> heartbeat_failures{0};  // echoes unanswered: connection replaced
  std::atomic<std::int64_t> connected{0};            // gauge: connections up (and signed on) now
};

// The engine's counters, or null when the engine is not make_engine's.
const upstream_counters* engine_counters(const call_engine& engine) noexcept;
// Every endpoint with its connections (the "endpoints" array of describe_upstreams()).
boost::json::array describe_upstreams(const call_engine& engine);

// A profile in service with its shared counters; reload() swaps it, calls keep theirs.
struct profile_bundle {
  explicit profile_bundle(std::shared_ptr<const codecs::profile> p)
      : profile(std::move(p)), bank(*profile) {}
  std::shared_ptr<const codecs::profile> profile;
  counter_bank bank;
};

// One mapped call, across its attempts.
struct pending_call {
  std::shared_ptr<profile_bundle> bundle;  // the profile the call started with
  const codecs::operation* op = nullptr;
  codecs::record request;
  codecs::byte_buffer frame;   // the request as the engine encoded it (sent as is unless...)
  bool key_generated = false;  // ...the correlation field is a counter the connection assigns
  std::chrono::steady_clock::time_point deadline;
  boost::asio::any_io_executor caller;
  call_handler done;
  std::string request_id;
  bool trace = false;
  int attempts = 0;      // attempts: times the call was handed to an endpoint
  bool written = false;  // some attempt handed bytes of it to the socket: no blind resend
  boost::container::small_vector<const void*, 2> tried;  // endpoints tried: others first on a retry
};

// Posts the result to the caller's executor (runs it inline when the executor is empty).
void post_result(const boost::asio::any_io_executor& caller, call_handler done, call_result r);
// Counts a result by its code.
void count_result(upstream_counters& counters, const call_result& r) noexcept;
// The translator's half of a reply: classification and reply mapping (engine.cpp).
call_result reply_result(const codecs::operation& op, const codecs::record& reply);

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
  void dispatch(std::unique_ptr<pending_call> call);
  // At least one connection is up (and signed on, where the profile signs on).
  bool ready() const noexcept;
  // For describe_upstreams() and stats(): one object per endpoint.
  boost::json::array describe() const;
  boost::json::array endpoint_stats() const;
  // Calls in flight and queued now, over every endpoint.
  std::size_t in_flight() const noexcept;
  std::size_t queued() const noexcept;
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
