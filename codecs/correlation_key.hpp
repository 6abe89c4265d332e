// Correlation keys (how a reply is matched to its request) and the counters that generate them:
// pure functions the bridge's call book and the tests share, so the tested code is the code used.
#pragma once

#include "codecs/profile.hpp"
#include "codecs/record.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace dragoman::codecs {

// One thread-safe counter per generator slot of a profile, wrapping per field
// (counter_start..counter_wrap; a wrap below the start keeps the counter at its start).
class counter_bank {
 public:
  explicit counter_bank(const profile& p);
  std::uint64_t next(const field_spec& field) noexcept;
  // Continues another bank's counters (a reloaded profile with the same generator slots).
  void copy_from(const counter_bank& other) noexcept;

 private:
  std::size_t size_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counters_;
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
