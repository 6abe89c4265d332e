// Per-call metrics (sharded per thread, relaxed atomics, no locks) and the Prometheus text format.
#pragma once

#include "bridge/call.hpp"

#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dragoman::bridge {

// Writes the Prometheus text exposition format (version 0.0.4): one HELP and TYPE per family,
// then its samples. Label values are escaped (backslash, double quote, newline).
class prom_writer {
 public:
  explicit prom_writer(std::string& out) : out_(out) {}
  // type: "counter", "gauge" or "histogram".
  void family(std::string_view name, std::string_view type, std::string_view help);
  // labels: {"op", "balance"}, ...; written in the order given.
  void sample(std::string_view name,
              std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
              double value);
  void sample(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels,
              double value);

  static void escape_label_value(std::string& out, std::string_view v);
  static void append_number(std::string& out, double v);

 private:
  std::string& out_;
};

// The latency buckets' upper bounds in seconds (le); +Inf is implicit.
inline constexpr std::array<double, 15> latency_buckets_seconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
inline constexpr std::size_t call_code_count = 10;  // call_code's values

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

// The engine's stats() object (see call.hpp) as dragoman_upstream_* families; keys that are not
// there are skipped, so an engine that reports less still renders valid text.
void render_engine_stats(prom_writer& w, const boost::json::object& stats);

// One call as the doors saw it, for the per-call log line.
struct call_observation {
  std::string_view door;  // "http" or "line"
  std::string_view request_id;
  std::string_view op;
  const call_result* result = nullptr;
  call_code code = call_code::ok;  // used when result is null (answered by the door)
  int status = 0;                  // used when result is null
  std::chrono::microseconds total{0};
};

// Records the call in the metrics (when m is not null) and writes its log line at info level:
// {"time","level":"info","event":"call","door","request_id","op","endpoint","attempts",
//  "upstream_us","total_us","code","status"} built in a reused per-thread buffer, in one write.
// Never field values, so nothing sensitive.
void observe_call(metrics* m, const call_observation& c);

// Appends s as the inside of a JSON string (quotes not included).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace dragoman::bridge
