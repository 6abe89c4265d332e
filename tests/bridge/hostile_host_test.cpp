// Hostile hosts, on loopback: a length prefix announcing gigabytes, a peer that talks (echoes)
// forever, a peer that accepts and never reads, a peer that dribbles its replies byte by byte,
// and one that closes in the middle of a frame. Each asserts the code the affected call gets and
// that every other caller is served meanwhile. Waits are for events and bounded (wait.hpp).
#define BOOST_TEST_MODULE hostile_host_test
#include <boost/test/unit_test.hpp>

#include "bridge/host_port.hpp"
#include "codecs/frame_reader.hpp"
#include "codecs/pipeline.hpp"
#include "engine_rig.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <string>
#include <vector>

using namespace engine_rig;
using bridge::call_code;

namespace {

using tcp = asio::ip::tcp;

// Between the engine and a host: requests go through as they are; the host's frames go back
// whole, except those of `op`: dribbled one byte every `dribble` (when set), or, with `cut`, half
// of the frame is written and both connections are closed.
class hostile_proxy {
 public:
  hostile_proxy(std::shared_ptr<const codecs::profile> p, std::string host_endpoint, std::string op,
                std::chrono::milliseconds dribble, bool cut)
      : profile_(std::move(p)),
        host_(bridge::parse_endpoint(host_endpoint)),
        op_(std::move(op)),
        dribble_(dribble),
        cut_(cut),
        acceptor_(ctx_, {asio::ip::make_address("127.0.0.1"), 0}) {
    asio::co_spawn(ctx_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ctx_.run(); });
  }
  ~hostile_proxy() {
    ctx_.stop();
    thread_.join();
  }
  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }
  std::uint64_t cuts() const { return cuts_.load(); }

 private:
  asio::awaitable<void> accept_loop() {
    constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
    for (;;) {
      auto [ec, engine_side] = co_await acceptor_.async_accept(tuple);
      if (ec) co_return;
      auto a = std::make_shared<tcp::socket>(std::move(engine_side));
      auto b = std::make_shared<tcp::socket>(ctx_);
      tcp::resolver resolver(ctx_);
      auto [rec, found] = co_await resolver.async_resolve(host_.host, host_.port, tuple);
      if (rec) continue;
      auto [cec, to] = co_await asio::async_connect(*b, found, tuple);
      if (cec) continue;
      asio::co_spawn(ctx_, forward(a, b), asio::detached);
      asio::co_spawn(ctx_, replies(b, a), asio::detached);
    }
  }

  static void close(tcp::socket& a, tcp::socket& b) {
    boost::system::error_code ignored;
    a.close(ignored);
    b.close(ignored);
  }

  asio::awaitable<void> forward(std::shared_ptr<tcp::socket> from,
                                std::shared_ptr<tcp::socket> to) {
    constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
    std::vector<std::uint8_t> buf(1 << 16);
    for (;;) {
      auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), tuple);
      if (ec) break;
      auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(buf.data(), n), tuple);
      if (wec) break;
    }
    close(*from, *to);
  }

  asio::awaitable<void> replies(std::shared_ptr<tcp::socket> from,
                                std::shared_ptr<tcp::socket> to) {
    constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
    codecs::frame_reader frames(profile_->framing->make_decoder(), 1 << 20);
    codecs::record scratch;
    std::vector<std::uint8_t> buf(1 << 16);
    asio::steady_timer timer(ctx_);
    for (;;) {
      auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), tuple);
      if (ec || !frames.append(codecs::byte_view(buf.data(), n))) break;
      for (auto e = frames.next(); e.kind == codecs::frame_reader::event_kind::frame;
           e = frames.next()) {
        codecs::byte_buffer frame;
        if (!profile_->framing->encode(e.payload, frame)) co_return close(*from, *to);
        auto d = codecs::decode_payload(*profile_, e.payload, scratch,
                                        codecs::decode_preference::replies_first);
        const bool hostile = d && d->op->name == op_;
        if (hostile && cut_) {
          ++cuts_;
          co_await asio::async_write(*to, asio::buffer(frame.data(), frame.size() / 2), tuple);
          co_return close(*from, *to);
        }
        const std::size_t step = hostile && dribble_.count() > 0 ? 1 : frame.size();
        for (std::size_t at = 0; at < frame.size(); at += step) {
          auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(&frame[at], step), tuple);
          if (wec) co_return close(*from, *to);
          if (step == 1) {
            timer.expires_after(dribble_);
            co_await timer.async_wait(tuple);
          }
        }
      }
    }
    close(*from, *to);
  }

  std::shared_ptr<const codecs::profile> profile_;
  bridge::endpoint_address host_;
  std::string op_;
  std::chrono::milliseconds dribble_;
  bool cut_;
  asio::io_context ctx_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<std::uint64_t> cuts_{0};
};

// Accepts connections and never reads a byte from them.
struct mute_host {
  mute_host() : acceptor(ctx, {asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread = std::thread([this] { ctx.run(); });
  }
  ~mute_host() {
    ctx.stop();
    thread.join();
  }
  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      held.push_back(std::move(s));
      accept();
    });
  }
  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }
  asio::io_context ctx;
  tcp::acceptor acceptor;
  std::vector<tcp::socket> held;
  std::thread thread;
};

// Accepts connections and floods each with the profile's echo requests, never reading a byte.
struct flooding_host {
  explicit flooding_host(const codecs::profile& p) : acceptor(ctx) {
    // A small receive buffer (inherited by accepted sockets): dragoman's answers stall soon.
    const tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(at.protocol());
    acceptor.set_option(asio::socket_base::receive_buffer_size(4096));
    acceptor.bind(at);
    acceptor.listen();
    const codecs::operation* echo = p.find_operation("echo");
    BOOST_REQUIRE(echo);
    codecs::byte_buffer payload;
    for (int i = 0; i < 2000; ++i) {
      codecs::record r;
      r.reset(echo->request.fields.size());
      r.set(0, "ECHQ");
      std::string trace = std::to_string(100000 + i);
      r.set(1, trace);
      BOOST_REQUIRE(codecs::encode_message(p, echo->request, r, payload, burst));
    }
    accept();
    thread = std::thread([this] { ctx.run(); });
  }
  ~flooding_host() {
    ctx.stop();
    thread.join();
  }
  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket s) {
      if (ec) return;
      flood(std::make_shared<tcp::socket>(std::move(s)), 0);
      accept();
    });
  }
  // Bounded: at most 5000 bursts (10 million requests) per connection; the socket is held open
  // (not read) until the host stops.
  void flood(std::shared_ptr<tcp::socket> s, int n) {
    if (n >= 5000) return held.push_back(std::move(s));
    asio::async_write(*s, asio::buffer(burst),
                      [this, s, n](boost::system::error_code ec, std::size_t) {
                        if (!ec) flood(s, n + 1);
                      });
  }
  std::string endpoint() const {
    return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }
  asio::io_context ctx;
  tcp::acceptor acceptor;
  codecs::byte_buffer burst;
  std::vector<std::shared_ptr<tcp::socket>> held;
  std::thread thread;
};

json::object transfer_data() {
  return {{"from", "1"}, {"to", "2"}, {"amount", "5.00"}};
}

std::uint64_t too_long(engine_fixture& f) {
  return f.engine->stats()
      .at("frames_rejected_total")
      .at("frame_too_long")
      .to_number<std::uint64_t>();
}

}  // namespace

// A 4-byte length prefix of 0xFFFFFFFF (the simulator's unframed garbage): the reply is not
// waited for (nor anything allocated for it); the connection is dropped at once, the call on it
// gets upstream_protocol_error naming the limit, and every other call is served.
BOOST_AUTO_TEST_CASE(a_length_prefix_announcing_gigabytes_drops_the_connection) {
  auto o = acme_json();
  o["framing"].as_object()["length_field_length"] = 4;
  auto p = compile(o);
  sim_host bad(
      p, rules({json::object{{"op", "transfer"}, {"fault", "garbage"}, {"garbage", "unframed"}}}));
  sim_host good(p);
  engine_fixture f(p, options({bad.endpoint(), good.endpoint()}));
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1; }));
  call_result hit;
  for (int i = 0; i < 10 && hit.endpoint != bad.endpoint(); ++i) {
    auto r = f.call("transfer", transfer_data(), 5000ms);
    if (r.endpoint != bad.endpoint()) BOOST_TEST(code(r) == "ok", r.message);
    hit = std::move(r);
  }
  BOOST_REQUIRE(hit.endpoint == bad.endpoint());
  BOOST_TEST(code(hit) == "upstream_protocol_error", hit.message);
  BOOST_TEST(hit.status == 502);
  BOOST_TEST(hit.sent);
  BOOST_TEST(hit.message.find("4294967") != std::string::npos, hit.message);
  BOOST_TEST(hit.message.find("exceeds max_frame_length 4096") != std::string::npos, hit.message);
  BOOST_TEST(too_long(f) == 1u);
  // Everyone else is served meanwhile, and the bad host's connection comes back.
  for (int i = 0; i < 20; ++i) BOOST_TEST(code(f.balance()) == "ok");
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1; }));
  BOOST_TEST(f.breaker(0) == "closed");
}

// A peer that sends its own echo every 10 ms, forever, while dragoman heartbeats every 50 ms of
// quiet: each of its echoes is answered once (no amplification), dragoman's own echoes stay one
// at a time and none goes unanswered, and calls are served throughout.
BOOST_AUTO_TEST_CASE(a_peer_that_echoes_forever_causes_no_storm) {
  auto p = acme(50, 300);
  json::object r{{"send", json::array{json::object{{"op", "echo"}, {"every_ms", 10}}}}};
  sim_host host(p, r);
  engine_fixture f(p, options({host.endpoint()}));
  BOOST_REQUIRE(f.wait_ready());
  for (int i = 0; i < 50; ++i) BOOST_TEST(code(f.balance()) == "ok");
  BOOST_REQUIRE(eventually([&] { return host.sim->stats().answers.load() >= 20u; }));
  const auto answers = host.sim->stats().answers.load();
  // dragoman's heartbeats: only after 50 ms without traffic, which a peer talking every 10 ms
  // never leaves; whatever went out was answered and nothing was replaced.
  BOOST_TEST(host.requests("echo") <= f.stat("heartbeats_total"));
  BOOST_TEST(f.stat("heartbeats_total") <= host.requests("echo") + 1);  // one out at a time
  BOOST_TEST(f.stat("heartbeat_failures_total") == 0u);
  BOOST_TEST(f.stat("connects_total") == 1u);
  BOOST_TEST(host.sim->stats().bad_frames.load() == 0u);
  // One answer per echo: what the simulator counted never exceeds what it sent.
  BOOST_TEST(answers <= f.stat("unsolicited_total"));
  BOOST_TEST(code(f.balance()) == "ok");
}

// A host that accepts and never reads (no session, so the connection is up at once), preferred
// by priority: what its connection holds is bounded by --max-in-flight (8 here): the calls
// beyond are overloaded there, never written, and go to the second priority, which answers
// them; the 8 written get upstream_timeout with sent true at their deadline; with nothing heard,
// those timeouts eject the endpoint (one of two at 50 %), and the other host serves every call.
BOOST_AUTO_TEST_CASE(a_host_that_never_reads_fails_its_calls_and_others_are_served) {
  auto j = acme_json();
  j.erase("session");
  auto p = compile(j);
  mute_host mute;
  sim_host good(p);
  auto o = options({mute.endpoint(), good.endpoint() + ";priority=1"});
  o.max_in_flight_per_connection = 8;
  o.breaker_failures = 2;
  o.breaker_cooldown = 60000ms;
  o.retry_budget_floor = 100;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1; }));
  std::vector<std::future<call_result>> calls;
  for (int i = 0; i < 12; ++i) calls.push_back(f.submit("transfer", transfer_data(), 300ms));
  int timeouts = 0, answered = 0;
  for (auto& c : calls) {
    BOOST_REQUIRE(c.wait_for(10s) == std::future_status::ready);
    auto r = c.get();
    if (code(r) == "upstream_timeout") {
      ++timeouts;
      BOOST_TEST(r.sent);
      BOOST_TEST(r.endpoint == mute.endpoint());
      BOOST_TEST(r.attempts == 1);
    } else {
      ++answered;
      BOOST_TEST(code(r) == "ok", r.message);
      BOOST_TEST(r.endpoint == good.endpoint());
      BOOST_TEST(r.attempts == 2);  // refused by the full connection first, never written there
    }
  }
  BOOST_TEST(timeouts == 8);  // never more than the connection holds in flight
  BOOST_TEST(answered == 4);
  BOOST_TEST(f.breaker(0) == "open");
  for (int i = 0; i < 10; ++i) {
    auto r = f.transfer();
    BOOST_TEST(code(r) == "ok", r.message);
    BOOST_TEST(r.attempts == 1);
  }
}

// A host that sends echo requests without end and never reads the answers (a session that
// answers echoes, without sign-on, so the connection is up at once): the answers waiting behind
// the stalled write are bounded, the connection is dropped with the reason (a lost connection,
// which ejects it here), and the other host serves every call.
BOOST_AUTO_TEST_CASE(a_host_that_floods_requests_and_never_reads_is_dropped) {
  auto j = acme_json();
  auto& session = j["session"].as_object();
  session.erase("sign_on");
  session.erase("sign_off");
  auto p = compile(j);
  flooding_host flood(*p);
  sim_host good(p);
  auto o = options({flood.endpoint(), good.endpoint()});
  o.breaker_failures = 1;  // the drop (a lost connection) ejects it: reconnecting floods again
  o.breaker_cooldown = 60000ms;
  engine_fixture f(p, o);
  const bool dropped = eventually(
      [&] {
        auto ep = f.engine->describe_upstreams().at("endpoints").as_array().at(0).as_object();
        const auto& e = ep.at("last_error");
        return e.is_string() && e.as_string().find("the host does not read") != std::string::npos;
      },
      60s);  // the kernel takes a few MB first: seconds, or tens of them under ThreadSanitizer
  BOOST_REQUIRE_MESSAGE(dropped, json::serialize(f.engine->describe_upstreams()) + " " +
                                     json::serialize(f.engine->stats()));
  BOOST_TEST(f.stat("unsolicited_total") > 1000u);
  BOOST_TEST(f.breaker(0) == "open");
  for (int i = 0; i < 20; ++i) {
    auto r = f.balance();
    BOOST_TEST(code(r) == "ok", r.message);
  }
}

// A host whose balance replies come one byte every 20 ms (a 60-byte reply takes over a second):
// the call gets upstream_timeout at its deadline, not a hang; the other host serves meanwhile.
BOOST_AUTO_TEST_CASE(a_host_that_dribbles_its_replies_times_out_and_others_are_served) {
  auto p = acme();
  sim_host slow(p), good(p);
  hostile_proxy dribbling(p, slow.endpoint(), "balance", 20ms, false);
  auto o = options({dribbling.endpoint(), good.endpoint()});
  o.breaker_failures = 1000;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1; }));
  int timeouts = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = f.balance(300ms);
    if (r.endpoint == dribbling.endpoint()) {
      ++timeouts;
      BOOST_TEST(code(r) == "upstream_timeout", r.message);
      BOOST_TEST(r.sent);
    } else {
      BOOST_TEST(code(r) == "ok", r.message);
    }
  }
  BOOST_TEST(timeouts >= 1);
  BOOST_TEST(timeouts <= 5);
}

// A host that closes in the middle of a reply frame: the call gets upstream_timeout with sent
// true (the host had it; never "try again"), the half frame is thrown away with the connection,
// which comes back, and the other calls are served.
BOOST_AUTO_TEST_CASE(a_host_that_closes_mid_frame) {
  auto p = acme();
  sim_host host(p), good(p);
  hostile_proxy cutting(p, host.endpoint(), "transfer", 0ms, true);
  auto o = options({cutting.endpoint(), good.endpoint()});
  o.breaker_failures = 1000;
  engine_fixture f(p, o);
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1 && f.up(1) == 1; }));
  call_result hit;
  for (int i = 0; i < 10 && hit.endpoint != cutting.endpoint(); ++i) {
    BOOST_REQUIRE(eventually([&] { return f.up(0) == 1; }));
    hit = f.transfer();
  }
  BOOST_REQUIRE(hit.endpoint == cutting.endpoint());
  BOOST_TEST(cutting.cuts() == 1u);
  BOOST_TEST(code(hit) == "upstream_timeout", hit.message);
  BOOST_TEST(hit.sent);
  BOOST_TEST(!hit.retry_after_seconds.has_value());
  BOOST_TEST(hit.message.find("closed by the peer") != std::string::npos, hit.message);
  for (int i = 0; i < 10; ++i) BOOST_TEST(code(f.balance()) == "ok");
  BOOST_REQUIRE(eventually([&] { return f.up(0) == 1; }));
}
