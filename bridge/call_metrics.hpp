// Per-call metrics: calls by operation and code, latency histograms, calls in flight; sharded per
// thread (relaxed atomics, no locks on the call path), rendered as Prometheus families.
#pragma once

#include "bridge/call.hpp"
#include "bridge/prom_writer.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dragoman::bridge {

// The latency buckets' upper bounds in seconds (le); +Inf is implicit.
inline constexpr std::array<double, 15> latency_buckets_seconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

// One fixed-bucket histogram; counts are per bucket (not cumulative), sum in microseconds.
struct histogram_cells {
  std::array<std::atomic<std::uint64_t>, latency_buckets_seconds.size() + 1> buckets{};
  std::atomic<std::uint64_t> sum_us{0};
  void observe(std::chrono::microseconds d) noexcept;
};

// A histogram summed over shards, for rendering and tests.
struct histogram_snapshot {
  std::array<std::uint64_t, latency_buckets_seconds.size() + 1> buckets{};  // not cumulative
  std::uint64_t count = 0;
  std::uint64_t sum_us = 0;
};

// Calls by operation and result code, end-to-end and upstream latency per operation, calls begun
// (in flight = begun - finished). Each thread writes its own shard (chosen once per thread), so
// the data path is a few relaxed increments on cache lines no other thread writes.
//
// Operations are labels only when the profile knows them (an app cannot create series by calling
// made-up names): the rest count under op="_other". The table only grows (on reload), so a series
// never disappears while the process lives.
class metrics {
 public:
  static constexpr std::size_t max_operations = 128;  // beyond: counted under "_other"
  static constexpr std::size_t other_op = 0;          // slot of "_other"

  explicit metrics(std::size_t shards);
  ~metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  // Adds the operations (not yet known) as label values. Thread-safe; not on the data path.
  void add_operations(const codecs::profile& p);
  void add_operation(std::string_view name);
  // The slot of an operation, other_op when unknown. Lock-free.
  std::size_t op_slot(std::string_view name) const noexcept;

  // A call was handed to the engine (or answered by the door at once).
  void call_begun() noexcept;
  // A call was answered. upstream is the time on the wire, when an attempt reached an upstream.
  void call_finished(std::string_view op, call_code code, std::chrono::microseconds total,
                     std::chrono::microseconds upstream, bool had_upstream) noexcept;

  // Sums over shards (for rendering and tests).
  std::uint64_t calls(std::string_view op, call_code code) const noexcept;
  std::uint64_t in_flight() const noexcept;
  histogram_snapshot total_latency(std::string_view op) const noexcept;
  histogram_snapshot upstream_latency(std::string_view op) const noexcept;

  // dragoman_calls_total, dragoman_calls_in_flight, dragoman_call_duration_seconds,
  // dragoman_upstream_call_duration_seconds.
  void render(prom_writer& w) const;

 private:
  struct shard;
  shard& local() noexcept;
  histogram_snapshot sum(std::size_t op, bool upstream) const noexcept;

  std::vector<std::unique_ptr<shard>> shards_;
  std::array<std::atomic<const std::string*>, max_operations> names_{};
  std::atomic<std::size_t> name_count_{0};
  std::mutex add_mutex_;                                         // writers only
  std::vector<std::unique_ptr<const std::string>> owned_names_;  // never shrinks
};

}  // namespace dragoman::bridge
