// Correlation keys and generated values for the call engine: counters shared by all calls, and
// per-connection key allocation that keeps keys unique among the calls in flight.
#pragma once

#include "codecs/pipeline.hpp"
#include "codecs/profile.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace dragoman::bridge {

// One thread-safe counter per generator slot of a profile, wrapping per field
// (counter_start..counter_wrap). Shared by every caller thread.
class counter_bank {
 public:
  explicit counter_bank(const codecs::profile& p);
  std::uint64_t next(const codecs::field_spec& field) noexcept;
  // Continues another bank's counters (a reloaded profile with the same generator slots).
  void copy_from(const counter_bank& other) noexcept;

 private:
  std::size_t size_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counters_;
};

// The generation_context for mapping one call on the caller's thread. The correlation field gets
// a placeholder here: the connection that sends the call replaces it with a key that is unique
// among its calls in flight (see key_allocator); generated() tells whether that is needed.
class call_generation_context final : public codecs::generation_context {
 public:
  call_generation_context(counter_bank& bank, const codecs::field_spec* correlation_field)
      : bank_(bank), correlation_(correlation_field) {}
  std::uint64_t next_counter(const codecs::field_spec& field) override;
  std::chrono::system_clock::time_point now() override { return std::chrono::system_clock::now(); }
  bool correlation_generated() const noexcept { return correlation_generated_; }

 private:
  counter_bank& bank_;
  const codecs::field_spec* correlation_;
  bool correlation_generated_ = false;
};

// A counter over the field's range (counter_start..counter_wrap) that skips keys in use.
// Owned by one connection and used on its thread only.
class key_allocator {
 public:
  // Returns nullopt when every key of the range is in use.
  std::optional<std::uint64_t> next(const codecs::field_spec& field,
                                    const std::function<bool(std::string_view)>& in_use,
                                    std::string& key_text);

 private:
  std::uint64_t next_ = 0;
  bool started_ = false;
};

// The canonical text of a counter value, as map_request writes it (zero-padded to the width).
void format_counter(std::string& out, std::uint64_t value, std::uint32_t width);

// The form in which request and reply keys are compared: surrounding blanks dropped and, for
// all-digit keys, leading zeros dropped ("000042", "42 " and "42" are the same key).
void normalize_key(std::string_view raw, std::string& out);

// A message's correlation key: its key fields (correlation_key_fields) normalized and joined by
// 0x1f. key_suffix is the same without the first (generated) field: the part a counter keeps.
void key_of(const codecs::message_def& msg, const codecs::record& r, std::string& out);
void key_suffix(const codecs::message_def& msg, const codecs::record& r, std::string& out);

}  // namespace dragoman::bridge
