// Correlation keys (how a reply is matched to its request) and the counters that generate them:
// pure functions the bridge's call book and the tests share, so the tested code is the code used.
#pragma once

#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace dragoman::codecs {

// A counter is a position that only grows, and its value a function of the position and of a
// random number drawn once per process (per bank, per connection). By the field's origin:
//  - number: the position starts at 0; values counter_start..counter_wrap, wrapping. The same
//    values in every process: for tests and fixed vectors only.
//  - random: as number, from a random point of the range.
//  - clock (the default): the position follows the wall clock and never falls behind it, so a
//    restarted process goes on past the values of the one before unless that one ran ahead of the
//    clock by more than the restart took.
//      10 digits or more (HL7's MSH-10): hundredths of a second since the Unix epoch in the
//      leading 9 digits (mod 10^9: 115 days before a value comes back), then a random lane per
//      process that keeps two instances started together apart. 100 values a second before the
//      counter runs ahead of the clock.
//      fewer digits (ISO 8583's STAN): the time of day (UTC) scaled to counter_start..counter_wrap,
//      gone through once a day (6 digits: 11.6 values a second before it runs ahead).
// The position of a clock counter at now.
std::uint64_t counter_clock_position(const field_spec& f,
                                     std::chrono::system_clock::time_point now);
// The position to use when next is the next unused one: a clock counter's is not behind the clock.
std::uint64_t counter_position_now(const field_spec& f, std::uint64_t next,
                                   std::chrono::system_clock::time_point now);
// The value at a position; random is the number drawn for the counter.
std::uint64_t counter_value(const field_spec& f, std::uint64_t position, std::uint64_t random);
// How many positions go by before a value comes back.
std::uint64_t counter_span(const field_spec& f);
// A random number for a counter (std::random_device, mixed with the clock).
std::uint64_t draw_counter_random();

// One thread-safe counter per generator slot of a profile (see counter_value; a wrap below the
// start keeps the counter at its start).
class counter_bank {
 public:
  explicit counter_bank(const profile& p, std::uint64_t random = draw_counter_random());
  std::uint64_t next(const field_spec& field,
                     std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  // Continues another bank's counters (a reloaded profile with the same generator slots).
  void copy_from(const counter_bank& other) noexcept;

 private:
  std::size_t size_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> positions_;  // the next unused position per slot
  std::unique_ptr<std::uint64_t[]> random_;                  // drawn per slot
};

// The canonical text of a counter value, as map_request writes it (zero-padded to the width).
void format_counter(std::string& out, std::uint64_t value, std::uint32_t width);

// The form in which request and reply keys are compared: surrounding blanks (spaces, tabs)
// dropped and, for all-digit keys, leading zeros dropped ("000042", "42 " and "42" are one key).
void normalize_key(std::string_view raw, std::string& out);

// A message's correlation key: its key fields (correlation_key_fields) normalized and joined by
// 0x1f; a message with only a correlation_field has that field's value, normalized. Requests and
// replies of one call give the same key. key_suffix is the same without the first (generated)
// field, each part preceded by 0x1f: the part a counter keeps.
void key_of(const message_def& msg, const record& r, std::string& out);
void key_suffix(const message_def& msg, const record& r, std::string& out);

}  // namespace dragoman::codecs
