// Tests for pacing toward a fragile host (the token bucket with its FIFO queue), serialize_by's
// one-call-per-key rule, and the profile keys that configure them; time points are driven by
// hand (no socket, no sleeping).
#define BOOST_TEST_MODULE pacing_test
#include <boost/test/unit_test.hpp>

#include "bridge/pacer.hpp"
#include "bridge/serializer.hpp"
#include "codecs/profile.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

using namespace dragoman::bridge;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const steady::time_point t0{std::chrono::hours(1000)};
const steady::time_point far = t0 + std::chrono::hours(1);

// The most token times in any window of `window` (times sorted).
std::size_t most_in_window(const std::vector<steady::time_point>& times, steady::duration window) {
  std::size_t best = 0;
  for (std::size_t i = 0, j = 0; j < times.size(); ++j) {
    while (times[j] - times[i] >= window) ++i;
    best = std::max(best, j - i + 1);
  }
  return best;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_burst_goes_at_once_and_the_rest_wait_their_turns_in_order) {
  pacer p(10, 3, 100);  // 10/s: a token every 100 ms, 3 at once
  std::vector<steady::time_point> at;
  for (int i = 0; i < 3; ++i) {
    auto t = p.admit(t0, far);
    BOOST_TEST((t.v == pacer::verdict::go));
  }
  for (int i = 0; i < 7; ++i) {
    auto t = p.admit(t0, far);
    BOOST_TEST((t.v == pacer::verdict::wait));
    at.push_back(t.at);
  }
  BOOST_TEST(p.waiting() == 7u);
  // First come, first served, one every 100 ms after the burst.
  for (std::size_t i = 0; i < at.size(); ++i) BOOST_TEST((at[i] == t0 + (i + 1) * 100ms));
  for (std::size_t i = 0; i < at.size(); ++i) p.turn_came();
  BOOST_TEST(p.waiting() == 0u);
  // The bucket was drained: a call arriving after the queue has gone waits for the next token,
  // and the one after it an interval more.
  auto late = p.admit(t0 + 750ms, far);
  BOOST_TEST((late.v == pacer::verdict::wait));
  BOOST_TEST((late.at == t0 + 800ms));
  auto next = p.admit(t0 + 750ms, far);
  BOOST_TEST((next.at == t0 + 900ms));
  // After a quiet spell the burst is back.
  for (int i = 0; i < 2; ++i) p.turn_came();
  for (int i = 0; i < 3; ++i) BOOST_TEST((p.admit(t0 + 5s, far).v == pacer::verdict::go));
  BOOST_TEST((p.admit(t0 + 5s, far).v == pacer::verdict::wait));
}

BOOST_AUTO_TEST_CASE(tokens_never_exceed_the_rate_plus_the_burst_in_any_window) {
  pacer p(50, 5, 100000);
  std::mt19937 rng(7);
  std::vector<steady::time_point> tokens;
  steady::time_point now = t0;
  for (int i = 0; i < 2000; ++i) {
    now += std::chrono::microseconds(rng() % 30000);  // bursty arrivals, ~66/s on average
    auto t = p.admit(now, far);
    BOOST_REQUIRE((t.v != pacer::verdict::full && t.v != pacer::verdict::too_late));
    tokens.push_back(t.v == pacer::verdict::go ? now : t.at);
    BOOST_TEST((tokens.back() >= now));
  }
  BOOST_TEST(std::is_sorted(tokens.begin(), tokens.end()));
  BOOST_TEST(most_in_window(tokens, 1s) <= 5u + 50u);
  BOOST_TEST(most_in_window(tokens, 100ms) <= 5u + 5u);
  // Every call was served: the last token is no later than the rate allows.
  BOOST_TEST((tokens.back() - tokens.front() <= std::chrono::milliseconds(2000 * 20)));
}

BOOST_AUTO_TEST_CASE(a_turn_after_the_deadline_is_refused_and_reserves_nothing) {
  pacer p(1, 1, 10);
  BOOST_TEST((p.admit(t0, far).v == pacer::verdict::go));
  auto t = p.admit(t0, t0 + 500ms);  // its turn would be at t0 + 1 s
  BOOST_TEST((t.v == pacer::verdict::too_late));
  BOOST_TEST((t.at == t0 + 1s));
  BOOST_TEST(p.waiting() == 0u);
  // The token it did not take is the next call's.
  auto u = p.admit(t0, t0 + 2s);
  BOOST_TEST((u.v == pacer::verdict::wait));
  BOOST_TEST((u.at == t0 + 1s));
}

BOOST_AUTO_TEST_CASE(a_full_queue_refuses_until_a_turn_comes) {
  pacer p(1, 1, 2);
  BOOST_TEST((p.admit(t0, far).v == pacer::verdict::go));
  BOOST_TEST((p.admit(t0, far).v == pacer::verdict::wait));
  BOOST_TEST((p.admit(t0, far).v == pacer::verdict::wait));
  BOOST_TEST((p.admit(t0, far).v == pacer::verdict::full));
  BOOST_TEST(p.waiting() == 2u);
  p.turn_came();
  auto t = p.admit(t0 + 1s, far);
  BOOST_TEST((t.v == pacer::verdict::wait));
  BOOST_TEST((t.at == t0 + 3s));  // behind the two reserved before it
}

BOOST_AUTO_TEST_CASE(a_fractional_rate_spaces_tokens_by_its_interval) {
  pacer p(0.5, 1, 10);
  BOOST_TEST((p.admit(t0, far).v == pacer::verdict::go));
  auto t = p.admit(t0, far);
  BOOST_TEST((t.at == t0 + 2s));
}

BOOST_AUTO_TEST_CASE(serialize_one_holder_per_key_first_come_first_served) {
  serializer<int> s(100);
  std::uint64_t id = 0;
  int v = 1;
  BOOST_TEST((s.acquire("terminal_id=T1", v, id) == serializer<int>::verdict::go));
  std::uint64_t ids[3];
  for (int i = 0; i < 3; ++i) {
    int w = 10 + i;
    BOOST_TEST((s.acquire("terminal_id=T1", w, ids[i]) == serializer<int>::verdict::wait));
  }
  // Another key is not held up.
  int other = 2;
  BOOST_TEST((s.acquire("terminal_id=T2", other, id) == serializer<int>::verdict::go));
  BOOST_TEST(s.waiting() == 3u);
  BOOST_TEST(s.held() == 2u);
  // The second waiter gives up (its deadline passed); the others get the key in order.
  auto gone = s.cancel("terminal_id=T1", ids[1]);
  BOOST_TEST((gone && *gone == 11));
  BOOST_TEST(!s.cancel("terminal_id=T1", ids[1]));
  auto next = s.release("terminal_id=T1");
  BOOST_TEST((next && *next == 10));
  BOOST_TEST(!s.cancel("terminal_id=T1", ids[0]));  // it holds the key now: nothing to cancel
  next = s.release("terminal_id=T1");
  BOOST_TEST((next && *next == 12));
  BOOST_TEST(!s.release("terminal_id=T1"));  // no one waits: the key is free
  BOOST_TEST(s.held() == 1u);
  int again = 3;
  BOOST_TEST((s.acquire("terminal_id=T1", again, id) == serializer<int>::verdict::go));
}

BOOST_AUTO_TEST_CASE(serialize_queue_is_bounded_over_every_key) {
  serializer<int> s(2);
  std::uint64_t id = 0;
  int a = 1, b = 2, c = 3, d = 4, e = 5;
  BOOST_TEST((s.acquire("k=A", a, id) == serializer<int>::verdict::go));
  BOOST_TEST((s.acquire("k=B", b, id) == serializer<int>::verdict::go));
  BOOST_TEST((s.acquire("k=A", c, id) == serializer<int>::verdict::wait));
  BOOST_TEST((s.acquire("k=B", d, id) == serializer<int>::verdict::wait));
  BOOST_TEST((s.acquire("k=A", e, id) == serializer<int>::verdict::full));
  BOOST_TEST(e == 5);  // left with the caller
  BOOST_TEST(s.waiting_for("k=A") == 1u);
}

// Many calls over a few keys, ended in random order: never two in flight for one key, each key's
// calls in arrival order, and calls of other keys never wait for it.
BOOST_AUTO_TEST_CASE(serialize_never_two_in_flight_for_a_key_under_random_completion) {
  serializer<int> s(10000);
  std::mt19937 rng(11);
  std::map<std::string, int> in_flight;
  std::map<std::string, std::vector<int>> arrived, started;
  std::vector<std::pair<std::string, int>> running;
  auto start = [&](const std::string& key, int call) {
    BOOST_REQUIRE(++in_flight[key] == 1);
    started[key].push_back(call);
    running.emplace_back(key, call);
  };
  for (int call = 0; call < 3000; ++call) {
    if (!running.empty() && rng() % 2 == 0) {
      auto i = rng() % running.size();
      auto [key, done] = running[i];
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      --in_flight[key];
      if (auto next = s.release(key)) start(key, *next);
    }
    std::string key = "terminal_id=T" + std::to_string(rng() % 5);
    arrived[key].push_back(call);
    int v = call;
    std::uint64_t id = 0;
    if (s.acquire(key, v, id) == serializer<int>::verdict::go) start(key, call);
  }
  while (!running.empty()) {
    auto [key, done] = running.back();
    running.pop_back();
    --in_flight[key];
    if (auto next = s.release(key)) start(key, *next);
  }
  BOOST_TEST(s.waiting() == 0u);
  BOOST_TEST(s.held() == 0u);
  for (auto& [key, calls] : arrived) BOOST_TEST(calls == started[key]);
}

BOOST_AUTO_TEST_CASE(profile_reads_pacing_and_serialize_by) {
  auto out = dragoman::codecs::compile_profile(R"({
    "name": "t", "framing": {"type": "delimiter", "delimiters": "\n", "max_frame_length": 512},
    "upstream": {"pacing": {"rate": 50, "burst": 10, "queue": 20,
                            "operations": {"purchase": {"rate": 0.5}}}},
    "operations": {"purchase": {"serialize_by": ["terminal_id"],
      "request": {"layout": "delimited", "separator": "|", "fields": [{"name": "op", "value": "P"},
                  {"as": "terminal_id", "required": true}, {"as": "amount"}]},
      "reply": {"layout": "delimited", "separator": "|", "fields": [{"name": "code"}]}}}})");
  BOOST_TEST_REQUIRE(out.errors.empty(), (out.errors.empty() ? "" : out.errors.front()));
  const auto& p = out.compiled->upstream.pacing;
  BOOST_TEST(p.enabled());
  BOOST_TEST(p.endpoint.rate == 50.0);
  BOOST_TEST(p.endpoint.burst == 10u);
  BOOST_TEST(p.queue == 20u);
  BOOST_TEST_REQUIRE(p.operations.size() == 1u);
  BOOST_TEST(p.operations[0].first == "purchase");
  BOOST_TEST(p.operations[0].second.rate == 0.5);
  BOOST_TEST(p.operations[0].second.burst == 1u);
  const auto* op = out.compiled->find_operation("purchase");
  BOOST_TEST_REQUIRE(op->serialize_by.size() == 1u);
  BOOST_TEST(op->request.fields[op->serialize_by[0]].name == "terminal_id");
}

BOOST_AUTO_TEST_CASE(profile_pacing_mistakes_are_named_by_path) {
  auto out = dragoman::codecs::compile_profile(R"({
    "name": "t", "framing": {"type": "delimiter", "delimiters": "\n", "max_frame_length": 512},
    "upstream": {"pacing": {"rate": 0, "burst": 0,
                            "operations": {"refund": {"rate": 5}, "purchase": {"burst": 2}}}},
    "operations": {"purchase": {"serialize_by": ["terminal", 3],
      "request": {"layout": "delimited", "separator": "|", "fields": [{"as": "terminal_id"}]},
      "reply": {"layout": "delimited", "separator": "|", "fields": [{"name": "code"}]}}}})");
  auto has = [&](const std::string& text) {
    for (const auto& e : out.errors)
      if (e.find(text) != std::string::npos) return true;
    return false;
  };
  BOOST_TEST(has("upstream.pacing.rate: must be a number of messages per second"));
  BOOST_TEST(has("upstream.pacing.burst"));
  BOOST_TEST(has("upstream.pacing.operations.refund: no operation named \"refund\""));
  BOOST_TEST(has("upstream.pacing.operations.purchase.rate: is required"));
  BOOST_TEST(has("operations.purchase.serialize_by[0]: no request field named \"terminal\""));
  BOOST_TEST(has("operations.purchase.serialize_by[1]: must be a request field name"));
}
