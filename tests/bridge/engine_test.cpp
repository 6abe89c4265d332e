// Tests for the call engine (translator + upstream pool) against an in-test fake upstream on
// loopback that decodes requests with the profile and answers by echoing the correlation key.
#define BOOST_TEST_MODULE engine_test
#include <boost/test/unit_test.hpp>

#include "bridge/engine.hpp"
#include "bridge/io_pool.hpp"
#include "bridge/host_port.hpp"
#include "bridge/upstream_shared.hpp"
#include "upstream_fixture.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/profile.hpp"
#include "wait.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace json = boost::json;
using asio::ip::tcp;
using namespace dragoman;
using namespace std::chrono_literals;
using bridge::call_code;
using bridge::call_result;
using test::eventually;

namespace {

// The shipped acme-core profile (field correlation on "trace"), or the same dialect with another
// correlation mode (sequential: one call in flight per connection; ordered: pipelined).
std::shared_ptr<const codecs::profile> acme(const std::string& mode = "field") {
  std::string text = test::acme_text(mode);
  // These tests count requests at the host: no session messages (resilience_test has those).
  json::parse_options opts;
  opts.allow_comments = true;
  opts.allow_trailing_commas = true;
  json::object o = json::parse(text, {}, opts).as_object();
  o.erase("session");
  auto out = codecs::compile_profile(json::serialize(o));
  for (const auto& e : out.errors) BOOST_TEST_MESSAGE(e);
  BOOST_REQUIRE(out.compiled);
  return out.compiled;
}

// Plays the host: decodes each request frame and answers it. All frames decoded from one read
// are answered in reverse order, so replies come out of order under load.
class fake_upstream {
 public:
  enum class mode { echo, never, garbage_once, unknown_then_echo, delay };

  explicit fake_upstream(std::shared_ptr<const codecs::profile> p)
      : profile_(std::move(p)), acceptor_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ctx_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ctx_.run(); });
  }
  ~fake_upstream() {
    ctx_.stop();
    thread_.join();
  }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  void set_mode(mode m) { mode_.store(static_cast<int>(m)); }

  std::atomic<int> connections{0};
  std::atomic<int> requests{0};
  std::chrono::milliseconds delay{300};
  std::atomic<bool> in_order{false};  // answer a read's requests in order (else reversed)

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++connections;
      asio::co_spawn(ctx_, session(std::move(sock)), asio::detached);
    }
  }

  // The reply record for a request: same-named fields echoed (the key among them), match
  // constants filled, success code and fixed amounts.
  void build_reply(const codecs::operation& op, const codecs::record& req, codecs::record& rep) {
    rep.reset(op.reply.fields.size());
    for (std::size_t i = 0; i < op.reply.fields.size(); ++i) {
      const auto& name = op.reply.fields[i].name;
      if (auto j = op.request.index_of(name); j && req.has(*j)) rep.set(i, req.get(*j));
    }
    for (const auto& [idx, value] : op.reply.match) rep.set(idx, value);
    if (op.result.field) rep.set(*op.result.field, "00");
    if (auto i = op.reply.index_of("balance")) rep.set(*i, "100.25");
    if (auto i = op.reply.index_of("currency")) rep.set(*i, "EUR");
    if (auto i = op.reply.index_of("reference")) rep.set(*i, "REF1");
  }

  asio::awaitable<void> session(tcp::socket s) {
    auto decoder = profile_->framing->make_decoder();
    std::vector<std::uint8_t> buf(1 << 17);
    std::size_t have = 0;
    codecs::record req, rep;
    codecs::byte_buffer payload, out;
    std::vector<codecs::byte_buffer> replies;
    for (;;) {
      auto [ec, n] = co_await s.async_read_some(asio::buffer(buf.data() + have, buf.size() - have),
                                                asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      have += n;
      std::size_t pos = 0;
      replies.clear();
      auto m = static_cast<mode>(mode_.load());
      while (pos < have) {
        auto fr = decoder->decode(codecs::byte_view(buf.data() + pos, have - pos));
        if (fr.status == codecs::frame_status::need_more) break;
        if (fr.status != codecs::frame_status::frame) co_return;
        auto d = codecs::decode_payload(*profile_, fr.payload, req,
                                        codecs::decode_preference::requests_first);
        pos += fr.consumed;
        if (!d || d->is_reply) co_return;
        ++requests;
        build_reply(*d->op, req, rep);
        codecs::byte_buffer frame;
        if (m == mode::unknown_then_echo) {
          auto idx = d->op->reply.correlation_field;
          codecs::record other = rep;
          std::string key(rep.get(*idx));
          other.set(*idx, std::to_string((std::stoul(key) + 500000) % 1000000));
          if (!codecs::encode_message(*profile_, d->op->reply, other, payload, frame)) co_return;
        }
        if (!codecs::encode_message(*profile_, d->op->reply, rep, payload, frame)) co_return;
        replies.push_back(std::move(frame));
      }
      std::memmove(buf.data(), buf.data() + pos, have - pos);
      have -= pos;
      if (m == mode::never || replies.empty()) continue;
      out.clear();
      if (m == mode::garbage_once) {
        // A well-framed payload that no message of the profile decodes.
        out = {0x00, 0x04, 'Z', 'Z', 'Z', 'Z'};
        set_mode(mode::echo);
      } else if (in_order) {
        for (const auto& r : replies) out.insert(out.end(), r.begin(), r.end());
      } else {
        for (auto it = replies.rbegin(); it != replies.rend(); ++it)
          out.insert(out.end(), it->begin(), it->end());
      }
      if (m == mode::delay) {
        asio::steady_timer t(ctx_, delay);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      auto [wec, wn] =
          co_await asio::async_write(s, asio::buffer(out), asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
    }
  }

  std::shared_ptr<const codecs::profile> profile_;
  asio::io_context ctx_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<int> mode_{static_cast<int>(mode::echo)};
  std::thread thread_;
};

// An engine on its own io_pool, with a helper that waits (bounded) for one call's result.
struct engine_fixture {
  explicit engine_fixture(std::shared_ptr<const codecs::profile> p, bridge::engine_options o)
      : profile(std::move(p)), pool(2) {
    engine = bridge::make_engine(profile, std::move(o), pool, counters_);
    pool.start();
  }
  ~engine_fixture() {
    engine.reset();
    pool.stop();
    pool.join();
  }

  void submit(const std::string& op, json::object data, std::function<void(call_result)> done,
              std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    bridge::call_request req;
    req.op = op;
    req.data = std::move(data);
    req.timeout = timeout;
    engine->submit(std::move(req), pool.at(0).get_executor(), std::move(done));
  }

  call_result call(const std::string& op, json::object data,
                   std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    auto promise = std::make_shared<std::promise<call_result>>();
    auto future = promise->get_future();
    submit(
        op, std::move(data), [promise](call_result r) { promise->set_value(std::move(r)); },
        timeout);
    BOOST_REQUIRE(future.wait_for(10s) == std::future_status::ready);
    return future.get();
  }

  // n concurrent balance calls for accounts first, first+1, ...; waits up to limit for every
  // answer. Returns {answered ok, answered with their own account echoed}.
  std::pair<int, int> balance_burst(int n, int first, std::chrono::seconds limit) {
    std::mutex m;
    std::condition_variable cv;
    int done = 0, ok = 0, matched = 0;
    for (int i = 0; i < n; ++i) {
      std::string account = std::to_string(first + i);
      submit("balance", {{"account", account}}, [&, account](call_result r) {
        std::lock_guard lock(m);
        ++done;
        if (r.code == call_code::ok) ++ok;
        if (auto* a = r.data.if_contains("account");
            a && a->is_string() && a->get_string() == account)
          ++matched;
        cv.notify_all();
      });
    }
    std::unique_lock lock(m);
    BOOST_REQUIRE(cv.wait_for(lock, limit, [&] { return done == n; }));
    return {ok, matched};
  }

  bool wait_ready() {
    return eventually([&] { return engine->ready(); });
  }

  const bridge::upstream_counters& counters() const { return *counters_; }

  std::shared_ptr<bridge::upstream_counters> counters_ =
      std::make_shared<bridge::upstream_counters>();

  std::shared_ptr<const codecs::profile> profile;
  bridge::io_pool pool;
  std::unique_ptr<bridge::call_engine> engine;
};

bridge::engine_options options_for(const std::string& endpoint, std::size_t connections = 1) {
  bridge::engine_options o;
  o.upstreams = {endpoint};
  o.connections_per_endpoint = connections;
  o.connect_timeout = 1000ms;
  o.reconnect_min = 20ms;
  o.reconnect_max = 200ms;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(codes_and_statuses) {
  BOOST_TEST(bridge::to_string(call_code::upstream_timeout) == "upstream_timeout");
  BOOST_TEST(bridge::http_status(call_code::upstream_timeout) == 504);
  BOOST_TEST(bridge::http_status(call_code::upstream_protocol_error) == 502);
  BOOST_TEST(bridge::http_status(call_code::upstream_unavailable) == 503);
  BOOST_TEST(bridge::http_status(call_code::unknown_operation) == 404);
  BOOST_TEST(bridge::http_status(call_code::invalid_field) == 422);
}

BOOST_AUTO_TEST_CASE(endpoint_parsing) {
  auto a = bridge::parse_endpoint("127.0.0.1:9000");
  BOOST_TEST(a.host == "127.0.0.1");
  BOOST_TEST(a.port == "9000");
  auto b = bridge::parse_endpoint("[::1]:7");
  BOOST_TEST(b.host == "::1");
  BOOST_CHECK_THROW(bridge::parse_endpoint("nohost"), std::invalid_argument);
  BOOST_CHECK_THROW(bridge::parse_endpoint("h:99999"), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(round_trip) {
  auto p = acme();
  fake_upstream host(p);
  engine_fixture f(p, options_for(host.endpoint()));
  auto r = f.call("balance", {{"account", "12345"}});
  BOOST_TEST(bridge::to_string(r.code) == "ok");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.legacy_code == "00");
  BOOST_TEST(r.attempts == 1);
  BOOST_TEST(json::serialize(r.data.at("account")) == "\"12345\"");
  BOOST_TEST(r.data.contains("balance"));
  BOOST_TEST(f.engine->ready());
  BOOST_TEST(f.counters().ok.load() == 1u);
}

BOOST_AUTO_TEST_CASE(unknown_operation) {
  auto p = acme();
  engine_fixture f(p, options_for("127.0.0.1:1"));
  auto r = f.call("nosuch", {});
  BOOST_TEST(bridge::to_string(r.code) == "unknown_operation");
  BOOST_TEST(r.status == 404);
  BOOST_TEST(r.message.find("nosuch") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(invalid_field) {
  auto p = acme();
  fake_upstream host(p);
  engine_fixture f(p, options_for(host.endpoint()));
  auto missing = f.call("balance", {});
  BOOST_TEST(bridge::to_string(missing.code) == "invalid_field");
  BOOST_TEST(missing.status == 422);
  BOOST_TEST(missing.message.find("account") != std::string::npos, missing.message);
  // Too long for the 12-character layout field: found when the frame is encoded.
  auto too_long = f.call("balance", {{"account", "1234567890123456"}});
  BOOST_TEST(bridge::to_string(too_long.code) == "invalid_field");
  BOOST_TEST(too_long.message.find("account") != std::string::npos, too_long.message);
  // The connection is unharmed.
  BOOST_TEST(bridge::to_string(f.call("balance", {{"account", "1"}}).code) == "ok");
}

BOOST_AUTO_TEST_CASE(thousand_concurrent_calls_on_one_connection) {
  auto p = acme();
  fake_upstream host(p);
  engine_fixture f(p, options_for(host.endpoint(), 1));
  BOOST_REQUIRE(f.wait_ready());
  constexpr int n = 1000;
  auto [ok, matched] = f.balance_burst(n, 100000, 20s);
  BOOST_TEST(ok == n);
  BOOST_TEST(matched == n);
  BOOST_TEST(host.connections.load() == 1);
  BOOST_TEST(f.counters().unmatched.load() == 0u);
}

BOOST_AUTO_TEST_CASE(deadline_honoured_when_the_host_never_answers) {
  auto p = acme();
  fake_upstream host(p);
  host.set_mode(fake_upstream::mode::never);
  engine_fixture f(p, options_for(host.endpoint()));
  BOOST_REQUIRE(f.wait_ready());
  // The answer is the deadline's: sent, and no reply in time (not refused before sending).
  auto r = f.call("balance", {{"account", "1"}}, 200ms);
  BOOST_TEST(bridge::to_string(r.code) == "upstream_timeout");
  BOOST_TEST(r.status == 504);
  BOOST_TEST(r.message == "no reply from " + host.endpoint() + " within the deadline", r.message);
  BOOST_TEST(r.attempts == 1);
  BOOST_TEST(r.sent);
  BOOST_TEST(!r.retry_after_seconds.has_value());
  // A caller's wish above the cap is capped: translator_test checks the capped value
  // (out.timeout). Here only the wiring: uncapped, the 60 s wish would outlast call()'s bounded
  // wait (10 s) and fail it.
  bridge::engine_options capped = options_for(host.endpoint());
  capped.max_timeout = 100ms;
  engine_fixture g(p, capped);
  BOOST_REQUIRE(g.wait_ready());
  r = g.call("balance", {{"account", "1"}}, 60000ms);
  BOOST_TEST(bridge::to_string(r.code) == "upstream_timeout");
  BOOST_TEST(r.message == "no reply from " + host.endpoint() + " within the deadline", r.message);
}

BOOST_AUTO_TEST_CASE(late_reply_is_counted_and_discarded) {
  auto p = acme();
  fake_upstream host(p);
  host.set_mode(fake_upstream::mode::delay);
  engine_fixture f(p, options_for(host.endpoint()));
  BOOST_REQUIRE(f.wait_ready());
  auto r = f.call("balance", {{"account", "1"}}, 50ms);
  BOOST_TEST(bridge::to_string(r.code) == "upstream_timeout");
  BOOST_TEST(eventually([&] { return f.counters().late.load() == 1u; }));
  BOOST_TEST(f.counters().unmatched.load() == 0u);
}

BOOST_AUTO_TEST_CASE(nothing_listening_is_upstream_unavailable) {
  unsigned short port = 0;
  {
    asio::io_context ctx;
    tcp::acceptor a(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  auto p = acme();
  engine_fixture f(p, options_for("127.0.0.1:" + std::to_string(port), 2));
  // Fails fast: a refused connect answers upstream_unavailable, not the 5 s deadline's
  // upstream_timeout.
  auto r = f.call("balance", {{"account", "1"}}, 5000ms);
  BOOST_TEST(bridge::to_string(r.code) == "upstream_unavailable", r.message);
  BOOST_TEST(r.status == 503);
  BOOST_TEST(r.retry_after_seconds.has_value());
  BOOST_TEST(!r.sent);  // no byte left: a retry is safe
  BOOST_TEST(!f.engine->ready());
  // Later calls fail fast too.
  r = f.call("balance", {{"account", "1"}}, 5000ms);
  BOOST_TEST(bridge::to_string(r.code) == "upstream_unavailable", r.message);
}

BOOST_AUTO_TEST_CASE(garbage_reply_is_a_protocol_error_and_the_connection_is_replaced) {
  auto p = acme();
  fake_upstream host(p);
  host.set_mode(fake_upstream::mode::garbage_once);
  engine_fixture f(p, options_for(host.endpoint()));
  BOOST_REQUIRE(f.wait_ready());
  // A transfer is not idempotent: its garbled answer is final.
  auto r = f.call("transfer", {{"from", "1"}, {"to", "2"}, {"amount", "1.00"}});
  BOOST_TEST(bridge::to_string(r.code) == "upstream_protocol_error");
  BOOST_TEST(r.status == 502);
  BOOST_TEST(r.attempts == 1);
  BOOST_TEST(r.sent);
  auto next = f.call("balance", {{"account", "2"}});
  BOOST_TEST(bridge::to_string(next.code) == "ok", next.message);
  BOOST_TEST(host.connections.load() == 2);
  BOOST_TEST(f.counters().reconnects.load() == 1u);
  BOOST_TEST(f.counters().decode_errors.load() == 1u);
}

BOOST_AUTO_TEST_CASE(garbage_reply_to_an_idempotent_call_is_retried) {
  auto p = acme();
  fake_upstream host(p);
  host.set_mode(fake_upstream::mode::garbage_once);
  engine_fixture f(p, options_for(host.endpoint()));
  BOOST_REQUIRE(f.wait_ready());
  auto r = f.call("balance", {{"account", "1"}}, 5000ms);
  BOOST_TEST(bridge::to_string(r.code) == "ok", r.message);
  BOOST_TEST(r.attempts == 2);
  BOOST_TEST(r.endpoint == host.endpoint());
  BOOST_TEST(f.counters().retries.load() == 1u);
  BOOST_TEST(host.requests.load() == 2);
}

BOOST_AUTO_TEST_CASE(unmatched_reply_is_counted_never_delivered) {
  auto p = acme();
  fake_upstream host(p);
  host.set_mode(fake_upstream::mode::unknown_then_echo);
  engine_fixture f(p, options_for(host.endpoint()));
  auto r = f.call("balance", {{"account", "7"}});
  BOOST_TEST(bridge::to_string(r.code) == "ok");
  BOOST_TEST(json::serialize(r.data.at("account")) == "\"7\"");
  BOOST_TEST(f.counters().unmatched.load() == 1u);
}

BOOST_AUTO_TEST_CASE(sequential_correlation) {
  auto p = acme("sequential");
  fake_upstream host(p);
  engine_fixture f(p, options_for(host.endpoint(), 1));
  constexpr int n = 50;
  BOOST_TEST(f.balance_burst(n, 0, 10s).second == n);  // each got its own reply
}

BOOST_AUTO_TEST_CASE(ordered_correlation_pipelines_on_one_connection) {
  auto p = acme("ordered");
  fake_upstream host(p);
  host.in_order = true;
  engine_fixture f(p, options_for(host.endpoint(), 1));
  BOOST_REQUIRE(f.wait_ready());
  constexpr int n = 300;
  BOOST_TEST(f.balance_burst(n, 0, 10s).second == n);  // each got its own reply
  BOOST_TEST(host.connections.load() == 1);
}

BOOST_AUTO_TEST_CASE(sequential_late_reply_keeps_the_order) {
  auto p = acme("sequential");
  fake_upstream host(p);
  host.set_mode(fake_upstream::mode::delay);
  host.delay = 150ms;
  engine_fixture f(p, options_for(host.endpoint(), 1));
  BOOST_REQUIRE(f.wait_ready());
  auto first = f.call("balance", {{"account", "1"}}, 50ms);
  BOOST_TEST(bridge::to_string(first.code) == "upstream_timeout");
  // Waits for the late reply to the first call, then gets its own.
  auto second = f.call("balance", {{"account", "2"}}, 2000ms);
  BOOST_TEST(bridge::to_string(second.code) == "ok", second.message);
  BOOST_TEST(json::serialize(second.data.at("account")) == "\"2\"");
  BOOST_TEST(f.counters().late.load() == 1u);
  BOOST_TEST(host.connections.load() == 1);
}

BOOST_AUTO_TEST_CASE(queue_limit_is_overloaded) {
  auto p = acme("sequential");
  fake_upstream host(p);
  host.set_mode(fake_upstream::mode::never);
  auto o = options_for(host.endpoint(), 1);
  o.max_queued = 2;
  engine_fixture f(p, o);
  BOOST_REQUIRE(f.wait_ready());
  std::mutex m;
  std::condition_variable cv;
  std::vector<call_code> codes;
  for (int i = 0; i < 5; ++i)
    f.submit(
        "balance", {{"account", "1"}},
        [&](call_result r) {
          std::lock_guard lock(m);
          codes.push_back(r.code);
          cv.notify_all();
        },
        300ms);
  std::unique_lock lock(m);
  BOOST_REQUIRE(cv.wait_for(lock, 5s, [&] { return codes.size() == 5; }));
  // One in flight and two queued time out; two are refused.
  BOOST_TEST(std::count(codes.begin(), codes.end(), call_code::overloaded) == 2);
  BOOST_TEST(std::count(codes.begin(), codes.end(), call_code::upstream_timeout) == 3);
}

// Calls the host has and never answers, cut off by the engine going away: answered once each, as
// timeouts that were sent (the host may act on them), never as unavailable (which says "retry").
BOOST_AUTO_TEST_CASE(shutdown_answers_every_call_once) {
  auto p = acme();
  fake_upstream host(p);
  host.set_mode(fake_upstream::mode::never);
  std::atomic<int> answered{0};
  std::atomic<int> sent_timeouts{0};
  {
    bridge::io_pool pool(2);
    auto engine = bridge::make_engine(p, options_for(host.endpoint(), 2), pool);
    pool.start();
    BOOST_REQUIRE(eventually([&] { return engine->ready(); }));
    for (int i = 0; i < 20; ++i) {
      bridge::call_request req;
      req.op = "balance";
      req.data = {{"account", "1"}};
      req.timeout = 30000ms;  // beyond the bounded waits below: only the shutdown answers them
      engine->submit(std::move(req), pool.at(1).get_executor(), [&](call_result r) {
        ++answered;
        if (r.code == call_code::upstream_timeout && r.sent && !r.retry_after_seconds)
          ++sent_timeouts;
      });
    }
    // Every call is in flight at the host (which never answers) when the engine goes.
    BOOST_REQUIRE(eventually([&] { return host.requests.load() == 20; }));
    BOOST_TEST(answered.load() == 0);
    engine.reset();
    BOOST_TEST(eventually([&] { return answered.load() == 20; }));
    pool.stop();
    pool.join();
  }
  BOOST_TEST(answered.load() == 20);
  BOOST_TEST(sent_timeouts.load() == 20);
}
