// What the upstream pool and its connections share: the profile in service, options, counters,
// the endpoints, the pool-wide flags, one mapped call across its attempts, and the three things
// a connection reports back to the pool. Outlives the pool while handlers are pending.
#pragma once

#include "bridge/call.hpp"
#include "bridge/inbound_dedupe.hpp"
#include "bridge/recycling_pool.hpp"
#include "bridge/translator.hpp"
#include "bridge/upstream_endpoint.hpp"
#include "bridge/upstream_options.hpp"
#include "bridge/upstream_stats.hpp"

#include <boost/asio/any_io_executor.hpp>

namespace boost::asio {
class io_context;
}
#include <boost/container/small_vector.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dragoman::bridge {

// One mapped call, across its attempts.
struct pending_call : mapped_request {
  std::chrono::steady_clock::time_point deadline;
  boost::asio::any_io_executor caller;
  call_handler done;
  std::string request_id;
  bool trace = false;
  int attempts = 0;  // attempts: times the call was handed to an endpoint
  // Some attempt handed bytes of it to a socket (or was answered): no blind resend of a call
  // that is not idempotent, and its answer says sent (mark_sent).
  bool written = false;
  boost::container::small_vector<const endpoint*, 2> tried;  // others first on a retry
  // upstream.pacing: the endpoint whose tokens this attempt holds, how many of its buckets have
  // given one (upstream_pacing.hpp), and since when it waits (for the waiting-time histogram).
  const endpoint* paced_for = nullptr;
  std::uint8_t paced_stage = 0;
  std::chrono::steady_clock::time_point paced_since{};
  // serialize_by: the key this call holds until it is answered; empty: none.
  std::string serial_key;

  // Back to a fresh call for recycling_pool: every field its default, but the request record's
  // and the frame's storage kept for the next call.
  void recycle() noexcept {
    codecs::record keep_request = std::move(request);
    codecs::byte_buffer keep_frame = std::move(frame);
    *this = pending_call();
    keep_request.reset(0);
    keep_frame.clear();
    request = std::move(keep_request);
    frame = std::move(keep_frame);
  }
};

// Calls come from a bounded per-thread pool (bridge/recycling_pool.hpp): made by
// make_pending_call(), returned by the pointer's deleter.
using pending_call_pool = recycling_pool<pending_call, 256>;
using pending_call_ptr = pending_call_pool::pointer;
inline pending_call_ptr make_pending_call() {
  return pending_call_pool::make();
}

class upstream_shared {
 public:
  upstream_shared(const engine_options& o, std::shared_ptr<upstream_counters> c)
      : options(o), counters(std::move(c)), dedupe(o.dedupe_entries) {}
  virtual ~upstream_shared() = default;
  upstream_shared(const upstream_shared&) = delete;
  upstream_shared& operator=(const upstream_shared&) = delete;

  std::atomic<std::shared_ptr<profile_bundle>> bundle;
  const engine_options options;
  std::shared_ptr<upstream_counters> counters;
  std::unique_ptr<ejection_cap> ejection;  // before endpoints: they point to it
  inbound_dedupe dedupe;  // answers to the host's messages, by the profile's dedupe_key
  std::vector<std::unique_ptr<endpoint>> endpoints;
  std::atomic<std::int64_t> up{0};  // connections up (and signed on) now
  std::atomic<bool> stopped{false};
  std::atomic<bool> draining{false};
  std::size_t read_buffer_size = 16384;

  // Another endpoint could take a call now (breaker closed, a connection up, room left).
  bool alternative_to(const endpoint& e) const noexcept {
    for (const auto& other : endpoints) {
      if (other.get() == &e || !other->breaker_closed()) continue;
      if (other->assigned.load(std::memory_order_relaxed) >= options.max_in_flight_per_endpoint)
        continue;
      if (other->has_connected()) return true;
    }
    return false;
  }

  // Every app attempt ends here exactly once: answered (retryable false), or handed back for a
  // retry elsewhere; a backoff waits on ctx, the connection's context. Called from the
  // connection's own handlers.
  virtual void attempt_ended(pending_call_ptr call, call_result&& r, bool retryable,
                             boost::asio::io_context& ctx) = 0;
  // The endpoint's breaker closed: its connections waiting for it reconnect now.
  virtual void breaker_closed(endpoint& e) = 0;
  // A draining connection has closed.
  virtual void connection_closed_for_drain() = 0;
};

}  // namespace dragoman::bridge
