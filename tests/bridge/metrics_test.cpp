// Metrics: Prometheus text rendering, histogram buckets, label escaping, shard summing, engine
// stats, admin masking and token checks, and the masked wire trace.
#define BOOST_TEST_MODULE metrics_test
#include <boost/test/unit_test.hpp>

#include "bridge/admin.hpp"
#include "bridge/metrics.hpp"
#include "bridge/sharded_counter.hpp"
#include "bridge/wire_trace.hpp"
#include "codecs/pipeline.hpp"

#include <boost/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace dragoman::bridge;
namespace json = boost::json;
using namespace std::chrono_literals;

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

std::string render(const metrics& m) {
  std::string out;
  prom_writer w(out);
  m.render(w);
  return out;
}

std::shared_ptr<const dragoman::codecs::profile> load(const std::string& name) {
  auto out = dragoman::codecs::load_profile(std::string(DRAGOMAN_SOURCE_DIR) + "/profiles/" + name);
  BOOST_REQUIRE_MESSAGE(out.compiled, "profile " << name << " loads");
  return out.compiled;
}

class stub_engine : public call_engine {
 public:
  void submit(call_request, boost::asio::any_io_executor, call_handler&&) override {}
  bool ready() const override { return true; }
  json::object describe_upstreams() const override { return upstreams; }
  json::object stats() const override { return engine_stats; }
  json::object upstreams;
  json::object engine_stats;
};

}  // namespace

BOOST_AUTO_TEST_CASE(writer_escapes_label_values_and_help) {
  std::string out;
  prom_writer w(out);
  w.family("x_total", "counter", "back\\slash and\nnewline");
  w.sample("x_total", {{"a", "q\"uote"}, {"b", "back\\slash"}, {"c", "new\nline"}}, 3);
  BOOST_TEST(out ==
             "# HELP x_total back\\\\slash and\\nnewline\n"
             "# TYPE x_total counter\n"
             "x_total{a=\"q\\\"uote\",b=\"back\\\\slash\",c=\"new\\nline\"} 3\n");
}

BOOST_AUTO_TEST_CASE(numbers_render_as_integers_or_shortest_doubles) {
  std::string s;
  prom_writer::append_number(s, 42);
  s += ' ';
  prom_writer::append_number(s, 0.0025);
  s += ' ';
  prom_writer::append_number(s, 1.0 / 0.0);
  BOOST_TEST(s == "42 0.0025 +Inf");
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative_with_sum_and_count) {
  metrics m(1);
  m.add_operation("balance");
  m.call_finished("balance", call_code::ok, 400us, 0us, false);  // le 0.0005
  m.call_finished("balance", call_code::ok, 500us, 0us, false);  // le 0.0005 (inclusive)
  m.call_finished("balance", call_code::ok, 3ms, 2ms, true);     // le 0.005
  m.call_finished("balance", call_code::upstream_timeout, 40s, 0us, false);  // +Inf
  auto h = m.total_latency("balance");
  BOOST_TEST(h.count == 4u);
  BOOST_TEST(h.buckets[0] == 2u);
  BOOST_TEST(h.buckets[3] == 1u);
  BOOST_TEST(h.buckets.back() == 1u);
  auto s = samples(render(m));
  BOOST_TEST(s["dragoman_call_duration_seconds_bucket{op=\"balance\",le=\"0.0005\"}"] == "2");
  BOOST_TEST(s["dragoman_call_duration_seconds_bucket{op=\"balance\",le=\"0.0025\"}"] == "2");
  BOOST_TEST(s["dragoman_call_duration_seconds_bucket{op=\"balance\",le=\"0.005\"}"] == "3");
  BOOST_TEST(s["dragoman_call_duration_seconds_bucket{op=\"balance\",le=\"30\"}"] == "3");
  BOOST_TEST(s["dragoman_call_duration_seconds_bucket{op=\"balance\",le=\"+Inf\"}"] == "4");
  BOOST_TEST(s["dragoman_call_duration_seconds_count{op=\"balance\"}"] == "4");
  BOOST_TEST(s["dragoman_call_duration_seconds_sum{op=\"balance\"}"] == "40.0039");
  BOOST_TEST(s["dragoman_upstream_call_duration_seconds_count{op=\"balance\"}"] == "1");
  BOOST_TEST(s["dragoman_upstream_call_duration_seconds_sum{op=\"balance\"}"] == "0.002");
  BOOST_TEST(s["dragoman_calls_total{op=\"balance\",code=\"ok\"}"] == "3");
  BOOST_TEST(s["dragoman_calls_total{op=\"balance\",code=\"upstream_timeout\"}"] == "1");
  // Codes never seen are left out (ok always shows, so rates start at zero).
  BOOST_TEST(s.count("dragoman_calls_total{op=\"balance\",code=\"rejected\"}") == 0u);
  BOOST_TEST(s["dragoman_calls_total{op=\"_other\",code=\"ok\"}"] == "0");
}

BOOST_AUTO_TEST_CASE(unknown_operations_count_under_other) {
  metrics m(2);
  m.add_operation("balance");
  m.call_finished("made-up", call_code::unknown_operation, 10us, 0us, false);
  m.call_finished("also\"made-up", call_code::unknown_operation, 10us, 0us, false);
  BOOST_TEST(m.calls("_other", call_code::unknown_operation) == 2u);
  auto text = render(m);
  BOOST_TEST(text.find("made-up") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(shards_sum_across_threads) {
  metrics m(3);
  m.add_operation("transfer");
  constexpr int threads = 8, per_thread = 20000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&m] {
      for (int i = 0; i < per_thread; ++i) {
        m.call_begun();
        m.call_finished("transfer", call_code::ok, 1ms, 500us, true);
      }
    });
  }
  for (auto& t : ts) t.join();
  BOOST_TEST(m.calls("transfer", call_code::ok) == std::uint64_t{threads * per_thread});
  BOOST_TEST(m.total_latency("transfer").count == std::uint64_t{threads * per_thread});
  BOOST_TEST(m.upstream_latency("transfer").sum_us == std::uint64_t{threads * per_thread} * 500u);
  BOOST_TEST(m.in_flight() == 0u);
  m.call_begun();
  BOOST_TEST(m.in_flight() == 1u);
}

BOOST_AUTO_TEST_CASE(operations_added_on_reload_keep_old_series) {
  metrics m(1);
  m.add_operation("a");
  m.call_finished("a", call_code::ok, 1ms, 0us, false);
  m.add_operation("b");
  m.add_operation("a");  // again: no second slot
  m.call_finished("b", call_code::ok, 1ms, 0us, false);
  BOOST_TEST(m.calls("a", call_code::ok) == 1u);
  BOOST_TEST(m.calls("b", call_code::ok) == 1u);
  BOOST_TEST(m.op_slot("a") == 1u);
  BOOST_TEST(m.op_slot("b") == 2u);
}

BOOST_AUTO_TEST_CASE(engine_stats_render_with_and_without_fields) {
  std::string empty;
  prom_writer we(empty);
  render_engine_stats(we, {});
  BOOST_TEST(empty.empty());

  json::object st = json::parse(R"({
    "calls_total": 10, "retries_total": 2, "unmatched_replies_total": 1, "late_replies_total": 3,
    "frames_rejected_total": {"frame_too_long": 1, "malformed": 2, "checksum_mismatch": 0},
    "bytes_in_total": 1000, "bytes_out_total": 900, "calls_in_flight": 4, "calls_queued": 0,
    "endpoints": [{"endpoint": "10.0.0.1:4000", "priority": 0, "breaker": "open",
                   "connections": {"connecting": 1, "signing_on": 0, "up": 1, "down": 0},
                   "in_flight": 4, "queued": 0}]})")
                        .as_object();
  std::string out;
  prom_writer w(out);
  render_engine_stats(w, st);
  auto s = samples(out);
  BOOST_TEST(s["dragoman_upstream_calls_total"] == "10");
  BOOST_TEST(s["dragoman_upstream_unmatched_replies_total"] == "1");
  BOOST_TEST(s["dragoman_upstream_late_replies_total"] == "3");
  BOOST_TEST(s["dragoman_upstream_received_bytes_total"] == "1000");
  BOOST_TEST(s["dragoman_upstream_sent_bytes_total"] == "900");
  BOOST_TEST(s["dragoman_upstream_calls_in_flight"] == "4");
  BOOST_TEST(s["dragoman_upstream_frames_rejected_total{reason=\"malformed\"}"] == "2");
  BOOST_TEST(s["dragoman_upstream_breaker_state{endpoint=\"10.0.0.1:4000\",state=\"open\"}"] ==
             "1");
  BOOST_TEST(s["dragoman_upstream_breaker_state{endpoint=\"10.0.0.1:4000\",state=\"closed\"}"] ==
             "0");
  BOOST_TEST(s["dragoman_upstream_connections{endpoint=\"10.0.0.1:4000\",state=\"up\"}"] == "1");
  BOOST_TEST(s["dragoman_upstream_endpoint_calls_in_flight{endpoint=\"10.0.0.1:4000\"}"] == "4");
  // Every family has HELP and TYPE once.
  BOOST_TEST(out.find("# TYPE dragoman_upstream_breaker_state gauge") != std::string::npos);
  BOOST_TEST(out.find("# HELP dragoman_upstream_retries_total ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bearer_token_check) {
  BOOST_TEST(bearer_matches("Bearer s3cret", "s3cret"));
  BOOST_TEST(bearer_matches("bearer  s3cret ", "s3cret"));
  BOOST_TEST(!bearer_matches("Bearer s3cre", "s3cret"));
  BOOST_TEST(!bearer_matches("Bearer s3cretX", "s3cret"));
  BOOST_TEST(!bearer_matches("Basic s3cret", "s3cret"));
  BOOST_TEST(!bearer_matches("", "s3cret"));
  BOOST_TEST(!bearer_matches("Bearer ", ""));
}

BOOST_AUTO_TEST_CASE(admin_exposure_needs_a_token_off_loopback) {
  namespace ip = boost::asio::ip;
  BOOST_CHECK_NO_THROW(check_admin_exposure("--admin", {ip::make_address("127.0.0.1"), 9}, ""));
  BOOST_CHECK_NO_THROW(check_admin_exposure("--admin", {ip::make_address("::1"), 9}, ""));
  BOOST_CHECK_THROW(check_admin_exposure("--admin", {ip::make_address("0.0.0.0"), 9}, ""),
                    std::runtime_error);
  BOOST_CHECK_NO_THROW(check_admin_exposure("--admin", {ip::make_address("0.0.0.0"), 9}, "t"));
}

BOOST_AUTO_TEST_CASE(admin_answers_paths_token_and_masks) {
  stub_engine engine;
  engine.upstreams = json::parse(R"({"endpoints":[{"endpoint":"a:1","breaker":"closed",
      "connections":[{"id":1,"state":"up"}]}]})")
                         .as_object();
  metrics m(1);
  auto p = load("iso8583-ascii.json");
  admin open(engine, m, p, "");
  auto prof = open.handle("GET", "/admin/profile", "");
  BOOST_TEST(prof.status == 200);
  auto pj = json::parse(prof.body).as_object();
  BOOST_TEST(pj.contains("operations"));
  BOOST_TEST(open.handle("GET", "/admin/upstreams", "").status == 200);
  BOOST_TEST(open.handle("GET", "/admin/nope", "").status == 404);
  BOOST_TEST(open.handle("POST", "/metrics", "").status == 405);
  auto met = open.handle("GET", "/metrics", "");
  BOOST_TEST(met.status == 200);
  BOOST_TEST(met.content_type.starts_with("text/plain; version=0.0.4"));

  admin locked(engine, m, p, "tok");
  BOOST_TEST(locked.handle("GET", "/metrics", "").status == 401);
  BOOST_TEST(locked.handle("GET", "/admin/profile", "Bearer nope").status == 401);
  BOOST_TEST(locked.handle("GET", "/admin/profile", "Bearer tok").status == 200);

  json::value v = json::parse(R"({"fields":[{"name":"pin","sensitive":true,"value":"1234",
      "default":"9999"},{"name":"x","value":"keep"}]})");
  mask_sensitive_json(v);
  BOOST_TEST(v.at("fields").at(0).at("value").as_string() == "****");
  BOOST_TEST(v.at("fields").at(0).at("default").as_string() == "****");
  BOOST_TEST(v.at("fields").at(1).at("value").as_string() == "keep");
}

BOOST_AUTO_TEST_CASE(shaped_masks_keep_the_shape_and_hide_the_secret) {
  BOOST_TEST(shaped_mask("4111111111111111") == "4111110000001111");
  BOOST_TEST(shaped_mask("1234") == "0000");
  BOOST_TEST(shaped_mask("0123456789abcdef") == "0000000000000000");
  BOOST_TEST(shaped_mask("4111111111111111=2512101") == "0000000000000000=0000000");
  BOOST_TEST(shaped_mask("pa55word") == "**00****");
  BOOST_TEST(shaped_mask("4111111111111111=2512101", 1) == "000000000000000000000000");
}

BOOST_AUTO_TEST_CASE(wire_trace_masks_sensitive_fields_in_records_and_bytes) {
  namespace codecs = dragoman::codecs;
  auto p = load("iso8583-ascii.json");
  const codecs::operation* op = p->find_operation("authorize");
  BOOST_REQUIRE(op);
  codecs::counter_generation_context gen(*p);
  auto t = std::make_shared<call_trace>();
  t->profile = p;
  t->op = op;
  json::object fields = json::parse(R"({"pan":"4111111111111111","amount":"1000",
      "terminal_id":"TERM0001","track2":"4111111111111111=25121010000000000000",
      "pin_block":"0123456789abcdef"})")
                            .as_object();
  auto mapped = codecs::map_request(op->request, fields, gen, t->request);
  BOOST_REQUIRE_MESSAGE(mapped, "request maps");
  json::object tr = build_wire_trace(*t);
  std::string text = json::serialize(tr);
  BOOST_TEST(text.find("4111111111111111") == std::string::npos);
  BOOST_TEST(text.find("0123456789abcdef") == std::string::npos);
  BOOST_TEST(text.find("25121010000000000000") == std::string::npos);
  BOOST_TEST(text.find("411111******1111") != std::string::npos);
  const auto& req = tr.at("request").as_object();
  BOOST_REQUIRE(req.contains("stages"));
  const auto& stages = req.at("stages").as_array();
  BOOST_TEST(stages.size() >= 2u);
  BOOST_TEST(stages.front().at("stage").as_string() == "layout");
  BOOST_TEST(stages.back().at("stage").as_string() == "frame");
  // The masked card number is in the layout bytes, shaped: 6 + zeros + 4.
  std::string hex(stages.front().at("hex").as_string());
  BOOST_TEST(hex.find("|") != std::string::npos);
  BOOST_TEST(!tr.contains("reply"));
}

BOOST_AUTO_TEST_CASE(sharded_counters_sum_every_thread) {
  sharded_counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t)  // more threads than slots: some share one
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 10000; ++i) ++c;
      c.fetch_add(static_cast<std::uint64_t>(t));
    });
  for (auto& t : threads) t.join();
  BOOST_TEST(c.load() == 12u * 10000u + 66u);
}
