// The duplicate table of inbound messages: first copy fresh, later copies answered with the first
// answer within the window, waiters for a copy being delivered, failures forgotten, the bound.
#define BOOST_TEST_MODULE inbound_dedupe_test
#include <boost/test/unit_test.hpp>

#include "bridge/inbound_dedupe.hpp"

using namespace dragoman::bridge;
using dragoman::codecs::byte_buffer;
using std::chrono::milliseconds;
using verdict = inbound_dedupe::verdict;

namespace {

const inbound_dedupe::time_point t0{std::chrono::seconds(1000)};
byte_buffer bytes(std::string_view s) {
  return byte_buffer(s.begin(), s.end());
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_copy_within_the_window_gets_the_first_answer) {
  inbound_dedupe d(10);
  byte_buffer frame;
  auto no_wait = [](const byte_buffer&) { BOOST_FAIL("no waiter expected"); };
  BOOST_TEST((d.begin("admit/1", t0, milliseconds(1000), frame, no_wait) == verdict::fresh));
  d.finish("admit/1", bytes("ACK AA 1"), true, t0);
  BOOST_TEST((d.begin("admit/1", t0 + milliseconds(999), milliseconds(1000), frame, no_wait) ==
              verdict::answered));
  BOOST_TEST((frame == bytes("ACK AA 1")));
  // After the window the same key is a new message.
  BOOST_TEST((d.begin("admit/1", t0 + milliseconds(1000), milliseconds(1000), frame, no_wait) ==
              verdict::fresh));
}

BOOST_AUTO_TEST_CASE(a_copy_during_delivery_waits_for_the_answer) {
  inbound_dedupe d(10);
  byte_buffer frame, got;
  int calls = 0;
  BOOST_TEST((d.begin("k", t0, milliseconds(1000), frame, {}) == verdict::fresh));
  BOOST_TEST((d.begin("k", t0, milliseconds(1000), frame, [&](const byte_buffer& f) {
    ++calls;
    got = f;
  }) == verdict::pending));
  BOOST_TEST(calls == 0);
  d.finish("k", bytes("AE"), false, t0);
  BOOST_TEST(calls == 1);
  BOOST_TEST((got == bytes("AE")));
  // Not remembered: a failed delivery is tried again on the next copy.
  BOOST_TEST((d.begin("k", t0, milliseconds(1000), frame, {}) == verdict::fresh));
}

BOOST_AUTO_TEST_CASE(the_table_is_bounded_oldest_answered_first) {
  inbound_dedupe d(3);
  byte_buffer frame;
  for (int i = 0; i < 3; ++i) {
    const std::string k = "k" + std::to_string(i);
    BOOST_TEST((d.begin(k, t0, milliseconds(60000), frame, {}) == verdict::fresh));
    if (i != 0) d.finish(k, bytes("A"), true, t0);  // k0 stays pending
  }
  BOOST_TEST((d.begin("k3", t0, milliseconds(60000), frame, {}) == verdict::fresh));
  BOOST_TEST(d.size() == 3u);
  // k1, the oldest answered, went; the pending k0 stayed.
  BOOST_TEST((d.begin("k0", t0, milliseconds(60000), frame, [](const byte_buffer&) {}) ==
              verdict::pending));
  BOOST_TEST((d.begin("k1", t0, milliseconds(60000), frame, {}) == verdict::fresh));
  // Bounded over many keys, forgotten ones included (pending entries are bounded by the
  // deliveries in flight, so they end first here).
  for (const char* k : {"k0", "k1", "k3"}) d.finish(k, bytes("A"), true, t0);
  for (int i = 0; i < 1000; ++i) {
    const std::string k = "m" + std::to_string(i);
    d.begin(k, t0, milliseconds(60000), frame, {});
    d.finish(k, bytes("A"), i % 2 == 0, t0);
  }
  BOOST_TEST(d.size() <= 3u);
}
