// Tests for the simulator's rules without a socket: compiling rules, defaults and sends, matching,
// and answer planning (reply records, delays, faults, wrong keys, garbage) on a clock set by hand.
#define BOOST_TEST_MODULE simulator_rules_test
#include <boost/test/unit_test.hpp>

#include "bridge/simulator_rules.hpp"
#include "codecs/pipeline.hpp"
#include "simulator_fixture.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace json = boost::json;
namespace codecs = dragoman::codecs;
namespace bridge = dragoman::bridge;
namespace sim = dragoman::bridge::sim;
using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;
using namespace simulator_fixture;

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

// Issue #11: the echoed trace is the request's digits as written, leading zeros and all.
BOOST_AUTO_TEST_CASE(the_echo_keeps_digits_as_written) {
  planner p;
  auto a = p.answer("balance", balance_of("12345"), t0);
  BOOST_REQUIRE(a);
  const auto& balance = *acme()->find_operation("balance");
  // The counter starts from the clock: whatever its value, it is 6 digits and comes back so.
  const std::string sent(p.request().get(*balance.request.index_of("trace")));
  BOOST_TEST(sent.size() == 6u);
  decoded_reply r = reply_in(a->bytes);
  BOOST_TEST(text_of(r.fields, "trace") == sent);
  BOOST_TEST(text_of(r.fields, "account") == "12345");
}
