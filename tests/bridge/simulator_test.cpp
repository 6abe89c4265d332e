// Tests for the simulated legacy system over loopback: echo, defaults, rules, every fault,
// pipelining, bad frames, stop, and rule validation with paths.
#define BOOST_TEST_MODULE simulator_test
#include <boost/test/unit_test.hpp>

#include "bridge/simulator.hpp"
#include "codecs/pipeline.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <chrono>
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
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

constexpr milliseconds reply_timeout{3000};

// The shipped acme-core profile: 2-byte big-endian length, EBCDIC cp037, fixed width, trace key.
std::shared_ptr<const codecs::profile> acme() {
  static const std::shared_ptr<const codecs::profile> compiled = [] {
    auto out = codecs::load_profile(DRAGOMAN_SOURCE_DIR "/profiles/acme-core.json");
    if (!out.compiled) {
      std::string all;
      for (const auto& e : out.errors) all += e + "\n";
      throw std::runtime_error("acme-core.json does not compile:\n" + all);
    }
    return out.compiled;
  }();
  return compiled;
}

json::object rules_from(std::string_view text) {
  return json::parse(text).as_object();
}

// A simulator on 127.0.0.1:0 run by its own thread; stopped and joined (bounded) at scope end.
class running_simulator {
 public:
  explicit running_simulator(json::object rules = {}) {
    bridge::simulator_options options;
    options.listen = "127.0.0.1:0";
    options.rules = std::move(rules);
    sim_ = bridge::start_simulator(ctx_, acme(), std::move(options));
    thread_ = std::thread([this] {
      ctx_.run();
      done_ = true;
    });
  }
  ~running_simulator() {
    sim_->stop();
    guard_.reset();
    for (int i = 0; i < 200 && !done_; ++i) std::this_thread::sleep_for(milliseconds(10));
    ctx_.stop();
    thread_.join();
  }
  bridge::simulator& operator*() { return *sim_; }
  bridge::simulator* operator->() { return sim_.get(); }
  tcp::endpoint endpoint() const { return sim_->local_endpoint(); }

 private:
  asio::io_context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{ctx_.get_executor()};
  std::shared_ptr<bridge::simulator> sim_;
  std::thread thread_;
  std::atomic<bool> done_{false};
};

enum class got { frame, timeout, eof };

struct decoded_reply {
  const codecs::operation* op = nullptr;
  codecs::record rec;
  json::object fields;  // map_reply with all fields: JSON names, else record names
};

std::string text_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return {};
  if (v->is_string()) {
    std::string_view s = v->get_string();
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return std::string(s);
  }
  return json::serialize(*v);
}

std::uint64_t number_of(std::string_view s) {
  std::uint64_t n = 0;
  for (char c : s)
    if (c >= '0' && c <= '9') n = n * 10 + static_cast<std::uint64_t>(c - '0');
  return n;
}

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

json::object balance_of(std::string account) {
  json::object o;
  o["account"] = std::move(account);
  return o;
}

json::object transfer_of(std::string from, std::string to, std::string amount) {
  json::object o;
  o["from"] = std::move(from);
  o["to"] = std::move(to);
  o["amount"] = std::move(amount);
  return o;
}

std::string trace_of(const codecs::operation& op, const codecs::record& rec, bool reply) {
  const auto& msg = reply ? op.reply : op.request;
  auto idx = msg.index_of("trace");
  BOOST_REQUIRE(idx);
  return std::string(rec.get(*idx));
}

template <class Pred>
bool eventually(Pred pred, milliseconds timeout = milliseconds(2000)) {
  auto deadline = steady::now() + timeout;
  while (steady::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

const char* const defaults_rules = R"({
  "defaults": { "balance": { "balance": "1234.56", "currency": "EUR" } }
})";

}  // namespace

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

BOOST_AUTO_TEST_CASE(rules_match_on_when_and_set_reply_fields) {
  running_simulator sim(rules_from(R"({
    "rules": [
      { "op": "balance", "when": { "account": "99" }, "reply": { "result": "51" } },
      { "op": "transfer", "when": { "to": 666 }, "reply": { "result": "05", "reference": "R-666" } },
      { "op": "transfer", "reply": { "reference": 4711 } },
      { "op": "balance", "when": { "account": "99" }, "reply": { "result": "99" } }
    ],
    "defaults": { "balance": { "balance": -12.5, "currency": "USD" } }
  })"));
  client c(sim.endpoint());
  const codecs::operation& balance = *acme()->find_operation("balance");

  c.send("balance", balance_of("99"));
  decoded_reply r = c.read_reply();
  BOOST_TEST(text_of(r.fields, "result") == "51");  // the first matching rule wins
  BOOST_TEST(text_of(r.fields, "account") == "99");
  BOOST_TEST(text_of(r.fields, "balance") == "-12.50");
  BOOST_TEST(!codecs::classify_reply(balance, r.rec).success);

  c.send("balance", balance_of("100"));
  BOOST_TEST(text_of(c.read_reply().fields, "result") == "00");

  c.send("transfer", transfer_of("1", "666", "5"));
  decoded_reply x = c.read_reply();
  BOOST_TEST(text_of(x.fields, "result") == "05");
  BOOST_TEST(text_of(x.fields, "reference") == "R-666");

  c.send("transfer", transfer_of("1", "667", "5"));
  decoded_reply y = c.read_reply();
  BOOST_TEST(text_of(y.fields, "result") == "00");
  BOOST_TEST(text_of(y.fields, "reference") == "4711");
}

BOOST_AUTO_TEST_CASE(times_limits_a_rule_to_its_first_matches) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "transfer", "times": 2, "reply": { "result": "91" } } ]
  })"));
  client c(sim.endpoint());
  for (const char* expected : {"91", "91", "00", "00"}) {
    c.send("transfer", transfer_of("1", "2", "3"));
    BOOST_TEST(text_of(c.read_reply().fields, "result") == expected);
  }
  BOOST_TEST(sim->requests_for("transfer") == 4u);
}

BOOST_AUTO_TEST_CASE(delay_holds_one_answer_without_blocking_other_connections) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "balance", "when": { "account": "slow" }, "fault": "delay", "delay_ms": 400 } ]
  })"));
  client slow(sim.endpoint());
  client fast(sim.endpoint());
  auto start = steady::now();
  slow.send("balance", balance_of("slow"));
  fast.send("balance", balance_of("fast"));
  BOOST_TEST(text_of(fast.read_reply().fields, "account") == "fast");
  auto fast_elapsed = steady::now() - start;
  BOOST_TEST(std::chrono::duration_cast<milliseconds>(fast_elapsed).count() < 300);
  decoded_reply r = slow.read_reply();
  auto slow_elapsed = std::chrono::duration_cast<milliseconds>(steady::now() - start).count();
  BOOST_TEST(text_of(r.fields, "account") == "slow");
  BOOST_TEST(slow_elapsed >= 350);
  BOOST_TEST(slow_elapsed < 2500);
}

BOOST_AUTO_TEST_CASE(no_answer_swallows_one_request_only) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "balance", "when": { "account": "void" }, "fault": "no_answer" } ]
  })"));
  client c(sim.endpoint());
  c.send("balance", balance_of("void"));
  codecs::byte_buffer payload;
  BOOST_TEST((c.read_frame(payload, milliseconds(300)) == got::timeout));
  c.send("balance", balance_of("next"));
  BOOST_TEST(text_of(c.read_reply().fields, "account") == "next");
  BOOST_TEST(sim->requests_for("balance") == 2u);
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

BOOST_AUTO_TEST_CASE(wrong_key_answers_with_another_trace) {
  running_simulator sim(rules_from(R"({
    "rules": [ { "op": "balance", "when": { "account": "42" }, "fault": "wrong_key" } ]
  })"));
  client c(sim.endpoint());
  const codecs::operation& balance = *acme()->find_operation("balance");
  for (int i = 0; i < 12; ++i) {  // across a last digit of 9 too
    codecs::record req = c.send("balance", balance_of("42"));
    decoded_reply r = c.read_reply();
    BOOST_TEST(number_of(trace_of(balance, r.rec, true)) !=
               number_of(trace_of(balance, req, false)));
    BOOST_TEST(trace_of(balance, r.rec, true).size() >= 1u);
    BOOST_TEST(text_of(r.fields, "account") == "42");
  }
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
  BOOST_TEST(eventually([&] { return sim->stats().bad_frames.load() == 1u; }));
  c.send("balance", balance_of("after"));
  BOOST_TEST(text_of(c.read_reply().fields, "account") == "after");
  BOOST_TEST(sim->stats().requests.load() == 1u);

  // Oversized: the framing discards it (one bad frame, however many reads it spans).
  client big(sim.endpoint());
  codecs::byte_buffer oversized(3000, 0x40);
  oversized[0] = 0xff;
  oversized[1] = 0xff;
  big.send_raw(oversized);
  BOOST_TEST(eventually([&] { return sim->stats().bad_frames.load() == 2u; }));
  codecs::byte_buffer payload;
  BOOST_TEST((big.read_frame(payload, milliseconds(200)) == got::timeout));
  BOOST_TEST(sim->stats().bad_frames.load() == 2u);
  BOOST_TEST(sim->stats().connections.load() == 2u);
}

BOOST_AUTO_TEST_CASE(stop_closes_the_acceptor_and_connections) {
  asio::io_context ctx;
  auto sim = bridge::start_simulator(ctx, acme(), {});
  std::atomic<bool> done{false};
  std::thread t([&] {
    ctx.run_for(std::chrono::seconds(10));
    done = true;
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
  // Nothing is left for the context to do: run_for returns well before its 10 s.
  BOOST_TEST(eventually([&] { return done.load(); }, milliseconds(3000)));
  if (!done) ctx.stop();
  t.join();
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(ep, ec);
  BOOST_TEST(ec.failed());
}

BOOST_AUTO_TEST_CASE(bad_listen_address_is_refused) {
  asio::io_context ctx;
  for (const char* listen : {"nope", "127.0.0.1:99999", "bad host:1", "127.0.0.1:x"}) {
    bridge::simulator_options options;
    options.listen = listen;
    BOOST_CHECK_EXCEPTION(bridge::start_simulator(ctx, acme(), options), std::runtime_error,
                          [&](const std::runtime_error& e) {
                            return std::string(e.what()).find(listen) != std::string::npos;
                          });
  }
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

BOOST_AUTO_TEST_CASE(good_rules_with_every_key_are_accepted) {
  asio::io_context ctx;
  bridge::simulator_options options;
  options.rules = rules_from(R"({
    "rules": [
      { "op": "balance", "when": { "account": "1", "trace": 5 }, "reply": { "result": "51" },
        "fault": "delay", "delay_ms": 10, "times": 3 },
      { "op": "balance", "fault": "garbage", "garbage": "framed" },
      { "op": "transfer", "when": { "to": "x", "amount": 1.5 }, "fault": "wrong_key" }
    ],
    "defaults": { "balance": { "balance": "1.00", "currency": "EUR", "result": "00" } }
  })");
  auto sim = bridge::start_simulator(ctx, acme(), options);
  BOOST_TEST(sim->local_endpoint().port() != 0);
  sim->stop();
  ctx.run_for(milliseconds(500));
}
