// Tests for the session sequence numbers of one connection (session.sequence) and their state
// file: numbering, the peer's numbers in order, with a gap or too low, numbers given back, and
// the file's round trip, atomic replacement and precise errors. No clock is involved.
#define BOOST_TEST_MODULE session_sequence_test
#include <boost/test/unit_test.hpp>

#include "bridge/session_sequence.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using dragoman::bridge::session_sequence;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "dragoman-seq-XXXXXX").string();
    BOOST_REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_all(const std::string& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const std::string& p, const std::string& text) {
  std::ofstream(p) << text;
}

}  // namespace

BOOST_AUTO_TEST_CASE(numbers_start_at_one_and_count_up) {
  session_sequence s;
  BOOST_TEST(s.next_out() == 1u);
  BOOST_TEST(s.take_out() == 1u);
  BOOST_TEST(s.take_out() == 2u);
  BOOST_TEST(s.next_out() == 3u);
  BOOST_TEST(!s.save().has_value());  // no file: kept in memory only
}

BOOST_AUTO_TEST_CASE(the_peers_numbers_in_order_with_a_gap_and_too_low) {
  session_sequence s;
  auto r = s.received(1);
  BOOST_TEST((r.what == session_sequence::check::in_order));
  BOOST_TEST(s.next_in() == 2u);
  r = s.received(5);
  BOOST_TEST((r.what == session_sequence::check::gap));
  BOOST_TEST(r.expected == 2u);
  BOOST_TEST(r.resend);
  BOOST_TEST(s.next_in() == 2u);  // due until the missing ones come
  BOOST_TEST(s.recovering());
  r = s.received(6);  // still in the gap: no second resend
  BOOST_TEST((r.what == session_sequence::check::gap));
  BOOST_TEST(!r.resend);
  s.received(2);
  s.received(3);
  BOOST_TEST(s.next_in() == 4u);
  s.received(4);  // 5 and 6 were taken ahead: passed over
  BOOST_TEST(s.next_in() == 7u);
  BOOST_TEST(!s.recovering());
  BOOST_TEST(s.ahead() == 0u);
  r = s.received(3);
  BOOST_TEST((r.what == session_sequence::check::too_low));
  BOOST_TEST(r.expected == 7u);
  BOOST_TEST(s.next_in() == 7u);  // nothing changes
}

BOOST_AUTO_TEST_CASE(resent_copies_are_duplicates_not_handled_twice) {
  session_sequence s;
  s.received(1);
  auto r = s.received(4);  // 2 and 3 missing; 4 handled now
  BOOST_TEST((r.what == session_sequence::check::gap));
  r = s.received(2, true);  // resent, not seen before: handled
  BOOST_TEST((r.what == session_sequence::check::in_order));
  r = s.received(4, true);  // resent copy of one handled ahead
  BOOST_TEST((r.what == session_sequence::check::duplicate));
  BOOST_TEST(s.next_in() == 3u);
  r = s.received(3, true);
  BOOST_TEST((r.what == session_sequence::check::in_order));
  BOOST_TEST(s.next_in() == 5u);
  r = s.received(4, true);  // below the number due with the flag: a duplicate, not too low
  BOOST_TEST((r.what == session_sequence::check::duplicate));
  r = s.received(4, false);
  BOOST_TEST((r.what == session_sequence::check::too_low));
}

BOOST_AUTO_TEST_CASE(gap_fills_and_resets_move_the_number_due) {
  session_sequence s;
  s.received(1);
  auto r = s.received(9);  // the gap: 2..8 missing, 9 handled
  BOOST_TEST(r.resend);
  r = s.gap_fill(5, 8);  // a fill that is itself ahead is not applied
  BOOST_TEST((r.what == session_sequence::check::gap));
  BOOST_TEST(!r.resend);
  BOOST_TEST(s.next_in() == 2u);
  r = s.gap_fill(2, 5, true);  // 2..4 were session messages
  BOOST_TEST((r.what == session_sequence::check::in_order));
  BOOST_TEST(s.next_in() == 5u);
  s.received(5, true);
  r = s.gap_fill(6, 10, true);  // over 9, which was taken ahead
  BOOST_TEST(s.next_in() == 10u);
  BOOST_TEST(!s.recovering());
  r = s.gap_fill(3, 5, true);  // an old fill sent again
  BOOST_TEST((r.what == session_sequence::check::duplicate));
  BOOST_TEST(!s.reset_in(4));  // never backwards
  BOOST_TEST(s.next_in() == 10u);
  BOOST_TEST(s.reset_in(20));
  BOOST_TEST(s.next_in() == 20u);
}

BOOST_AUTO_TEST_CASE(a_new_connection_forgets_the_recovery_not_the_numbers) {
  session_sequence s;
  s.received(1);
  s.received(3);
  BOOST_TEST(s.recovering());
  s.new_connection();
  BOOST_TEST(!s.recovering());
  BOOST_TEST(s.ahead() == 0u);
  BOOST_TEST(s.next_in() == 2u);
  BOOST_TEST(s.received(5).resend);  // the peer's first message asks again
}

BOOST_AUTO_TEST_CASE(numbers_of_unwritten_frames_are_given_back) {
  session_sequence s;
  s.take_out();
  s.take_out();
  s.take_out();
  s.give_back_to(2);  // frames 2 and 3 never reached the socket
  BOOST_TEST(s.take_out() == 2u);
  s.give_back_to(7);  // never forward
  BOOST_TEST(s.next_out() == 3u);
}

BOOST_AUTO_TEST_CASE(reset_starts_a_new_session) {
  session_sequence s;
  s.take_out();
  s.received(1);
  s.reset();
  BOOST_TEST(s.next_out() == 1u);
  BOOST_TEST(s.next_in() == 1u);
}

BOOST_AUTO_TEST_CASE(the_state_file_round_trips_and_is_replaced_whole) {
  temp_dir d;
  const std::string p = d.file("fix.json");
  {
    session_sequence s(p);
    BOOST_TEST(!s.load().has_value());  // missing: a fresh session
    BOOST_TEST(s.next_out() == 1u);
    s.take_out();
    s.take_out();
    s.received(1);
    BOOST_TEST(!s.save().has_value());
    BOOST_TEST(read_all(p) == "{\"next_out\":3,\"next_in\":2}\n");
    BOOST_TEST(!fs::exists(p + ".tmp"));
    // Unchanged since the last save: the file is not written again.
    fs::remove(p);
    BOOST_TEST(!s.save().has_value());
    BOOST_TEST(!fs::exists(p));
    s.take_out();
    BOOST_TEST(!s.save().has_value());
  }
  session_sequence again(p);
  BOOST_TEST(!again.load().has_value());
  BOOST_TEST(again.next_out() == 4u);
  BOOST_TEST(again.next_in() == 2u);
}

BOOST_AUTO_TEST_CASE(a_broken_state_file_is_an_error_naming_it) {
  temp_dir d;
  const std::string p = d.file("broken.json");
  write_all(p, "{\"next_out\":");
  session_sequence s(p);
  auto err = s.load();
  BOOST_REQUIRE(err.has_value());
  BOOST_TEST(err->find(p) != std::string::npos);
  BOOST_TEST(err->find("not a JSON object") != std::string::npos);
  write_all(p, "{\"next_out\":0,\"next_in\":1}");
  err = s.load();
  BOOST_REQUIRE(err.has_value());
  BOOST_TEST(err->find("whole numbers of at least 1") != std::string::npos);
  BOOST_TEST(s.next_out() == 1u);  // left as they were
}

BOOST_AUTO_TEST_CASE(an_unwritable_state_file_is_an_error) {
  temp_dir d;
  session_sequence s(d.file("no-such-dir/fix.json"));
  s.take_out();
  auto err = s.save();
  BOOST_REQUIRE(err.has_value());
  BOOST_TEST(err->find("cannot write the session state") != std::string::npos);
}
