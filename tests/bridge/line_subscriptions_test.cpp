// Delivery by subscription, the bookkeeping with no socket: names checked, round robin among the
// subscribers of an operation, the bound per subscriber (the rest wait, in order, and the waiting
// queue is bounded), a subscriber that leaves hands what it held on (or back), timeouts, and every
// delivery ended exactly once. Time is passed in; nothing sleeps.
#define BOOST_TEST_MODULE line_subscriptions_test
#include <boost/test/unit_test.hpp>

#include "bridge/line_subscriptions.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace dragoman::bridge;
using std::chrono::milliseconds;
using outcome = deliver_response::outcome;

namespace {

const line_subscriptions::time_point t0{std::chrono::seconds(1000)};

// Records the message ids handed to it, in order.
struct recorder final : subscriber_sink {
  std::vector<std::string> got;
  void deliver(const deliver_request& r) override { got.push_back(r.message_id); }
};

// One host message and how it ended (the number of ends must stay at most one).
struct message {
  deliver_request request;
  int ends = 0;
  std::optional<std::optional<deliver_response>> result;
};

struct rig {
  explicit rig(subscription_options o = {}) : subs(o) {
    subs.set_operations({{"admit", true}, {"lab_result", true}, {"query", false}});
  }

  std::shared_ptr<recorder> subscriber(std::uint64_t& id, std::vector<std::string> ops) {
    auto r = std::make_shared<recorder>();
    id = subs.attach(r);
    BOOST_TEST(subs.subscribe(id, ops) == "");
    return r;
  }

  // Offers message id on op; whether a subscriber took (or queued) it.
  bool offer(const std::string& op, const std::string& id,
             milliseconds timeout = milliseconds(5000)) {
    auto& m = messages[id];
    m.request = deliver_request{op, "{}", "rq-" + id, id};
    return subs.offer(m.request, t0 + timeout, [this, id](std::optional<deliver_response> r) {
      auto& mm = messages[id];
      ++mm.ends;
      mm.result = std::move(r);
    });
  }

  static deliver_response ok(std::string body = "{}") {
    deliver_response r;
    r.what = outcome::accepted;
    r.body = std::move(body);
    return r;
  }

  line_subscriptions subs;
  std::map<std::string, message> messages;
};

}  // namespace

BOOST_AUTO_TEST_CASE(names_are_checked_against_the_profile) {
  rig g;
  auto id = g.subs.attach(std::make_shared<recorder>());
  BOOST_TEST(g.subs.subscribe(id, {"nope"}) == "\"nope\" is not an operation of the profile");
  BOOST_TEST(g.subs.subscribe(id, {"admit", "query"}) ==
             "\"query\" is not an inbound operation (the host does not send it)");
  // Refused as a whole: admit was not added.
  BOOST_TEST(!g.offer("admit", "m1"));
  BOOST_TEST(g.subs.subscribe(id, {}) == "subscribe must name at least one operation");
  BOOST_TEST(g.subs.subscribe(id, {"admit"}) == "");
  BOOST_TEST(g.offer("admit", "m1"));
  BOOST_TEST(!g.offer("lab_result", "m2"));  // nobody subscribed to it: the caller's to deliver
  BOOST_TEST(g.messages["m2"].ends == 0);
}

BOOST_AUTO_TEST_CASE(subscribers_of_an_operation_share_its_messages_round_robin) {
  rig g;
  std::uint64_t a = 0, b = 0, c = 0;
  auto ra = g.subscriber(a, {"admit"});
  auto rb = g.subscriber(b, {"admit", "lab_result"});
  auto rc = g.subscriber(c, {"lab_result"});
  for (int i = 0; i < 6; ++i) BOOST_TEST(g.offer("admit", "a" + std::to_string(i)));
  for (int i = 0; i < 4; ++i) BOOST_TEST(g.offer("lab_result", "l" + std::to_string(i)));
  BOOST_TEST((ra->got == std::vector<std::string>{"a0", "a2", "a4"}));
  BOOST_TEST((rb->got == std::vector<std::string>{"a1", "a3", "a5", "l0", "l2"}));
  BOOST_TEST((rc->got == std::vector<std::string>{"l1", "l3"}));
  // Each answer ends its own message once; another subscriber cannot answer it.
  BOOST_TEST(!g.subs.reply(a, "a1", rig::ok()));
  BOOST_TEST(g.subs.reply(b, "a1", rig::ok(R"({"x":1})")));
  BOOST_TEST(!g.subs.reply(b, "a1", rig::ok()));  // answered already
  BOOST_TEST(g.messages["a1"].ends == 1);
  BOOST_TEST(g.messages["a1"].result->value().body == R"({"x":1})");
  BOOST_TEST(g.subs.snapshot().held == 9u);
}

BOOST_AUTO_TEST_CASE(a_subscriber_holds_at_most_its_bound_and_the_rest_wait_in_order) {
  rig g(subscription_options{.max_in_flight = 2, .max_waiting = 3});
  std::uint64_t a = 0;
  auto ra = g.subscriber(a, {"admit", "lab_result"});
  BOOST_TEST(g.offer("admit", "m1"));
  BOOST_TEST(g.offer("lab_result", "m2"));
  BOOST_TEST(g.offer("admit", "m3"));
  BOOST_TEST(g.offer("lab_result", "m4"));
  BOOST_TEST(g.offer("admit", "m5"));
  BOOST_TEST(ra->got.size() == 2u);
  BOOST_TEST(g.subs.snapshot().waiting == 3u);
  // The waiting queue is full: the next one ends at once, as the app being unreachable.
  BOOST_TEST(g.offer("admit", "m6"));
  BOOST_TEST(g.messages["m6"].ends == 1);
  BOOST_TEST((g.messages["m6"].result->value().what == outcome::unreachable));
  // Room: the oldest waiting message, whatever its operation.
  BOOST_TEST(g.subs.reply(a, "m2", rig::ok()));
  BOOST_TEST((ra->got == std::vector<std::string>{"m1", "m2", "m3"}));
  BOOST_TEST(g.subs.reply(a, "m1", rig::ok()));
  BOOST_TEST(g.subs.reply(a, "m3", rig::ok()));
  BOOST_TEST((ra->got == std::vector<std::string>{"m1", "m2", "m3", "m4", "m5"}));
  BOOST_TEST(g.subs.snapshot().waiting == 0u);
}

BOOST_AUTO_TEST_CASE(a_subscriber_that_leaves_hands_its_messages_to_another) {
  rig g;
  std::uint64_t a = 0, b = 0;
  auto ra = g.subscriber(a, {"admit"});
  auto rb = g.subscriber(b, {"admit"});
  for (int i = 0; i < 4; ++i) g.offer("admit", "m" + std::to_string(i));
  BOOST_TEST((ra->got == std::vector<std::string>{"m0", "m2"}));
  BOOST_TEST(g.subs.reply(a, "m0", rig::ok()));
  g.subs.detach(a);
  // m2 (held by a, unanswered) goes to b; m0 was answered and stays answered once.
  BOOST_TEST((rb->got == std::vector<std::string>{"m1", "m3", "m2"}));
  BOOST_TEST(g.messages["m0"].ends == 1);
  BOOST_TEST(g.messages["m2"].ends == 0);
  BOOST_TEST(!g.subs.reply(a, "m2", rig::ok()));  // a is gone
  BOOST_TEST(g.subs.reply(b, "m2", rig::ok()));
  BOOST_TEST(g.messages["m2"].ends == 1);
  // Every new message goes to b now.
  g.offer("admit", "m4");
  BOOST_TEST(rb->got.back() == "m4");
}

BOOST_AUTO_TEST_CASE(the_last_subscriber_leaving_gives_its_messages_back) {
  rig g(subscription_options{.max_in_flight = 1, .max_waiting = 10});
  std::uint64_t a = 0;
  auto ra = g.subscriber(a, {"admit"});
  g.offer("admit", "m1");
  g.offer("admit", "m2");  // waits
  g.subs.detach(a);
  for (const char* id : {"m1", "m2"}) {
    BOOST_TEST(g.messages[id].ends == 1);
    BOOST_TEST(!g.messages[id].result->has_value());  // nullopt: deliver it another way
  }
  BOOST_TEST(!g.offer("admit", "m3"));
  const auto c = g.subs.snapshot();
  BOOST_TEST(c.subscribers == 0u);
  BOOST_TEST(c.held == 0u);
  BOOST_TEST(c.waiting == 0u);
}

BOOST_AUTO_TEST_CASE(a_full_subscriber_leaving_requeues_at_the_head) {
  rig g(subscription_options{.max_in_flight = 1, .max_waiting = 10});
  std::uint64_t a = 0, b = 0;
  auto ra = g.subscriber(a, {"admit"});
  auto rb = g.subscriber(b, {"admit"});
  g.offer("admit", "m1");  // a
  g.offer("admit", "m2");  // b
  g.offer("admit", "m3");  // waits
  g.subs.detach(a);        // m1 waits again, before m3
  BOOST_TEST(g.subs.snapshot().waiting == 2u);
  BOOST_TEST(g.subs.reply(b, "m2", rig::ok()));
  BOOST_TEST((rb->got == std::vector<std::string>{"m2", "m1"}));
  BOOST_TEST(g.subs.reply(b, "m1", rig::ok()));
  BOOST_TEST(rb->got.back() == "m3");
}

BOOST_AUTO_TEST_CASE(a_subscriber_that_does_not_answer_in_time_gives_a_timeout) {
  rig g(subscription_options{.max_in_flight = 1, .max_waiting = 10});
  std::uint64_t a = 0;
  auto ra = g.subscriber(a, {"admit"});
  g.offer("admit", "m1", milliseconds(300));
  g.offer("admit", "m2", milliseconds(500));  // waits behind m1
  g.subs.expire(t0 + milliseconds(299));
  BOOST_TEST(g.messages["m1"].ends == 0);
  g.subs.expire(t0 + milliseconds(300));
  BOOST_TEST(g.messages["m1"].ends == 1);
  BOOST_TEST((g.messages["m1"].result->value().what == outcome::timeout));
  BOOST_TEST(g.messages["m1"].result->value().why ==
             "the line subscriber did not answer within the delivery timeout");
  // Room again: m2 is handed out; the late answer to m1 is refused, m1 is not ended twice.
  BOOST_TEST(ra->got.back() == "m2");
  BOOST_TEST(!g.subs.reply(a, "m1", rig::ok()));
  BOOST_TEST(g.messages["m1"].ends == 1);
  g.subs.expire(t0 + milliseconds(500));
  BOOST_TEST((g.messages["m2"].result->value().what == outcome::timeout));
}

BOOST_AUTO_TEST_CASE(a_message_waiting_for_room_times_out_too) {
  rig g(subscription_options{.max_in_flight = 1, .max_waiting = 10});
  std::uint64_t a = 0;
  auto ra = g.subscriber(a, {"admit"});
  g.offer("admit", "m1", milliseconds(1000));
  g.offer("admit", "m2", milliseconds(200));
  g.subs.expire(t0 + milliseconds(200));
  BOOST_TEST(g.messages["m2"].ends == 1);
  BOOST_TEST(g.messages["m2"].result->value().why ==
             "no line subscriber of admit had room within the delivery timeout");
  BOOST_TEST(g.subs.reply(a, "m1", rig::ok()));
  BOOST_TEST(ra->got.size() == 1u);  // m2 is not handed out after its end
}

BOOST_AUTO_TEST_CASE(the_same_message_id_twice_is_answered_oldest_first) {
  rig g;
  std::uint64_t a = 0;
  auto ra = g.subscriber(a, {"admit"});
  auto& first = g.messages["x"];
  int ends = 0;
  for (int i = 0; i < 2; ++i)
    g.subs.offer(deliver_request{"admit", "{}", "r", "same"}, t0 + milliseconds(1000),
                 [&](std::optional<deliver_response>) { ++ends; });
  (void)first;
  BOOST_TEST(g.subs.reply(a, "same", rig::ok()));
  BOOST_TEST(ends == 1);
  BOOST_TEST(g.subs.reply(a, "same", rig::ok()));
  BOOST_TEST(ends == 2);
  BOOST_TEST(!g.subs.reply(a, "same", rig::ok()));
}
