// Correlation keys and generated values for the call engine: counters shared by all calls, and
// per-connection key allocation that keeps keys unique among the calls in flight.
#pragma once

#include "codecs/correlation_key.hpp"
#include "codecs/pipeline.hpp"
#include "codecs/profile.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace dragoman::bridge {

// The counters and key functions are pure and live in codecs (where the codecs tests reach them);
// the engine's code names them here.
using codecs::counter_bank;
using codecs::format_counter;
using codecs::key_of;
using codecs::key_suffix;
using codecs::normalize_key;

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

// A counter of the field's kind (codecs::counter_value: from the clock by default, so keys do not
// repeat those of a process before) that skips keys in use. Owned by one connection and used on
// its thread only; each draws its own random number (the lane of a wide clock counter).
class key_allocator {
 public:
  explicit key_allocator(std::uint64_t random = codecs::draw_counter_random()) : random_(random) {}
  // Returns nullopt when every key of the range is in use.
  std::optional<std::uint64_t> next(
      const codecs::field_spec& field, const std::function<bool(std::string_view)>& in_use,
      std::string& key_text,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

 private:
  std::uint64_t position_ = 0;  // the next unused position
  std::uint64_t random_;
};

}  // namespace dragoman::bridge
