// Tests for the call book of one upstream connection, with no socket and a clock driven by hand:
// queueing, sending, keyed and in-order matching, deadlines, late replies, the in-order grace,
// key allocation and teardown.
#define BOOST_TEST_MODULE call_book_test
#include <boost/test/unit_test.hpp>

#include "upstream_fixture.hpp"

#include <atomic>

using namespace dragoman;
using namespace std::chrono_literals;
using bridge::call_book;
using bridge::tracked_call;
using test::acme;
using test::app_call;
using test::manual_clock;

namespace {

struct book_fixture {
  explicit book_fixture(const std::string& mode = "field", std::size_t max_in_flight = 4,
                        std::size_t max_queued = 2)
      : bundle(acme(mode)), book({max_in_flight, max_queued, 2000ms}, &queued) {
    book.set_mode(bundle->profile->correlation.mode);
  }
  tracked_call* adopt_balance(const std::string& account, std::chrono::milliseconds timeout) {
    auto t = app_call(bundle, "balance", {{"account", account}}, clock.now + timeout);
    const auto deadline = t->deadline;
    return book.adopt(std::move(t), deadline);
  }
  // Adopts, assigns the key and registers the call in flight, as a connection's send does.
  tracked_call* send_balance(const std::string& account, std::chrono::milliseconds timeout) {
    tracked_call* c = adopt_balance(account, timeout);
    BOOST_REQUIRE(book.prepare_key(c) == call_book::key_check::ok);
    book.sent(c, clock.now, ++batch);
    return c;
  }
  codecs::record reply_for(const tracked_call* c) {
    const auto& op = *c->op;
    std::string trace(c->call->request.get(*op.request.index_of("trace")));
    return test::reply_of(op, {{"tx_code", "BALR"}, {"trace", trace}, {"result", "00"}});
  }

  std::atomic<std::size_t> queued{0};
  manual_clock clock;
  std::shared_ptr<bridge::profile_bundle> bundle;
  call_book book;
  std::uint64_t batch = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(keyed_calls_get_distinct_generated_keys_and_match_their_replies) {
  book_fixture f;
  BOOST_TEST(f.book.keyed());
  tracked_call* a = f.send_balance("1", 1000ms);
  tracked_call* b = f.send_balance("2", 1000ms);
  BOOST_TEST(a->key != b->key);
  BOOST_TEST(f.book.in_flight() == 2u);

  auto reply = f.reply_for(b);
  auto m = f.book.match_key(f.bundle->profile->operations[0].reply, reply);
  BOOST_TEST((m.what == call_book::match::kind::call));
  BOOST_TEST(m.call == b);
  auto owned = f.book.release(m.call, f.clock.now);
  BOOST_TEST(owned.get() == b);
  BOOST_TEST(f.book.in_flight() == 1u);

  // The same reply again matches nothing: that key is no longer in flight.
  m = f.book.match_key(f.bundle->profile->operations[0].reply, reply);
  BOOST_TEST((m.what == call_book::match::kind::unmatched));
  BOOST_TEST(!f.book.key_text().empty());
}

BOOST_AUTO_TEST_CASE(a_reply_without_its_key_is_unmatched_as_none) {
  book_fixture f;
  f.send_balance("1", 1000ms);
  const auto& op = f.bundle->profile->operations[0];
  auto reply = test::reply_of(op, {{"tx_code", "BALR"}, {"result", "00"}});
  auto m = f.book.match_key(op.reply, reply);
  BOOST_TEST((m.what == call_book::match::kind::unmatched));
  BOOST_TEST(f.book.key_text() == "(none)");
}

BOOST_AUTO_TEST_CASE(a_keyed_timeout_remembers_its_key_so_its_reply_counts_as_late) {
  book_fixture f;
  tracked_call* a = f.send_balance("1", 100ms);
  auto reply = f.reply_for(a);
  BOOST_TEST((f.book.next_deadline() == f.clock.now + 100ms));
  BOOST_TEST(!f.book.expire_next(f.clock.now + 99ms));
  f.clock.advance(100ms);
  auto e = f.book.expire_next(f.clock.now);
  BOOST_REQUIRE(e);
  BOOST_TEST(e->in_flight);
  BOOST_TEST(e->call.get() == a);
  BOOST_TEST(f.book.empty());
  const auto& msg = f.bundle->profile->operations[0].reply;
  BOOST_TEST((f.book.match_key(msg, reply).what == call_book::match::kind::late));
  // Late once: the key is forgotten after its reply came.
  BOOST_TEST((f.book.match_key(msg, reply).what == call_book::match::kind::unmatched));
}

BOOST_AUTO_TEST_CASE(the_queue_is_bounded_and_gives_calls_back_in_order_with_their_own_deadline) {
  book_fixture f("sequential", 4, 2);
  BOOST_TEST(!f.book.pipelined());
  tracked_call* a = f.send_balance("1", 1000ms);
  BOOST_TEST(!f.book.can_send());  // sequential: one in flight
  auto qa = app_call(f.bundle, "balance", {{"account", "2"}}, f.clock.now + 5000ms);
  tracked_call* q1 = f.book.adopt(std::move(qa), f.clock.now + 300ms);  // the queue timeout
  f.book.enqueue(q1);
  auto qb = app_call(f.bundle, "balance", {{"account", "3"}}, f.clock.now + 5000ms);
  tracked_call* q2 = f.book.adopt(std::move(qb), f.clock.now + 300ms);
  f.book.enqueue(q2);
  BOOST_TEST(f.queued.load() == 2u);
  BOOST_TEST(f.book.queue_full());
  BOOST_TEST(f.book.next_to_send() == nullptr);  // not while one is in flight

  auto reply = f.reply_for(a);
  auto m = f.book.take_head();
  BOOST_TEST(m.call == a);
  f.book.release(m.call, f.clock.now);
  BOOST_TEST(f.book.next_to_send() == q1);
  BOOST_TEST(f.queued.load() == 1u);
  // Out of the queue, its expiry is its own deadline again.
  BOOST_TEST((f.book.next_deadline() == f.clock.now + 300ms));  // q2 still waits
  f.book.release(q2, f.clock.now);
  BOOST_TEST(f.queued.load() == 0u);
  BOOST_TEST((f.book.next_deadline() == f.clock.now + 5000ms));
  (void)reply;
}

BOOST_AUTO_TEST_CASE(a_queued_call_expires_at_the_queue_timeout_as_not_in_flight) {
  book_fixture f("sequential");
  f.send_balance("1", 1000ms);
  auto q = app_call(f.bundle, "balance", {{"account", "2"}}, f.clock.now + 5000ms);
  tracked_call* raw = f.book.adopt(std::move(q), f.clock.now + 300ms);
  f.book.enqueue(raw);
  f.clock.advance(300ms);
  auto e = f.book.expire_next(f.clock.now);
  BOOST_REQUIRE(e);
  BOOST_TEST(!e->in_flight);
  BOOST_TEST(e->call.get() == raw);
  BOOST_TEST(f.queued.load() == 0u);
  BOOST_TEST((e->call->deadline > f.clock.now));  // its own deadline has not passed
}

BOOST_AUTO_TEST_CASE(in_order_a_timed_out_call_keeps_its_place_for_the_grace) {
  book_fixture f("ordered", 4);
  BOOST_TEST(f.book.pipelined());
  tracked_call* a = f.send_balance("1", 100ms);
  tracked_call* b = f.send_balance("2", 1000ms);
  BOOST_TEST(f.book.head() == a);
  f.clock.advance(100ms);
  auto e = f.book.expire_next(f.clock.now);
  BOOST_REQUIRE(e);
  BOOST_TEST(e->call.get() == a);
  // a's place stays, empty: the next reply is a's late one, not b's.
  BOOST_TEST(f.book.head() == nullptr);
  BOOST_TEST(f.book.head_is_late());
  BOOST_TEST((f.book.next_deadline() == f.clock.now + 900ms));  // b's deadline is first
  BOOST_TEST(!f.book.late_grace_over(f.clock.now + 1999ms));
  BOOST_TEST(f.book.late_grace_over(f.clock.now + 2000ms));
  auto m = f.book.take_head();
  BOOST_TEST((m.what == call_book::match::kind::late));
  m = f.book.take_head();
  BOOST_TEST(m.call == b);
  BOOST_TEST((f.book.take_head().what == call_book::match::kind::unmatched));
}

BOOST_AUTO_TEST_CASE(a_duplicate_key_given_by_the_app_is_refused) {
  // With the counter written by the app (no generation), two calls may carry the same key.
  book_fixture f;
  tracked_call* a = f.adopt_balance("1", 1000ms);
  a->key_generated = false;
  BOOST_REQUIRE(f.book.prepare_key(a) == call_book::key_check::ok);
  f.book.sent(a, f.clock.now, 1);
  tracked_call* b = f.adopt_balance("1", 1000ms);
  b->key_generated = false;
  b->call->request = a->call->request;
  BOOST_TEST((f.book.prepare_key(b) == call_book::key_check::already_in_flight));
}

BOOST_AUTO_TEST_CASE(take_all_marks_written_only_what_reached_the_socket) {
  book_fixture f("field", 4, 4);
  tracked_call* written = f.send_balance("1", 1000ms);  // batch 1
  tracked_call* pending = f.send_balance("2", 1000ms);  // batch 2, not started
  auto q = app_call(f.bundle, "balance", {{"account", "3"}}, f.clock.now + 1000ms);
  tracked_call* queued = f.book.adopt(std::move(q), f.clock.now + 1000ms);
  f.book.enqueue(queued);

  auto in_flight = f.book.take_all(false, 1);
  BOOST_TEST(in_flight.size() == 2u);
  BOOST_TEST(written->call->written);
  BOOST_TEST(!pending->call->written);
  BOOST_TEST(f.book.idle());
  BOOST_TEST(!f.book.queue_empty());
  auto rest = f.book.take_all(true, 1);
  BOOST_TEST(rest.size() == 1u);
  BOOST_TEST(rest[0].get() == queued);
  BOOST_TEST(f.queued.load() == 0u);
  BOOST_TEST(f.book.empty());
}

// A deadline that passes after the call was sent: its frame went out (or goes out behind the write
// in progress), so the call is written and its answer says sent. One still queued was not.
BOOST_AUTO_TEST_CASE(a_call_that_expires_in_flight_is_written_one_that_expires_queued_is_not) {
  book_fixture f("sequential");
  tracked_call* sent = f.send_balance("1", 100ms);
  auto q = app_call(f.bundle, "balance", {{"account", "2"}}, f.clock.now + 100ms);
  tracked_call* queued = f.book.adopt(std::move(q), f.clock.now + 100ms);
  f.book.enqueue(queued);
  BOOST_TEST(!sent->call->written);
  f.clock.advance(100ms);
  auto first = f.book.expire_next(f.clock.now);
  auto second = f.book.expire_next(f.clock.now);
  BOOST_REQUIRE(first);
  BOOST_REQUIRE(second);
  BOOST_TEST(!f.book.expire_next(f.clock.now));
  auto& in_flight = first->in_flight ? first : second;
  auto& waiting = first->in_flight ? second : first;
  BOOST_TEST(in_flight->in_flight);
  BOOST_TEST(in_flight->call.get() == sent);
  BOOST_TEST(in_flight->call->call->written);
  BOOST_TEST(!waiting->in_flight);
  BOOST_TEST(waiting->call.get() == queued);
  BOOST_TEST(!waiting->call->call->written);
}

// A connection lost with calls in flight, written in batches 1 and 2, and one more encoded but
// not yet handed to the socket: only what reached the socket counts as written, and a call
// written before on another attempt stays written.
BOOST_AUTO_TEST_CASE(take_all_keeps_what_an_earlier_attempt_wrote) {
  book_fixture f("field", 4, 4);
  tracked_call* earlier = f.send_balance("1", 1000ms);  // batch 1
  earlier->call->written = true;                        // a previous attempt's bytes
  tracked_call* now = f.send_balance("2", 1000ms);      // batch 2
  tracked_call* unsent = f.send_balance("3", 1000ms);   // batch 3, never started
  earlier->batch = 3;                                   // this attempt's frame was not written
  auto all = f.book.take_all(false, 2);
  BOOST_TEST(all.size() == 3u);
  BOOST_TEST(earlier->call->written);
  BOOST_TEST(now->call->written);
  BOOST_TEST(!unsent->call->written);
}

BOOST_AUTO_TEST_CASE(the_profile_limits_the_calls_in_flight_of_a_keyed_connection) {
  book_fixture f("field", 4);
  f.book.set_mode(f.bundle->profile->correlation.mode, 1);  // correlation.max_in_flight: 1
  BOOST_TEST(f.book.keyed());
  BOOST_TEST(!f.book.pipelined());  // more calls queue instead of being refused as overloaded
  BOOST_TEST(f.book.can_send());
  tracked_call* a = f.send_balance("1", 1000ms);
  BOOST_TEST(!f.book.can_send());
  auto owned = f.book.release(a, f.clock.now);
  BOOST_TEST(f.book.can_send());
  // A profile limit above the serve limit: the serve limit holds.
  f.book.set_mode(f.bundle->profile->correlation.mode, 100);
  for (int i = 0; i < 4; ++i) f.send_balance(std::to_string(i), 1000ms);
  BOOST_TEST(!f.book.can_send());
  BOOST_TEST(f.book.pipelined());
}

// profiles/fix44.json: the Logon is keyed by its operation (one in flight, its reply the next
// Logon), and a Reject with no ClOrdID finds the call whose frame carried its RefSeqNum.
BOOST_AUTO_TEST_CASE(keyed_by_operation_and_by_the_sequence_number_referred_to) {
  auto compiled = codecs::load_profile(DRAGOMAN_SOURCE_DIR "/profiles/fix44.json");
  BOOST_REQUIRE(compiled.compiled);
  auto bundle = std::make_shared<bridge::profile_bundle>(compiled.compiled);
  const auto& p = *bundle->profile;
  std::atomic<std::size_t> queued{0};
  call_book book({8, 8, 2000ms}, &queued);
  book.set_mode(p.correlation.mode);
  manual_clock clock;
  auto message = [&](const char* op_name) {
    auto t = std::make_unique<tracked_call>();
    t->what = tracked_call::kind::echo;  // a session message: no app call behind it
    t->bundle = bundle;
    t->op = p.find_operation(op_name);
    t->own_request.reset(t->op->request.fields.size());
    t->deadline = clock.now + 1000ms;
    return book.adopt(std::move(t), clock.now + 1000ms);
  };
  tracked_call* logon = message("logon");
  BOOST_TEST((book.prepare_key(logon) == call_book::key_check::ok));
  book.sent(logon, clock.now, 1);
  tracked_call* again = message("logon");
  BOOST_TEST((book.prepare_key(again) == call_book::key_check::already_in_flight));
  codecs::record reply;
  const auto& logon_op = *p.find_operation("logon");
  reply.reset(logon_op.reply.fields.size());
  auto m = book.match_key(logon_op.reply, reply);
  BOOST_TEST((m.what == call_book::match::kind::call && m.call == logon));

  tracked_call* order = message("new_order_single");
  const auto& nos = *order->op;
  order->own_request.set(*nos.request.index_of("cl_ord_id"), "ORD1");
  BOOST_TEST((book.prepare_key(order) == call_book::key_check::ok));
  book.numbered(order, 7);
  book.sent(order, clock.now, 2);
  const auto& reject = *p.find_operation("reject");
  codecs::record rej;
  rej.reset(reject.reply.fields.size());
  rej.set(*reject.reply.index_of("ref_seq_num"), "8");
  m = book.match_key(reject.reply, rej);
  BOOST_TEST((m.what == call_book::match::kind::unmatched));
  BOOST_TEST(book.key_text() == "(sequence 8)");
  rej.set(*reject.reply.index_of("ref_seq_num"), "7");
  m = book.match_key(reject.reply, rej);
  BOOST_TEST((m.what == call_book::match::kind::call && m.call == order));
  book.release(order, clock.now);  // answered: its number refers to nothing any more
  m = book.match_key(reject.reply, rej);
  BOOST_TEST((m.what == call_book::match::kind::unmatched));
}

// The deadlines are linked through the calls (no node per call): equal times expire in adoption
// order, a released call leaves no trace, and a book destroyed with calls in it frees them.
BOOST_AUTO_TEST_CASE(calls_due_at_the_same_time_expire_in_the_order_adopted) {
  auto f = std::make_unique<book_fixture>("field", 8, 4);
  tracked_call* a = f->adopt_balance("1", 100ms);
  tracked_call* b = f->adopt_balance("2", 100ms);
  tracked_call* c = f->adopt_balance("3", 50ms);
  tracked_call* d = f->adopt_balance("4", 100ms);
  auto released = f->book.release(b, f->clock.now);
  BOOST_TEST(released.get() == b);
  BOOST_TEST((f->book.next_deadline() == f->clock.now + 50ms));
  f->clock.advance(100ms);
  std::vector<tracked_call*> order;
  while (auto e = f->book.expire_next(f->clock.now)) order.push_back(e->call.get());
  BOOST_TEST((order == std::vector<tracked_call*>{c, a, d}));
  BOOST_TEST(f->book.empty());
  f->adopt_balance("5", 100ms);
  f->adopt_balance("6", 200ms);
  f.reset();  // the calls still held go with the book
}
