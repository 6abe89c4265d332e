// Correlation keys and generated values for the call engine.
#include "bridge/correlation.hpp"

#include <charconv>

namespace dragoman::bridge {

counter_bank::counter_bank(const codecs::profile& p)
    : size_(p.counter_count ? p.counter_count : 1),
      counters_(new std::atomic<std::uint64_t>[size_]) {
  for (std::size_t i = 0; i < size_; ++i) counters_[i].store(0, std::memory_order_relaxed);
}

std::uint64_t counter_bank::next(const codecs::field_spec& field) noexcept {
  std::size_t slot = field.generator_slot < size_ ? field.generator_slot : 0;
  std::uint64_t n = counters_[slot].fetch_add(1, std::memory_order_relaxed);
  std::uint64_t span =
      field.counter_wrap >= field.counter_start ? field.counter_wrap - field.counter_start + 1 : 1;
  return field.counter_start + n % span;
}

void counter_bank::copy_from(const counter_bank& other) noexcept {
  for (std::size_t i = 0; i < size_ && i < other.size_; ++i)
    counters_[i].store(other.counters_[i].load(std::memory_order_relaxed),
                       std::memory_order_relaxed);
}

std::uint64_t call_generation_context::next_counter(const codecs::field_spec& field) {
  if (&field == correlation_) {
    correlation_generated_ = true;
    return field.counter_start;
  }
  return bank_.next(field);
}

std::optional<std::uint64_t> key_allocator::next(
    const codecs::field_spec& field, const std::function<bool(std::string_view)>& in_use,
    std::string& key_text) {
  const std::uint64_t start = field.counter_start;
  const std::uint64_t wrap = field.counter_wrap >= start ? field.counter_wrap : start;
  const std::uint64_t span = wrap - start + 1;
  if (!started_ || next_ < start || next_ > wrap) {
    next_ = start;
    started_ = true;
  }
  std::string normalized;
  // Bounded by the size of the range: every key is tried at most once.
  for (std::uint64_t tried = 0; tried < span; ++tried) {
    std::uint64_t value = next_;
    next_ = next_ == wrap ? start : next_ + 1;
    key_text.clear();
    format_counter(key_text, value, field.counter_width);
    normalize_key(key_text, normalized);
    if (!in_use(normalized)) return value;
  }
  return std::nullopt;
}

void format_counter(std::string& out, std::uint64_t value, std::uint32_t width) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  std::size_t len = static_cast<std::size_t>(r.ptr - buf);
  if (len < width) out.append(width - len, '0');
  out.append(buf, len);
}

void normalize_key(std::string_view raw, std::string& out) {
  while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
  while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
  bool digits = !raw.empty();
  for (char c : raw)
    if (c < '0' || c > '9') digits = false;
  if (digits) {
    while (raw.size() > 1 && raw.front() == '0') raw.remove_prefix(1);
  }
  out.assign(raw.data(), raw.size());
}

void key_suffix(const codecs::message_def& msg, const codecs::record& r, std::string& out) {
  out.clear();
  std::string part;
  for (std::size_t i = 1; i < msg.correlation_key_fields.size(); ++i) {
    normalize_key(r.get(msg.correlation_key_fields[i]), part);
    out += '\x1f';
    out += part;
  }
}

void key_of(const codecs::message_def& msg, const codecs::record& r, std::string& out) {
  if (msg.correlation_key_fields.empty()) {
    if (msg.correlation_field)
      normalize_key(r.get(*msg.correlation_field), out);
    else
      out.clear();
    return;
  }
  normalize_key(r.get(msg.correlation_key_fields.front()), out);
  std::string rest;
  key_suffix(msg, r, rest);
  out += rest;
}

}  // namespace dragoman::bridge
