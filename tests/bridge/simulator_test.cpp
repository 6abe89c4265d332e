// Tests for the simulated legacy system: rule compilation and answer planning with no socket,
// then over loopback echo, defaults, rules, every fault, pipelining, bad frames and stop.
#define BOOST_TEST_MODULE simulator_test
#include <boost/test/unit_test.hpp>

#include "bridge/simulator.hpp"
#include "bridge/simulator_rules.hpp"
#include "codecs/pipeline.hpp"

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

const char* const defaults_rules = R"({
  "defaults": { "balance": { "balance": "1234.56", "currency": "EUR" } }
})";

}  // namespace

// Rules and answers, with no socket and a clock set by hand.
namespace {

std::size_t op_index(std::string_view name) {
  const codecs::operation* op = acme()->find_operation(name);
  BOOST_REQUIRE(op);
  return static_cast<std::size_t>(op - acme()->operations.data());
}

std::size_t reply_field(std::string_view op, std::string_view field) {
  auto idx = acme()->find_operation(op)->reply.index_of(field);
  BOOST_REQUIRE(idx);
  return *idx;
}

// Plans answers as a connection does: the request is encoded, framed and decoded back first, so
// the rules see what they see on the wire.
class planner {
 public:
  explicit planner(std::string_view rules = "{}")
      : book_(sim::compile_simulator_rules(*acme(), rules_from(rules))) {}

  const codecs::record& receive(std::string_view op_name, const json::object& fields) {
    const codecs::operation& op = *acme()->find_operation(op_name);
    codecs::record mapped;
    BOOST_REQUIRE(codecs::map_request(op.request, fields, gen_, mapped));
    codecs::byte_buffer payload, frame;
    BOOST_REQUIRE(codecs::encode_message(*acme(), op.request, mapped, payload, frame));
    auto fr = acme()->framing->make_decoder()->decode(frame);
    BOOST_REQUIRE((fr.status == codecs::frame_status::frame));
    auto decoded = codecs::decode_payload(*acme(), fr.payload, request_,
                                          codecs::decode_preference::requests_first);
    BOOST_REQUIRE(decoded);
    BOOST_REQUIRE(decoded->op == &op);
    return request_;
  }
  const sim::compiled_rule* match(std::string_view op_name, const json::object& fields) {
    receive(op_name, fields);
    return book_.match(op_index(op_name), request_);
  }
  codecs::result<sim::planned> answer(std::string_view op_name, const json::object& fields,
                                      steady::time_point now) {
    const sim::compiled_rule* rule = match(op_name, fields);
    sim::answer_input in{*acme(), *acme()->find_operation(op_name),      request_,
                         rule,    book_.defaults_for(op_index(op_name)), now};
    return sim::plan_answer(in, gen_, scratch_);
  }
  const codecs::record& request() const { return request_; }

 private:
  sim::rule_book book_;
  codecs::counter_generation_context gen_{*acme()};
  codecs::record request_;
  sim::answer_scratch scratch_{1};
};

// One planned send's bytes as a reply: exactly one frame that decodes.
decoded_reply reply_in(const codecs::byte_buffer& bytes) {
  auto fr = acme()->framing->make_decoder()->decode(bytes);
  BOOST_REQUIRE((fr.status == codecs::frame_status::frame));
  BOOST_REQUIRE(fr.consumed == bytes.size());
  decoded_reply r;
  auto decoded =
      codecs::decode_payload(*acme(), fr.payload, r.rec, codecs::decode_preference::replies_first);
  BOOST_REQUIRE(decoded);
  BOOST_REQUIRE(decoded->is_reply);
  r.op = decoded->op;
  r.fields = codecs::map_reply(*decoded->msg, r.rec, true);
  return r;
}

const steady::time_point t0{std::chrono::seconds(1000)};

}  // namespace

BOOST_AUTO_TEST_CASE(rules_defaults_and_sends_compile_to_indexes_and_texts) {
  sim::compiled_rules c = sim::compile_simulator_rules(*acme(), rules_from(R"({
    "rules": [ { "op": "transfer", "when": { "to": 666, "amount": 1.5 }, "reply": { "result": "05" },
                 "fault": "garbage", "garbage": "unframed", "delay_ms": 20, "times": 2 },
               { "op": "balance", "fault": "wrong_key" } ],
    "defaults": { "balance": { "currency": "EUR" } },
    "send": [ { "op": "echo", "every_ms": 250 } ]
  })"));
  BOOST_REQUIRE(c.rules.size() == 2u);
  const sim::compiled_rule& r = c.rules[0];
  const auto& request = acme()->find_operation("transfer")->request;
  BOOST_TEST(r.op_index == op_index("transfer"));
  BOOST_REQUIRE(r.when.size() == 2u);
  BOOST_TEST(r.when[0].first == *request.index_of("to"));
  BOOST_TEST(r.when[0].second == "666");
  BOOST_TEST(r.when[1].first == *request.index_of("amount"));
  BOOST_TEST(r.when[1].second == "1.5");
  BOOST_REQUIRE(r.reply.size() == 1u);
  BOOST_TEST(r.reply[0].first == reply_field("transfer", "result"));
  BOOST_TEST(r.reply[0].second == "05");
  BOOST_TEST((r.fault == sim::fault_kind::garbage));
  BOOST_TEST((r.garbage == sim::garbage_kind::unframed));
  BOOST_TEST(r.delay.count() == 20);
  BOOST_TEST(r.times.value_or(0) == 2u);
  BOOST_TEST((c.rules[1].fault == sim::fault_kind::wrong_key));
  BOOST_TEST(!c.rules[1].times);
  BOOST_REQUIRE(c.defaults.size() == acme()->operations.size());
  BOOST_REQUIRE(c.defaults[op_index("balance")].size() == 1u);
  BOOST_TEST(c.defaults[op_index("balance")][0].first == reply_field("balance", "currency"));
  BOOST_TEST(c.defaults[op_index("transfer")].empty());
  BOOST_REQUIRE(c.sends.size() == 1u);
  BOOST_TEST(c.sends[0].op_index == op_index("echo"));
  BOOST_TEST(c.sends[0].every.count() == 250);
}

BOOST_AUTO_TEST_CASE(rule_arrays_skip_and_name_each_bad_element) {
  codecs::diagnostics diag;
  auto rules = sim::compile_rules(
      *acme(), json::parse(R"([{"op":"balance"}, 7, {"op":"nope"}])").as_array(), diag);
  auto sends =
      sim::compile_sends(*acme(), json::parse(R"(["echo", {"op":"echo"}])").as_array(), diag);
  BOOST_TEST(rules.size() == 2u);  // the unknown op is reported, the element still counted
  BOOST_TEST(sends.size() == 1u);
  BOOST_REQUIRE(diag.errors().size() == 3u);
  BOOST_TEST(diag.errors()[0] == "rules[1]: must be an object");
  BOOST_TEST(diag.errors()[1].rfind("rules[2].op: unknown operation \"nope\"", 0) == 0u);
  BOOST_TEST(diag.errors()[2] == "send[0]: must be an object");
}

BOOST_AUTO_TEST_CASE(when_values_match_as_text_or_as_numbers) {
  struct match_case {
    const char* actual;
    const char* expected;
    bool match;
  };
  const match_case cases[] = {
      {"000099", "99", true},  {"99   ", "99", true},  {"-0012.50", "-12.5", true},
      {"12.5", "12.50", true}, {".5", "0.5", true},    {"+1", "1", true},
      {"-0", "0", true},       {"abc  ", "abc", true}, {"99", "98", false},
      {"1e3", "1000", false},  {"", "0", false},       {"12-", "12", false},
      {"12", "-12", false},
  };
  for (const auto& c : cases)
    BOOST_TEST(sim::values_match(c.actual, c.expected) == c.match, c.actual << " ~ " << c.expected);
  BOOST_TEST(sim::values_match(std::string_view("0042\0\0", 6), "42"));
}

BOOST_AUTO_TEST_CASE(an_altered_key_keeps_its_length_and_differs) {
  const std::pair<const char*, const char*> cases[] = {{"", "1"},      {"000129", "000120"},
                                                       {"ABZ", "ABA"}, {"abz", "aba"},
                                                       {"abc", "abd"}, {"x-", "x0"}};
  for (const auto& [in, out] : cases) {
    std::string key = in;
    sim::alter_key(key);
    BOOST_TEST(key == out);
  }
}

BOOST_AUTO_TEST_CASE(the_first_matching_rule_wins_until_its_times_are_used) {
  planner p(R"({ "rules": [
    { "op": "balance", "when": { "account": "99" }, "times": 2, "reply": { "result": "51" } },
    { "op": "balance", "when": { "account": 99 }, "reply": { "result": "05" } } ] })");
  const sim::compiled_rule* first = p.match("balance", balance_of("000099"));
  BOOST_REQUIRE(first);
  BOOST_TEST(first->reply[0].second == "51");
  BOOST_TEST(p.match("balance", balance_of("99")) == first);
  const sim::compiled_rule* second = p.match("balance", balance_of("99"));
  BOOST_REQUIRE(second);
  BOOST_TEST(second->reply[0].second == "05");
  BOOST_TEST(p.match("balance", balance_of("98")) == nullptr);
  BOOST_TEST(p.match("transfer", transfer_of("99", "99", "1")) == nullptr);
}

BOOST_AUTO_TEST_CASE(delay_is_counted_from_the_given_time) {
  planner p(R"({ "rules": [
    { "op": "balance", "when": { "account": "slow" }, "fault": "delay", "delay_ms": 400 },
    { "op": "balance", "when": { "account": "void" }, "fault": "no_answer", "delay_ms": 50 },
    { "op": "balance", "when": { "account": "bye" }, "fault": "close" } ] })");
  auto slow = p.answer("balance", balance_of("slow"), t0);
  BOOST_REQUIRE(slow);
  BOOST_TEST((slow->what == sim::answer_action::send));
  BOOST_TEST((slow->due == t0 + milliseconds(400)));
  BOOST_TEST(text_of(reply_in(slow->bytes).fields, "account") == "slow");

  auto plain = p.answer("balance", balance_of("fast"), t0 + milliseconds(1));
  BOOST_REQUIRE(plain);
  BOOST_TEST((plain->due == t0 + milliseconds(1)));

  auto none = p.answer("balance", balance_of("void"), t0);
  BOOST_REQUIRE(none);
  BOOST_TEST((none->what == sim::answer_action::skip));
  BOOST_TEST((none->due == t0 + milliseconds(50)));  // it still holds the answers behind it
  BOOST_TEST(none->bytes.empty());

  auto close = p.answer("balance", balance_of("bye"), t0);
  BOOST_REQUIRE(close);
  BOOST_TEST((close->what == sim::answer_action::close));
  BOOST_TEST(close->bytes.empty());
}

BOOST_AUTO_TEST_CASE(the_reply_takes_rule_values_then_echo_then_defaults) {
  planner p(R"({ "rules": [ { "op": "balance", "when": { "account": "7" },
                              "reply": { "result": "51" } } ],
                 "defaults": { "balance": { "balance": -12.5, "currency": "EUR",
                                            "result": "99" } } })");
  auto a = p.answer("balance", balance_of("7"), t0);
  BOOST_REQUIRE(a);
  decoded_reply r = reply_in(a->bytes);
  BOOST_TEST(text_of(r.fields, "tx_code") == "BALR");  // the match constant
  BOOST_TEST(text_of(r.fields, "result") == "51");     // the rule's, not the default
  BOOST_TEST(text_of(r.fields, "account") == "7");     // echoed
  BOOST_TEST(text_of(r.fields, "balance") == "-12.50");
  BOOST_TEST(text_of(r.fields, "currency") == "EUR");
  BOOST_TEST(r.rec.get(reply_field("balance", "trace")) ==
             p.request().get(*acme()->find_operation("balance")->request.index_of("trace")));
  auto plain = p.answer("balance", balance_of("8"), t0);
  BOOST_REQUIRE(plain);
  BOOST_TEST(text_of(reply_in(plain->bytes).fields, "result") ==
             "00");  // the success code, not the default
}

BOOST_AUTO_TEST_CASE(wrong_key_changes_the_key_only) {
  planner p(R"({ "rules": [ { "op": "balance", "fault": "wrong_key" } ] })");
  const auto& balance = *acme()->find_operation("balance");
  for (int i = 0; i < 12; ++i) {  // across a last digit of 9 too
    auto a = p.answer("balance", balance_of("42"), t0);
    BOOST_REQUIRE(a);
    decoded_reply r = reply_in(a->bytes);
    std::string asked = trace_of(balance, p.request(), false);
    std::string got = trace_of(balance, r.rec, true);
    BOOST_TEST(got != asked);
    BOOST_TEST(got.size() == asked.size());
    BOOST_TEST(text_of(r.fields, "account") == "42");
  }
}

BOOST_AUTO_TEST_CASE(garbage_is_framed_or_unframed_as_asked) {
  planner p(R"({ "rules": [
    { "op": "balance", "when": { "account": "junk" }, "fault": "garbage" },
    { "op": "balance", "when": { "account": "raw" }, "fault": "garbage", "garbage": "unframed" }
  ] })");
  auto framed = p.answer("balance", balance_of("junk"), t0);
  BOOST_REQUIRE(framed);
  auto fr = acme()->framing->make_decoder()->decode(framed->bytes);
  BOOST_REQUIRE((fr.status == codecs::frame_status::frame));
  BOOST_TEST(fr.consumed == framed->bytes.size());
  codecs::record rec;
  BOOST_TEST(
      !codecs::decode_payload(*acme(), fr.payload, rec, codecs::decode_preference::replies_first));

  auto raw = p.answer("balance", balance_of("raw"), t0);
  BOOST_REQUIRE(raw);
  BOOST_TEST(!raw->bytes.empty());
  BOOST_TEST(
      (acme()->framing->make_decoder()->decode(raw->bytes).status != codecs::frame_status::frame));
}

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
