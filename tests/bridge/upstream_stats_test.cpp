// The upstream stats list: every counter reaches stats() and /metrics with its value, results are
// counted by code, and the JSON keys and exposition stay byte for byte what they were.
#define BOOST_TEST_MODULE upstream_stats_test
#include <boost/test/unit_test.hpp>

#include "bridge/metrics.hpp"
#include "bridge/upstream_stats.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <string_view>

using namespace dragoman::bridge;
namespace json = boost::json;

namespace {

// Every "name{labels} value" line of a rendering, keyed by "name{labels}".
std::map<std::string, std::string> samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

std::string rendered(const json::object& stats) {
  std::string out;
  prom_writer w(out);
  render_engine_stats(w, stats);
  return out;
}

// Gives every counter of the list its own value: row i (from 0) holds 100 + i.
void bump_every_row(upstream_counters& c) {
  std::uint64_t n = 100;
#define BUMP(field, counts, key, name, help) c.field.fetch_add(n++);
#define BUMP_GAUGE(field, counts, key, name, help) c.field.store(static_cast<std::int64_t>(n++));
#define SKIP(field, counts, key, name, help) n++;
  DRAGOMAN_UPSTREAM_STATS(BUMP, BUMP, BUMP_GAUGE, SKIP)
#undef BUMP
#undef BUMP_GAUGE
#undef SKIP
}

// The value row i of the list holds after bump_every_row (pool rows: from pool_values()).
std::uint64_t row_value(std::size_t i) {
  return 100 + i;
}

upstream_pool_gauges pool_values() {
  upstream_pool_gauges g;
  std::uint64_t n = 100;
#define SKIP(field, counts, key, name, help) n++;
#define SET(field, counts, key, name, help) g.field = n++;
  DRAGOMAN_UPSTREAM_STATS(SKIP, SKIP, SKIP, SET)
#undef SKIP
#undef SET
  return g;
}

}  // namespace

// Each row's value, as set through its field, comes out under its key and its metric name.
BOOST_AUTO_TEST_CASE(every_row_reaches_stats_and_metrics_with_its_value) {
  upstream_counters c;
  bump_every_row(c);
  json::object o;
  write_stats(o, c, pool_values());
  const auto s = samples(rendered(o));
  std::size_t keyed = 0;
  for (std::size_t i = 0; i < std::size(upstream_stat_defs); ++i) {
    const upstream_stat_def& d = upstream_stat_defs[i];
    BOOST_TEST_CONTEXT("row " << d.field) {
      if (d.key.empty()) continue;
      ++keyed;
      const std::uint64_t want = row_value(i);
      const auto slash = d.key.find('/');
      if (slash == std::string_view::npos) {
        BOOST_TEST(o.at(d.key) == json::value(want));
        BOOST_TEST(s.at(std::string(d.name)) == std::to_string(want));
      } else {
        const auto member = d.key.substr(slash + 1);
        BOOST_TEST(o.at(d.key.substr(0, slash)).at(member) == json::value(want));
        const auto brace = d.name.find('{');
        const std::string sample =
            std::string(d.name.substr(0, brace)) + "{" +
            std::string(d.name.substr(brace + 1, d.name.size() - brace - 2)) + "=\"" +
            std::string(member) + "\"}";
        BOOST_TEST(s.at(sample) == std::to_string(want));
      }
    }
  }
  // One JSON key per plain row, one object for the three frame reasons, the inbound delivery,
  // pacing wait and serialize wait histograms; nothing else.
  BOOST_TEST(keyed == 32u);
  BOOST_TEST(o.size() == 33u);
}

// The keys, their order and their values as the engine's stats() wrote them by hand before.
BOOST_AUTO_TEST_CASE(stats_json_keeps_its_keys_order_and_values) {
  upstream_counters c;
  c.calls.fetch_add(10);
  c.ok.fetch_add(50);  // not in stats()
  c.retries = 2;
  c.retry_budget_exhausted = 1;
  c.unmatched = 3;
  c.late = 4;
  c.unsolicited = 5;
  c.protocol_errors.fetch_add(6);
  c.frames_too_long = 7;
  c.frames_malformed = 8;
  c.frames_checksum = 9;
  c.bytes_in.fetch_add(1000);
  c.bytes_out.fetch_add(900);
  c.connects = 13;
  c.connect_failures = 14;
  c.reconnects = 15;
  c.listen_tls_failures = 24;
  c.disconnects = 99;  // not in stats()
  c.heartbeats = 16;
  c.heartbeat_failures = 17;
  c.unmatched_frames = 18;
  c.connected = 3;  // not in stats()
  c.inbound_received = 19;
  c.inbound_delivered = 20;
  c.inbound_failed = 21;
  c.inbound_duplicates = 22;
  c.inbound_in_flight = 23;
  c.inbound_delivery.observe(std::chrono::microseconds(700));  // le 0.001
  c.inbound_delivery.observe(std::chrono::seconds(60));        // +Inf
  json::object o;
  write_stats(o, c, {.calls_in_flight = 11, .calls_queued = 12});
  BOOST_TEST(
      json::serialize(o) ==
      R"({"calls_total":10,"retries_total":2,"retry_budget_exhausted_total":1,)"
      R"("unmatched_replies_total":3,"late_replies_total":4,"unsolicited_total":5,)"
      R"("unmatched_frames_total":18,"protocol_errors_total":6,"frames_rejected_total":{"frame_too_long":7,)"
      R"("malformed":8,"checksum_mismatch":9},"bytes_in_total":1000,"bytes_out_total":900,)"
      R"("calls_in_flight":11,"calls_queued":12,"pacing_queued":0,"pacing_refused_total":0,)"
      R"("pacing_too_late_total":0,"serialize_queued":0,"serialize_refused_total":0,)"
      R"("serialize_timeouts_total":0,"connects_total":13,)"
      R"("connect_failures_total":14,"reconnects_total":15,"listen_tls_failures_total":24,)"
      R"("heartbeats_total":16,)"
      R"("heartbeat_failures_total":17,"inbound_received_total":19,"inbound_delivered_total":20,)"
      R"("inbound_failed_total":21,"inbound_duplicates_total":22,"inbound_in_flight":23,)"
      R"("inbound_delivery_seconds":{"buckets":[0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,1],"count":2,)"
      R"("sum":6.00007E1},"pacing_wait_seconds":{"buckets":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],)"
      R"("count":0,"sum":0E0},"serialize_wait_seconds":{"buckets":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],)"
      R"("count":0,"sum":0E0}})");
  // A pool gauge assigned afterwards keeps its place.
  json::object later;
  write_stats(later, c);
  later["calls_in_flight"] = 11u;
  later["calls_queued"] = 12u;
  BOOST_TEST(json::serialize(later) == json::serialize(o));
}

// The exposition for a full stats object, byte for byte as the hand-written table rendered it
// (captured from the renderer before the list): order, HELP texts, types, labels, extra members;
// the operation timeouts and the ejection cap since.
BOOST_AUTO_TEST_CASE(exposition_is_byte_for_byte_what_it_was) {
  const json::object st = json::parse(R"({"calls_total":10,"retries_total":2,
    "retry_budget_exhausted_total":1,"unmatched_replies_total":3,"late_replies_total":4,
    "unsolicited_total":5,"protocol_errors_total":6,
    "frames_rejected_total":{"frame_too_long":7,"malformed":8,"checksum_mismatch":9,
                             "later_reason":1},
    "bytes_in_total":1000,"bytes_out_total":900,"calls_in_flight":11,"calls_queued":12,
    "connects_total":13,"connect_failures_total":14,"reconnects_total":15,"heartbeats_total":16,
    "heartbeat_failures_total":17,
    "endpoints":[{"endpoint":"10.0.0.1:4000","priority":0,"breaker":"half_open",
      "connections":{"connecting":1,"signing_on":0,"up":2,"down":0,"draining":1},
      "in_flight":4,"queued":1,"ejection_capped":true,
      "operation_timeouts":{"transfer":3}}]})")
                              .as_object();
  const std::string want =
      "# HELP dragoman_upstream_calls_total Calls submitted to the engine.\n"
      "# TYPE dragoman_upstream_calls_total counter\n"
      "dragoman_upstream_calls_total 10\n"
      "# HELP dragoman_upstream_retries_total Attempts beyond the first (retries of idempotent "
      "calls).\n"
      "# TYPE dragoman_upstream_retries_total counter\n"
      "dragoman_upstream_retries_total 2\n"
      "# HELP dragoman_upstream_retry_budget_exhausted_total Retries not made because the retry "
      "budget was spent.\n"
      "# TYPE dragoman_upstream_retry_budget_exhausted_total counter\n"
      "dragoman_upstream_retry_budget_exhausted_total 1\n"
      "# HELP dragoman_upstream_unmatched_replies_total Replies that matched no call in flight.\n"
      "# TYPE dragoman_upstream_unmatched_replies_total counter\n"
      "dragoman_upstream_unmatched_replies_total 3\n"
      "# HELP dragoman_upstream_late_replies_total Replies that arrived after their call's "
      "deadline.\n"
      "# TYPE dragoman_upstream_late_replies_total counter\n"
      "dragoman_upstream_late_replies_total 4\n"
      "# HELP dragoman_upstream_unsolicited_total Messages the upstream sent on its own "
      "(heartbeats, echo tests, notifications).\n"
      "# TYPE dragoman_upstream_unsolicited_total counter\n"
      "dragoman_upstream_unsolicited_total 5\n"
      "# HELP dragoman_upstream_protocol_errors_total Replies that could not be decoded or did not "
      "fit the call.\n"
      "# TYPE dragoman_upstream_protocol_errors_total counter\n"
      "dragoman_upstream_protocol_errors_total 6\n"
      "# HELP dragoman_upstream_received_bytes_total Bytes read from upstream connections.\n"
      "# TYPE dragoman_upstream_received_bytes_total counter\n"
      "dragoman_upstream_received_bytes_total 1000\n"
      "# HELP dragoman_upstream_sent_bytes_total Bytes written to upstream connections.\n"
      "# TYPE dragoman_upstream_sent_bytes_total counter\n"
      "dragoman_upstream_sent_bytes_total 900\n"
      "# HELP dragoman_upstream_calls_in_flight Calls written to an upstream connection and "
      "waiting for their reply.\n"
      "# TYPE dragoman_upstream_calls_in_flight gauge\n"
      "dragoman_upstream_calls_in_flight 11\n"
      "# HELP dragoman_upstream_calls_queued Calls waiting for an upstream connection.\n"
      "# TYPE dragoman_upstream_calls_queued gauge\n"
      "dragoman_upstream_calls_queued 12\n"
      "# HELP dragoman_upstream_connects_total Upstream connections established.\n"
      "# TYPE dragoman_upstream_connects_total counter\n"
      "dragoman_upstream_connects_total 13\n"
      "# HELP dragoman_upstream_connect_failures_total Upstream connection attempts that failed.\n"
      "# TYPE dragoman_upstream_connect_failures_total counter\n"
      "dragoman_upstream_connect_failures_total 14\n"
      "# HELP dragoman_upstream_reconnects_total Upstream connections established again after a "
      "loss.\n"
      "# TYPE dragoman_upstream_reconnects_total counter\n"
      "dragoman_upstream_reconnects_total 15\n"
      "# HELP dragoman_upstream_heartbeats_total Heartbeats (echo tests) sent to upstreams.\n"
      "# TYPE dragoman_upstream_heartbeats_total counter\n"
      "dragoman_upstream_heartbeats_total 16\n"
      "# HELP dragoman_upstream_heartbeat_failures_total Heartbeats that failed or went "
      "unanswered.\n"
      "# TYPE dragoman_upstream_heartbeat_failures_total counter\n"
      "dragoman_upstream_heartbeat_failures_total 17\n"
      "# HELP dragoman_upstream_frames_rejected_total Upstream frames rejected, by reason "
      "(frame_too_long, malformed, checksum_mismatch).\n"
      "# TYPE dragoman_upstream_frames_rejected_total counter\n"
      "dragoman_upstream_frames_rejected_total{reason=\"frame_too_long\"} 7\n"
      "dragoman_upstream_frames_rejected_total{reason=\"malformed\"} 8\n"
      "dragoman_upstream_frames_rejected_total{reason=\"checksum_mismatch\"} 9\n"
      "dragoman_upstream_frames_rejected_total{reason=\"later_reason\"} 1\n"
      "# HELP dragoman_upstream_breaker_state Circuit breaker state per endpoint: 1 for the "
      "current state, 0 for the others.\n"
      "# TYPE dragoman_upstream_breaker_state gauge\n"
      "dragoman_upstream_breaker_state{endpoint=\"10.0.0.1:4000\",state=\"closed\"} 0\n"
      "dragoman_upstream_breaker_state{endpoint=\"10.0.0.1:4000\",state=\"open\"} 0\n"
      "dragoman_upstream_breaker_state{endpoint=\"10.0.0.1:4000\",state=\"half_open\"} 1\n"
      "# HELP dragoman_upstream_connections Upstream connections per endpoint by state "
      "(connecting, signing_on, up, down).\n"
      "# TYPE dragoman_upstream_connections gauge\n"
      "dragoman_upstream_connections{endpoint=\"10.0.0.1:4000\",state=\"connecting\"} 1\n"
      "dragoman_upstream_connections{endpoint=\"10.0.0.1:4000\",state=\"signing_on\"} 0\n"
      "dragoman_upstream_connections{endpoint=\"10.0.0.1:4000\",state=\"up\"} 2\n"
      "dragoman_upstream_connections{endpoint=\"10.0.0.1:4000\",state=\"down\"} 0\n"
      "dragoman_upstream_connections{endpoint=\"10.0.0.1:4000\",state=\"draining\"} 1\n"
      "# HELP dragoman_upstream_operation_timeouts_total Calls of one operation that got no "
      "reply in time while the connection was answering others (counted against the "
      "operation, not the endpoint's breaker).\n"
      "# TYPE dragoman_upstream_operation_timeouts_total counter\n"
      "dragoman_upstream_operation_timeouts_total{endpoint=\"10.0.0.1:4000\","
      "operation=\"transfer\"} 3\n"
      "# HELP dragoman_upstream_ejection_capped 1 while the endpoint's breaker is kept closed by "
      "--max-ejection-percent.\n"
      "# TYPE dragoman_upstream_ejection_capped gauge\n"
      "dragoman_upstream_ejection_capped{endpoint=\"10.0.0.1:4000\"} 1\n"
      "# HELP dragoman_upstream_endpoint_calls_in_flight Calls waiting for a reply from this "
      "endpoint.\n"
      "# TYPE dragoman_upstream_endpoint_calls_in_flight gauge\n"
      "dragoman_upstream_endpoint_calls_in_flight{endpoint=\"10.0.0.1:4000\"} 4\n"
      "# HELP dragoman_upstream_endpoint_calls_queued Calls waiting for a connection to this "
      "endpoint.\n"
      "# TYPE dragoman_upstream_endpoint_calls_queued gauge\n"
      "dragoman_upstream_endpoint_calls_queued{endpoint=\"10.0.0.1:4000\"} 1\n"
      "# HELP dragoman_upstream_endpoint_priority The endpoint's priority (lower is used first).\n"
      "# TYPE dragoman_upstream_endpoint_priority gauge\n"
      "dragoman_upstream_endpoint_priority{endpoint=\"10.0.0.1:4000\"} 0\n";
  BOOST_TEST(rendered(st) == want);
}

// Each result is counted once, under the row whose counts column names its code; the door's own
// codes (bad_request, payload_too_large) are not the engine's and count nowhere.
BOOST_AUTO_TEST_CASE(results_are_counted_by_code) {
  upstream_counters c;
  for (call_code code : all_call_codes) {
    call_result r;
    r.code = code;
    count_result(c, r);
  }
  BOOST_TEST(c.ok.load() == 1u);
  BOOST_TEST(c.rejected.load() == 1u);
  BOOST_TEST(c.unknown_operation.load() == 1u);
  BOOST_TEST(c.invalid_field.load() == 1u);
  BOOST_TEST(c.overloaded.load() == 1u);
  BOOST_TEST(c.unavailable.load() == 1u);
  BOOST_TEST(c.timeouts.load() == 1u);
  BOOST_TEST(c.protocol_errors.load() == 1u);
  BOOST_TEST(c.calls.load() == 0u);  // submit counts calls, not results
  std::uint64_t counted = 0;
#define SUM(field, counts, key, name, help) counted += c.field.load();
#define SKIP(field, counts, key, name, help)
  DRAGOMAN_UPSTREAM_STATS(SUM, SKIP, SKIP, SKIP)
#undef SUM
#undef SKIP
  BOOST_TEST(counted == 8u);  // ten codes, two of them the doors'
}

BOOST_AUTO_TEST_CASE(an_empty_or_partial_stats_object_renders_what_it_has) {
  BOOST_TEST(rendered({}).empty());
  const auto out =
      rendered(json::parse(R"({"calls_total":3,"frames_rejected_total":{}})").as_object());
  const auto s = samples(out);
  BOOST_TEST(s.at("dragoman_upstream_calls_total") == "3");
  BOOST_TEST(s.at("dragoman_upstream_frames_rejected_total{reason=\"malformed\"}") == "0");
  BOOST_TEST(s.count("dragoman_upstream_retries_total") == 0u);
  BOOST_TEST(out.find("breaker_state") == std::string::npos);
}
