// The line front door: newline-delimited JSON calls over TCP, answered in completion order, and
// subscriptions to the host's messages on the same connections (line_subscriptions.hpp).
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

class line_subscriptions;

struct line_door_options : door_options {
  line_door_options() { name = "line"; }
  std::size_t max_line_bytes = 1 << 20;  // longer lines: payload_too_large, rest of line skipped
  // Calls submitted or answers not yet written, per connection; reading pauses at the limit.
  std::size_t max_in_flight = 1024;
  // allow_trace_header: a line's "trace":true traces that call.
  // The host's messages for apps that subscribe on this door (null: subscribe lines are refused).
  std::shared_ptr<line_subscriptions> subscriptions;
};

// errors_total counts answers with ok:false.
struct line_door_stats : door_stats {
  std::atomic<std::uint64_t> lines_total{0};
  std::atomic<std::uint64_t> reads_paused{0};  // times max_in_flight stopped reading
};

class line_door : public door<line_door_options, line_door_stats> {
 public:
  line_door(io_pool& pool, call_engine& engine, line_door_options options);
};

}  // namespace dragoman::bridge
