// The line front door: newline-delimited JSON calls over TCP, answered in completion order.
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

struct line_door_options : door_options {
  line_door_options() { name = "line"; }
  std::size_t max_line_bytes = 1 << 20;  // longer lines: payload_too_large, rest of line skipped
  // Calls submitted or answers not yet written, per connection; reading pauses at the limit.
  std::size_t max_in_flight = 1024;
  // allow_trace_header: a line's "trace":true traces that call.
};

// errors_total counts answers with ok:false.
struct line_door_stats : door_stats {
  std::atomic<std::uint64_t> lines_total{0};
  std::atomic<std::uint64_t> reads_paused{0};  // times max_in_flight stopped reading
};

// Binds in the constructor (throws std::runtime_error naming the address on failure) and accepts
// on pool.at(0); each connection lives on the next context of the pool (round robin), served by
// that context's single thread.
class line_door {
 public:
  line_door(io_pool& pool, call_engine& engine, line_door_options options);
  ~line_door();
  line_door(const line_door&) = delete;
  line_door& operator=(const line_door&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const noexcept { return endpoint_; }
  // Thread-safe. Closes the acceptor; connections already open continue.
  void stop_accepting();
  // Thread-safe. Every connection stops reading, answers the calls in flight, and closes.
  void drain();
  std::size_t connections() const noexcept;
  const line_door_stats& stats() const noexcept;

  struct shared;

 private:
  std::shared_ptr<shared> shared_;
  std::shared_ptr<acceptor> listener_;
  boost::asio::ip::tcp::endpoint endpoint_;
};

}  // namespace dragoman::bridge
