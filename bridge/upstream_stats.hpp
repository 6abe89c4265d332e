// The upstream counters in one list: the struct the pool bumps, count_result, the stats() JSON and
// the dragoman_upstream_* Prometheus families are all generated from DRAGOMAN_UPSTREAM_STATS.
#pragma once

#include "bridge/call.hpp"
#include "bridge/call_metrics.hpp"
#include "bridge/sharded_counter.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dragoman::bridge {

class prom_writer;

// One row per counter or gauge (Envoy's ALL_*_STATS). The macro names the kind:
//   SHARDED  a sharded_counter: bumped on every call, by every thread
//   COUNTER  a std::atomic<std::uint64_t>: bumped on rarer events
//   GAUGE    a std::atomic<std::int64_t>: goes up and down
//   POOL     no counter: a gauge the pool computes when stats are read (upstream_pool_gauges)
// and the columns are (field, counts, key, name, help):
//   field  the member of upstream_counters (or of upstream_pool_gauges for POOL rows)
//   counts the call_code of the results it counts (count_result), or none
//   key    its stats() JSON key; "" keeps it out of stats() and /metrics (tests and logs read it).
//          "object/member" makes it a member of an object, rendered as one labelled family
//   name   its Prometheus name; for "object/member" keys "family{label}", the member being the
//          label's value
//   help   its Prometheus HELP; the rows of one labelled family give it once, on the first row
// The rows are in stats()'s key order, which is also /metrics' order (labelled families last).
#define DRAGOMAN_UPSTREAM_STATS(SHARDED, COUNTER, GAUGE, POOL)                                     \
  SHARDED(calls, none, "calls_total", "dragoman_upstream_calls_total",                             \
          "Calls submitted to the engine.")                                                        \
  SHARDED(ok, ok, "", "", "Calls answered ok.")                                                    \
  SHARDED(rejected, rejected, "", "", "Calls the legacy system rejected.")                         \
  SHARDED(unknown_operation, unknown_operation, "", "", "Calls for an operation not offered.")     \
  SHARDED(invalid_field, invalid_field, "", "", "Calls whose fields did not map or encode.")       \
  SHARDED(overloaded, overloaded, "", "", "Calls refused for lack of room.")                       \
  SHARDED(unavailable, upstream_unavailable, "", "", "Calls answered upstream_unavailable.")       \
  SHARDED(timeouts, upstream_timeout, "", "", "Calls answered upstream_timeout.")                  \
  COUNTER(retries, none, "retries_total", "dragoman_upstream_retries_total",                       \
          "Attempts beyond the first (retries of idempotent calls).")                              \
  COUNTER(retry_budget_exhausted, none, "retry_budget_exhausted_total",                            \
          "dragoman_upstream_retry_budget_exhausted_total",                                        \
          "Retries not made because the retry budget was spent.")                                  \
  COUNTER(unmatched, none, "unmatched_replies_total", "dragoman_upstream_unmatched_replies_total", \
          "Replies that matched no call in flight.")                                               \
  COUNTER(late, none, "late_replies_total", "dragoman_upstream_late_replies_total",                \
          "Replies that arrived after their call's deadline.")                                     \
  COUNTER(unsolicited, none, "unsolicited_total", "dragoman_upstream_unsolicited_total",           \
          "Messages the upstream sent on its own (heartbeats, echo tests, notifications).")        \
  COUNTER(unmatched_frames, none, "unmatched_frames_total",                                        \
          "dragoman_upstream_unmatched_frames_total",                                              \
          "Frames from the upstream that matched no operation (logged; answered when the "         \
          "profile says how).")                                                                    \
  SHARDED(protocol_errors, upstream_protocol_error, "protocol_errors_total",                       \
          "dragoman_upstream_protocol_errors_total",                                               \
          "Replies that could not be decoded or did not fit the call.")                            \
  COUNTER(frames_skipped, none, "", "", "Framing resynchronisations.")                             \
  COUNTER(decode_errors, none, "", "", "Replies that could not be decoded.")                       \
  COUNTER(frames_too_long, none, "frames_rejected_total/frame_too_long",                           \
          "dragoman_upstream_frames_rejected_total{reason}",                                       \
          "Upstream frames rejected, by reason (frame_too_long, malformed, checksum_mismatch).")   \
  COUNTER(frames_malformed, none, "frames_rejected_total/malformed",                               \
          "dragoman_upstream_frames_rejected_total{reason}", "")                                   \
  COUNTER(frames_checksum, none, "frames_rejected_total/checksum_mismatch",                        \
          "dragoman_upstream_frames_rejected_total{reason}", "")                                   \
  SHARDED(bytes_in, none, "bytes_in_total", "dragoman_upstream_received_bytes_total",              \
          "Bytes read from upstream connections.")                                                 \
  SHARDED(bytes_out, none, "bytes_out_total", "dragoman_upstream_sent_bytes_total",                \
          "Bytes written to upstream connections.")                                                \
  POOL(calls_in_flight, none, "calls_in_flight", "dragoman_upstream_calls_in_flight",              \
       "Calls written to an upstream connection and waiting for their reply.")                     \
  POOL(calls_queued, none, "calls_queued", "dragoman_upstream_calls_queued",                       \
       "Calls waiting for an upstream connection.")                                                \
  POOL(pacing_queued, none, "pacing_queued", "dragoman_upstream_pacing_queued",                    \
       "Calls waiting for their turn under upstream.pacing.")                                      \
  COUNTER(pacing_refused, none, "pacing_refused_total", "dragoman_upstream_pacing_refused_total",  \
          "Calls refused (overloaded) because a pacing queue was full.")                           \
  COUNTER(pacing_too_late, none, "pacing_too_late_total",                                          \
          "dragoman_upstream_pacing_too_late_total",                                               \
          "Calls answered upstream_timeout because their pacing turn came after their deadline.")  \
  POOL(serialize_queued, none, "serialize_queued", "dragoman_upstream_serialize_queued",           \
       "Calls waiting behind a call in flight with the same serialize_by key.")                    \
  COUNTER(serialize_refused, none, "serialize_refused_total",                                      \
          "dragoman_upstream_serialize_refused_total",                                             \
          "Calls refused (overloaded) because too many calls waited on serialize_by keys.")        \
  COUNTER(serialize_timeouts, none, "serialize_timeouts_total",                                    \
          "dragoman_upstream_serialize_timeouts_total",                                            \
          "Calls whose deadline passed while waiting on their serialize_by key.")                  \
  COUNTER(connects, none, "connects_total", "dragoman_upstream_connects_total",                    \
          "Upstream connections established.")                                                     \
  COUNTER(connect_failures, none, "connect_failures_total",                                        \
          "dragoman_upstream_connect_failures_total", "Upstream connection attempts that failed.") \
  COUNTER(reconnects, none, "reconnects_total", "dragoman_upstream_reconnects_total",              \
          "Upstream connections established again after a loss.")                                  \
  COUNTER(listen_tls_failures, none, "listen_tls_failures_total",                                  \
          "dragoman_upstream_listen_tls_failures_total",                                           \
          "TLS handshakes refused on --upstream-listen (no or untrusted client certificate).")     \
  COUNTER(disconnects, none, "", "", "Established upstream connections lost or closed.")           \
  COUNTER(heartbeats, none, "heartbeats_total", "dragoman_upstream_heartbeats_total",              \
          "Heartbeats (echo tests) sent to upstreams.")                                            \
  COUNTER(heartbeat_failures, none, "heartbeat_failures_total",                                    \
          "dragoman_upstream_heartbeat_failures_total",                                            \
          "Heartbeats that failed or went unanswered.")                                            \
  COUNTER(inbound_received, none, "inbound_received_total",                                        \
          "dragoman_upstream_inbound_received_total",                                              \
          "Messages the host started that an inbound operation reads.")                            \
  COUNTER(inbound_delivered, none, "inbound_delivered_total",                                      \
          "dragoman_upstream_inbound_delivered_total",                                             \
          "Inbound messages the app accepted (2xx to the delivery POST).")                         \
  COUNTER(inbound_failed, none, "inbound_failed_total", "dragoman_upstream_inbound_failed_total",  \
          "Inbound messages not delivered (app non-2xx, timeout, unreachable, no --deliver).")     \
  COUNTER(inbound_duplicates, none, "inbound_duplicates_total",                                    \
          "dragoman_upstream_inbound_duplicates_total",                                            \
          "Inbound messages re-sent within the dedupe window: answered again, not delivered.")     \
  GAUGE(inbound_in_flight, none, "inbound_in_flight", "dragoman_upstream_inbound_in_flight",       \
        "Inbound messages being delivered to the app now.")                                        \
  GAUGE(connected, none, "", "", "Upstream connections up (and signed on) now.")

// Expands a row to nothing (for the kinds a generator skips).
#define DRAGOMAN_UPSTREAM_STAT_NONE(field, counts, key, name, help)

// The engine's counters, shared by the pool and its connections.
struct upstream_counters {
#define DRAGOMAN_UPSTREAM_STAT_SHARDED(field, counts, key, name, help) sharded_counter field;
#define DRAGOMAN_UPSTREAM_STAT_COUNTER(field, counts, key, name, help) \
  std::atomic<std::uint64_t> field{0};
#define DRAGOMAN_UPSTREAM_STAT_GAUGE(field, counts, key, name, help) \
  std::atomic<std::int64_t> field{0};
  DRAGOMAN_UPSTREAM_STATS(DRAGOMAN_UPSTREAM_STAT_SHARDED, DRAGOMAN_UPSTREAM_STAT_COUNTER,
                          DRAGOMAN_UPSTREAM_STAT_GAUGE, DRAGOMAN_UPSTREAM_STAT_NONE)
#undef DRAGOMAN_UPSTREAM_STAT_SHARDED
#undef DRAGOMAN_UPSTREAM_STAT_COUNTER
#undef DRAGOMAN_UPSTREAM_STAT_GAUGE
  // How long the app took to answer inbound deliveries (stats key "inbound_delivery_seconds",
  // the histogram dragoman_upstream_inbound_delivery_duration_seconds).
  histogram_cells inbound_delivery;
  // Time calls waited for a pacing turn (calls that waited only; "pacing_wait_seconds",
  // dragoman_upstream_pacing_wait_seconds) and on a serialize_by key ("serialize_wait_seconds",
  // dragoman_upstream_serialize_wait_seconds).
  histogram_cells pacing_wait;
  histogram_cells serialize_wait;
};

// The POOL rows' values, read from the pool when stats are written.
struct upstream_pool_gauges {
#define DRAGOMAN_UPSTREAM_STAT_POOL(field, counts, key, name, help) std::uint64_t field = 0;
  DRAGOMAN_UPSTREAM_STATS(DRAGOMAN_UPSTREAM_STAT_NONE, DRAGOMAN_UPSTREAM_STAT_NONE,
                          DRAGOMAN_UPSTREAM_STAT_NONE, DRAGOMAN_UPSTREAM_STAT_POOL)
#undef DRAGOMAN_UPSTREAM_STAT_POOL
};

enum class upstream_stat_kind { sharded, counter, gauge, pool };

// One row of the list as data, for writing, rendering and tests.
struct upstream_stat_def {
  upstream_stat_kind kind;
  std::string_view field;
  std::optional<call_code> counts;
  std::string_view key;
  std::string_view name;
  std::string_view help;
};

namespace upstream_stats_detail {
// The counts column's words: none, or a call_code's name.
inline constexpr std::optional<call_code> none{};
#define DRAGOMAN_UPSTREAM_STAT_CODE(code, status, retry, title) \
  inline constexpr std::optional<call_code> code{call_code::code};
DRAGOMAN_CALL_CODES(DRAGOMAN_UPSTREAM_STAT_CODE)
#undef DRAGOMAN_UPSTREAM_STAT_CODE
}  // namespace upstream_stats_detail

inline constexpr upstream_stat_def upstream_stat_defs[] = {
#define DRAGOMAN_UPSTREAM_STAT_ROW(kind, field, counts, key, name, help) \
  {upstream_stat_kind::kind, #field, upstream_stats_detail::counts, key, name, help},
#define DRAGOMAN_UPSTREAM_STAT_SHARDED(...) DRAGOMAN_UPSTREAM_STAT_ROW(sharded, __VA_ARGS__)
#define DRAGOMAN_UPSTREAM_STAT_COUNTER(...) DRAGOMAN_UPSTREAM_STAT_ROW(counter, __VA_ARGS__)
#define DRAGOMAN_UPSTREAM_STAT_GAUGE(...) DRAGOMAN_UPSTREAM_STAT_ROW(gauge, __VA_ARGS__)
#define DRAGOMAN_UPSTREAM_STAT_POOL(...) DRAGOMAN_UPSTREAM_STAT_ROW(pool, __VA_ARGS__)
    DRAGOMAN_UPSTREAM_STATS(DRAGOMAN_UPSTREAM_STAT_SHARDED, DRAGOMAN_UPSTREAM_STAT_COUNTER,
                            DRAGOMAN_UPSTREAM_STAT_GAUGE, DRAGOMAN_UPSTREAM_STAT_POOL)
#undef DRAGOMAN_UPSTREAM_STAT_SHARDED
#undef DRAGOMAN_UPSTREAM_STAT_COUNTER
#undef DRAGOMAN_UPSTREAM_STAT_GAUGE
#undef DRAGOMAN_UPSTREAM_STAT_POOL
#undef DRAGOMAN_UPSTREAM_STAT_ROW
};

namespace upstream_stats_detail {
// The list's rules, checked when it compiles: a keyed row has a name; a plain key has its help and
// no label; a member key has a labelled name; only per-call counters count results, each code once.
consteval bool well_formed() {
  for (const auto& d : upstream_stat_defs) {
    const bool member = d.key.find('/') != std::string_view::npos;
    const bool labelled = d.name.find('{') != std::string_view::npos;
    if (d.help.empty() && !member) return false;
    if (d.key.empty() != d.name.empty() || member != labelled) return false;
    if (d.counts && d.kind != upstream_stat_kind::sharded) return false;
    for (const auto& e : upstream_stat_defs)
      if (&e != &d && e.counts && e.counts == d.counts) return false;
  }
  return true;
}
static_assert(well_formed(), "DRAGOMAN_UPSTREAM_STATS breaks a rule of its columns");
}  // namespace upstream_stats_detail

// Counts a result by its code (the rows whose counts column names it). Inline: once per call.
inline void count_result(upstream_counters& c, const call_result& r) noexcept {
#define DRAGOMAN_UPSTREAM_STAT_COUNT(field, counts, key, name, help) \
  if (upstream_stats_detail::counts == r.code) ++c.field;
  DRAGOMAN_UPSTREAM_STATS(DRAGOMAN_UPSTREAM_STAT_COUNT, DRAGOMAN_UPSTREAM_STAT_NONE,
                          DRAGOMAN_UPSTREAM_STAT_NONE, DRAGOMAN_UPSTREAM_STAT_NONE)
#undef DRAGOMAN_UPSTREAM_STAT_COUNT
}

// Writes every row that has a key into out, in the list's order: counters from c, POOL rows from
// pool. A caller that assigns a POOL key afterwards keeps its place (json::object keeps order).
void write_stats(boost::json::object& out, const upstream_counters& c,
                 const upstream_pool_gauges& pool = {});

// The engine's stats() object (see call.hpp) as dragoman_upstream_* families, named from the list;
// keys that are not there are skipped, so an engine that reports less still renders valid text.
// Then the pool's per-endpoint families from its "endpoints" array.
void render_engine_stats(prom_writer& w, const boost::json::object& stats);

}  // namespace dragoman::bridge
