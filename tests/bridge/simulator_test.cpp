// Tests for the simulated legacy system over loopback: echo, defaults, rules, every fault,
// pipelining, bad frames and stop (rules and answer planning: simulator_rules_test).
#define BOOST_TEST_MODULE simulator_test
#include <boost/test/unit_test.hpp>

#include "bridge/simulator.hpp"
#include "bridge/simulator_rules.hpp"
#include "codecs/pipeline.hpp"
#include "simulator_fixture.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace codecs = dragoman::codecs;
namespace bridge = dragoman::bridge;
namespace sim = dragoman::bridge::sim;
using namespace simulator_fixture;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

constexpr milliseconds reply_timeout{3000};

// A simulator on 127.0.0.1:0 run by its own thread; stopped and joined at scope end (the context
// is stopped if stop() leaves work behind, so a leak fails the test instead of hanging it).
class running_simulator {
 public:
  explicit running_simulator(json::object rules = {}) {
    bridge::simulator_options options;
    options.listen = "127.0.0.1:0";
    options.rules = std::move(rules);
    sim_ = bridge::start_simulator(ctx_, acme(), std::move(options));
    done_ = ran_out_.get_future();
    thread_ = std::thread([this] {
      ctx_.run();
      ran_out_.set_value();
    });
  }
  ~running_simulator() {
    sim_->stop();
    guard_.reset();
    bool drained = done_.wait_for(milliseconds(2000)) == std::future_status::ready;
    if (!drained) ctx_.stop();
    thread_.join();
    BOOST_CHECK_MESSAGE(drained, "the simulator left work behind after stop()");
  }
  bridge::simulator& operator*() { return *sim_; }
  bridge::simulator* operator->() { return sim_.get(); }
  tcp::endpoint endpoint() const { return sim_->local_endpoint(); }

 private:
  asio::io_context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{ctx_.get_executor()};
  std::shared_ptr<bridge::simulator> sim_;
  std::thread thread_;
  std::promise<void> ran_out_;
  std::future<void> done_;
};

enum class got { frame, timeout, eof };

// A plain Asio client with its own io_context; every wait is bounded by run_for.
class client {
 public:
  explicit client(const tcp::endpoint& ep) : decoder_(acme()->framing->make_decoder()) {
    bool done = false;
    boost::system::error_code result;
    socket_.async_connect(ep, [&](boost::system::error_code ec) {
      result = ec;
      done = true;
    });
    run(done, milliseconds(2000));
    BOOST_REQUIRE_MESSAGE(done && !result, "connect: " << result.message());
  }

  // Encodes a request (trace from the client's own counter) and returns its record.
  codecs::record encode(std::string_view op_name, const json::object& fields,
                        codecs::byte_buffer& out) {
    const codecs::operation* op = acme()->find_operation(op_name);
    BOOST_REQUIRE(op);
    codecs::record rec;
    auto mapped = codecs::map_request(op->request, fields, gen_, rec);
    BOOST_REQUIRE_MESSAGE(mapped, "map_request: " << (mapped ? "" : mapped.error().to_string()));
    codecs::byte_buffer payload;
    auto encoded = codecs::encode_message(*acme(), op->request, rec, payload, out);
    BOOST_REQUIRE_MESSAGE(encoded, "encode: " << (encoded ? "" : encoded.error().to_string()));
    return rec;
  }

  codecs::record send(std::string_view op_name, const json::object& fields) {
    codecs::byte_buffer frame;
    codecs::record rec = encode(op_name, fields, frame);
    send_raw(frame);
    return rec;
  }

  void send_raw(const codecs::byte_buffer& bytes) {
    bool done = false;
    boost::system::error_code result;
    asio::async_write(socket_, asio::buffer(bytes), [&](boost::system::error_code ec, std::size_t) {
      result = ec;
      done = true;
    });
    run(done, milliseconds(2000));
    BOOST_REQUIRE_MESSAGE(done && !result, "write: " << result.message());
  }

  // The next whole frame's payload, or timeout / eof. Skips (oversized frames) count as frames
  // of garbage: the payload is then empty and skipped_ is set.
  got read_frame(codecs::byte_buffer& payload, milliseconds timeout) {
    auto deadline = steady::now() + timeout;
    while (true) {
      if (!input_.empty()) {
        auto fr = decoder_->decode(input_);
        if (fr.status == codecs::frame_status::frame) {
          payload.assign(fr.payload.begin(), fr.payload.end());
          input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(fr.consumed));
          return got::frame;
        }
        if (fr.status != codecs::frame_status::need_more) {
          payload.clear();
          skipped_ = true;
          input_.clear();
          return got::frame;
        }
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now());
      if (left.count() <= 0) return got::timeout;
      got g = read_some(left);
      if (g != got::frame) return g;
    }
  }

  // Whatever bytes arrive first (raw, unframed).
  got read_raw(codecs::byte_buffer& bytes, milliseconds timeout) {
    if (input_.empty()) {
      got g = read_some(timeout);
      if (g != got::frame) return g;
    }
    bytes = std::move(input_);
    input_.clear();
    return got::frame;
  }

  decoded_reply read_reply(milliseconds timeout = reply_timeout) {
    codecs::byte_buffer payload;
    got g = read_frame(payload, timeout);
    BOOST_REQUIRE_MESSAGE(g == got::frame, "expected a reply frame, got "
                                               << (g == got::eof ? "end of stream" : "timeout"));
    BOOST_REQUIRE(!skipped_);
    decoded_reply r;
    auto decoded =
        codecs::decode_payload(*acme(), payload, r.rec, codecs::decode_preference::replies_first);
    BOOST_REQUIRE_MESSAGE(
        decoded, "reply does not decode: " << (decoded ? "" : decoded.error().to_string()));
    BOOST_REQUIRE(decoded->is_reply);
    r.op = decoded->op;
    r.fields = codecs::map_reply(*decoded->msg, r.rec, true);
    return r;
  }

  bool skipped() const { return skipped_; }

 private:
  got read_some(milliseconds timeout) {
    std::array<codecs::byte, 4096> chunk;
    bool done = false;
    boost::system::error_code result;
    std::size_t n = 0;
    socket_.async_read_some(asio::buffer(chunk),
                            [&](boost::system::error_code ec, std::size_t bytes) {
                              result = ec;
                              n = bytes;
                              done = true;
                            });
    if (!run(done, timeout)) return got::timeout;
    if (result) return got::eof;  // end of stream or reset: the server closed
    input_.insert(input_.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    return got::frame;
  }

  // Runs until done or timeout; on timeout cancels and drains so nothing refers to the stack.
  bool run(bool& done, milliseconds timeout) {
    io_.restart();
    io_.run_for(timeout);
    if (done) return true;
    boost::system::error_code ec;
    socket_.cancel(ec);
    io_.restart();
    io_.run_for(milliseconds(1000));
    return false;
  }

  asio::io_context io_;
  tcp::socket socket_{io_};
  codecs::counter_generation_context gen_{*acme()};
  std::unique_ptr<codecs::frame_decoder> decoder_;
  codecs::byte_buffer input_;
  bool skipped_ = false;
};

const char* const defaults_rules = R"({
  "defaults": { "balance": { "balance": "1234.56", "currency": "EUR" } }
})";

}  // namespace

// Over loopback: the simulator as a peer sees it.

BOOST_AUTO_TEST_CASE(echoes_key_and_account_and_applies_defaults) {
  running_simulator sim(rules_from(defaults_rules));
  client c(sim.endpoint());
  const codecs::operation& balance = *acme()->find_operation("balance");
  codecs::record req = c.send("balance", balance_of("12345"));
  decoded_reply r = c.read_reply();
  BOOST_TEST(r.op == &balance);
  BOOST_TEST(text_of(r.fields, "tx_code") == "BALR");  // the match constant
  BOOST_TEST(number_of(trace_of(balance, r.rec, true)) == number_of(trace_of(balance, req, false)));
  BOOST_TEST(text_of(r.fields, "account") == "12345");
  BOOST_TEST(text_of(r.fields, "result") == "00");  // the first success code
  BOOST_TEST(text_of(r.fields, "balance") == "1234.56");
  BOOST_TEST(text_of(r.fields, "currency") == "EUR");
  BOOST_TEST(codecs::classify_reply(balance, r.rec).success);

  // No defaults for transfer: the reference is left empty, the result is still success.
  const codecs::operation& transfer = *acme()->find_operation("transfer");
  codecs::record xreq = c.send("transfer", transfer_of("111", "222", "10.00"));
  decoded_reply x = c.read_reply();
  BOOST_TEST(x.op == &transfer);
  BOOST_TEST(text_of(x.fields, "tx_code") == "XFRR");
  BOOST_TEST(number_of(trace_of(transfer, x.rec, true)) ==
             number_of(trace_of(transfer, xreq, false)));
  BOOST_TEST(text_of(x.fields, "result") == "00");
  BOOST_TEST(text_of(x.fields, "reference") == "");

  BOOST_TEST(sim->stats().connections.load() == 1u);
  BOOST_TEST(sim->stats().requests.load() == 2u);
  BOOST_TEST(sim->stats().bad_frames.load() == 0u);
  BOOST_TEST(sim->requests_for("balance") == 1u);
  BOOST_TEST(sim->requests_for("transfer") == 1u);
  BOOST_TEST(sim->requests_for("nope") == 0u);
}

// How long a delay holds its answer is plan_answer's (see delay_is_counted_from_the_given_time);
// here: a held answer does not hold other connections' answers, nor the next one on its own.
BOOST_AUTO_TEST_CASE(delay_holds_one_answer_without_blocking_other_connections) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "balance", "when": { "account": "slow" }, "fault": "delay",
                 "delay_ms": 3600000 },
               { "op": "balance", "when": { "account": "soon" }, "fault": "delay", "delay_ms": 1 } ]
  })"));
  client slow(sim.endpoint());
  client fast(sim.endpoint());
  slow.send("balance", balance_of("slow"));
  fast.send("balance", balance_of("soon"));
  fast.send("balance", balance_of("fast"));
  BOOST_TEST(text_of(fast.read_reply().fields, "account") == "soon");
  BOOST_TEST(text_of(fast.read_reply().fields, "account") == "fast");
  BOOST_TEST(sim->requests_for("balance") == 3u);
}

BOOST_AUTO_TEST_CASE(no_answer_swallows_one_request_only) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "balance", "when": { "account": "void" }, "fault": "no_answer" } ]
  })"));
  client c(sim.endpoint());
  c.send("balance", balance_of("void"));
  c.send("balance", balance_of("next"));
  c.send("balance", balance_of("void"));
  c.send("balance", balance_of("last"));
  // Answers go out in order, so the first answer seen would be void's if it had one.
  BOOST_TEST(text_of(c.read_reply().fields, "account") == "next");
  BOOST_TEST(text_of(c.read_reply().fields, "account") == "last");
  BOOST_TEST(sim->requests_for("balance") == 4u);
}

BOOST_AUTO_TEST_CASE(close_ends_the_connection_without_answering) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "transfer", "when": { "to": "666" }, "fault": "close" } ]
  })"));
  client c(sim.endpoint());
  c.send("transfer", transfer_of("1", "666", "1"));
  codecs::byte_buffer payload;
  BOOST_TEST((c.read_frame(payload, reply_timeout) == got::eof));
  // The simulator keeps accepting.
  client again(sim.endpoint());
  again.send("transfer", transfer_of("1", "2", "1"));
  BOOST_TEST(text_of(again.read_reply().fields, "result") == "00");
}

BOOST_AUTO_TEST_CASE(garbage_is_framed_but_does_not_decode) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "balance", "when": { "account": "junk" }, "fault": "garbage" },
               { "op": "balance", "when": { "account": "raw" }, "fault": "garbage",
                 "garbage": "unframed" } ]
  })"));
  client c(sim.endpoint());
  c.send("balance", balance_of("junk"));
  codecs::byte_buffer payload;
  BOOST_REQUIRE((c.read_frame(payload, reply_timeout) == got::frame));
  BOOST_TEST(!c.skipped());  // the framing accepts it
  BOOST_TEST(!payload.empty());
  codecs::record rec;
  BOOST_TEST(
      !codecs::decode_payload(*acme(), payload, rec, codecs::decode_preference::replies_first));
  // The connection stays usable.
  c.send("balance", balance_of("fine"));
  BOOST_TEST(text_of(c.read_reply().fields, "account") == "fine");

  client u(sim.endpoint());
  u.send("balance", balance_of("raw"));
  codecs::byte_buffer bytes;
  BOOST_REQUIRE((u.read_raw(bytes, reply_timeout) == got::frame));
  BOOST_TEST(!bytes.empty());
  auto probe = acme()->framing->make_decoder();
  BOOST_TEST((probe->decode(bytes).status != codecs::frame_status::frame));
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "balance", "when": { "account": "A3" }, "delay_ms": 150 },
               { "op": "balance", "when": { "account": "A5" }, "fault": "no_answer" } ]
  })"));
  client c(sim.endpoint());
  const codecs::operation& balance = *acme()->find_operation("balance");
  codecs::byte_buffer all;
  std::vector<std::string> accounts;
  std::vector<std::uint64_t> traces;
  for (int i = 0; i < 20; ++i) {
    std::string account = "A" + std::to_string(i);
    codecs::record req = c.encode("balance", balance_of(account), all);
    if (i == 5) continue;  // no answer expected
    accounts.push_back(account);
    traces.push_back(number_of(trace_of(balance, req, false)));
  }
  c.send_raw(all);  // one write: the simulator sees them all at once
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    decoded_reply r = c.read_reply();
    BOOST_TEST(text_of(r.fields, "account") == accounts[i]);
    BOOST_TEST(number_of(trace_of(balance, r.rec, true)) == traces[i]);
  }
  BOOST_TEST(sim->requests_for("balance") == 20u);
}

BOOST_AUTO_TEST_CASE(bad_frames_are_counted) {
  running_simulator sim;
  client c(sim.endpoint());
  // Well framed, but no message of the profile: counted and ignored.
  codecs::byte_buffer junk = {0x00, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05};
  c.send_raw(junk);
  // A connection's input is handled in order: once "after" is answered, the junk was counted.
  c.send("balance", balance_of("after"));
  BOOST_TEST(text_of(c.read_reply().fields, "account") == "after");
  BOOST_TEST(sim->stats().bad_frames.load() == 1u);
  BOOST_TEST(sim->stats().requests.load() == 1u);

  // Oversized (length 0xffff, 65537 bytes with its prefix, over max_frame_length 4096): the
  // framing discards it, one bad frame however many reads it spans, and the next frame after it
  // is answered (and is the first answer on that connection).
  client big(sim.endpoint());
  codecs::byte_buffer oversized(65537, 0x40);
  oversized[0] = 0xff;
  oversized[1] = 0xff;
  big.send_raw(codecs::byte_buffer(oversized.begin(), oversized.begin() + 3000));
  big.send_raw(codecs::byte_buffer(oversized.begin() + 3000, oversized.end()));
  big.send("balance", balance_of("resync"));
  BOOST_TEST(text_of(big.read_reply().fields, "account") == "resync");
  BOOST_TEST(sim->stats().bad_frames.load() == 2u);
  BOOST_TEST(sim->stats().requests.load() == 2u);
  BOOST_TEST(sim->stats().connections.load() == 2u);
}

BOOST_AUTO_TEST_CASE(stop_closes_the_acceptor_and_connections) {
  asio::io_context ctx;
  auto sim = bridge::start_simulator(ctx, acme(), {});
  std::promise<void> ran_out;
  std::future<void> done = ran_out.get_future();
  std::thread t([&] {
    ctx.run_for(std::chrono::seconds(10));
    ran_out.set_value();
  });
  tcp::endpoint ep = sim->local_endpoint();
  BOOST_TEST(ep.port() != 0);
  {
    client c(ep);
    c.send("balance", balance_of("1"));
    c.read_reply();
    sim->stop();
    codecs::byte_buffer payload;
    BOOST_TEST((c.read_frame(payload, reply_timeout) == got::eof));
  }
  // Nothing is left for the context to do: run_for returns on its own, long before its 10 s.
  bool drained = done.wait_for(milliseconds(3000)) == std::future_status::ready;
  BOOST_TEST(drained);
  if (!drained) ctx.stop();
  t.join();
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(ep, ec);
  BOOST_TEST(ec.failed());
}

BOOST_AUTO_TEST_CASE(bad_listen_address_is_refused) {
  asio::io_context ctx;
  const std::pair<const char*, const char*> cases[] = {
      {"nope", "expected host:port"},
      {"[::1", "expected host:port"},
      {"127.0.0.1:99999", "port must be a number 0..65535"},
      {"127.0.0.1:x", "port must be a number 0..65535"},
      {"bad host:1", "host must be an IP address or localhost"},
  };
  for (const auto& [listen, why] : cases) {
    bridge::simulator_options options;
    options.listen = listen;
    std::string expected = std::string("simulator: bad listen address \"") + listen + "\": " + why;
    BOOST_CHECK_EXCEPTION(bridge::start_simulator(ctx, acme(), options), std::runtime_error,
                          [&](const std::runtime_error& e) { return e.what() == expected; });
  }
}

BOOST_AUTO_TEST_CASE(listen_host_may_be_empty_star_or_localhost) {
  asio::io_context ctx;
  const std::pair<const char*, const char*> cases[] = {
      {"localhost:0", "127.0.0.1"}, {"*:0", "0.0.0.0"}, {":0", "0.0.0.0"}};
  for (const auto& [listen, address] : cases) {
    bridge::simulator_options options;
    options.listen = listen;
    auto s = bridge::start_simulator(ctx, acme(), options);
    BOOST_TEST(s->local_endpoint().address().to_string() == address);
    BOOST_TEST(s->local_endpoint().port() != 0);
    s->stop();
  }
  ctx.run_for(std::chrono::seconds(5));  // returns as soon as the stopped acceptors are done
}

namespace {

// Rule files that start_simulator refuses, with the message each must contain.
struct bad_rules_case {
  const char* rules;
  const char* expected;
};

const bad_rules_case bad_rules_cases[] = {
    {R"({"rules":[{"op":"nope"}]})",
     "rules[0].op: unknown operation \"nope\", must be one of balance, transfer"},
    {R"({"rules":[{"op":"balance"},{"op":"balance"},{"op":"balance","fault":"x"}]})",
     "rules[2].fault: unknown fault \"x\", must be one of delay, no_answer, close, garbage, "
     "wrong_key"},
    {R"({"rules":[{"op":"balance","fault":3}]})", "rules[0].fault: must be a string"},
    {R"({"rules":[{}]})", "rules[0].op: is required"},
    {R"({"rules":[{"op":7}]})", "rules[0].op: must be a string"},
    {R"({"rules":{"op":"balance"}})", "rules: must be an array"},
    {R"({"rules":["balance"]})", "rules[0]: must be an object"},
    {R"({"rules":[{"op":"balance","when":"x"}]})", "rules[0].when: must be an object"},
    {R"({"rules":[{"op":"balance","when":{"colour":"red"}}]})",
     "rules[0].when.colour: unknown request field of operation balance"},
    {R"({"rules":[{"op":"balance","when":{"account":[1]}}]})",
     "rules[0].when.account: must be a string, a number or a boolean"},
    {R"({"rules":[{"op":"balance","reply":{"colour":"red"}}]})",
     "rules[0].reply.colour: unknown reply field of operation balance"},
    {R"({"rules":[{"op":"balance","reply":{"result":{}}}]})",
     "rules[0].reply.result: must be a string, a number or a boolean"},
    {R"({"rules":[{"op":"balance","reply":{"result":"123"}}]})", "rules[0].reply.result: "},
    {R"({"rules":[{"op":"balance","fault":"delay"}]})",
     "rules[0].delay_ms: is required with fault \"delay\""},
    {R"({"rules":[{"op":"balance","delay_ms":"1s"}]})", "rules[0].delay_ms: must be an integer"},
    {R"({"rules":[{"op":"balance","delay_ms":-1}]})", "rules[0].delay_ms: must be >= 0"},
    {R"({"rules":[{"op":"balance","times":0}]})", "rules[0].times: must be > 0"},
    {R"({"rules":[{"op":"balance","garbage":"unframed"}]})",
     "rules[0].garbage: only applies to fault \"garbage\""},
    {R"({"rules":[{"op":"balance","fault":"garbage","garbage":"x"}]})",
     "rules[0].garbage: unknown value \"x\", must be one of framed, unframed"},
    {R"({"rules":[{"op":"balance","wen":{}}]})", "rules[0].wen: unknown key"},
    {R"({"rule":[]})", "rule: unknown key"},
    {R"({"defaults":{"nope":{}}})", "defaults.nope: unknown operation \"nope\""},
    {R"({"defaults":{"balance":[]}})", "defaults.balance: must be an object"},
    {R"({"defaults":{"balance":{"colour":"red"}}})",
     "defaults.balance.colour: unknown reply field of operation balance"},
    {R"({"defaults":{"balance":{"balance":"lots"}}})", "defaults.balance.balance: "},
};

}  // namespace

BOOST_AUTO_TEST_CASE(bad_rules_are_refused_with_a_path) {
  asio::io_context ctx;
  for (const auto& c : bad_rules_cases) {
    BOOST_TEST_CONTEXT("rules " << c.rules) {
      bridge::simulator_options options;
      options.rules = rules_from(c.rules);
      std::string message;
      try {
        bridge::start_simulator(ctx, acme(), options);
      } catch (const std::runtime_error& e) {
        message = e.what();
      }
      BOOST_TEST_INFO("message: " << message);
      BOOST_TEST(message.find(c.expected) != std::string::npos);
    }
  }
}
