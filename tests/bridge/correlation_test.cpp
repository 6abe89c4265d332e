// Tests of correlation keys and generated counters as the call engine uses them: key_of,
// normalize_key, key_suffix, counter_bank, call_generation_context and key_allocator.
#define BOOST_TEST_MODULE correlation_test
#include <boost/test/unit_test.hpp>

#include "bridge/correlation.hpp"
#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <chrono>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace dragoman;
using bridge::call_generation_context;
using bridge::counter_bank;
using bridge::key_allocator;

namespace {

std::string normalized(std::string_view raw) {
  std::string out = "stale";
  bridge::normalize_key(raw, out);
  return out;
}

// A message with fields key, station, other; the key is key then station.
codecs::message_def keyed_message() {
  codecs::message_def m;
  m.fields.resize(3);
  m.fields[0].name = "key";
  m.fields[1].name = "station";
  m.fields[2].name = "other";
  m.correlation_field = 0;
  m.correlation_key_fields = {0, 1};
  return m;
}

codecs::record values(std::vector<std::string_view> v) {
  codecs::record r;
  r.reset(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r.set(i, v[i]);
  return r;
}

codecs::field_spec counter(std::uint64_t start, std::uint64_t wrap, std::size_t slot = 0,
                           std::uint32_t width = 6) {
  codecs::field_spec f;
  f.generate = codecs::generator_kind::counter;
  f.generator_slot = slot;
  f.counter_start = start;
  f.counter_wrap = wrap;
  f.counter_width = width;
  return f;
}

codecs::profile with_counters(std::size_t n) {
  codecs::profile p;
  p.counter_count = n;
  return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(keys)

BOOST_AUTO_TEST_CASE(normalize_drops_blanks_and_leading_zeros_of_digits) {
  BOOST_TEST(normalized("000042") == "42");
  BOOST_TEST(normalized("42") == "42");
  BOOST_TEST(normalized(" 42\t") == "42");
  BOOST_TEST(normalized("  000042  ") == "42");
  BOOST_TEST(normalized("0000") == "0");
  BOOST_TEST(normalized("0") == "0");
  BOOST_TEST(normalized("00A1") == "00A1");  // not all digits: zeros are part of the key
  BOOST_TEST(normalized(" AB C ") == "AB C");
  BOOST_TEST(normalized("   ") == "");
  BOOST_TEST(normalized("") == "");
}

BOOST_AUTO_TEST_CASE(key_of_joins_the_normalized_parts) {
  const auto m = keyed_message();
  std::string k;
  bridge::key_of(m, values({"000042", "ST1 ", "ignored"}), k);
  BOOST_TEST(k == "42\x1fST1");
  // The reply of the same call: a numeric field decoded without zeros, a padded text field.
  std::string reply;
  bridge::key_of(m, values({"42", " ST1", "other"}), reply);
  BOOST_TEST(reply == k);
  std::string suffix = "stale";
  bridge::key_suffix(m, values({"000042", "ST1 ", "x"}), suffix);
  BOOST_TEST(suffix == "\x1fST1");
}

BOOST_AUTO_TEST_CASE(a_missing_part_is_empty) {
  const auto m = keyed_message();
  codecs::record r;
  r.reset(3);
  r.set(0, "7");
  std::string k;
  bridge::key_of(m, r, k);
  BOOST_TEST(k == "7\x1f");
}

BOOST_AUTO_TEST_CASE(only_a_correlation_field) {
  codecs::message_def m = keyed_message();
  m.correlation_key_fields.clear();
  std::string k = "stale";
  bridge::key_of(m, values({"0009", "x", "y"}), k);
  BOOST_TEST(k == "9");
  m.correlation_field.reset();
  bridge::key_of(m, values({"0009", "x", "y"}), k);
  BOOST_TEST(k == "");
}

BOOST_AUTO_TEST_CASE(counters_are_formatted_to_their_width) {
  std::string out = "x";
  bridge::format_counter(out, 42, 6);
  BOOST_TEST(out == "x000042");
  out.clear();
  bridge::format_counter(out, 1234567, 6);
  BOOST_TEST(out == "1234567");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(counters)

BOOST_AUTO_TEST_CASE(a_bank_counts_per_slot_and_wraps) {
  counter_bank bank(with_counters(2));
  const auto a = counter(1, 3, 0);
  const auto b = counter(100, 999, 1);
  std::vector<std::uint64_t> seen;
  for (int i = 0; i < 5; ++i) seen.push_back(bank.next(a));
  BOOST_TEST(seen == (std::vector<std::uint64_t>{1, 2, 3, 1, 2}), boost::test_tools::per_element());
  BOOST_TEST(bank.next(b) == 100u);
  BOOST_TEST(bank.next(b) == 101u);
}

BOOST_AUTO_TEST_CASE(a_wrap_below_the_start_stays_at_the_start) {
  counter_bank bank(with_counters(1));
  const auto f = counter(5, 2);
  for (int i = 0; i < 3; ++i) BOOST_TEST(bank.next(f) == 5u);
}

BOOST_AUTO_TEST_CASE(a_slot_out_of_range_uses_the_first) {
  counter_bank bank(with_counters(0));  // a profile without counters still has one slot
  BOOST_TEST(bank.next(counter(1, 9, 3)) == 1u);
  BOOST_TEST(bank.next(counter(1, 9, 0)) == 2u);
}

BOOST_AUTO_TEST_CASE(a_reloaded_bank_continues) {
  counter_bank old_bank(with_counters(2));
  const auto f = counter(1, 999, 1);
  old_bank.next(f);
  old_bank.next(f);
  counter_bank fresh(with_counters(2));
  fresh.copy_from(old_bank);
  BOOST_TEST(fresh.next(f) == 3u);
}

BOOST_AUTO_TEST_CASE(the_correlation_field_gets_a_placeholder) {
  counter_bank bank(with_counters(2));
  const auto key = counter(10, 99, 0);
  const auto other = counter(1, 99, 1);
  call_generation_context gen(bank, &key);
  BOOST_TEST(!gen.correlation_generated());
  BOOST_TEST(gen.next_counter(other) == 1u);
  BOOST_TEST(!gen.correlation_generated());
  BOOST_TEST(gen.next_counter(key) == 10u);
  BOOST_TEST(gen.correlation_generated());
  // The placeholder does not use up the bank's counter.
  BOOST_TEST(bank.next(key) == 10u);
}

// Restarts and instances: counters of origin clock (the profile's default) do not give a value
// the process before gave, nor one another instance started at the same moment gives. The clock is
// the test's: 2026-12-05 10:00:00 UTC, and 20 s later for the restarted process.
const auto ten_o_clock = std::chrono::system_clock::time_point(std::chrono::seconds(1796464800));

codecs::field_spec clock_counter(std::uint32_t width,
                                 codecs::counter_origin origin = codecs::counter_origin::clock) {
  std::uint64_t max = 1;
  for (std::uint32_t i = 0; i < width; ++i) max *= 10;
  auto f = counter(1, max - 1, 0, width);
  f.origin = origin;
  return f;
}

std::set<std::uint64_t> values_of(counter_bank& bank, const codecs::field_spec& f, int n,
                                  std::chrono::system_clock::time_point at) {
  std::set<std::uint64_t> out;
  for (int i = 0; i < n; ++i) out.insert(bank.next(f, at));
  return out;
}

bool overlap(const std::set<std::uint64_t>& a, const std::set<std::uint64_t>& b) {
  for (auto v : a)
    if (b.count(v)) return true;
  return false;
}

// HL7's MSH-10 (10 digits): the first process sends 1000 messages within one instant (running 10 s
// ahead of the clock), is restarted 20 s later, and the new process sends 1000 more.
BOOST_AUTO_TEST_CASE(a_restart_does_not_repeat_wide_ids) {
  const auto f = clock_counter(10);
  counter_bank before(with_counters(1), 7);
  const auto first = values_of(before, f, 1000, ten_o_clock);
  BOOST_TEST(first.size() == 1000u);
  counter_bank after(with_counters(1), 7);  // the same lane: only the clock keeps them apart
  const auto second = values_of(after, f, 1000, ten_o_clock + std::chrono::seconds(20));
  BOOST_TEST(!overlap(first, second));
  BOOST_TEST(*second.begin() > *first.rbegin());
  // With a numeric start (today's behaviour before origins) the restart repeats every value.
  auto fixed = f;
  fixed.origin = codecs::counter_origin::number;
  counter_bank fixed_before(with_counters(1)), fixed_after(with_counters(1));
  BOOST_TEST(overlap(values_of(fixed_before, fixed, 10, ten_o_clock),
                     values_of(fixed_after, fixed, 10, ten_o_clock + std::chrono::seconds(20))));
}

// Two instances started at the same moment: the clock part is the same, the lanes differ.
BOOST_AUTO_TEST_CASE(two_instances_do_not_share_wide_ids) {
  const auto f = clock_counter(10);
  counter_bank a(with_counters(1), 1), b(with_counters(1), 7);  // lanes 8 and 5
  const auto from_a = values_of(a, f, 500, ten_o_clock);
  const auto from_b = values_of(b, f, 500, ten_o_clock);
  BOOST_TEST(!overlap(from_a, from_b));
  // 2026-12-05 10:00:00 is 179646480000 hundredths of a second: its last 9 digits lead the id.
  BOOST_TEST(*from_a.begin() / 10 == 646480000u);
}

// ISO 8583's STAN (6 digits): the time of day scaled to 1..999999; a restart 20 s later starts
// past what 100 messages took (11.6 values a second, so 231 values on).
BOOST_AUTO_TEST_CASE(a_restart_does_not_repeat_narrow_ids) {
  const auto f = clock_counter(6);
  counter_bank before(with_counters(1), 7);
  const auto first = values_of(before, f, 100, ten_o_clock);
  // 10:00:00 is 36000 s of 86400 into the day: 999999 * 36000 / 86400 = 416666, plus the start.
  BOOST_TEST(*first.begin() == 416667u);
  counter_bank after(with_counters(1), 7);
  const auto second = values_of(after, f, 100, ten_o_clock + std::chrono::seconds(20));
  BOOST_TEST(!overlap(first, second));
  BOOST_TEST(*second.begin() == 416667u + 231u);
  // The counter follows the clock when it is quiet, and runs ahead of it when busy.
  BOOST_TEST(before.next(f, ten_o_clock + std::chrono::seconds(60)) == 416667u + 694u);
  BOOST_TEST(before.next(f, ten_o_clock + std::chrono::seconds(60)) == 416667u + 695u);
}

BOOST_AUTO_TEST_CASE(a_random_start_stays_in_the_range) {
  auto f = counter(1, 999999, 0, 6);
  f.origin = codecs::counter_origin::random;
  counter_bank bank(with_counters(1), 42);
  const auto a = bank.next(f);
  const auto b = bank.next(f);
  BOOST_TEST(a >= 1u);
  BOOST_TEST(a <= 999999u);
  BOOST_TEST(b == (a == 999999u ? 1u : a + 1));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(allocation)

// The connection's keys follow the clock as the bank's counters do.
BOOST_AUTO_TEST_CASE(keys_of_a_clock_counter_follow_the_clock) {
  const auto f = counters::clock_counter(6);
  key_allocator keys(7);
  std::string text;
  auto never = [](std::string_view) { return false; };
  BOOST_TEST(*keys.next(f, never, text, counters::ten_o_clock) == 416667u);
  BOOST_TEST(text == "416667");
  BOOST_TEST(*keys.next(f, never, text, counters::ten_o_clock) == 416668u);
  BOOST_TEST(*keys.next(f, never, text, counters::ten_o_clock + std::chrono::seconds(20)) ==
             416667u + 231u);
}

BOOST_AUTO_TEST_CASE(skips_keys_in_use_and_wraps) {
  const auto f = counter(1, 4, 0, 3);
  key_allocator keys;
  const std::set<std::string, std::less<>> in_use = {"2", "3"};
  auto busy = [&](std::string_view k) { return in_use.count(k) > 0; };
  std::string text;
  auto v = keys.next(f, busy, text);
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST(*v == 1u);
  BOOST_TEST(text == "001");
  v = keys.next(f, busy, text);
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST(*v == 4u);
  BOOST_TEST(text == "004");
  v = keys.next(f, busy, text);
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST(*v == 1u);
}

BOOST_AUTO_TEST_CASE(in_use_is_asked_with_the_normalized_key) {
  const auto f = counter(7, 9, 0, 4);
  key_allocator keys;
  std::vector<std::string> asked;
  std::string text;
  auto v = keys.next(
      f,
      [&](std::string_view k) {
        asked.emplace_back(k);
        return false;
      },
      text);
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST(text == "0007");
  BOOST_TEST(asked == std::vector<std::string>{"7"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(nothing_when_every_key_is_in_use) {
  const auto f = counter(1, 3);
  key_allocator keys;
  std::string text;
  int asked = 0;
  auto v = keys.next(
      f,
      [&](std::string_view) {
        ++asked;
        return true;
      },
      text);
  BOOST_TEST(!v.has_value());
  BOOST_TEST(asked == 3);
}

BOOST_AUTO_TEST_CASE(a_changed_range_is_kept_to) {
  key_allocator keys;
  std::string text;
  auto never = [](std::string_view) { return false; };
  BOOST_TEST(*keys.next(counter(50, 60), never, text) == 50u);
  BOOST_TEST(*keys.next(counter(1, 9), never, text) == 2u);  // the position goes on
  BOOST_TEST(*keys.next(counter(5, 2), never, text) == 5u);  // wrap below start: one key
  BOOST_TEST(*keys.next(counter(5, 2), never, text) == 5u);
}

BOOST_AUTO_TEST_SUITE_END()
