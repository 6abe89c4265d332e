// Correlation keys and generated values for the call engine.
#include "bridge/correlation.hpp"

namespace dragoman::bridge {

std::uint64_t call_generation_context::next_counter(const codecs::field_spec& field) {
  if (&field == correlation_) {
    correlation_generated_ = true;
    return field.counter_start;
  }
  return bank_.next(field);
}

std::optional<std::uint64_t> key_allocator::next(
    const codecs::field_spec& field, const std::function<bool(std::string_view)>& in_use,
    std::string& key_text, std::chrono::system_clock::time_point now) {
  const std::uint64_t span = codecs::counter_span(field);
  position_ = codecs::counter_position_now(field, position_, now);
  std::string normalized;
  // Bounded by the size of the range: every key is tried at most once.
  for (std::uint64_t tried = 0; tried < span; ++tried) {
    const std::uint64_t value = codecs::counter_value(field, position_++, random_);
    key_text.clear();
    format_counter(key_text, value, field.counter_width);
    normalize_key(key_text, normalized);
    if (!in_use(normalized)) return value;
  }
  return std::nullopt;
}

}  // namespace dragoman::bridge
