// The delivery policy on a clock the test moves: order per key, attempts and backoff, time to
// live, and what a dead message does to an ordered queue.
#define BOOST_TEST_MODULE delivery
#include <boost/test/unit_test.hpp>

#include <vector>

#include "journal/delivery.hpp"

using namespace dragoman::journal;
using ids = std::vector<std::int64_t>;
using outcome = delivery_queue::outcome;
using verdict = delivery_queue::verdict;

namespace {

delivery_policy ordered(int max_attempts = 3) {
  delivery_policy p;
  p.order = delivery_policy::ordering::per_key;
  p.max_attempts = max_attempts;
  p.backoff_min_ms = 100;
  p.backoff_max_ms = 250;
  return p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(backoff_doubles_from_the_minimum_up_to_the_cap) {
  auto p = ordered();
  BOOST_TEST(delivery_backoff_ms(p, 2) == 100);
  BOOST_TEST(delivery_backoff_ms(p, 3) == 200);
  BOOST_TEST(delivery_backoff_ms(p, 4) == 250);
  BOOST_TEST(delivery_backoff_ms(p, 40) == 250);
}

BOOST_AUTO_TEST_CASE(parallel_messages_all_go_at_once_up_to_the_in_flight_limit) {
  delivery_queue q(2);
  delivery_policy p;
  for (std::int64_t id = 1; id <= 3; ++id) q.add(id, p, "", 0, 0, 0);
  auto d = q.take_due(0);
  BOOST_TEST(d.send == (ids{1, 2}), boost::test_tools::per_element());
  BOOST_TEST(q.in_flight() == 2u);
  BOOST_TEST(q.take_due(0).send.empty());
  BOOST_TEST((q.report(1, outcome::delivered, p, 1) == verdict::done));
  BOOST_TEST(q.take_due(1).send == (ids{3}), boost::test_tools::per_element());
  BOOST_TEST(q.size() == 2u);
}

BOOST_AUTO_TEST_CASE(
    one_key_sends_one_message_at_a_time_in_order_and_keys_do_not_wait_on_each_other) {
  delivery_queue q;
  auto p = ordered();
  q.add(1, p, "P1", 0, 0, 0);
  q.add(2, p, "P1", 0, 0, 0);
  q.add(3, p, "P2", 0, 0, 0);
  q.add(4, p, "P1", 0, 0, 0);
  BOOST_TEST(q.take_due(0).send == (ids{1, 3}), boost::test_tools::per_element());
  // A retryable failure of 1 keeps 2 and 4 behind it until 1 is through.
  BOOST_TEST((q.report(1, outcome::retryable_failure, p, 10) == verdict::retry_later));
  BOOST_TEST(*q.next_attempt_ms(1) == 110);
  BOOST_TEST((q.report(3, outcome::delivered, p, 10) == verdict::done));
  BOOST_TEST(q.take_due(109).send.empty());
  BOOST_TEST(*q.next_wakeup() == 110);
  BOOST_TEST(q.take_due(110).send == (ids{1}), boost::test_tools::per_element());
  BOOST_TEST(q.attempts(1) == 2);
  BOOST_TEST((q.report(1, outcome::delivered, p, 120) == verdict::done));
  BOOST_TEST(q.take_due(120).send == (ids{2}), boost::test_tools::per_element());
  BOOST_TEST((q.report(2, outcome::final_failure, p, 121) == verdict::done));
  BOOST_TEST(q.take_due(121).send == (ids{4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_poison_message_is_moved_aside_and_its_queue_goes_on) {
  delivery_queue q;
  auto p = ordered(2);
  q.add(1, p, "T1", 0, 0, 0);
  q.add(2, p, "T1", 0, 0, 0);
  BOOST_TEST(q.take_due(0).send == (ids{1}), boost::test_tools::per_element());
  BOOST_TEST((q.report(1, outcome::retryable_failure, p, 0) == verdict::retry_later));
  BOOST_TEST(q.take_due(100).send == (ids{1}), boost::test_tools::per_element());
  BOOST_TEST((q.report(1, outcome::retryable_failure, p, 100) == verdict::dead));
  BOOST_TEST(q.take_due(100).send == (ids{2}), boost::test_tools::per_element());
  BOOST_TEST(!q.revive(1, 100, p));  // moved aside: no longer held here
}

BOOST_AUTO_TEST_CASE(a_dead_message_that_blocks_its_queue_waits_for_an_operator) {
  delivery_queue q;
  auto p = ordered(1);
  p.dead_blocks_queue = true;
  q.add(1, p, "T1", 0, 0, 0);
  q.add(2, p, "T1", 0, 0, 0);
  q.add(3, p, "T2", 0, 0, 0);
  BOOST_TEST(q.take_due(0).send == (ids{1, 3}), boost::test_tools::per_element());
  BOOST_TEST((q.report(1, outcome::retryable_failure, p, 0) == verdict::dead));
  BOOST_TEST(q.take_due(1000000).send.empty());  // T1 waits; T2's message is in flight
  BOOST_TEST(!q.next_wakeup());
  BOOST_TEST(q.revive(1, 5, p));
  BOOST_TEST(q.take_due(5).send == (ids{1}), boost::test_tools::per_element());
  BOOST_TEST(q.attempts(1) == 1);
  BOOST_TEST((q.report(1, outcome::delivered, p, 6) == verdict::done));
  BOOST_TEST(q.take_due(6).send == (ids{2}), boost::test_tools::per_element());
  // Discarding: the dead head removed, the queue goes on.
  BOOST_TEST((q.report(2, outcome::retryable_failure, p, 7) == verdict::dead));
  q.add(4, p, "T1", 0, 0, 0);
  BOOST_TEST(q.take_due(7).send.empty());
  BOOST_TEST(q.remove(2));
  BOOST_TEST(q.take_due(7).send == (ids{4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_retried_dead_message_gets_a_new_time_to_live_from_its_retry) {
  delivery_queue q;
  auto p = ordered(1);
  p.dead_blocks_queue = true;
  p.ttl_ms = 1000;
  q.add(1, p, "K", 0, 0, 0);  // expires at 1000
  q.add(2, p, "K", 0, 0, 0);
  BOOST_TEST(q.take_due(0).send == (ids{1}), boost::test_tools::per_element());
  BOOST_TEST((q.report(1, outcome::retryable_failure, p, 10) == verdict::dead));
  // Dead and held: neither it nor the message behind it expires while the queue waits.
  auto d = q.take_due(5000);
  BOOST_TEST(d.send.empty());
  BOOST_TEST(d.expire.empty());
  BOOST_TEST(q.revive(1, 5000, p));  // a new time to live: until 6000
  BOOST_TEST(q.take_due(5999).send == (ids{1}), boost::test_tools::per_element());
  BOOST_TEST((q.report(1, outcome::retryable_failure, p, 6000) == verdict::dead));
  BOOST_TEST(q.revive(1, 7000, p));
  // Past its new time to live before it could go: never sent, and the queue moves on (message 2
  // had expired at 1000 too).
  d = q.take_due(8000);
  BOOST_TEST(d.send.empty());
  BOOST_TEST(d.expire == (ids{1, 2}), boost::test_tools::per_element());
  BOOST_TEST(q.size() == 0u);
}

BOOST_AUTO_TEST_CASE(a_dead_message_found_at_start_keeps_its_waiting_queue_waiting) {
  delivery_queue q;
  auto p = ordered(3);
  p.dead_blocks_queue = true;
  q.add(1, p, "K", 3, 0, 0);
  q.add(2, p, "K", 0, 0, 0);
  q.add(3, p, "L", 0, 0, 0);
  BOOST_TEST(q.hold_dead(1));
  BOOST_TEST(q.take_due(100).send == (ids{3}), boost::test_tools::per_element());
  BOOST_TEST(q.remove(1));  // discarded
  BOOST_TEST(q.take_due(100).send == (ids{2}), boost::test_tools::per_element());
  auto par = p;
  par.order = delivery_policy::ordering::parallel;
  q.add(9, par, "", 0, 0, 0);
  BOOST_TEST(!q.hold_dead(9));  // nothing waits behind a parallel message
  BOOST_TEST(!q.hold_dead(42));
}

BOOST_AUTO_TEST_CASE(a_stored_expiry_overrides_the_policy_time_to_live) {
  delivery_queue q;
  auto p = ordered();
  p.ttl_ms = 1000;
  q.add(1, p, "K", 0, 0, 0, 5000);  // retried earlier: lives until 5000
  q.add(2, p, "L", 0, 0, 0, 0);     // 0: never expires
  auto d = q.take_due(2000);
  BOOST_TEST(d.expire.empty());
  BOOST_TEST(d.send == (ids{1, 2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_message_past_its_time_to_live_is_never_sent_and_its_queue_moves_on) {
  delivery_queue q;
  auto p = ordered();
  p.ttl_ms = 1000;
  q.add(1, p, "K", 0, 0, 0);      // expires at 1000
  q.add(2, p, "K", 0, 500, 500);  // expires at 1500
  q.add(3, p, "K", 0, 600, 600);  // expires at 1600
  auto d = q.take_due(1000);
  BOOST_TEST(d.expire == (ids{1}), boost::test_tools::per_element());
  BOOST_TEST(d.send == (ids{2}), boost::test_tools::per_element());
  BOOST_TEST((q.report(2, outcome::retryable_failure, p, 1400) == verdict::retry_later));
  // 2's retry would be at 1500: its time to live ends then, so it is expired, not sent.
  d = q.take_due(1600);
  BOOST_TEST(d.expire == (ids{2, 3}), boost::test_tools::per_element());
  BOOST_TEST(d.send.empty());
  BOOST_TEST(q.size() == 0u);
}

BOOST_AUTO_TEST_CASE(global_order_is_one_queue_for_every_message) {
  delivery_queue q;
  delivery_policy p;
  p.order = delivery_policy::ordering::global;
  q.add(1, p, "ignored", 0, 0, 0);
  q.add(2, p, "other", 0, 0, 0);
  BOOST_TEST(q.take_due(0).send == (ids{1}), boost::test_tools::per_element());
  BOOST_TEST((q.report(1, outcome::delivered, p, 0) == verdict::done));
  BOOST_TEST(q.take_due(0).send == (ids{2}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_message_recovered_after_a_crash_keeps_its_attempts) {
  delivery_queue q;
  auto p = ordered(3);
  q.add(7, p, "K", 2, 0, 0);  // two sends before the crash
  BOOST_TEST(q.take_due(0).send == (ids{7}), boost::test_tools::per_element());
  BOOST_TEST(q.attempts(7) == 3);
  BOOST_TEST((q.report(7, outcome::retryable_failure, p, 0) == verdict::dead));
}
